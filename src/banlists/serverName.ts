// Server names, the one place that knows their grammar: how a server name splits into host and
// port, and how a server entity (a name or a glob, from a policy rule, an ACL or the config) is
// validated and normalised. The matcher, the member index, the member-ban sync, the ACL builder
// and `rules matching` all go through here, so they agree on what a server rule names.
//
// Meaning (README "How policy lists are applied"): a server is its host; the port is ignored, as a
// server ACL ignores it. A rule `host:port` (or a glob with a port part: `*.evil.org:8448`,
// `evil.org:*`) names `host` whatever port it is reached on, and a user `@u:host:port` is a user of
// `host`.
//
// Grammar followed (spec "Server names"): hostname = IPv4 / "[" IPv6 "]" / dns-name, with
// dns-name = 1*255 (ALPHA / DIGIT / "-" / "."), optionally followed by ":" port. Policy globs add
// `*` and `?`. Choices:
// - The port is the text after the first `:`, or after the `]` of a bracketed IPv6 literal
//   (`[::1]:8448` → `[::1]`).
// - Whitespace and control characters are rejected, not trimmed: no server name contains them, so
//   an entity that does is malformed data, and guessing what it meant could hit the wrong server.
// - Letter case is folded to lower case (ACL globs are matched case-insensitively). IDNs are
//   written in punycode (`xn--…`), as in server names; Unicode host names are rejected.
// - The host part is limited to 255 characters (the DNS-name limit of the grammar), and the raw
//   entity to 255 + 6 (":65535"); longer input is rejected before any other work.
// - Anything outside the grammar (`_`, `/`, `@`, non-ASCII, unbracketed IPv6, a port that is not
//   digits or wildcards, …) is rejected: such a rule names no server, so it matches nothing and
//   never reaches an ACL.

import { hasWildcard, normaliseGlob } from "./glob.ts";

export const MAX_SERVER_NAME_LENGTH = 255;
/** Longest raw entity looked at: a maximal host plus ":65535". */
export const MAX_SERVER_ENTITY_LENGTH = MAX_SERVER_NAME_LENGTH + 6;

/**
 * End of the host of the server name that starts at `from` of `s`: the first `:`, or just after
 * the `]` of a bracketed IPv6 literal; the end of `s` when there is no port (or no `]`).
 */
export function hostEnd(s: string, from: number): number {
  if (s.charCodeAt(from) === 91 /* [ */) {
    const close = s.indexOf("]", from);
    return close < 0 ? s.length : close + 1;
  }
  const colon = s.indexOf(":", from);
  return colon < 0 ? s.length : colon;
}

/** Host of the server name starting at `from` of `s` (as is: lower-case `s` first), port removed. */
export function hostAt(s: string, from: number): string {
  return s.slice(from, hostEnd(s, from));
}

/** Host part of a server name, lower-cased, port removed (`[::1]:8448` → `[::1]`). */
export function serverHost(server: string): string {
  return hostAt(server.toLowerCase(), 0);
}

/** Server part of a user ID (after the first `:`), host only, lower-cased; "" if there is none. */
export function serverOfUser(userId: string): string {
  const colon = userId.indexOf(":");
  return colon < 0 ? "" : serverHost(userId.slice(colon + 1));
}

/** `serverOfUser` for an ID that is lower-case already (no copy of the whole ID, no second scan). */
export function serverOfLowerUser(lower: string): string {
  const colon = lower.indexOf(":");
  return colon < 0 ? "" : hostAt(lower, colon + 1);
}

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
 * Knows nothing about the bot's own server; see acl/serverName.ts `checkDenyEntry` for that.
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
  const end = hostEnd(lower, 0);
  const host = lower.slice(0, end);
  const rest = lower.slice(end);
  let ipLiteral: boolean;
  if (host.startsWith("[")) {
    if (!host.endsWith("]")) return fail("invalid-ip", "bracketed IPv6 literal has no closing ']'");
    if (!IPV6_CHARS.test(host.slice(1, -1)))
      return fail("invalid-ip", "bracketed IPv6 literal has invalid characters");
    if (rest.length > 0 && !rest.startsWith(":")) return fail("invalid-ip", "unexpected text after ']'");
    ipLiteral = true;
  } else {
    if (rest.indexOf(":", 1) >= 0) {
      return fail("invalid-ip", "more than one ':' (IPv6 literals must be in brackets)");
    }
    if (host.length === 0) return fail("empty", "entity has an empty host");
    const bad = BAD_HOST_CHAR.exec(host);
    if (bad !== null) {
      return fail("invalid-char", `entity contains ${showChar(bad[0])}, not allowed in a server name`);
    }
    ipLiteral = isIpv4(host);
  }
  if (rest.length > 0 && !PORT.test(rest.slice(1))) {
    return fail("invalid-port", `entity has an invalid port ${JSON.stringify(rest.slice(1))}`);
  }
  if (host.length > MAX_SERVER_NAME_LENGTH) {
    return fail("too-long", `host is ${host.length} characters (limit ${MAX_SERVER_NAME_LENGTH})`);
  }
  const glob = hasWildcard(host);
  return { ok: true, value: glob ? normaliseGlob(host) : host, glob, ipLiteral };
}

/**
 * What a server rule's entity names: its normalised host (or host glob), or undefined when the
 * entity is not a server name or glob (such a rule matches no server).
 */
export function serverRuleEntity(entity: string): string | undefined {
  const r = parseServerEntity(entity);
  return r.ok ? r.value : undefined;
}
