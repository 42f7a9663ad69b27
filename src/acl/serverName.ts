// Validation and normalisation of server entities (names or globs) taken from policy rules,
// before they may become m.room.server_acl entries.
//
// Grammar followed (spec "Server names"): hostname = IPv4 / "[" IPv6 "]" / dns-name, with
// dns-name = 1*255 (ALPHA / DIGIT / "-" / "."), optionally followed by ":" port. Policy globs add
// `*` and `?`. Choices:
// - Whitespace and control characters are rejected, not trimmed: no server name contains them, so
//   an entity that does is malformed data, and guessing what it meant could deny the wrong server.
// - Letter case is folded to lower case (ACL globs are matched case-insensitively).
// - A port is stripped (`example.org:8448` → `example.org`, `[::1]:8448` → `[::1]`): homeservers
//   strip the port before matching an ACL, so an entry with a port would never match anything.
// - The host part is limited to 255 characters (the DNS-name limit of the grammar), and the raw
//   entity to 255 + 6 (":65535"); longer input is rejected before any other work.
// - Anything outside the grammar (`_`, `/`, `@`, non-ASCII, unbracketed IPv6, …) is rejected.

import { compileGlob, hasWildcard, normaliseGlob, type Glob } from "../banlists/glob.ts";

export const MAX_SERVER_NAME_LENGTH = 255;
/** Longest raw entity looked at: a maximal host plus ":65535". */
export const MAX_SERVER_ENTITY_LENGTH = MAX_SERVER_NAME_LENGTH + 6;

export type ServerEntityProblem =
  | "empty"
  | "too-long"
  | "whitespace"
  | "control-char"
  | "invalid-char"
  | "invalid-port"
  | "invalid-ip"
  /** The entity is `*`: it would deny every server. */
  | "deny-all"
  /** The entity would match the bot's own server. */
  | "own-server"
  /** An IP literal while `allow_ip_literals` is false: already blocked, the entry would be waste. */
  | "ip-literal-blocked";

export type ServerEntityResult =
  | {
      readonly ok: true;
      /** Lower-cased, port stripped, wildcard runs collapsed. */
      readonly value: string;
      readonly glob: boolean;
      /** IPv4 address or bracketed IPv6 (possibly a glob inside the brackets). */
      readonly ipLiteral: boolean;
    }
  | { readonly ok: false; readonly code: ServerEntityProblem; readonly reason: string };

const WHITESPACE = /\s/;
const BAD_HOST_CHAR = /[^a-z0-9.\-*?]/;
const IPV6_CHARS = /^[0-9a-f:.*?]+$/;
const PORT = /^[0-9*?]{1,5}$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** First C0/C1 control character (or DEL) in `s`, if any. */
export function firstControlChar(s: string): string | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return s[i];
  }
  return undefined;
}

function fail(code: ServerEntityProblem, reason: string): ServerEntityResult {
  return { ok: false, code, reason };
}

function isIpv4(host: string): boolean {
  const m = IPV4.exec(host);
  return m !== null && m.slice(1).every((octet) => Number(octet) <= 255);
}

/** Longest entity text kept in reports; longer ones are cut (their length is in the reason). */
export const MAX_REPORTED_ENTITY_LENGTH = 300;

