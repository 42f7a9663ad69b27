// The `watch` preview's ACL line comes from the same ACL computation Tyr then sends: it says how
// many server names would be denied and how many would not fit, never the raw rule count.
import { describe, expect, it } from "vitest";
import { buildAcl, type AclListInput } from "../../../src/acl/build.ts";
import type { Rule } from "../../../src/banlists/rule.ts";
import { describeAclPreview } from "../../../src/commands/lists.ts";

const serverRule = (list: string, entity: string, recommendation: Rule["recommendation"] = "ban"): Rule => ({
  list,
  kind: "server",
  entity,
  recommendation,
  eventType: "m.policy.rule.server",
  stateKey: `rule:${entity}`,
});

const NEW = "!new:example.org";
const OLD = "!old:example.org";

function planWith(lists: AclListInput[]) {
  return buildAcl({ lists, ownServer: "example.org" });
}

describe("describeAclPreview", () => {
  it("a list of 4,000 server rules: says what fits in the ACL and what does not", () => {
    const rules = Array.from({ length: 4000 }, (_, i) => serverRule(NEW, `spam-${i}.badservers.example`));
    const plan = planWith([{ id: NEW, rules }]);
    const denied = plan.content.deny.length;
    expect(denied).toBeGreaterThan(1000);
    expect(denied).toBeLessThan(4000);
    const line = describeAclPreview(plan, NEW);
    expect(line).toContain(`would deny ${denied.toLocaleString("en-US")} more server name(s)`);
    expect(line).toContain(`${4000 - denied} did not fit in the size limit`);
    expect(line).not.toContain("4,000");
  });

  it("counts only what the new list adds to the lists already watched", () => {
    const old = { id: OLD, rules: [serverRule(OLD, "*.evil.example"), serverRule(OLD, "dup.example")] };
    const added = {
      id: NEW,
      rules: [
        serverRule(NEW, "a.evil.example"), // covered by the old list's glob
        serverRule(NEW, "dup.example"), // already denied by the old list
        serverRule(NEW, "fresh.example"),
        serverRule(NEW, "example.org"), // Tyr's own server: refused
      ],
    };
    const line = describeAclPreview(planWith([old, added]), NEW);
    expect(line).toBe(
      "In the server ACLs it would deny 1 more server name(s) (1 already covered by a broader entry); 1 left out: 1 would deny Tyr's own server (`example.org`).",
    );
  });

  it("a list without server rules says so", () => {
    const plan = planWith([{ id: NEW, rules: [] }]);
    expect(describeAclPreview(plan, NEW)).toBe("It has no server rules for the ACLs.");
  });
});
