import { describe, expect, it } from "vitest";
import {
  ACL_ENVELOPE_RESERVE_BYTES,
  DEFAULT_ACL_CONTENT_BUDGET,
  buildAcl,
  type AclListInput,
  type BuildAclOptions,
} from "../../../src/acl/build.ts";
import { MAX_EVENT_BYTES, canonicalJsonBytes } from "../../../src/util/canonicalJson.ts";
import { globMatches } from "../../../src/banlists/glob.ts";
import type { Rule } from "../../../src/banlists/rule.ts";
import { bans, fullEventBytes, mulberry32, serverRule } from "./helpers.ts";

const OWN = "tyr.example.org:8448";
const L0 = "!l0:example.org";
const L1 = "!l1:example.org";
const L2 = "!l2:example.org";

function build(lists: [string, Rule[]][], options?: BuildAclOptions, ownServer = OWN) {
  return buildAcl({ lists: lists.map(([id, rules]) => ({ id, rules })), ownServer, options });
}

function denyOf(entities: string[], options?: BuildAclOptions, ownServer = OWN): string[] {
  return build([[L0, bans(L0, ...entities)]], options, ownServer).content.deny;
}

describe("buildAcl: deny entries", () => {
  it.each<[string, string[], string[]]>([
    ["empty input", [], []],
    ["de-duplicates case-insensitively", ["evil.org", "EVIL.org", "Evil.Org"], ["evil.org"]],
    ["strips ports", ["a.com:1", "b.com:8448", "a.com"], ["a.com", "b.com"]],
    ["sorts", ["c.org", "a.org", "b.org"], ["a.org", "b.org", "c.org"]],
    ["collapses wildcard runs", ["**.evil.org", "*.evil.org"], ["*.evil.org"]],
    [
      "glob covers literals",
      ["*.evil.org", "a.evil.org", "b.a.evil.org", "evil.org"],
      ["*.evil.org", "evil.org"],
    ],
    [
      "glob covers globs",
      ["*.evil.org", "*.a.evil.org", "?.evil.org", "*evil.org", "evil.org"],
      ["*evil.org"],
    ],
    [
      "? does not cover *",
      ["?.evil.org", "*.a.evil.org", "ab.evil.org"],
      ["*.a.evil.org", "?.evil.org", "ab.evil.org"],
    ],
    ["globs with middles", ["*spam*", "big-spam.org", "*spam*.net", "spam"], ["*spam*"]],
    ["IPv6 literals need allow_ip_literals", ["[::1]", "[::1]:8448"], []],
    ["IPv4 literals need allow_ip_literals", ["1.2.3.4", "1.2.3.4:8448"], []],
  ])("%s", (_name, entities, expected) => {
    expect(denyOf(entities)).toEqual(expected);
  });

  it("keeps IP literals when allow_ip_literals is true", () => {
    const plan = build([[L0, bans(L0, "[::1]", "[::1]:8448", "1.2.3.4:1", "[2001:DB8::1]")]], {
      allowIpLiterals: true,
    });
    expect(plan.content.deny).toEqual(["1.2.3.4", "[2001:db8::1]", "[::1]"]);
    expect(plan.content.allow_ip_literals).toBe(true);
  });

  it("ignores rules that are not server rules", () => {
    const user: Rule = { ...serverRule(L0, "@evil:evil.org"), kind: "user" };
    const room: Rule = { ...serverRule(L0, "!room:evil.org"), kind: "room" };
    const plan = build([[L0, [user, room, serverRule(L0, "evil.org")]]]);
    expect(plan.content.deny).toEqual(["evil.org"]);
    expect(plan.dropped).toEqual([]);
    expect(plan.lists[0]!.serverRules).toBe(1);
  });
});

describe("buildAcl: bad input is refused with a reason", () => {
  it.each<[string, string, string]>([
    ["empty", "", "empty"],
    ["spaces", "evil .org", "whitespace"],
    ["leading space", " evil.org", "whitespace"],
    ["control char", "evil\u0007.org", "control-char"],
    ["10,000 characters", "a".repeat(10_000), "too-long"],
    ["underscore", "evil_org", "invalid-char"],
    ["unbracketed IPv6", "::1", "invalid-ip"],
    ["bad port", "evil.org:99999999", "invalid-port"],
    ["IPv4 while blocked", "10.0.0.1", "ip-literal-blocked"],
    ["bracketed IPv6 while blocked", "[fe80::1]:8448", "ip-literal-blocked"],
    ["deny-all", "*", "deny-all"],
    ["deny-all with runs", "***", "deny-all"],
  ])("%s", (_name, entity, code) => {
    const plan = build([[L0, bans(L0, entity, "ok.org")]]);
    expect(plan.content.deny).toEqual(["ok.org"]);
    const shown = entity.length > 300 ? `${entity.slice(0, 300)}…` : entity; // reports cut long entities
    expect(plan.dropped).toEqual([
      expect.objectContaining({ entity: shown, list: L0, code, exception: false }),
    ]);
    expect(plan.dropped[0]!.reason.length).toBeGreaterThan(0);
    expect(plan.lists[0]!.dropped).toBe(1);
  });

  it("reports hashed rules and rules without entity", () => {
    const plan = build([[L0, [serverRule(L0, undefined, "ban", "q83vEjRWeJA="), serverRule(L0, undefined)]]]);
    expect(plan.content.deny).toEqual([]);
    expect(plan.dropped.map((d) => [d.entity, d.code])).toEqual([
      ["sha256:q83vEjRWeJA=", "hashed"],
      ["", "no-entity"],
    ]);
  });
});

