import { describe, expect, it } from "vitest";

import { warningCode } from "../../../src/node-warnings.ts";

describe("warningCode", () => {
  it("reads the code of every process.emitWarning form", () => {
    expect(warningCode(["old", "DeprecationWarning", "DEP0060"])).toBe("DEP0060");
    expect(warningCode(["old", { type: "DeprecationWarning", code: "DEP0060" }])).toBe("DEP0060");
    expect(warningCode([Object.assign(new Error("old"), { code: "DEP0060" })])).toBe("DEP0060");
  });

  it("has no code for warnings without one", () => {
    expect(warningCode(["plain"])).toBeUndefined();
    expect(warningCode(["plain", "Warning"])).toBeUndefined();
    expect(warningCode([new Error("plain")])).toBeUndefined();
    expect(warningCode(["plain", { type: "Warning" }])).toBeUndefined();
  });
});
