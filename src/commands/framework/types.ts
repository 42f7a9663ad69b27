// Typed argument parsers. Each `ArgType` turns one raw string into a value or a precise
// error; commands declare which type each argument and flag has, and the registry turns
// failures into messages like
//   ban: argument 2 should be a user, room or server, got "foo" — see "!tyr help ban"
import { parseDuration, type DurationOptions, formatDuration, EXAMPLE_DURATIONS } from "./duration.ts";
import {
  looksLikeLink,
  parseEventId,
  parseMatrixLink,
  parseRoomIdOrAlias,
  parseServerName,
  parseUserId,
  serverNameProblem,
  MAX_ID_BYTES,
  type EventRef,
  type RoomRef,
} from "./matrix-ids.ts";
import { err, ok, type ParseResult } from "./result.ts";
import { closest } from "./suggest.ts";
import { describeChar, firstBadChar, quote, utf8Length } from "./text.ts";

export interface ArgType<T> {
  /** Noun phrase for errors and help: "a user", "a user, room or server". */
  readonly expected: string;
  /** Short placeholder for usage lines: "user", "room", "duration". */
  readonly placeholder: string;
  parse(raw: string): ParseResult<T>;
  /** Does the raw text look like it is meant to be this type (e.g. starts with "@")?
   *  Lets `oneOf` pick the most relevant error. */
  recognises?(raw: string): boolean;
}

/** The value type an ArgType produces. */
export type ValueOf<A> = A extends ArgType<infer T> ? T : never;

export function argType<T>(
  expected: string,
  placeholder: string,
  parse: (raw: string) => ParseResult<T>,
  recognises?: (raw: string) => boolean,
): ArgType<T> {
  return recognises === undefined
    ? { expected, placeholder, parse }
    : { expected, placeholder, parse, recognises };
}

/** Build a failure in the standard wording for a type. */
function failFor<T>(expected: string, raw: string, detail?: string): ParseResult<T> {
  return err(`expected ${expected}, got ${quote(raw)}${detail === undefined ? "" : `: ${detail}`}`, detail);
}

const hasWildcard = (s: string): boolean => s.includes("*") || s.includes("?");

// ---- users, rooms, servers ----------------------------------------------------------------

export function user(): ArgType<string> {
  const expected = "a user";
  return argType(
    expected,
    "user",
    (raw) => {
      if (looksLikeLink(raw)) {
        const l = parseMatrixLink(raw);
        if (!l.ok) return failFor(expected, raw, l.detail);
        return l.value.kind === "user"
          ? ok(l.value.userId)
          : failFor(expected, raw, "that link points at a room");
      }
      const r = parseUserId(raw);
      return r.ok ? r : failFor(expected, raw, r.detail);
    },
    (raw) => raw.startsWith("@") || /matrix\.to\/#\/(@|%40)|^matrix:u\//i.test(raw),
  );
}

export function room(): ArgType<RoomRef> {
  const expected = "a room";
  return argType(
    expected,
    "room",
    (raw) => {
      if (looksLikeLink(raw)) {
        const l = parseMatrixLink(raw);
        if (!l.ok) return failFor(expected, raw, l.detail);
        return l.value.kind === "room"
          ? ok(l.value.room)
          : failFor(expected, raw, "that link points at a user");
      }
      if (!raw.startsWith("!") && !raw.startsWith("#")) return failFor(expected, raw);
      const r = parseRoomIdOrAlias(raw);
      return r.ok ? r : failFor(expected, raw, r.detail);
    },
    (raw) => raw.startsWith("!") || raw.startsWith("#") || (looksLikeLink(raw) && !/\/(@|%40)/.test(raw)),
  );
}

/** Single-label names (other than localhost) are almost always a typo for something else —
 *  a user without "@", a list shortcode — so a server needs a dot, a port or brackets. */
function plausibleServer(s: string): boolean {
  return s.includes(".") || s.includes(":") || s.startsWith("[") || s.toLowerCase() === "localhost";
}