describe("buildAcl: our own server", () => {
  it.each([
    "*",
    "*.org",
    "exa?ple.org",
    "example.org",
    "EXAMPLE.org:443",
    "*ample.org",
    "?*",
    "e*e.org",
    "example.*",
  ])("never denies example.org with %j", (entity) => {
    const plan = build([[L0, bans(L0, entity, "evil.net")]], undefined, "example.org:8448");
    expect(plan.content.deny).toEqual(["evil.net"]);
    expect(plan.dropped).toHaveLength(1);
    expect(["deny-all", "own-server"]).toContain(plan.dropped[0]!.code);
  });

  it("compares without the port of our own server", () => {
    expect(denyOf(["tyr.example.org:1234", "*.example.org:*"])).toEqual([]);
  });

  it("allows everything by default", () => {
    expect(build([]).content).toEqual({ allow: ["*"], deny: [], allow_ip_literals: false });
  });

  it("adds our own server to a configured allow list that misses it", () => {
    const plan = build([], { allow: ["Good.org:8448", "*.friends.net"] });
    expect(plan.content.allow).toEqual(["*.friends.net", "good.org", "tyr.example.org"]);
    expect(plan.notes.join("\n")).toMatch(/tyr\.example\.org.*added/);
  });

  it("leaves an allow list that covers our own server alone", () => {
    const plan = build([], { allow: ["*.example.org", "good.org"] });
    expect(plan.content.allow).toEqual(["*.example.org", "good.org"]);
    expect(plan.notes).toEqual([]);
  });

  it("reports invalid allow entries and still covers our own server", () => {
    const plan = build([], { allow: ["bad entry"] });
    expect(plan.content.allow).toEqual(["tyr.example.org"]);
    expect(plan.notes).toHaveLength(2);
  });

  it("turns allow_ip_literals on when our own server is an IP literal", () => {
    const plan = build([[L0, bans(L0, "127.0.0.1", "127.0.0.*", "10.0.0.1")]], undefined, "127.0.0.1:8008");
    expect(plan.content.allow_ip_literals).toBe(true);
    expect(plan.content.deny).toEqual(["10.0.0.1"]);
    expect(plan.dropped.map((d) => d.code)).toEqual(["own-server", "own-server"]);
    expect(plan.notes.join("\n")).toMatch(/allow_ip_literals/);
  });

  it("protects a bracketed IPv6 own server", () => {
    const plan = build([[L0, bans(L0, "[::1]", "[::*]", "[::2]")]], { allowIpLiterals: true }, "[::1]:8448");
    expect(plan.content.deny).toEqual(["[::2]"]);
  });

  it("throws on an invalid own server name", () => {
    expect(() => build([], undefined, "not a server")).toThrow(TypeError);
  });
});

