import { describe, expect, it } from "vitest";
import {
  planConsequences,
  planMemberBans,
  withoutOwnServerRules,
  type PlanInput,
} from "../../../src/policy/plan.ts";
import { Matcher } from "../../../src/banlists/matcher.ts";
import type { Decision } from "../../../src/banlists/matcher.ts";
import type { Rule } from "../../../src/banlists/rule.ts";

const rule = (entity: string, recommendation: Rule["recommendation"] = "ban", reason?: string): Rule => ({
  list: "!list",
  kind: "user",
  entity,
  recommendation,
  eventType: "m.policy.rule.user",
  stateKey: entity,
  ...(reason ? { reason } : {}),
});

function input(over: Partial<PlanInput> & { rules?: Record<string, Rule> } = {}): PlanInput {
  const rules = over.rules ?? {};
  return {
    candidates: [],
    protectedRooms: new Set(["!a", "!b"]),
    decide: (u): Decision => {
      const r = rules[u];
      return r
        ? { action: r.recommendation === "takedown" ? "takedown" : "ban", rule: r, rules: [r], excepted: [] }
        : { action: "none", rules: [], excepted: [] };
    },
    roomsOf: () => ["!a", "!b", "!unprotected"],
    policyBansOf: () => new Map(),
    membership: () => "join",
    canBan: () => true,
    isCreator: () => false,
    isShielded: (u) => u === "@tyr:x" || u === "@mod:x",
    allowUnbans: true,
    ...over,
  };
}

describe("planMemberBans", () => {
  it("never bans a room creator (room version 12): reported apart from missing power", () => {
    const plan = planMemberBans(
      input({
        candidates: ["@owner:x"],
        rules: { "@owner:x": rule("@owner:x") },
        isCreator: (room, u) => room === "!a" && u === "@owner:x",
      }),
    );
    expect(plan.bans.map((b) => b.room)).toEqual(["!b"]);
    expect(plan.creators).toEqual([{ room: "!a", user: "@owner:x", rule: rule("@owner:x") }]);
    expect(plan.noPower.size).toBe(0);
  });

  it("bans a matching member in every protected room they are in, once", () => {
    const plan = planMemberBans(input({ candidates: ["@s:x", "@s:x"], rules: { "@s:x": rule("@s:x") } }));
    expect(plan.bans.map((b) => b.room)).toEqual(["!a", "!b"]);
  });

  it("skips rooms where the user is already banned, and counts rooms without power", () => {
    const plan = planMemberBans(
      input({
        candidates: ["@s:x"],
        rules: { "@s:x": rule("@s:x") },
        membership: (room) => (room === "!a" ? "ban" : "join"),
        canBan: (room) => room !== "!b",
      }),
    );
    expect(plan.bans).toEqual([]);
    expect([...plan.noPower]).toEqual([["!b", 1]]);
  });

  it("never plans a ban of the bot or a moderator; reports them", () => {
    const plan = planMemberBans(
      input({ candidates: ["@tyr:x", "@mod:x"], rules: { "@tyr:x": rule("@*:x"), "@mod:x": rule("@*:x") } }),
    );
    expect(plan.bans).toEqual([]);
    expect(plan.shielded.map((s) => s.user)).toEqual(["@tyr:x", "@mod:x"]);
  });

  it("lifts only Tyr's policy bans that are still in place, and only when every list is loaded", () => {
    const bans = new Map([
      ["!a", "k1"],
      ["!b", "k1"],
      ["!gone", "k1"],
    ]);
    const over = {
      candidates: ["@s:x"],
      policyBansOf: () => bans,
      membership: (room: string) => (room === "!b" ? "leave" : "ban"),
    };
    expect(planMemberBans(input(over)).unbans).toEqual([{ room: "!a", user: "@s:x", ruleKey: "k1" }]);
    expect(planMemberBans(input({ ...over, allowUnbans: false })).unbans).toEqual([]);
  });

  it("turns takedowns into a ban with redact_events plus a redaction of the user's events", () => {
    const r = rule("@s:x", "takedown", "abuse");
    const plan = planMemberBans(input({ candidates: ["@s:x"], rules: { "@s:x": r }, roomsOf: () => ["!a"] }));
    const cs = planConsequences(plan, () => ["$1", "$2"]);
    expect(cs.map((c) => c.kind)).toEqual(["ban", "redactUser"]);
    expect(cs[0]).toMatchObject({ reason: "abuse", cause: { by: "policy", rule: r }, redactEvents: true });
    expect(cs[1]).toMatchObject({ room: "!a", user: "@s:x", events: ["$1", "$2"] });
    // A plain ban leaves the user's events alone.
    const banned = planMemberBans(
      input({ candidates: ["@s:x"], rules: { "@s:x": rule("@s:x") }, roomsOf: () => ["!a"] }),
    );
    expect(planConsequences(banned, () => ["$1"])).toEqual([
      expect.not.objectContaining({ redactEvents: true }),
    ]);
  });

  it("uses a default reason when the rule has none", () => {
    const plan = planMemberBans(
      input({ candidates: ["@s:x"], rules: { "@s:x": rule("@s:x") }, roomsOf: () => ["!a"] }),
    );
    expect(planConsequences(plan, () => [])[0]).toMatchObject({ reason: "matched a ban-list rule" });
  });
});