export function server(): ArgType<string> {
  const expected = "a server name";
  return argType(expected, "server", (raw) => {
    const r = parseServerName(raw);
    if (!r.ok) return failFor(expected, raw, r.detail);
    return plausibleServer(raw)
      ? r
      : failFor(expected, raw, "a server name needs a dot or a port, like example.org");
  });
}

export interface Pattern {
  /** As typed. */
  readonly pattern: string;
  /** True when it contains `*` or `?`. */
  readonly isGlob: boolean;
}

function userGlobProblem(s: string): string | undefined {
  if (!s.startsWith("@")) return "user globs start with @, like @*:example.org";
  if (s.length < 2) return 'it is only "@"';
  if (utf8Length(s) > MAX_ID_BYTES) return `it is longer than ${MAX_ID_BYTES} bytes`;
  const bad = firstBadChar(s, (c) => c.length === 1 && c.charCodeAt(0) > 0x20 && c.charCodeAt(0) < 0x7f);
  if (bad !== undefined) return `it contains ${describeChar(bad)}, which cannot occur in a user ID`;
  return undefined;
}

function serverGlobProblem(s: string): string | undefined {
  if (utf8Length(s) > MAX_ID_BYTES) return `it is longer than ${MAX_ID_BYTES} bytes`;
  const bad = firstBadChar(s, (c) => /^[A-Za-z0-9.\-*?:[\]]$/.test(c));
  if (bad !== undefined) return `it contains ${describeChar(bad)}, which cannot occur in a server name`;
  return undefined;
}

/** A user ID, or a glob over user IDs (`@*:evil.org`, `@spam?*:*`). */
export function userGlob(): ArgType<Pattern> {
  const expected = "a user or user glob";
  return argType(
    expected,
    "user|glob",
    (raw) => {
      if (!hasWildcard(raw)) {
        const u = user().parse(raw);
        return u.ok ? ok({ pattern: u.value, isGlob: false }) : failFor(expected, raw, u.detail);
      }
      const problem = userGlobProblem(raw);
      return problem === undefined ? ok({ pattern: raw, isGlob: true }) : failFor(expected, raw, problem);
    },
    (raw) => raw.startsWith("@"),
  );
}

/** A server name, or a glob over server names (`*.evil.org`). */
export function serverGlob(): ArgType<Pattern> {
  const expected = "a server name or glob";
  return argType(expected, "server|glob", (raw) => {
    if (!hasWildcard(raw)) {
      const s = server().parse(raw);
      return s.ok ? ok({ pattern: s.value, isGlob: false }) : failFor(expected, raw, s.detail);
    }
    const problem = serverGlobProblem(raw);
    return problem === undefined ? ok({ pattern: raw, isGlob: true }) : failFor(expected, raw, problem);
  });
}

export type Entity =
  | { readonly kind: "user"; readonly entity: string; readonly isGlob: boolean }
  | { readonly kind: "room"; readonly entity: string; readonly isGlob: boolean; readonly room?: RoomRef }
  | { readonly kind: "server"; readonly entity: string; readonly isGlob: boolean };

/**
 * A policy entity, typed by its sigil: `@` user, `!`/`#` room (or a permalink), anything
 * else a server. Globs are allowed unless `globs: false`.
 */
