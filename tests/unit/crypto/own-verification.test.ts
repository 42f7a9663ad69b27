import { describe, expect, it } from "vitest";

import { ownVerificationCommand } from "../../../src/matrix/crypto/own-verification.ts";

describe("ownVerificationCommand", () => {
  it("reads verify confirm|cancel with an optional flow", () => {
    expect(ownVerificationCommand("!tyr verify confirm", "!tyr")).toEqual({
      action: "confirm",
      flow: undefined,
    });
    expect(ownVerificationCommand("  !tyr  verify  Cancel  abc ", "!tyr")).toEqual({
      action: "cancel",
      flow: "abc",
    });
  });

  it("is nothing else", () => {
    for (const body of [
      "!tyr status",
      "!tyr verify @a:x",
      "!tyr verify confirm abc extra",
      "tyr verify confirm",
      "!tyr verify",
      "!tyrverify confirm",
      undefined,
      42,
    ])
      expect(ownVerificationCommand(body, "!tyr")).toBeUndefined();
  });
});