describe("own-server protection for server rules applied to users", () => {
  const server = (entity: string, stateKey = entity): Rule => ({
    list: "!l",
    kind: "server",
    entity,
    recommendation: "ban",
    eventType: "m.policy.rule.server",
    stateKey,
  });
  it("ignores server rules that match Tyr's own server, keeps the rest", () => {
    const m = new Matcher({ serverRulesApplyToUsers: true });
    for (const r of [server("*"), server("localhost"), server("*host"), server("evil.org")]) m.add(r);
    expect(withoutOwnServerRules(m.decideUser("@alice:localhost"), "localhost:8448").action).toBe("none");
    expect(withoutOwnServerRules(m.decideUser("@bob:matrix.org"), "localhost").action).toBe("none");
    const evil = withoutOwnServerRules(m.decideUser("@spam:evil.org"), "localhost");
    expect(evil.action).toBe("ban");
    expect(evil.rule?.entity).toBe("evil.org");
  });
  it("reads ports the way the matcher does: a rule with a port names its host (issue #12)", () => {
    const m = new Matcher({ serverRulesApplyToUsers: true });
    for (const r of [server("localhost:8448"), server("[::1]:80"), server("evil.org:8448")]) m.add(r);
    expect(withoutOwnServerRules(m.decideUser("@alice:localhost"), "localhost").action).toBe("none");
    expect(withoutOwnServerRules(m.decideUser("@alice:[::1]:8448"), "[::1]:8448").action).toBe("none");
    expect(withoutOwnServerRules(m.decideUser("@spam:evil.org"), "localhost").action).toBe("ban");
  });
  it("leaves user rules alone", () => {
    const m = new Matcher({ serverRulesApplyToUsers: true });
    m.add(server("*"));
    m.add(rule("@alice:localhost"));
    expect(withoutOwnServerRules(m.decideUser("@alice:localhost"), "localhost").rule?.kind).toBe("user");
  });
});

describe("auto-suspension in the member plan", () => {
  const auto = (
    over: Partial<PlanInput> & {
      rules?: Record<string, Rule>;
      held?: Record<string, "policy" | "moderator">;
    } = {},
  ) =>
    input({
      suspension: {
        lists: new Set(["!list"]),
        isLocal: (u) => u.endsWith(":x"),
        heldBy: (u) => over.held?.[u],
      },
      ...over,
    });

  it("suspends a local account an autoSuspend list bans, once, and never a remote or shielded one", () => {
    const r = rule("@s:x", "ban", "spam");
    const plan = planMemberBans(
      auto({
        candidates: ["@s:x", "@s:x", "@r:remote", "@mod:x"],
        rules: { "@s:x": r, "@r:remote": rule("@r:remote"), "@mod:x": rule("@mod:x") },
      }),
    );
    expect(plan.suspends).toEqual([{ user: "@s:x", rule: r }]);
    const cs = planConsequences(plan, () => []).filter((c) => c.kind === "suspend");
    expect(cs).toEqual([{ kind: "suspend", user: "@s:x", reason: "spam", cause: { by: "policy", rule: r } }]);
  });

  it("ignores lists without autoSuspend and accounts already suspended", () => {
    const other = { ...rule("@s:x"), list: "!other" };
    expect(planMemberBans(auto({ candidates: ["@s:x"], rules: { "@s:x": other } })).suspends).toEqual([]);
    const held = planMemberBans(
      auto({ candidates: ["@s:x"], rules: { "@s:x": rule("@s:x") }, held: { "@s:x": "moderator" } }),
    );
    expect(held.suspends).toEqual([]);
  });

  it("lifts only suspensions a rule made, once no autoSuspend rule bans the account, and only when every list is loaded", () => {
    const held = { "@gone:x": "policy", "@hand:x": "moderator" } as const;
    const plan = planMemberBans(auto({ candidates: ["@gone:x", "@hand:x"], held }));
    expect(plan.unsuspends).toEqual([{ user: "@gone:x" }]);
    expect(planConsequences(plan, () => []).find((c) => c.kind === "unsuspend")).toMatchObject({
      user: "@gone:x",
      cause: { by: "system" },
    });
    expect(planMemberBans(auto({ candidates: ["@gone:x"], held, allowUnbans: false })).unsuspends).toEqual(
      [],
    );
    const stillBanned = planMemberBans(
      auto({ candidates: ["@gone:x"], held, rules: { "@gone:x": rule("@gone:x") } }),
    );
    expect(stillBanned.unsuspends).toEqual([]);
  });

  it("plans no suspension when the feature is off", () => {
    const plan = planMemberBans(input({ candidates: ["@s:x"], rules: { "@s:x": rule("@s:x") } }));
    expect(plan.suspends).toEqual([]);
    expect(plan.unsuspends).toEqual([]);
  });
});
