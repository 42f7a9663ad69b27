// Validation of Matrix identifiers and permalinks, following the grammar in the spec's
// appendices (v1.19). Errors name the offending character with its code point so that
// look-alikes (Cyrillic "а" in "@аdmin:example.org") are obvious.
import { err, ok, type ParseResult } from "./result.ts";
import { describeChar, firstBadChar, quote, utf8Length } from "./text.ts";

/** Room reference as typed: an ID (room v12 IDs have no server part) or an alias, with the
 *  servers to try joining through (`?via=` of a permalink). */
export type RoomRef =
  | { readonly kind: "id"; readonly roomId: string; readonly via: readonly string[] }
  | { readonly kind: "alias"; readonly alias: string; readonly via: readonly string[] };

export interface EventRef {
  readonly room: RoomRef;
  readonly eventId: string;
}

export type MatrixLink =
  | { readonly kind: "user"; readonly userId: string }
  | { readonly kind: "room"; readonly room: RoomRef; readonly eventId?: string };

export const MAX_ID_BYTES = 255;

export function roomRefToString(r: RoomRef): string {
  return r.kind === "id" ? r.roomId : r.alias;
}

const isDigit = (c: string): boolean => c >= "0" && c <= "9";
const isDnsChar = (c: string): boolean =>
  isDigit(c) || (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "-" || c === ".";
const isIpv6Char = (c: string): boolean =>
  isDigit(c) || (c >= "a" && c <= "f") || (c >= "A" && c <= "F") || c === ":" || c === ".";
/** Historical user ID localparts: every printable ASCII character except ":". */
const isHistoricalUserChar = (c: string): boolean => {
  const cp = c.charCodeAt(0);
  return c.length === 1 && cp >= 0x21 && cp <= 0x7e && c !== ":";
};
const isPrintable = (c: string): boolean => {
  const cp = c.codePointAt(0) ?? 0;
  return !(cp < 0x21 || (cp >= 0x7f && cp <= 0x9f) || /\s/u.test(c));
};
const isUrlSafeB64 = (c: string): boolean =>
  isDigit(c) || (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "-" || c === "_";
const isB64 = (c: string): boolean => isUrlSafeB64(c) || c === "+" || c === "/";

function badCharDetail(ch: string, what: string, extra = ""): string {
  return `${what} contains ${describeChar(ch)}, which is not allowed${extra}`;
}

/** The problem with a server name, or undefined when it is valid. */
export function serverNameProblem(name: string): string | undefined {
  if (name === "") return "the server name is empty";
  let port: string | undefined;
  if (name.startsWith("[")) {
    const close = name.indexOf("]");
    if (close < 0) return "the IPv6 address has no closing ]";
    const addr = name.slice(1, close);
    const rest = name.slice(close + 1);
    if (addr.length < 2 || addr.length > 45 || !addr.includes(":"))
      return `${quote(addr)} is not an IPv6 address`;
    const bad = firstBadChar(addr, isIpv6Char);
    if (bad !== undefined) return badCharDetail(bad, "the IPv6 address");
    if (rest !== "") {
      if (!rest.startsWith(":")) return `unexpected ${quote(rest)} after the IPv6 address`;
      port = rest.slice(1);
    }
  } else {
    const colon = name.indexOf(":");
    let host = name;
    if (colon >= 0) {
      host = name.slice(0, colon);
      port = name.slice(colon + 1);
      if (port.includes(":"))
        return "it has more than one ':' (write IPv6 addresses in brackets, like [2001:db8::1]:8448)";
    }
    if (host === "") return "the host name is empty";
    if (host.length > 255) return "the host name is longer than 255 characters";
    const bad = firstBadChar(host, isDnsChar);
    if (bad !== undefined) {
      const idn =
        (bad.codePointAt(0) ?? 0) > 0x7f
          ? " (internationalised names must be written in their xn-- form)"
          : "";
      return badCharDetail(bad, "the server name", idn);
    }
    if (host.startsWith(".") || host.endsWith(".") || host.includes(".."))
      return "the server name has an empty label";
  }
  if (port !== undefined) {
    if (port === "") return "the port after ':' is empty";
    if (port.length > 5 || firstBadChar(port, isDigit) !== undefined)
      return `the port ${quote(port)} is not a number`;
    const n = Number(port);
    if (n < 1 || n > 65535) return `the port ${port} is outside 1–65535`;
  }
  return undefined;
}

export function parseServerName(s: string): ParseResult<string> {
  const problem = serverNameProblem(s);
  return problem === undefined ? ok(s) : err(`expected a server name, got ${quote(s)}: ${problem}`, problem);
}

function userIdProblem(s: string): string | undefined {
  const colon = s.indexOf(":");
  if (colon < 0) return "it has no server part (expected @name:server)";
  const local = s.slice(1, colon);
  if (local === "") return "the name before ':' is empty";
  const bad = firstBadChar(local, isHistoricalUserChar);
  if (bad !== undefined) return badCharDetail(bad, "the name part");
  const server = serverNameProblem(s.slice(colon + 1));
  if (server !== undefined) return server;
  if (utf8Length(s) > MAX_ID_BYTES) return `it is longer than ${MAX_ID_BYTES} bytes`;
  return undefined;
}

export function parseUserId(s: string): ParseResult<string> {
  if (!s.startsWith("@")) {
    const hint = /^[^\s@:]+:[^\s:]+$/u.test(s) ? `user IDs start with @ — did you mean "@${s}"?` : undefined;
    return err(`expected a user ID like @name:example.org, got ${quote(s)}${hint ? `: ${hint}` : ""}`, hint);
  }
  const problem = userIdProblem(s);
  return problem === undefined ? ok(s) : err(`${quote(s)} is not a valid user ID: ${problem}`, problem);
}

function roomIdProblem(s: string): string | undefined {
  if (utf8Length(s) > MAX_ID_BYTES) return `it is longer than ${MAX_ID_BYTES} bytes`;
  const colon = s.indexOf(":");
  if (colon < 0) {
    // Room version 12+: "!" + the create event's reference hash, 43 chars of url-safe base64.
    const opaque = s.slice(1);
    const bad = firstBadChar(opaque, isUrlSafeB64);
    if (bad !== undefined) return badCharDetail(bad, "the room ID");
    if (opaque.length !== 43)
      return `a room ID without a server part must have 43 characters after "!" (it has ${opaque.length})`;
    return undefined;
  }
  const local = s.slice(1, colon);
  if (local === "") return "the part before ':' is empty";
  const bad = firstBadChar(local, isPrintable);
  if (bad !== undefined) return badCharDetail(bad, "the room ID");
  return serverNameProblem(s.slice(colon + 1));
}

export function parseRoomId(s: string): ParseResult<string> {
  if (!s.startsWith("!")) return err(`expected a room ID starting with !, got ${quote(s)}`);
  const problem = roomIdProblem(s);
  return problem === undefined ? ok(s) : err(`${quote(s)} is not a valid room ID: ${problem}`, problem);
}

function aliasProblem(s: string): string | undefined {
  const colon = s.indexOf(":");
  if (colon < 0) return "it has no server part (expected #name:server)";
  const local = s.slice(1, colon);
  if (local === "") return "the name before ':' is empty";
  const bad = firstBadChar(local, isPrintable);
  if (bad !== undefined) return badCharDetail(bad, "the alias");
  const server = serverNameProblem(s.slice(colon + 1));
  if (server !== undefined) return server;
  if (utf8Length(s) > MAX_ID_BYTES) return `it is longer than ${MAX_ID_BYTES} bytes`;
  return undefined;
}

export function parseRoomAlias(s: string): ParseResult<string> {
  if (!s.startsWith("#")) return err(`expected a room alias starting with #, got ${quote(s)}`);
  const problem = aliasProblem(s);
  return problem === undefined ? ok(s) : err(`${quote(s)} is not a valid room alias: ${problem}`, problem);
}

function eventIdProblem(s: string): string | undefined {
  if (utf8Length(s) > MAX_ID_BYTES) return `it is longer than ${MAX_ID_BYTES} bytes`;
  const colon = s.indexOf(":");
  if (colon >= 0) {
    // Room versions 1 and 2: "$opaque:server".
    const local = s.slice(1, colon);
    if (local === "") return "the part before ':' is empty";
    const bad = firstBadChar(local, isPrintable);
    if (bad !== undefined) return badCharDetail(bad, "the event ID");
    return serverNameProblem(s.slice(colon + 1));
  }
  const hash = s.slice(1);
  const bad = firstBadChar(hash, isB64);
  if (bad !== undefined) return badCharDetail(bad, "the event ID");
  if (hash.length !== 43) return `an event ID must have 43 characters after "$" (it has ${hash.length})`;
  return undefined;
}

export function parseEventId(s: string): ParseResult<string> {
  if (!s.startsWith("$")) return err(`expected an event ID starting with $, got ${quote(s)}`);
  const problem = eventIdProblem(s);
  return problem === undefined ? ok(s) : err(`${quote(s)} is not a valid event ID: ${problem}`, problem);
}

/** Room ID (`!…`) or alias (`#…`) typed directly. */
export function parseRoomIdOrAlias(s: string, via: readonly string[] = []): ParseResult<RoomRef> {
  if (s.startsWith("!")) {
    const r = parseRoomId(s);
    return r.ok ? ok({ kind: "id", roomId: r.value, via }) : r;
  }
  if (s.startsWith("#")) {
    const r = parseRoomAlias(s);
    return r.ok ? ok({ kind: "alias", alias: r.value, via }) : r;
  }
  return err(`expected a room ID (!…) or alias (#…:server), got ${quote(s)}`);
}

function decode(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

function parseVia(query: string): ParseResult<string[]> {
  const via: string[] = [];
  for (const pair of query.split("&")) {
    const eq = pair.indexOf("=");
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (key !== "via") continue;
    const value = decode(eq < 0 ? "" : pair.slice(eq + 1));
    if (value === undefined)
      return err("the link has a broken %-escape in via=", "the link has a broken %-escape in via=");
    const problem = serverNameProblem(value);
    if (problem !== undefined) {
      const d = `via=${quote(value)} is not a server name (${problem})`;
      return err(d, d);
    }
    via.push(value);
  }
  return ok(via);
}

const linkFail = (s: string, detail: string): ParseResult<never> =>
  err(`${quote(s)} is not a usable Matrix link: ${detail}`, detail);

/** Resolve the identifier(s) of a link to a user or a room (and optional event). */
function linkTarget(
  s: string,
  idRaw: string,
  eventRaw: string | undefined,
  query: string,
): ParseResult<MatrixLink> {
  const id = decode(idRaw);
  const eventId = eventRaw === undefined ? undefined : decode(eventRaw);
  if (id === undefined || (eventRaw !== undefined && eventId === undefined))
    return linkFail(s, "it has a broken %-escape");
  const via = parseVia(query);
  if (!via.ok) return linkFail(s, via.detail ?? via.error);
  if (id.startsWith("@")) {
    if (eventId !== undefined) return linkFail(s, "a user link cannot point at an event");
    const u = parseUserId(id);
    return u.ok ? ok({ kind: "user", userId: u.value }) : linkFail(s, u.detail ?? u.error);
  }
  const room = parseRoomIdOrAlias(id, via.value);
  if (!room.ok) return linkFail(s, room.detail ?? room.error);
  if (eventId === undefined) return ok({ kind: "room", room: room.value });
  const ev = parseEventId(eventId);
  return ev.ok
    ? ok({ kind: "room", room: room.value, eventId: ev.value })
    : linkFail(s, ev.detail ?? ev.error);
}

/** Split "id[/event][?query]" where the event part starts with "$" (possibly %-encoded). */
function splitPath(path: string): { id: string; event?: string; query: string } {
  const q = path.indexOf("?");
  const query = q < 0 ? "" : path.slice(q + 1);
  const p = q < 0 ? path : path.slice(0, q);
  const m = /\/(\$|%24)/i.exec(p);
  if (m === null) return { id: p.replace(/\/$/, ""), query };
  return { id: p.slice(0, m.index), event: p.slice(m.index + 1).replace(/\/$/, ""), query };
}

const MATRIX_URI_TYPES: Record<string, string> = { u: "@", r: "#", roomid: "!", user: "@", room: "#" };

/**
 * Permalinks: `https://matrix.to/#/<id>[/<event>][?via=…]`, Element-style
 * `https://<host>/#/room/<id>[/<event>]` and `/#/user/<id>`, and `matrix:` URIs
 * (`matrix:u/name:server`, `matrix:r/alias:server`, `matrix:roomid/id[/e/event]`).
 */
export function parseMatrixLink(input: string): ParseResult<MatrixLink> {
  // Links pasted from markdown often arrive wrapped in <…>.
  const s = input.startsWith("<") && input.endsWith(">") ? input.slice(1, -1) : input;
  const lower = s.toLowerCase();
  if (lower.startsWith("matrix:")) {
    const q = s.indexOf("?");
    const path = (q < 0 ? s.slice(7) : s.slice(7, q)).split("/");
    const query = q < 0 ? "" : s.slice(q + 1);
    const sigil = MATRIX_URI_TYPES[(path[0] ?? "").toLowerCase()];
    if (sigil === undefined || path.length < 2 || path[1] === "")
      return linkFail(s, "expected matrix:u/…, matrix:r/… or matrix:roomid/…");
    let event: string | undefined;
    // matrix: URIs drop the sigils; segments stay %-encoded until linkTarget decodes them.
    if (path.length === 4 && (path[2] ?? "").toLowerCase() === "e") event = `%24${path[3] ?? ""}`;
    else if (path.length > 2) return linkFail(s, "unexpected path after the identifier");
    return linkTarget(s, sigil + (path[1] ?? ""), event, query);
  }
  const m = /^https?:\/\/([^/#?]+)\/?#\/(.*)$/is.exec(s);
  if (m === null) return err(`expected a matrix.to or matrix: link, got ${quote(s)}`);
  const host = (m[1] ?? "").toLowerCase();
  let path = m[2] ?? "";
  if (host !== "matrix.to") {
    // Element-style permalinks on a client's own host.
    const typed = /^(room|user)\/(.*)$/is.exec(path);
    if (typed === null) return err(`expected a matrix.to or matrix: link, got ${quote(s)}`);
    path = typed[2] ?? "";
  }
  const parts = splitPath(path);
  if (parts.id === "") return linkFail(s, "it names no user or room");
  return linkTarget(s, parts.id, parts.event, parts.query);
}

export function looksLikeLink(s: string): boolean {
  return /^<?(https?:\/\/|matrix:)/i.test(s);
}
