// The policy server's signature on an event (MSC4284, spec v1.18 "Policy Servers"). The signature
// is over the event *redacted* under its room version's rules (Synapse verifies
// `redact_event(event).get_pdu_json()`), by the key published in the room's `m.room.policy`
// (`public_keys.ed25519`), under the fixed key ID `ed25519:policy_server`.
import type { KeyObject } from "node:crypto";
import type { SigningKey } from "./ed25519.ts";
import { redactEvent, redactionRules } from "./redaction.ts";
import { signatureOf, verifyJsonSignature, type Checked, type JsonObject } from "./signedJson.ts";

/** The key ID every policy server signature uses, whatever the key's own version. */
export const POLICY_SERVER_KEY_ID = "ed25519:policy_server";

/** What `/_matrix/policy/v1/sign` answers with 200: `{ <server name>: { "ed25519:policy_server": sig } }`. */
export type PolicySignatures = Record<string, Record<string, string>>;

export type Signed =
  | { readonly ok: true; readonly signatures: PolicySignatures }
  | { readonly ok: false; readonly reason: string };

/** Signs `pdu` as policy server `serverName`. Never throws: unknown room versions and PDUs that
 *  cannot be redacted or encoded come back as a reason. */
export function policySignature(
  pdu: JsonObject,
  roomVersion: string,
  serverName: string,
  key: SigningKey,
): Signed {
  const rules = redactionRules(roomVersion);
  if (rules === undefined)
    return { ok: false, reason: `unsupported room version ${JSON.stringify(roomVersion)}` };
  try {
    const sig = signatureOf(redactEvent(pdu, rules), key);
    return { ok: true, signatures: { [serverName]: { [POLICY_SERVER_KEY_ID]: sig } } };
  } catch (e) {
    return { ok: false, reason: `cannot sign this event: ${(e as Error).message}` };
  }
}

/** Whether `pdu` carries a valid policy signature by `serverName` with `verifyKey` (as Synapse checks it). */
export function verifyPolicySignature(
  pdu: JsonObject,
  roomVersion: string,
  serverName: string,
  verifyKey: KeyObject,
): Checked {
  const rules = redactionRules(roomVersion);
  if (rules === undefined)
    return { ok: false, reason: `unsupported room version ${JSON.stringify(roomVersion)}` };
  let redacted: JsonObject;
  try {
    redacted = redactEvent(pdu, rules);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  return verifyJsonSignature(redacted, serverName, POLICY_SERVER_KEY_ID, verifyKey);
}
