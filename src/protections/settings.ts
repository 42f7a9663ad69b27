// Typed settings schemas for protections. Values are stored as plain JSON (numbers, booleans,
// strings, string arrays) in account data and come from chat as text; both go through the same
// validation, whose errors name the setting and the expected type.
import { compilePatternList, EMPTY_PATTERN_LIST, type PatternList } from "./patterns.ts";

interface SettingBase<K extends string, V> {
  readonly kind: K;
  readonly description: string;
  readonly default: V;
}
export interface IntegerSetting extends SettingBase<"integer", number> {
  readonly min: number;
  readonly max: number;
}
export interface NumberSetting extends SettingBase<"number", number> {
  readonly min: number;
  readonly max: number;
}
export type BooleanSetting = SettingBase<"boolean", boolean>;
/** Milliseconds; written in chat as `30s`, `5m`, `1h30m`, `2d`. */
export interface DurationSetting extends SettingBase<"duration", number> {
  readonly min: number;
  readonly max: number;
}
export interface StringSetting extends SettingBase<"string", string> {
  readonly maxLength: number;
}
export interface StringListSetting extends SettingBase<"stringList", readonly string[]> {
  readonly maxItems: number;
  readonly maxItemLength: number;
  /** When set, every item must be one of these. */
  readonly oneOf?: readonly string[];
}
/** Literal text (case-insensitive substring) or `/regex/flags`, compiled with re2js. */
export interface PatternListSetting extends SettingBase<"patternList", readonly string[]> {
  readonly maxItems: number;
  readonly maxItemLength: number;
}
export interface EnumSetting<V extends string = string> extends SettingBase<"enum", V> {
  readonly values: readonly V[];
}

export type SettingSpec =
  | IntegerSetting
  | NumberSetting
  | BooleanSetting
  | DurationSetting
  | StringSetting
  | StringListSetting
  | PatternListSetting
  | EnumSetting;

export type SettingsSchema = Readonly<Record<string, SettingSpec>>;

/** The JSON form of a setting value, as persisted. */
export type StoredValue = number | boolean | string | readonly string[];

/** The value a handler sees. Pattern lists arrive compiled. */
export type ResolvedValue<S> = S extends { kind: "patternList" }
  ? PatternList
  : S extends EnumSetting<infer V>
    ? V
    : S extends { kind: "stringList" }
      ? readonly string[]
      : S extends { kind: "boolean" }
        ? boolean
        : S extends { kind: "string" }
          ? string
          : number;

export type SettingsOf<S extends SettingsSchema> = { readonly [K in keyof S]: ResolvedValue<S[K]> };

type Opts<T extends SettingSpec> = Omit<T, "kind">;

export const integer = (o: Opts<IntegerSetting>): IntegerSetting => ({ kind: "integer", ...o });
export const number = (o: Opts<NumberSetting>): NumberSetting => ({ kind: "number", ...o });
export const boolean = (o: Opts<BooleanSetting>): BooleanSetting => ({ kind: "boolean", ...o });
export const duration = (o: Opts<DurationSetting>): DurationSetting => ({ kind: "duration", ...o });
export const string = (o: Opts<StringSetting>): StringSetting => ({ kind: "string", ...o });
export const stringList = (o: Opts<StringListSetting>): StringListSetting => ({ kind: "stringList", ...o });
export const patternList = (o: Opts<PatternListSetting>): PatternListSetting => ({
  kind: "patternList",
  ...o,
});
export const oneOf = <const V extends string>(o: {
  description: string;
  values: readonly V[];
  default: NoInfer<V>;
}): EnumSetting<V> => ({ kind: "enum", ...o });

// ---- durations ----

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** `1h30m`, `90s`, `500ms`, `2d`, `0` → milliseconds; null when not a duration. */
export function parseDuration(text: string): number | null {
  const s = text.trim().toLowerCase().replaceAll(" ", "");
  if (s === "0") return 0;
  if (s.length === 0 || s.length > 64) return null;
  let total = 0;
  let i = 0;
  while (i < s.length) {
    const numStart = i;
    while (i < s.length && (((s[i] as string) >= "0" && (s[i] as string) <= "9") || s[i] === ".")) i++;
    const n = Number(s.slice(numStart, i));
    if (i === numStart || !Number.isFinite(n)) return null;
    const unitStart = i;
    while (i < s.length && (s[i] as string) >= "a" && (s[i] as string) <= "z") i++;
    const unit = UNIT_MS[s.slice(unitStart, i)];
    if (unit === undefined) return null;
    total += n * unit;
  }
  return Number.isFinite(total) ? Math.round(total) : null;
}

export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms % 1000 !== 0) return `${ms}ms`;
  let rest = ms / 1000;
  const parts: string[] = [];
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join("");
}

// ---- validation ----

/** What the setting accepts, phrased to follow "expected". */
export function describeType(spec: SettingSpec): string {
  switch (spec.kind) {
    case "integer":
      return `an integer between ${spec.min} and ${spec.max}`;
    case "number":
      return `a number between ${spec.min} and ${spec.max}`;
    case "boolean":
      return "true or false";
    case "duration":
      return `a duration between ${formatDuration(spec.min)} and ${formatDuration(spec.max)} (e.g. 30s, 5m, 2h)`;
    case "string":
      return `text of at most ${spec.maxLength} characters`;
    case "stringList":
      return spec.oneOf !== undefined
        ? `a list of at most ${spec.maxItems} of: ${spec.oneOf.join(", ")}`
        : `a list of at most ${spec.maxItems} items of at most ${spec.maxItemLength} characters`;
    case "patternList":
      return `a list of at most ${spec.maxItems} patterns (literal text or /regex/flags) of at most ${spec.maxItemLength} characters`;
    case "enum":
      return `one of ${spec.values.join(", ")}`;
  }
}