describe("buildAcl: exceptions and priorities", () => {
  it("an exception lifts denies of its own and lower-priority lists", () => {
    const plan = build([
      [L0, [serverRule(L0, "a.org", "exception")]],
      [L1, bans(L1, "a.org", "b.org")],
      [
        L2,
        [serverRule(L2, "b.org", "exception"), serverRule(L2, "c.org"), serverRule(L2, "c.org", "exception")],
      ],
    ]);
    expect(plan.content.deny).toEqual(["b.org"]);
    expect(plan.excepted).toEqual([
      { entity: "a.org", list: L1, exception: "a.org", exceptionList: L0 },
      { entity: "c.org", list: L2, exception: "c.org", exceptionList: L2 },
    ]);
    expect(plan.lists.map((l) => l.excepted)).toEqual([0, 1, 1]);
  });

  it("an exception does not lift a deny that a higher-priority list also makes", () => {
    const plan = build([
      [L0, bans(L0, "a.org")],
      [L1, [serverRule(L1, "a.org", "exception")]],
      [L2, bans(L2, "a.org")],
    ]);
    expect(plan.content.deny).toEqual(["a.org"]);
    expect(plan.excepted).toEqual([]);
  });

  it("a glob exception lifts every entry it covers", () => {
    const plan = build([
      [L0, [serverRule(L0, "*.good.org", "exception")]],
      [L1, bans(L1, "a.good.org", "*.x.good.org", "good.org", "?.good.org")],
    ]);
    expect(plan.content.deny).toEqual(["good.org"]);
    expect(plan.excepted.map((e) => e.entity).sort()).toEqual(["*.x.good.org", "?.good.org", "a.good.org"]);
  });

  it("keeps a broader deny glob and reports the conflict", () => {
    const plan = build([
      [L0, [serverRule(L0, "friend.evil.org", "exception")]],
      [L1, bans(L1, "*.evil.org", "friend.evil.org")],
    ]);
    expect(plan.content.deny).toEqual(["*.evil.org"]);
    expect(plan.conflicts).toEqual([
      { deny: "*.evil.org", denyList: L1, exception: "friend.evil.org", exceptionList: L0 },
    ]);
  });

  it("an exception may name our own server without effect on safety", () => {
    const plan = build([[L0, [serverRule(L0, "tyr.example.org", "exception"), serverRule(L0, "x.org")]]]);
    expect(plan.content.deny).toEqual(["x.org"]);
    expect(plan.dropped).toEqual([]);
  });

  it("reports invalid exceptions", () => {
    const plan = build([[L0, [serverRule(L0, "bad name", "exception")]]]);
    expect(plan.dropped).toEqual([expect.objectContaining({ code: "whitespace", exception: true })]);
  });

  it("attributes a duplicate to the highest-priority list", () => {
    const plan = build([
      [L0, bans(L0, "a.org")],
      [L1, bans(L1, "A.org", "b.org")],
    ]);
    expect(plan.lists.map((l) => [l.entries, l.kept])).toEqual([
      [1, 1],
      [1, 1],
    ]);
  });
});

