// The room state that names a policy server: `m.room.policy` (state key ""), content
// `{ via: <server name>, public_keys: { ed25519: <unpadded base64> } }`; the unstable
// `org.matrix.msc4284.policy` that Synapse before the stable form read has `public_key` instead.
// Read exactly as Synapse 1.163 reads it (handlers/room_policy.py `_get_policy_server`): the stable
// event wins when present; anything malformed means "no policy server" (the room is unprotected).
import { decodeBase64 } from "./base64.ts";
import { PUBLIC_KEY_BYTES } from "./ed25519.ts";
import { isValidServerName } from "./serverName.ts";
import { isJsonObject } from "./signedJson.ts";

export const POLICY_STATE_TYPE = "m.room.policy";
export const UNSTABLE_POLICY_STATE_TYPE = "org.matrix.msc4284.policy";

export interface PolicyServerRef {
  readonly via: string;
  /** Unpadded base64 Ed25519 public key. */
  readonly publicKey: string;
}

/** Content for the stable `m.room.policy` naming Tyr. */
export function policyStateContent(ref: PolicyServerRef): Record<string, unknown> {
  return { via: ref.via, public_keys: { ed25519: ref.publicKey } };
}

/** Content for the unstable `org.matrix.msc4284.policy`, for homeservers that predate the stable event. */
export function unstablePolicyStateContent(ref: PolicyServerRef): Record<string, unknown> {
  return { via: ref.via, public_key: ref.publicKey };
}

/**
 * The policy server a room names, from the contents of its stable and unstable policy state
 * (state key ""; undefined when absent). Undefined when neither names a usable one. Synapse also
 * requires `via` to be in the room and not itself; that needs room state and is the caller's.
 */
export function policyServerOf(stable: unknown, unstable: unknown): PolicyServerRef | undefined {
  const content = stable !== undefined ? stable : unstable;
  if (!isJsonObject(content)) return undefined;
  let publicKey: unknown;
  if (stable !== undefined) {
    const keys = content["public_keys"];
    publicKey = isJsonObject(keys) ? keys["ed25519"] : undefined;
  } else publicKey = content["public_key"];
  const via = content["via"];
  if (typeof publicKey !== "string" || typeof via !== "string" || !isValidServerName(via)) return undefined;
  return { via, publicKey };
}

/**
 * Whether `ref` names Tyr (`serverName`) with Tyr's current key. A room naming Tyr with another or
 * malformed key is worse than unprotected: Synapse accepts the policy server but no signature
 * verifies, so every event in the room is refused.
 */
export function namesPolicyServer(
  ref: PolicyServerRef | undefined,
  serverName: string,
  publicKey: string,
): boolean {
  if (ref === undefined || ref.via !== serverName) return false;
  const theirs = decodeBase64(ref.publicKey);
  const ours = decodeBase64(publicKey);
  return (
    theirs !== undefined &&
    ours !== undefined &&
    theirs.byteLength === PUBLIC_KEY_BYTES &&
    Buffer.from(theirs).equals(ours)
  );
}
