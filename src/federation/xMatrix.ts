// Federation request authentication (spec "Request Authentication"): the `Authorization: X-Matrix`
// header and the JSON object its signature covers. Parsing is pure, bounded and never throws: a
// malformed header comes back as a reason the listener can log and answer 401 with.
//
// Header grammar (RFC 9110 §11.4 as the spec profiles it): the scheme `X-Matrix`, one or more
// spaces, then comma-separated `name=value` params with optional spaces/tabs around each comma.
// Names are case-insensitive; a value is a token or a quoted string with backslash escapes; for
// older senders an unquoted value may contain `:` (and we also accept `/`, `+`, `=` of base64).
// Params: origin, destination (optional for compatibility), key, sig. Unknown params are ignored;
// a repeated param is refused as ambiguous.
import type { KeyObject } from "node:crypto";
import type { SigningKey } from "./ed25519.ts";
import { KEY_VERSION } from "./ed25519.ts";
import { isValidServerName } from "./serverName.ts";
import { signatureOf, verifyJsonSignature, type Checked, type JsonObject } from "./signedJson.ts";

/** Longest header looked at: four params of server names, a key ID and a signature fit in far less. */
export const MAX_AUTH_HEADER_LENGTH = 2048;

export interface XMatrixAuth {
  readonly origin: string;
  /** Absent in headers from servers older than spec v1.3. */
  readonly destination?: string;
  /** `ed25519:<version>`. */
  readonly key: string;
  readonly sig: string;
}

export type ParsedAuth =
  { readonly ok: true; readonly auth: XMatrixAuth } | { readonly ok: false; readonly reason: string };

const SCHEME = /^x-matrix +/i;
const NAME = /^[A-Za-z0-9_-]+$/;
/** Characters an unquoted value may have: RFC 9110 tchar plus `:` `/` `=` for older senders. */
const UNQUOTED = /[!#$%&'*+\-.^_`|~0-9A-Za-z:/=]/;
const OWS = /[ \t]/;

function fail(reason: string): ParsedAuth {
  return { ok: false, reason };
}

/** Parses an `Authorization` header value. */
export function parseXMatrix(header: string): ParsedAuth {
  if (header.length > MAX_AUTH_HEADER_LENGTH)
    return fail(`the Authorization header is longer than ${MAX_AUTH_HEADER_LENGTH} characters`);
  const scheme = SCHEME.exec(header);
  if (scheme === null) return fail("the Authorization header is not of the X-Matrix scheme");
  const params = new Map<string, string>();
  let i = scheme[0].length;
  const n = header.length;
  for (;;) {
    // name
    const nameStart = i;
    while (i < n && header[i] !== "=" && header[i] !== "," && !OWS.test(header[i] as string)) i++;
    const name = header.slice(nameStart, i).toLowerCase();
    if (name === "") return fail(`expected a parameter name at position ${nameStart}`);
    if (!NAME.test(name)) return fail(`invalid parameter name at position ${nameStart}`);
    if (header[i] !== "=") return fail(`parameter ${JSON.stringify(name)} has no value`);
    i++;
    // value
    let value = "";
    if (header[i] === '"') {
      i++;
      let closed = false;
      while (i < n) {
        const c = header[i] as string;
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        if (c === "\\") {
          i++;
          if (i >= n) break;
        }
        const v = header[i] as string;
        const code = v.charCodeAt(0);
        if (code < 0x20 || code === 0x7f)
          return fail(`control character in the value of ${JSON.stringify(name)}`);
        value += v;
        i++;
      }
      if (!closed) return fail(`unterminated quoted value of ${JSON.stringify(name)}`);
    } else {
      const start = i;
      while (i < n && UNQUOTED.test(header[i] as string)) i++;
      value = header.slice(start, i);
      if (value === "") return fail(`empty value of ${JSON.stringify(name)}`);
    }
    if (params.has(name)) return fail(`parameter ${JSON.stringify(name)} appears twice`);
    params.set(name, value);
    // separator
    while (i < n && OWS.test(header[i] as string)) i++;
    if (i >= n) break;
    if (header[i] !== ",") return fail(`unexpected character at position ${i}`);
    i++;
    while (i < n && OWS.test(header[i] as string)) i++;
  }
  const origin = params.get("origin");
  const key = params.get("key");
  const sig = params.get("sig");
  const destination = params.get("destination");
  if (origin === undefined) return fail("the X-Matrix header has no origin");
  if (key === undefined) return fail("the X-Matrix header has no key");
  if (sig === undefined) return fail("the X-Matrix header has no sig");
  if (!isValidServerName(origin)) return fail("the origin is not a valid server name");
  if (destination !== undefined && !isValidServerName(destination))
    return fail("the destination is not a valid server name");
  if (!key.startsWith("ed25519:") || !KEY_VERSION.test(key.slice("ed25519:".length)))
    return fail("the key is not an ed25519 key ID");
  return { ok: true, auth: { origin, key, sig, ...(destination !== undefined ? { destination } : {}) } };
}

/** The object an X-Matrix signature covers. `uri` is the request target as sent: path and query. */
export function requestToSign(req: {
  readonly method: string;
  readonly uri: string;
  readonly origin: string;
  readonly destination: string;
  readonly content?: unknown;
}): JsonObject {
  const obj: JsonObject = {
    method: req.method,
    uri: req.uri,
    origin: req.origin,
    destination: req.destination,
  };
  if (req.content !== undefined) obj["content"] = req.content;
  return obj;
}

function quote(s: string): string {
  return `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** The Authorization header a server sends (the layout Synapse writes). */
export function buildXMatrix(req: {
  readonly method: string;
  readonly uri: string;
  readonly origin: string;
  readonly destination: string;
  readonly content?: unknown;
  readonly key: SigningKey;
}): string {
  const sig = signatureOf(requestToSign(req), req.key);
  return `X-Matrix origin=${quote(req.origin)},key=${quote(req.key.keyId)},sig=${quote(sig)},destination=${quote(req.destination)}`;
}

/**
 * Verifies a parsed header against the request as received. `ownServerName` is the name Tyr answers
 * as: it is the destination that is signed (as Synapse does), and a header naming another
 * destination is refused. `content` is the parsed JSON body, undefined when there is none.
 */
export function verifyXMatrix(
  auth: XMatrixAuth,
  req: { readonly method: string; readonly uri: string; readonly content?: unknown },
  ownServerName: string,
  verifyKey: KeyObject,
): Checked {
  if (auth.destination !== undefined && auth.destination !== ownServerName)
    return { ok: false, reason: `the request is for ${auth.destination}, not ${ownServerName}` };
  const signed = requestToSign({ ...req, origin: auth.origin, destination: ownServerName });
  signed["signatures"] = { [auth.origin]: { [auth.key]: auth.sig } };
  return verifyJsonSignature(signed, auth.origin, auth.key, verifyKey);
}
