import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ActionLog, toRecord } from "../../../src/store/actionLog.ts";
import type { Cause, Consequence } from "../../../src/consequences/types.ts";
import type { Rule } from "../../../src/banlists/rule.ts";

const rule: Rule = {
  list: "!l",
  kind: "user",
  entity: "@s:hs",
  recommendation: "ban",
  eventType: "m.policy.rule.user",
  stateKey: "k",
};
const byRule: Cause = { by: "policy", rule };
const byMod: Cause = { by: "moderator", user: "@mod:hs", command: "suspend" };
const c = (kind: "suspend" | "unsuspend", user: string, cause: Cause, reason = ""): Consequence => ({
  kind,
  user,
  reason,
  cause,
});

describe("the suspension record in the action log", () => {
  it("remembers who holds each suspension, forgets it when lifted, and survives a restart", () => {
    const dir = mkdtempSync(join(tmpdir(), "tyr-susp-"));
    const log = new ActionLog(dir);
    log.append(toRecord(c("suspend", "@a:hs", byRule, "spam"), "done"));
    log.append(toRecord(c("suspend", "@b:hs", byMod, "by hand"), "done"));
    log.append(toRecord(c("suspend", "@c:hs", byRule), "failed"));
    log.append(toRecord(c("suspend", "@d:hs", byRule), "done"));
    log.append(toRecord(c("unsuspend", "@d:hs", byMod), "done"));
    expect(log.suspensionOf("@a:hs")?.ruleKey).toBeDefined();
    expect(log.suspensionOf("@b:hs")).toMatchObject({ actor: "@mod:hs", reason: "by hand" });
    expect(log.suspensionOf("@b:hs")?.ruleKey).toBeUndefined();
    expect(log.suspensionOf("@c:hs")).toBeUndefined();
    expect(log.suspensionOf("@d:hs")).toBeUndefined();
    expect([...log.policySuspendedUsers()]).toEqual(["@a:hs"]);
    // A moderator suspending an account a rule suspended takes it over.
    log.append(toRecord(c("suspend", "@a:hs", byMod), "done"));
    expect(log.suspensionCounts()).toEqual({ policy: 0, moderator: 2 });
    const again = new ActionLog(dir);
    expect(again.suspensionOf("@b:hs")?.actor).toBe("@mod:hs");
    expect(again.suspensionCounts()).toEqual({ policy: 0, moderator: 2 });
  });

  it("keeps suspensions in force when the log is trimmed", () => {
    const dir = mkdtempSync(join(tmpdir(), "tyr-susp-"));
    const log = new ActionLog(dir, { maxRecords: 10 });
    log.append(toRecord(c("suspend", "@old:hs", byRule), "done"));
    for (let i = 0; i < 30; i++) log.append(toRecord(c("suspend", `@x${i}:hs`, byMod), "failed"));
    expect(log.size).toBeLessThan(31);
    expect(new ActionLog(dir).suspensionOf("@old:hs")?.ruleKey).toBeDefined();
  });
});
