// Durations as moderators type them: "30s", "30m", "2h", "2d", "1w", "1y", "1h30m".
import { err, ok, type ParseResult } from "./result.ts";
import { quote } from "./text.ts";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const YEAR = 365 * DAY;

// prettier-ignore
const UNITS: Record<string, number> = {
  s: SECOND, sec: SECOND, secs: SECOND, second: SECOND, seconds: SECOND,
  m: MINUTE, min: MINUTE, mins: MINUTE, minute: MINUTE, minutes: MINUTE,
  h: HOUR, hr: HOUR, hrs: HOUR, hour: HOUR, hours: HOUR,
  d: DAY, day: DAY, days: DAY,
  w: WEEK, week: WEEK, weeks: WEEK,
  y: YEAR, year: YEAR, years: YEAR,
};

export interface DurationOptions {
  /** Inclusive bounds in milliseconds. Default: 1 second to 1 year. */
  readonly min?: number;
  readonly max?: number;
}

export const EXAMPLE_DURATIONS = "30m, 2h, 1d, 1w or 1h30m";

/** Parse to milliseconds. */
export function parseDuration(raw: string, opts: DurationOptions = {}): ParseResult<number> {
  const min = opts.min ?? SECOND;
  const max = opts.max ?? YEAR;
  const fail = (detail: string): ParseResult<number> =>
    err(`expected a duration like ${EXAMPLE_DURATIONS}, got ${quote(raw)}: ${detail}`, detail);
  const s = raw.trim().toLowerCase();
  if (s === "") return fail("it is empty");
  if (s.startsWith("-")) return fail("a duration cannot be negative");
  if (/^\+?0+$/.test(s)) return fail("it must be longer than zero");
  if (/^\+?\d+$/.test(s)) {
    const n = s.length > 7 ? "30" : s.replace(/^\+/, "");
    return fail(`it needs a unit, e.g. ${n}m or ${n}h`);
  }
  let total = 0;
  let i = s.startsWith("+") ? 1 : 0;
  const seen = new Set<number>();
  while (i < s.length) {
    let j = i;
    while (j < s.length && s[j]! >= "0" && s[j]! <= "9") j++;
    if (j === i) return fail(`expected a number at ${quote(s.slice(i), 10)}`);
    const digits = s.slice(i, j);
    if (s[j] === "." || s[j] === ",") return fail("use whole numbers, e.g. 1h30m instead of 1.5h");
    let k = j;
    while (k < s.length && s[k]! >= "a" && s[k]! <= "z") k++;
    const unitName = s.slice(j, k);
    if (unitName === "") {
      return k < s.length
        ? fail(`unexpected ${quote(s[k]!)}`)
        : fail(`${digits.length > 7 ? "the last number" : digits} needs a unit (s, m, h, d, w or y)`);
    }
    if (unitName === "mo" || unitName.startsWith("month"))
      return fail("months vary in length; use days or weeks (30d, 4w)");
    const unit = UNITS[unitName];
    if (unit === undefined) return fail(`unknown unit ${quote(unitName)} (use s, m, h, d, w or y)`);
    if (seen.has(unit)) return fail(`the unit ${quote(unitName)} appears twice`);
    seen.add(unit);
    // Cap long digit runs before multiplying so "99999999999999999999d" reports "too long"
    // instead of overflowing into something meaningless.
    total += Math.min(Number(digits), Number.MAX_SAFE_INTEGER / unit) * unit;
    i = k;
    if (total > max) break;
  }
  if (total === 0) return fail("it must be longer than zero");
  if (total < min) return fail(`it must be at least ${formatDuration(min)}`);
  if (total > max) return fail(`it must be at most ${formatDuration(max)}`);
  return ok(total);
}

/** 5400000 → "1h 30m"; rounds down to whole seconds. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < SECOND) return "0s";
  const parts: string[] = [];
  let rest = Math.floor(ms / SECOND) * SECOND;
  for (const [unit, name] of [
    [YEAR, "y"],
    [WEEK, "w"],
    [DAY, "d"],
    [HOUR, "h"],
    [MINUTE, "m"],
    [SECOND, "s"],
  ] as const) {
    if (rest >= unit) {
      parts.push(`${Math.floor(rest / unit)}${name}`);
      rest %= unit;
    }
  }
  return parts.join(" ");
}

/** How long ago `ts` (epoch ms) was: "just now" under 2 s, else "1h 30m ago". */
export function formatAgo(ts: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ts) / 1000));
  return s < 2 ? "just now" : `${formatDuration(s * 1000)} ago`;
}

export const DURATION = { SECOND, MINUTE, HOUR, DAY, WEEK, YEAR } as const;