export function entity(opts: { globs?: boolean } = {}): ArgType<Entity> {
  const globs = opts.globs ?? true;
  const expected = "a user, room or server";
  return argType(expected, "user|room|server", (raw): ParseResult<Entity> => {
    if (looksLikeLink(raw)) {
      const l = parseMatrixLink(raw);
      if (!l.ok) return failFor(expected, raw, l.detail);
      if (l.value.kind === "user") return ok({ kind: "user", entity: l.value.userId, isGlob: false });
      const r = l.value.room;
      return ok({ kind: "room", entity: r.kind === "id" ? r.roomId : r.alias, isGlob: false, room: r });
    }
    const wild = hasWildcard(raw);
    if (wild && !globs) return failFor(expected, raw, "globs (* and ?) are not allowed here");
    if (raw.startsWith("@")) {
      if (wild) {
        const problem = userGlobProblem(raw);
        return problem === undefined
          ? ok({ kind: "user", entity: raw, isGlob: true })
          : failFor(expected, raw, problem);
      }
      const u = parseUserId(raw);
      return u.ok ? ok({ kind: "user", entity: u.value, isGlob: false }) : failFor(expected, raw, u.detail);
    }
    if (raw.startsWith("!") || raw.startsWith("#")) {
      if (wild) {
        const bad = firstBadChar(raw, (c) => !/\s/u.test(c) && (c.codePointAt(0) ?? 0) >= 0x21);
        if (bad !== undefined || utf8Length(raw) > MAX_ID_BYTES)
          return failFor(
            expected,
            raw,
            bad === undefined ? "it is too long" : `it contains ${describeChar(bad)}`,
          );
        return ok({ kind: "room", entity: raw, isGlob: true });
      }
      const r = parseRoomIdOrAlias(raw);
      return r.ok
        ? ok({ kind: "room", entity: raw, isGlob: false, room: r.value })
        : failFor(expected, raw, r.detail);
    }
    if (wild) {
      const problem = serverGlobProblem(raw);
      return problem === undefined
        ? ok({ kind: "server", entity: raw, isGlob: true })
        : failFor(expected, raw, problem);
    }
    const problem = serverNameProblem(raw);
    // "foo" gets the plain message: it is not recognisably an attempt at any of the three.
    if (problem === undefined && plausibleServer(raw))
      return ok({ kind: "server", entity: raw, isGlob: false });
    const attempted = problem !== undefined && plausibleServer(raw);
    return failFor(expected, raw, attempted ? problem : undefined);
  });
}

/** A link to an event: a permalink, or "<room> <event>" is not supported — one token only. */
export function eventLink(): ArgType<EventRef> {
  const expected = "a link to a message";
  return argType(
    expected,
    "permalink",
    (raw) => {
      if (!looksLikeLink(raw)) {
        if (raw.startsWith("$")) {
          const e = parseEventId(raw);
          const detail = e.ok
            ? "an event ID alone does not say which room; copy the message's link instead"
            : e.detail;
          return failFor(expected, raw, detail);
        }
        return failFor(expected, raw);
      }
      const l = parseMatrixLink(raw);
      if (!l.ok) return failFor(expected, raw, l.detail);
      if (l.value.kind !== "room" || l.value.eventId === undefined)
        return failFor(
          expected,
          raw,
          "that link points at a " + (l.value.kind === "user" ? "user" : "room, not a message"),
        );
      return ok({ room: l.value.room, eventId: l.value.eventId });
    },
    looksLikeLink,
  );
}

// ---- scalars ------------------------------------------------------------------------------

/** Starts like a number: the token was meant as one, even if it is malformed. */
const numeric = (raw: string): boolean => /^[+-]?\.?\d/.test(raw);

export function duration(opts: DurationOptions = {}): ArgType<number> {
  const expected = `a duration (like ${EXAMPLE_DURATIONS})`;
  return argType(
    expected,
    "duration",
    (raw) => {
      const r = parseDuration(raw, opts);
      return r.ok ? r : failFor("a duration", raw, r.detail);
    },
    numeric,
  );
}

function rangeText(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return ` from ${min} to ${max}`;
  if (min !== undefined) return ` of at least ${min}`;
  if (max !== undefined) return ` of at most ${max}`;
  return "";
}

export function integer(opts: { min?: number; max?: number } = {}): ArgType<number> {
  const expected = `a whole number${rangeText(opts.min, opts.max)}`;
  return argType(
    expected,
    "number",
    (raw) => {
      if (!/^[+-]?\d+$/.test(raw)) {
        const detail = /^[+-]?\d+[.,]\d+$/.test(raw) ? "it must be a whole number" : undefined;
        return failFor(expected, raw, detail);
      }
      const n = Number(raw);
      if (!Number.isSafeInteger(n)) return failFor(expected, raw, "it is far too large");
      if (opts.min !== undefined && n < opts.min) return failFor(expected, raw, `it is below ${opts.min}`);
      if (opts.max !== undefined && n > opts.max) return failFor(expected, raw, `it is above ${opts.max}`);
      return ok(n);
    },
    numeric,
  );
}

