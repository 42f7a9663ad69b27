// Which of crypto-wasm's key-sharing strategies to use for one room key, under the "cross-signed"
// policy (pure). The policy wants the room key on every device that is cross-signed by its owner
// OR verified by Tyr (by emoji, or through an identity Tyr verified), never on a blocked one.
//
// crypto-wasm applies ONE strategy to a whole Megolm session and cannot add a single device to it:
// sharing again with a narrower strategy rotates the session, and a wider one reaches every
// member. None of its strategies is that union. So: the identity-based strategy when it already
// covers every wanted device; otherwise the widest strategy that reaches no unwanted device:
// "all devices" when every unblocked device is wanted (a moderator whose devices are all either
// cross-signed or verified by Tyr), else whichever of identity-based / trusted-only covers more.

export type SharingStrategy = "identity" | "all" | "trusted";

export interface DeviceFacts {
  userId: string;
  deviceId: string;
  crossSignedByOwner: boolean;
  /** Verified by Tyr: by emoji, or signed by an identity Tyr verified (or Tyr's own). */
  verified: boolean;
  blocked: boolean;
}

export interface SharingChoice {
  strategy: SharingStrategy;
  /** Wanted devices the chosen strategy does not reach (logged, so an operator can act). */
  leftOut: DeviceFacts[];
}

/** The policy's own test of a device. */
export const isWanted = (d: DeviceFacts): boolean => !d.blocked && (d.crossSignedByOwner || d.verified);

/**
 * Devices each strategy reaches. Identity-based ignores local blocks in crypto-wasm, so the engine
 * leaves out every user with a blocked cross-signed device (see encryption.ts): modelled here.
 */
function reached(strategy: SharingStrategy, devices: readonly DeviceFacts[]): Set<DeviceFacts> {
  if (strategy === "all") return new Set(devices.filter((d) => !d.blocked));
  if (strategy === "trusted") return new Set(devices.filter((d) => !d.blocked && d.verified));
  const cutOff = new Set(devices.filter((d) => d.blocked && d.crossSignedByOwner).map((d) => d.userId));
  return new Set(devices.filter((d) => d.crossSignedByOwner && !cutOff.has(d.userId)));
}

export function chooseSharing(devices: readonly DeviceFacts[]): SharingChoice {
  const want = devices.filter(isWanted);
  const choice = (strategy: SharingStrategy): SharingChoice => {
    const got = reached(strategy, devices);
    return { strategy, leftOut: want.filter((d) => !got.has(d)) };
  };
  const identity = choice("identity");
  if (identity.leftOut.length === 0) return identity;
  const safeForAll = devices.every((d) => d.blocked || isWanted(d));
  if (safeForAll) return choice("all");
  const trusted = choice("trusted");
  return trusted.leftOut.length < identity.leftOut.length ? trusted : identity;
}
