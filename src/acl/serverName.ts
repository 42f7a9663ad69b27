// The ACL's side of server names: the bot's own server, and whether a parsed entity may become a
// deny entry. Parsing and normalising server names (port stripped, lower case, …) lives in
// banlists/serverName.ts, shared with the matcher so both read a rule the same way.

import { compileGlob, type Glob } from "../banlists/glob.ts";
import {
  parseServerEntity,
  type ServerEntityProblem,
  type ServerEntityResult,
} from "../banlists/serverName.ts";

export {
  MAX_SERVER_ENTITY_LENGTH,
  MAX_SERVER_NAME_LENGTH,
  firstControlChar,
  parseServerEntity,
  type ServerEntityProblem,
  type ServerEntityResult,
} from "../banlists/serverName.ts";

function fail(code: ServerEntityProblem, reason: string): ServerEntityResult {
  return { ok: false, code, reason };
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