export function number(opts: { min?: number; max?: number } = {}): ArgType<number> {
  const expected = `a number${rangeText(opts.min, opts.max)}`;
  return argType(
    expected,
    "number",
    (raw) => {
      if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(raw)) return failFor(expected, raw);
      const n = Number(raw);
      if (!Number.isFinite(n)) return failFor(expected, raw, "it is far too large");
      if (opts.min !== undefined && n < opts.min) return failFor(expected, raw, `it is below ${opts.min}`);
      if (opts.max !== undefined && n > opts.max) return failFor(expected, raw, `it is above ${opts.max}`);
      return ok(n);
    },
    numeric,
  );
}

/** One of a fixed set of words (case-insensitive); returns the canonical spelling. */
export function choice<const C extends readonly string[]>(choices: C): ArgType<C[number]> {
  const expected = `one of ${choices.join(", ")}`;
  return argType(expected, choices.join("|"), (raw) => {
    const lower = raw.toLowerCase();
    const hit = choices.find((c) => c.toLowerCase() === lower);
    if (hit !== undefined) return ok(hit);
    const near = closest(lower, choices);
    return failFor(expected, raw, near.length > 0 ? `did you mean ${quote(near[0]!)}?` : undefined);
  });
}

/** Free text (typically a reason, as the last "rest of line" argument). */
export function text(opts: { maxLength?: number; placeholder?: string } = {}): ArgType<string> {
  const max = opts.maxLength ?? 2000;
  return argType("text", opts.placeholder ?? "text", (raw) => {
    const s = raw.trim();
    if (s === "") return failFor("text", raw, "it is empty");
    const len = Array.from(s).length;
    if (len > max)
      return err(
        `that text is too long (${len.toLocaleString("en-US")} characters; at most ${max.toLocaleString("en-US")})`,
        `it is too long (${len.toLocaleString("en-US")} characters; at most ${max.toLocaleString("en-US")})`,
      );
    return ok(s);
  });
}

/** A single word, optionally restricted by a (trusted, constant) pattern. */
export function word(
  opts: { maxLength?: number; pattern?: RegExp; expected?: string; placeholder?: string; hint?: string } = {},
): ArgType<string> {
  const max = opts.maxLength ?? 255;
  const expected = opts.expected ?? "a word";
  return argType(expected, opts.placeholder ?? "word", (raw) => {
    if (raw === "") return failFor(expected, raw, "it is empty");
    if (Array.from(raw).length > max) return failFor(expected, raw, `it is longer than ${max} characters`);
    if (opts.pattern !== undefined && !opts.pattern.test(raw)) return failFor(expected, raw, opts.hint);
    return ok(raw);
  });
}

/** The first alternative whose parse succeeds, tagged with its key:
 *    oneOf({ user: user(), message: eventLink() })  →  { kind: "user", value } | { kind: "message", value } */
export function oneOf<const M extends Record<string, ArgType<unknown>>>(
  alternatives: M,
): ArgType<{ [K in keyof M]: { readonly kind: K; readonly value: ValueOf<M[K]> } }[keyof M]> {
  type Out = { [K in keyof M]: { readonly kind: K; readonly value: ValueOf<M[K]> } }[keyof M];
  const entries = Object.entries(alternatives);
  const expected = joinOr(entries.map(([, t]) => t.expected));
  return argType<Out>(
    expected,
    entries.map(([, t]) => t.placeholder).join("|"),
    (raw) => {
      for (const [kind, t] of entries) {
        const r = t.parse(raw);
        if (r.ok) return ok({ kind, value: r.value } as Out);
      }
      // Report the detailed error of the alternative the input was evidently meant for.
      const meant = entries.filter(([, t]) => t.recognises?.(raw) === true);
      if (meant.length === 1) {
        const r = meant[0]![1].parse(raw);
        if (!r.ok) return failFor(expected, raw, r.detail);
      }
      return failFor(expected, raw);
    },
    (raw) => entries.some(([, t]) => t.recognises?.(raw) === true),
  );
}

function joinOr(items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}`;
}

export { formatDuration };