/** A short rendering of an offending input for error messages. */
export function describeInput(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v.length > 60 ? v.slice(0, 60) + "…" : v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `a list of ${v.length} item${v.length === 1 ? "" : "s"}`;
  return `a ${typeof v === "object" ? "JSON object" : typeof v}`;
}

export type ValidationResult = { ok: true; value: StoredValue } | { ok: false; error: string };

const TRUE_WORDS = new Set(["true", "on", "yes", "1", "enable", "enabled"]);
const FALSE_WORDS = new Set(["false", "off", "no", "0", "disable", "disabled"]);

function listInput(raw: unknown, splitCommas: boolean): unknown {
  if (typeof raw !== "string") return raw;
  const t = raw.trim();
  if (t.startsWith("[")) {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      return raw;
    }
  }
  if (t.length === 0) return [];
  return splitCommas
    ? t
        .split(",")
        .map((x) => x.trim())
        .filter((x) => x.length > 0)
    : [t];
}

/**
 * Validates a value from account data (JSON) or from chat (text) for one setting and returns its
 * stored form. `path` (e.g. `flooding.maxMessages`) starts every error message.
 */
export function validateSetting(spec: SettingSpec, raw: unknown, path: string): ValidationResult {
  const bad = (): ValidationResult => ({
    ok: false,
    error: `${path}: expected ${describeType(spec)}, got ${describeInput(raw)}`,
  });
  switch (spec.kind) {
    case "integer":
    case "number": {
      let n: number;
      if (typeof raw === "number") n = raw;
      else if (typeof raw === "string" && raw.length < 32 && /^\s*-?\d+(\.\d+)?\s*$/.test(raw))
        n = Number(raw);
      else return bad();
      if (!Number.isFinite(n) || n < spec.min || n > spec.max) return bad();
      if (spec.kind === "integer" && !Number.isInteger(n)) return bad();
      return { ok: true, value: n };
    }
    case "boolean": {
      if (typeof raw === "boolean") return { ok: true, value: raw };
      if (typeof raw === "string") {
        const w = raw.trim().toLowerCase();
        if (TRUE_WORDS.has(w)) return { ok: true, value: true };
        if (FALSE_WORDS.has(w)) return { ok: true, value: false };
      }
      return bad();
    }
    case "duration": {
      let ms: number | null = null;
      // JSON numbers are milliseconds; text needs a unit so "10" is never silently 10 ms.
      if (typeof raw === "number") ms = Number.isSafeInteger(raw) ? raw : null;
      else if (typeof raw === "string") ms = parseDuration(raw);
      if (ms === null || ms < spec.min || ms > spec.max) return bad();
      return { ok: true, value: ms };
    }
    case "string": {
      if (typeof raw !== "string" || raw.length > spec.maxLength) return bad();
      return { ok: true, value: raw };
    }
    case "enum": {
      if (typeof raw !== "string") return bad();
      const w = raw.trim().toLowerCase();
      const v = spec.values.find((x) => x.toLowerCase() === w);
      return v === undefined ? bad() : { ok: true, value: v };
    }
    case "stringList":
    case "patternList": {
      const input = listInput(raw, spec.kind === "stringList");
      if (!Array.isArray(input) || input.length > spec.maxItems) return bad();
      const out: string[] = [];
      const seen = new Set<string>();
      for (let i = 0; i < input.length; i++) {
        const item: unknown = input[i];
        if (typeof item !== "string" || item.length === 0 || item.length > spec.maxItemLength) {
          return {
            ok: false,
            error: `${path}: item ${i + 1} must be non-empty text of at most ${spec.maxItemLength} characters, got ${describeInput(item)}`,
          };
        }
        let value = item;
        if (spec.kind === "stringList" && spec.oneOf !== undefined) {
          const canonical = spec.oneOf.find((x) => x.toLowerCase() === item.trim().toLowerCase());
          if (canonical === undefined) {
            return {
              ok: false,
              error: `${path}: item ${i + 1} must be one of ${spec.oneOf.join(", ")}, got ${describeInput(item)}`,
            };
          }
          value = canonical;
        }
        if (!seen.has(value)) {
          seen.add(value);
          out.push(value);
        }
      }
      if (spec.kind === "patternList") {
        const compiled = compilePatternList(out);
        if (!compiled.ok) return { ok: false, error: `${path}: ${compiled.errors.join("; ")}` };
      }
      return { ok: true, value: out };
    }
  }
}

/** Turns a validated stored value into what handlers see. */
export function resolveValue(spec: SettingSpec, stored: StoredValue): unknown {
  if (spec.kind === "patternList") {
    const compiled = compilePatternList(Array.isArray(stored) ? (stored as string[]) : []);
    return compiled.ok ? compiled.list : EMPTY_PATTERN_LIST;
  }
  return stored;
}

/** Human rendering for `protections show`. */
export function formatValue(spec: SettingSpec, stored: StoredValue): string {
  if (spec.kind === "duration" && typeof stored === "number") return formatDuration(stored);
  if (Array.isArray(stored))
    return stored.length === 0 ? "(empty)" : stored.map((s) => JSON.stringify(s)).join(", ");
  return String(stored);
}

export function defaultsOf(schema: SettingsSchema): Record<string, StoredValue> {
  const out: Record<string, StoredValue> = {};
  for (const [k, spec] of Object.entries(schema)) out[k] = spec.default;
  return out;
}
