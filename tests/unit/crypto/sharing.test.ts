import { describe, expect, it } from "vitest";

import { chooseSharing, type DeviceFacts } from "../../../src/matrix/crypto/sharing.ts";

const dev = (userId: string, deviceId: string, facts: Partial<DeviceFacts> = {}): DeviceFacts => ({
  userId,
  deviceId,
  crossSignedByOwner: false,
  verified: false,
  blocked: false,
  ...facts,
});
const ids = (ds: DeviceFacts[]) => ds.map((d) => `${d.userId}/${d.deviceId}`);

describe("chooseSharing (the cross-signed policy)", () => {
  const tyr = dev("@tyr:x", "TYR", { crossSignedByOwner: true, verified: true });

  it("stays identity-based while that reaches every wanted device", () => {
    const c = chooseSharing([tyr, dev("@a:x", "A1", { crossSignedByOwner: true }), dev("@b:x", "B1")]);
    expect(c).toEqual({ strategy: "identity", leftOut: [] });
  });

  it("shares with all devices when a device Tyr verified is not cross-signed and nobody has an unwanted device", () => {
    const lone = dev("@lone:x", "L1", { verified: true });
    const c = chooseSharing([tyr, lone, dev("@a:x", "A1", { crossSignedByOwner: true })]);
    expect(c).toEqual({ strategy: "all", leftOut: [] });
  });

  it("blocked devices do not stand in the way of sharing with all (they never get keys)", () => {
    const lone = dev("@lone:x", "L1", { verified: true });
    const c = chooseSharing([tyr, lone, dev("@a:x", "A2", { blocked: true })]);
    expect(c.strategy).toBe("all");
  });

  it("never reaches an unwanted device: picks the safe strategy that covers more, and says who is left out", () => {
    const lone = dev("@lone:x", "L1", { verified: true });
    const stranger = dev("@s:x", "S1"); // unsigned, unverified
    const signed = dev("@a:x", "A1", { crossSignedByOwner: true });
    // identity: tyr + A1 (lone left out); trusted: tyr + L1 (A1 left out): a tie keeps identity.
    const tie = chooseSharing([tyr, lone, stranger, signed]);
    expect(tie.strategy).toBe("identity");
    expect(ids(tie.leftOut)).toEqual(["@lone:x/L1"]);
    // Two verified-only devices against one cross-signed: trusted-only covers more.
    const more = chooseSharing([tyr, lone, dev("@lone:x", "L2", { verified: true }), stranger, signed]);
    expect(more.strategy).toBe("trusted");
    expect(ids(more.leftOut)).toEqual(["@a:x/A1"]);
  });

  it("counts a user with a blocked cross-signed device as cut off under identity-based sharing", () => {
    const a1 = dev("@a:x", "A1", { crossSignedByOwner: true, verified: true });
    const a2 = dev("@a:x", "A2", { crossSignedByOwner: true, blocked: true });
    const c = chooseSharing([tyr, a1, a2, dev("@s:x", "S1")]);
    expect(c.strategy).toBe("trusted");
    expect(c.leftOut).toEqual([]);
  });
});