/** Cuts `s` to at most `max` UTF-16 units without splitting a surrogate pair, marking the cut. */
export function clip(s: string, max = MAX_REPORTED_ENTITY_LENGTH): string {
  if (s.length <= max) return s;
  let end = max;
  const last = s.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${s.slice(0, end)}…`;
}

/** Shows a bad character safely in a log line or a chat message. */
function showChar(c: string): string {
  const cp = c.codePointAt(0) ?? 0;
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || WHITESPACE.test(c)
    ? `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`
    : JSON.stringify(c);
}

/** The bulk of real entities are already lower-case names without a port: one scan, no regex. */
function parseSimple(raw: string): ServerEntityResult | undefined {
  if (raw.length > MAX_SERVER_NAME_LENGTH) return undefined;
  let wild = false;
  let digitsAndDots = true;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    const letterOrDash = (c >= 97 && c <= 122) || c === 45; // a-z, -
    const digitOrDot = (c >= 48 && c <= 57) || c === 46; // 0-9, .
    const wildcard = c === 42 || c === 63; // *, ?
    if (!letterOrDash && !digitOrDot && !wildcard) return undefined;
    if (!digitOrDot) digitsAndDots = false;
    if (wildcard) wild = true;
  }
  return {
    ok: true,
    value: wild ? normaliseGlob(raw) : raw,
    glob: wild,
    ipLiteral: !wild && digitsAndDots && isIpv4(raw),
  };
}

/**
 * Parses a server name or glob as found in a policy rule's `entity` (or an ACL / config entry).
 * Knows nothing about the bot's own server; see `checkDenyEntry` for that.
 */
export function parseServerEntity(raw: unknown): ServerEntityResult {
  if (typeof raw !== "string") return fail("empty", "entity is not a string");
  if (raw.length === 0) return fail("empty", "entity is empty");
  const simple = parseSimple(raw);
  if (simple !== undefined) return simple;
  if (raw.length > MAX_SERVER_ENTITY_LENGTH) {
    return fail("too-long", `entity is ${raw.length} characters (limit ${MAX_SERVER_NAME_LENGTH} + port)`);
  }
  const ws = WHITESPACE.exec(raw);
  if (ws !== null) return fail("whitespace", `entity contains whitespace (${showChar(ws[0])})`);
  const ctl = firstControlChar(raw);
  if (ctl !== undefined)
    return fail("control-char", `entity contains a control character (${showChar(ctl)})`);

  const lower = raw.toLowerCase();
  let host: string;
  let port: string | undefined;
  let ipLiteral: boolean;
  if (lower.startsWith("[")) {
    const close = lower.indexOf("]");
    if (close < 0) return fail("invalid-ip", "bracketed IPv6 literal has no closing ']'");
    const inside = lower.slice(1, close);
    if (!IPV6_CHARS.test(inside)) return fail("invalid-ip", "bracketed IPv6 literal has invalid characters");
    const rest = lower.slice(close + 1);
    if (rest.length > 0) {
      if (!rest.startsWith(":")) return fail("invalid-ip", "unexpected text after ']'");
      port = rest.slice(1);
    }
    host = `[${inside}]`;
    ipLiteral = true;
  } else {
    const colon = lower.indexOf(":");
    if (colon >= 0) {
      if (lower.indexOf(":", colon + 1) >= 0) {
        return fail("invalid-ip", "more than one ':' (IPv6 literals must be in brackets)");
      }
      port = lower.slice(colon + 1);
      host = lower.slice(0, colon);
    } else {
      host = lower;
    }
    if (host.length === 0) return fail("empty", "entity has an empty host");
    const bad = BAD_HOST_CHAR.exec(host);
    if (bad !== null) {
      return fail("invalid-char", `entity contains ${showChar(bad[0])}, not allowed in a server name`);
    }
    ipLiteral = isIpv4(host);
  }
  if (port !== undefined && !PORT.test(port)) {
    return fail("invalid-port", `entity has an invalid port ${JSON.stringify(port)}`);
  }
  if (host.length > MAX_SERVER_NAME_LENGTH) {
    return fail("too-long", `host is ${host.length} characters (limit ${MAX_SERVER_NAME_LENGTH})`);
  }
  const glob = hasWildcard(host);
  return { ok: true, value: glob ? normaliseGlob(host) : host, glob, ipLiteral };
}

/** The bot's own server, parsed once per build. */
export interface OwnServer {
  /** Lower-cased, without port. */
  readonly host: string;
  readonly ipLiteral: boolean;
}

/** Parses the bot's own server name (may carry a port). Throws: without it no ACL is safe. */
export function parseOwnServer(raw: string): OwnServer {
  const r = parseServerEntity(raw);
  if (!r.ok) throw new TypeError(`invalid own server name ${JSON.stringify(raw)}: ${r.reason}`);
  if (r.glob) throw new TypeError(`own server name ${JSON.stringify(raw)} must not contain wildcards`);
  return { host: r.value, ipLiteral: r.ipLiteral };
}

/** Does the (normalised) entry match the own server's host? */
export function entryMatchesServer(value: string, glob: boolean, host: string): boolean {
  return glob ? compileGlob(value).matches(host) : value === host;
}

/**
 * Decides whether a parsed entity may be a deny entry. `allowIpLiterals` is the value the ACL will
 * actually carry: when false, IP literals are blocked wholesale and listing them wastes bytes.
 * `compiled` is the entity's compiled glob when the caller already has it.
 */
export function checkDenyEntry(
  entity: ServerEntityResult & { ok: true },
  own: OwnServer,
  allowIpLiterals: boolean,
  compiled?: Glob,
): ServerEntityResult {
  if (entity.value === "*") return fail("deny-all", "`*` would deny every server, including our own");
  const matchesOwn =
    compiled !== undefined
      ? compiled.matches(own.host)
      : entryMatchesServer(entity.value, entity.glob, own.host);
  if (matchesOwn) {
    return fail("own-server", `would deny our own server ${own.host}`);
  }
  if (entity.ipLiteral && !allowIpLiterals) {
    return fail("ip-literal-blocked", "IP literal; already blocked by allow_ip_literals: false");
  }
  return entity;
}

/** Full check of one deny entity: parse, then own-server / IP-literal rules. */
export function normaliseDenyEntity(
  raw: unknown,
  own: OwnServer,
  allowIpLiterals: boolean,
): ServerEntityResult {
  const parsed = parseServerEntity(raw);
  return parsed.ok ? checkDenyEntry(parsed, own, allowIpLiterals) : parsed;
}
