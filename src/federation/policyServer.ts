// Tyr as an MSC4284 policy server: the answer to one sign request, from in-memory state only.
// The HTTP listener (src/http/, separate work) authenticates the request with `authenticateRequest`
// (requestAuth.ts), parses the body, and sends back what `answerSignRequest` returns.
//
// Facts this is built on (spec v1.18+ "Policy Servers", MSC4284; read in Synapse 1.163.2's
// synapse/handlers/room_policy.py, federation/transport/client.py, crypto/keyring.py):
// - Endpoint: `POST /_matrix/policy/v1/sign`. Synapse tries it first and falls back to
//   `POST /_matrix/policy/unstable/org.matrix.msc4284/sign` only when the stable path answers
//   404/405 M_UNRECOGNIZED (or a non-JSON 404/405). It calls no other policy endpoint (no `/check`).
// - Request body: the full PDU (`event.get_pdu_json()`), no wrapper. Synapse never asks about the
//   `m.room.policy` state event with state key "" itself. It asks with a 30 s timeout, ignoring
//   federation backoff.
// - Auth: an ordinary federation request, `Authorization: X-Matrix origin="…",key="ed25519:…",
//   sig="…",destination="<policy server name>"`, the signature over {method, uri, origin,
//   destination, content} (xMatrix.ts); the origin's key comes from its /_matrix/key/v2/server.
// - Answer 200: `{ "<policy server name>": { "ed25519:policy_server": "<unpadded base64 sig>" } }`,
//   the signature over the event redacted per its room version, without `signatures`/`unsigned`
//   (Synapse verifies `redact_event(event).get_pdu_json()` with signedjson; policySignature.ts).
//   Only the signatures block is returned; Synapse adds it to the event's own signatures.
//   Refusal: 400 M_FORBIDDEN; bad PDU: 400 M_BAD_JSON; unknown room: 404 M_NOT_FOUND; a banned
//   requesting server: 403 M_FORBIDDEN; 429 when rate limited.
// - The key: the room's `m.room.policy` state (state key "") has `via` (the policy server's server
//   name) and `public_keys: { "ed25519": "<unpadded base64>" }`; the unstable
//   `org.matrix.msc4284.policy` event has `public_key` instead. Synapse ignores the policy server
//   unless `via` is a valid server name, is not Synapse itself, and is *in the room* (a member of
//   that server is joined) — so `via` is in practice the homeserver of Tyr's account, with
//   /_matrix/policy/ reverse-proxied to Tyr.
// - Unreachable or refusing: every failure (refusal, timeout, network error, bad signature) counts
//   as "not allowed". A local user's event: Synapse asks before sending; a refusal (any non-2xx)
//   is passed to the client as that error, a network failure fails the send, and an event without
//   a valid signature is refused with 403 "This message has been rejected as probable spam". An
//   event arriving over federation is soft-failed and marked spammy (stored, not shown). So while
//   Tyr is down nobody can post in the room until its `m.room.policy` is removed; events that
//   change `m.room.policy` (state key "") are always allowed, so moderators can always do that.
import { MAX_EVENT_BYTES, canonicalJsonBytes } from "../util/canonicalJson.ts";
import type { SigningKey } from "./ed25519.ts";
import { decidePolicy, type PolicyContext, type PolicyVerdict } from "./policyDecision.ts";
import { policySignature } from "./policySignature.ts";
import type { JsonObject } from "./signedJson.ts";

export const SIGN_PATH = "/_matrix/policy/v1/sign";
export const UNSTABLE_SIGN_PATH = "/_matrix/policy/unstable/org.matrix.msc4284/sign";
/**
 * Largest request body worth reading. Synapse posts the PDU as canonical JSON and refuses PDUs over
 * 65,536 bytes; the margin covers other servers' less compact encodings. The parsed event is then
 * held to the PDU limit exactly.
 */
export const MAX_SIGN_REQUEST_BYTES = 2 * MAX_EVENT_BYTES;

export interface SignRequestContext extends PolicyContext {
  /** The server name Tyr answers as: the `via` of the rooms' `m.room.policy`. */
  readonly serverName: string;
  readonly key: SigningKey;
  /** The room version of a room Tyr is policy server for; undefined for any other room. */
  roomVersion(roomId: string): string | undefined;
}

export interface SignAnswer {
  readonly status: 200 | 400 | 403 | 404 | 413;
  readonly body: JsonObject;
  /** What was decided, for the action log and status (absent when the request was refused earlier). */
  readonly verdict?: PolicyVerdict;
}

function error(
  status: SignAnswer["status"],
  errcode: string,
  message: string,
  verdict?: PolicyVerdict,
): SignAnswer {
  return { status, body: { errcode, error: message }, ...(verdict ? { verdict } : {}) };
}

/** The answer to a sign request for `pdu` from the authenticated server `origin`. Never throws. */
export function answerSignRequest(pdu: unknown, origin: string, ctx: SignRequestContext): SignAnswer {
  if (ctx.matcher.decideServer(origin).action !== "none")
    return error(403, "M_FORBIDDEN", "Your server is not allowed to request a signature.");
  let size: number;
  try {
    size = canonicalJsonBytes(pdu);
  } catch (e) {
    return error(400, "M_BAD_JSON", `the event is not canonical JSON: ${(e as Error).message}`);
  }
  if (size > MAX_EVENT_BYTES)
    return error(413, "M_TOO_LARGE", `the event is larger than ${MAX_EVENT_BYTES} bytes`);
  const verdict = decidePolicy(pdu, ctx);
  if (verdict.verdict === "bad-event") return error(400, "M_BAD_JSON", verdict.reason, verdict);
  const version = ctx.roomVersion(verdict.event.roomId);
  if (version === undefined)
    return error(404, "M_NOT_FOUND", "This room is not protected by this policy server.", verdict);
  // The reason stays in Tyr's log: ban reasons and protection details are for moderators.
  if (verdict.verdict === "refuse")
    return error(400, "M_FORBIDDEN", "This event was refused by the room's policy server.", verdict);
  const signed = policySignature(verdict.event.pdu, version, ctx.serverName, ctx.key);
  if (!signed.ok) return error(400, "M_BAD_JSON", signed.reason, verdict);
  return { status: 200, body: signed.signatures, verdict };
}