describe("buildAcl: size budget", () => {
  const fixed = canonicalJsonBytes({ allow: ["*"], allow_ip_literals: false, deny: [] });
  /** Budget that holds exactly these entries. */
  const budgetFor = (entries: string[]): number =>
    fixed + entries.reduce((n, e) => n + e.length + 2, 0) + Math.max(0, entries.length - 1);

  it("defaults to 65,536 minus the envelope reserve", () => {
    expect(DEFAULT_ACL_CONTENT_BUDGET).toBe(MAX_EVENT_BYTES - ACL_ENVELOPE_RESERVE_BYTES);
    expect(build([]).budgetBytes).toBe(DEFAULT_ACL_CONTENT_BUDGET);
  });

  it("keeps a strict prefix: higher-priority lists first, globs before literals, then alphabetical", () => {
    const lists: [string, Rule[]][] = [
      [L0, bans(L0, "zz.org", "aa.org", "*.g0.org")],
      [L1, bans(L1, "bb.org", "*.g1.org", "a.org")],
      [L2, bans(L2, "cc.org")],
    ];
    // Ranking: *.g0.org, aa.org, zz.org | *.g1.org, a.org, bb.org | cc.org
    const budget = budgetFor(["*.g0.org", "aa.org", "zz.org", "*.g1.org", "a.org"]) + 3; // bb.org needs 9
    const plan = build(lists, { budgetBytes: budget });
    expect(plan.content.deny).toEqual(["*.g0.org", "*.g1.org", "a.org", "aa.org", "zz.org"]);
    expect(plan.bytes).toBeLessThanOrEqual(budget);
    expect(plan.leftOutForSize).toBe(2);
    expect(plan.lists.map((l) => l.leftOutForSize)).toEqual([0, 1, 1]);
    const tighter = build(lists, { budgetBytes: budgetFor(["*.g0.org", "aa.org", "zz.org"]) + 1 });
    expect(tighter.content.deny).toEqual(["*.g0.org", "aa.org", "zz.org"]);
    expect(tighter.lists.map((l) => l.leftOutForSize)).toEqual([0, 3, 1]);
  });

  it("does not skip ahead to smaller entries after the cut", () => {
    const plan = build(
      [
        [L0, bans(L0, "long-name-that-does-not-fit.org")],
        [L1, bans(L1, "a.io")],
      ],
      { budgetBytes: budgetFor(["a.io"]) },
    );
    expect(plan.content.deny).toEqual([]);
    expect(plan.lists.map((l) => l.leftOutForSize)).toEqual([1, 1]);
  });

  it("a glob covering a high-priority entry takes that entry's priority", () => {
    const plan = build(
      [
        [L0, bans(L0, "a.evil.org")],
        [L1, bans(L1, "b.org", "c.org")],
        [L2, bans(L2, "*.evil.org")],
      ],
      { budgetBytes: budgetFor(["*.evil.org"]) },
    );
    // Without inheritance the cut would keep a list-1 entry and lose both a.evil.org and its glob.
    expect(plan.content.deny).toEqual(["*.evil.org"]);
    expect(plan.lists.map((l) => [l.kept, l.covered, l.leftOutForSize])).toEqual([
      [0, 1, 0],
      [0, 0, 2],
      [1, 0, 0],
    ]);
  });

  it("counts covered entries as left out when their glob is left out", () => {
    const plan = build(
      [
        [L0, bans(L0, "x.org")],
        [L1, bans(L1, "a.evil.org", "*.evil.org")],
      ],
      { budgetBytes: budgetFor(["x.org"]) },
    );
    expect(plan.content.deny).toEqual(["x.org"]);
    expect(plan.lists[1]).toMatchObject({ entries: 2, kept: 0, covered: 0, leftOutForSize: 2 });
  });

  it("reports when even the allow list does not fit", () => {
    const plan = build([[L0, bans(L0, "evil.org")]], { allow: ["*"], budgetBytes: 10 });
    expect(plan.fits).toBe(false);
    expect(plan.content.deny).toEqual([]);
    expect(plan.leftOutForSize).toBe(1);
  });

  it("20,000 server rules: fits the event limit and reports what was left out", () => {
    const rnd = mulberry32(20_000);
    const word = (): string => {
      let s = "";
      const n = 6 + Math.floor(rnd() * 12);
      for (let i = 0; i < n; i++) s += String.fromCharCode(97 + Math.floor(rnd() * 26));
      return s;
    };
    const mk = (list: string, n: number, invalidEvery: number): Rule[] =>
      Array.from({ length: n }, (_, i) =>
        serverRule(
          list,
          i % invalidEvery === 0 ? `bad entity ${i}` : `${word()}-${i}.${list.slice(1, 3)}.org`,
        ),
      );
    const lists: AclListInput[] = [
      { id: L0, rules: mk(L0, 2_000, 500) },
      { id: L1, rules: mk(L1, 8_000, 1_000) },
      { id: L2, rules: mk(L2, 10_000, 10_000) },
    ];
    const t0 = performance.now();
    const plan = buildAcl({ lists, ownServer: OWN });
    const ms = performance.now() - t0;

    expect(plan.fits).toBe(true);
    expect(plan.bytes).toBe(canonicalJsonBytes(plan.content));
    expect(plan.bytes).toBeLessThanOrEqual(DEFAULT_ACL_CONTENT_BUDGET);
    expect(fullEventBytes(plan.content)).toBeLessThanOrEqual(MAX_EVENT_BYTES);
    // The budget is used well: the next entry in line would not have fitted (≥ 8 bytes each).
    expect(DEFAULT_ACL_CONTENT_BUDGET - plan.bytes).toBeLessThan(60);

    // Invalid rules are reported, per list.
    expect(plan.dropped).toHaveLength(4 + 8 + 1);
    expect(plan.dropped.every((d) => d.code === "whitespace")).toBe(true);
    expect(plan.lists.map((l) => l.dropped)).toEqual([4, 8, 1]);

    // Priority: list 0 complete, list 1 partial or complete, list 2 mostly left out.
    const [s0, s1, s2] = plan.lists;
    expect(s0).toMatchObject({ serverRules: 2_000, entries: 1_996, kept: 1_996, leftOutForSize: 0 });
    expect(s1!.kept + s1!.leftOutForSize).toBe(7_992);
    expect(s2!.kept + s2!.leftOutForSize).toBe(9_999);
    expect(s1!.kept).toBeGreaterThan(0);
    if (s2!.kept > 0) expect(s1!.leftOutForSize).toBe(0);
    expect(plan.leftOutForSize).toBe(s1!.leftOutForSize + s2!.leftOutForSize);
    expect(plan.content.deny.length).toBe(s0!.kept + s1!.kept + s2!.kept);
    expect(plan.leftOutForSize + plan.content.deny.length).toBe(1_996 + 7_992 + 9_999);

    // Output is sorted and unique.
    const sorted = [...plan.content.deny].sort();
    expect(plan.content.deny).toEqual(sorted);
    expect(new Set(plan.content.deny).size).toBe(plan.content.deny.length);
    expect(ms).toBeLessThan(1_000); // generous: a smoke check, the benchmark measures speed
  });
});

describe("buildAcl: determinism", () => {
  it("does not depend on the order rules arrive in", () => {
    const entities = ["b.org", "*.evil.org", "a.evil.org", "c.org:1", "D.org", "e?.net", "*spam*", "spam.io"];
    const a = build([[L0, bans(L0, ...entities)]], { budgetBytes: 90 });
    const b = build([[L0, bans(L0, ...[...entities].reverse())]], { budgetBytes: 90 });
    expect(b.content).toEqual(a.content);
    expect(a.content.deny.every((d) => !globMatches(d, "tyr.example.org"))).toBe(true);
  });
});
