import fc from "fast-check";
import { MatrixGlob } from "matrix-bot-sdk";
import { describe, expect, it, vi } from "vitest";
import { compileGlob } from "../../../src/banlists/glob.ts";
import { globShape, Matcher, serverHost, serverOfUser, sha256Base64 } from "../../../src/banlists/matcher.ts";
import { fromState, applyStateEvent } from "../../../src/banlists/policyList.ts";
import type { Recommendation, Rule, RuleKind } from "../../../src/banlists/rule.ts";
import { refMatch, refSha, ruleId } from "./reference.ts";

// Property tests run thousands of cases; shared CI machines can be slow.
vi.setConfig({ testTimeout: 60_000 });

const LISTS = ["!l0:x", "!l1:x", "!l2:x"];
let seq = 0;
function mk(
  kind: RuleKind,
  entity: string | { sha256: string },
  recommendation: Recommendation = "ban",
  list = LISTS[0] as string,
): Rule {
  return {
    list,
    kind,
    ...(typeof entity === "string" ? { entity } : { sha256: entity.sha256 }),
    recommendation,
    eventType: `m.policy.rule.${kind}`,
    stateKey: `s${++seq}`,
  };
}

const ids = (rules: readonly Rule[]) => rules.map(ruleId).sort();

// ---- generators: a small universe so that random rules and entities collide often ----
const servers = [
  "a.b",
  "c.b",
  "b",
  "a.b:8",
  "[::1]",
  "[::1]:8",
  "[2001:db8::1]:8448",
  "x.a.b",
  "ab",
  "xn--p1ai",
  "a.xn--p1ai:8448",
  "1.2.3.4:8448",
];
const locals = ["x", "xy", "yx", "sp", "spam", "am", "pa", "x:y", ""];
const flipCase = (s: string, bits: number) =>
  [...s].map((c, i) => ((bits >> (i % 30)) & 1 ? c.toUpperCase() : c)).join("");
const serverArb = fc.constantFrom(...servers);
const localArb = fc.constantFrom(...locals);
const caseArb = fc.integer({ min: 0, max: 2 ** 30 - 1 });
const sigilIdArb = (sigil: string) =>
  fc
    .tuple(localArb, serverArb, caseArb, fc.boolean())
    .map(([l, s, bits, flip]) => (flip ? flipCase(`${sigil}${l}:${s}`, bits) : `${sigil}${l}:${s}`));
const wordArb = fc.constantFrom("sp", "spa", "spam", "am", "x", "xy", "a.b", ":a", "b:8", "]:");
const randomGlob = (alphabet: string) => fc.stringMatching(new RegExp(`^[${alphabet}*?]{0,9}$`));

const userEntityArb = fc.oneof(
  sigilIdArb("@"),
  serverArb.map((s) => `@*:${s}`),
  fc.tuple(localArb, serverArb).map(([l, s]) => `@${l}*:${s}`),
  fc.tuple(wordArb, serverArb).map(([w, s]) => `@${w}*:${s}`),
  wordArb.map((w) => `*${w}*`),
  wordArb.map((w) => `@${w}*`),
  fc.tuple(wordArb, serverArb).map(([w, s]) => `*${w}*:${s}`),
  serverArb.map((s) => `@??:${s}`),
  fc.tuple(localArb, serverArb).map(([l, s]) => `@${l}?:${s}`),
  fc.tuple(serverArb, caseArb).map(([s, b]) => flipCase(`@*:${s}`, b)),
  fc.constantFrom("*", "@*", "?*", "*:*", "*?", "@?*"),
  randomGlob("@:.xyspamb\\[\\]8"),
);
const roomEntityArb = fc.oneof(
  sigilIdArb("#"),
  sigilIdArb("!"),
  serverArb.map((s) => `#*:${s}`),
  wordArb.map((w) => `*${w}*`),
  randomGlob("#!:.xyspamb"),
);
const serverEntityArb = fc.oneof(
  serverArb,
  fc.tuple(serverArb, caseArb).map(([s, b]) => flipCase(s, b)),
  serverArb.map((s) => `*.${s}`),
  // Port rules (issue #12): a host or a glob with a port part, any letter case.
  fc
    .tuple(serverArb, fc.constantFrom(":8448", ":*", ":8", ":8?", ":http"), caseArb)
    .map(([s, p, b]) => flipCase(s.replace(/:[^\]]*$/, "") + p, b)),
  fc
    .tuple(fc.constantFrom("*.", "*", "?."), serverArb, fc.constantFrom(":8448", ":*", ""))
    .map(([g, s, p]) => g + s.replace(/:[^\]]*$/, "") + p),
  fc.constantFrom("*", "*b", "a.*", "?.b", "a?b", "*.b", "[*", "*]", "[*]:8448", "*:8", "xn--*"),
  randomGlob("ab.:\\[\\]8"),
);
const recArb = fc.constantFrom<Recommendation>("ban", "ban", "takedown", "exception");
const listArb = fc.constantFrom(...LISTS);

const userSubjectArb = fc.oneof(
  sigilIdArb("@"),
  randomGlob("@:.xyspamb").map((s) => s.replaceAll(/[*?]/g, "")),
);
const hashedArb = (subject: fc.Arbitrary<string>, kind: RuleKind) =>
  fc.tuple(subject, fc.boolean()).map(([s, lower]) => ({
    sha256: refSha(kind === "server" ? serverHost(s) : lower ? s.toLowerCase() : s),
  }));

const ruleArb: fc.Arbitrary<Rule> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(userEntityArb, recArb, listArb).map(([e, r, l]) => mk("user", e, r, l)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(hashedArb(sigilIdArb("@"), "user"), recArb, listArb)
      .map(([e, r, l]) => mk("user", e, r, l)),
  },
  { weight: 2, arbitrary: fc.tuple(roomEntityArb, recArb, listArb).map(([e, r, l]) => mk("room", e, r, l)) },
  {
    weight: 3,
    arbitrary: fc.tuple(serverEntityArb, recArb, listArb).map(([e, r, l]) => mk("server", e, r, l)),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(hashedArb(serverArb, "server"), recArb, listArb)
      .map(([e, r, l]) => mk("server", e, r, l)),
  },
);

function checkAll(
  m: Matcher,
  rules: Rule[],
  users: string[],
  roomsToCheck: string[],
  serversToCheck: string[],
  applies: (l: string) => boolean,
) {
  for (const u of users) {
    const got = m.matchUser(u);
    expect(ids(got), `user ${u}`).toEqual(ids(refMatch(rules, "user", u, applies)));
    const ranks = got.map((r) => m.priorityOf(r.list));
    expect([...ranks].sort((a, b) => a - b)).toEqual(ranks);
  }
  for (const r of roomsToCheck)
    expect(ids(m.matchRoom(r)), `room ${r}`).toEqual(ids(refMatch(rules, "room", r)));
  for (const s of serversToCheck)
    expect(ids(m.matchServer(s)), `server ${s}`).toEqual(ids(refMatch(rules, "server", s)));
}

describe("matcher vs brute force", () => {
  it("random rule sets, entities and letter cases", () => {
    fc.assert(
      fc.property(
        fc.array(ruleArb, { maxLength: 40 }),
        fc.array(userSubjectArb, { minLength: 1, maxLength: 15 }),
        fc.array(fc.oneof(sigilIdArb("#"), sigilIdArb("!")), { maxLength: 6 }),
        fc.array(
          fc.oneof(
            serverArb,
            fc.tuple(serverArb, caseArb).map(([s, b]) => flipCase(s, b)),
          ),
          { maxLength: 6 },
        ),
        fc.boolean(),
        (rules, users, rooms, srv, applyAll) => {
          const applies = (l: string) => applyAll || l !== LISTS[1];
          const m = new Matcher({ listOrder: LISTS, serverRulesApplyToUsers: applies });
          m.addAll(rules);
          expect(m.size).toBe(rules.length);
          checkAll(m, rules, users, rooms, srv, applies);
          // Remove a deterministic half, then check again (incremental removal).
          const kept = rules.filter((_, i) => i % 2 === 0);
          rules.filter((_, i) => i % 2 === 1).forEach((r) => expect(m.remove(r)).toBe(true));
          expect(m.size).toBe(kept.length);
          checkAll(m, kept, users, rooms, srv, applies);
          // Remove everything: nothing matches and the indexes are empty again.
          kept.forEach((r) => m.remove(r));
          expect(m.size).toBe(0);
          for (const u of users) expect(m.matchUser(u)).toEqual([]);
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it("many globs sharing buckets (n-gram, prefix and suffix buckets under load)", () => {
    fc.assert(
      fc.property(
        fc.array(userEntityArb, { minLength: 50, maxLength: 300 }),
        fc.array(userSubjectArb, { maxLength: 30 }),
        (entities, users) => {
          const rules = entities.map((e) => mk("user", e));
          const m = new Matcher();
          m.addAll(rules);
          for (const u of users) expect(ids(m.matchUser(u))).toEqual(ids(refMatch(rules, "user", u)));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("matching details", () => {
  it("is case-insensitive for exact IDs and globs", () => {
    const m = new Matcher();
    const exact = mk("user", "@Spammer:Evil.org");
    const glob = mk("user", "@BOT*:evil.org");
    m.addAll([exact, glob]);
    expect(m.matchUser("@spammer:evil.org")).toEqual([exact]);
    expect(m.matchUser("@SPAMMER:EVIL.ORG")).toEqual([exact]);
    expect(m.matchUser("@bot123:EVIL.org")).toEqual([glob]);
    expect(m.matchUser("@notbot:evil.org")).toEqual([]);
  });

  it("uses the fast paths it claims", () => {
    expect(globShape(compileGlob("@*:evil.org"), ":").sepSuffix).toBe(":evil.org");
    expect(globShape(compileGlob("@spam*:evil.org"), ":")).toMatchObject({
      prefix: "@spam",
      sepSuffix: ":evil.org",
    });
    expect(globShape(compileGlob("*spam*"), ":")).toMatchObject({
      prefix: "",
      sepSuffix: null,
      fragment: "spam",
    });
    expect(globShape(compileGlob("@s?am*:evil.?rg"), ":")).toMatchObject({
      prefix: "@s",
      suffix: "rg",
      sepSuffix: null,
    });
    expect(globShape(compileGlob("*.evil.org"), ".").sepSuffix).toBe(".evil.org");
    expect(globShape(compileGlob("@sp?m:evil.org"), ":")).toMatchObject({
      prefix: "@sp",
      sepSuffix: ":evil.org",
    });
  });

  it("user IDs with ports and IPv6 servers", () => {
    expect(serverOfUser("@a:Evil.org:8448")).toBe("evil.org");
    expect(serverOfUser("@a:[::1]:8448")).toBe("[::1]");
    expect(serverOfUser("@nocolon")).toBe("");
    const m = new Matcher();
    const portGlob = mk("user", "@*:8448");
    const srv = mk("server", "evil.org");
    m.addAll([portGlob, srv]);
    expect(ids(m.matchUser("@a:evil.org:8448"))).toEqual(ids([portGlob, srv]));
    expect(m.matchServer("EVIL.org:443")).toEqual([srv]);
  });

  it("server rules with a port match the host on any port, for servers and their users", () => {
    // Issue #12: the server ACL's reading (homeservers strip the port before matching an ACL).
    const m = new Matcher();
    const port = mk("server", "pixte.ru:8448");
    const legacyUpper = { ...mk("server", "PIXTE.example:443"), eventType: "m.room.rule.server" };
    const globPort = mk("server", "*.evil.org:8448");
    const anyPort = mk("server", "bad.org:*");
    const ipv6 = mk("server", "[2001:DB8::1]:8448");
    const idn = mk("server", "XN--E1AFMKFD.xn--p1ai:8448");
    m.addAll([port, legacyUpper, globPort, anyPort, ipv6, idn]);
    for (const s of ["pixte.ru", "pixte.ru:8448", "PIXTE.RU:443"])
      expect(m.matchServer(s), s).toEqual([port]);
    expect(m.matchUser("@someone:pixte.ru:8448")).toEqual([port]);
    expect(m.matchUser("@someone:Pixte.ru")).toEqual([port]);
    expect(m.matchServer("pixte.example")).toEqual([legacyUpper]);
    expect(m.matchServer("chat.evil.org")).toEqual([globPort]);
    expect(m.matchUser("@x:chat.evil.org:1234")).toEqual([globPort]);
    expect(m.matchServer("evil.org")).toEqual([]);
    expect(m.matchServer("bad.org:8008")).toEqual([anyPort]);
    expect(m.matchServer("bad.org")).toEqual([anyPort]);
    expect(m.matchServer("[2001:db8::1]")).toEqual([ipv6]);
    expect(m.matchUser("@u:[2001:db8::1]:8448")).toEqual([ipv6]);
    expect(m.matchServer("xn--e1afmkfd.xn--p1ai")).toEqual([idn]);
    // Not a server name: matches nothing (the ACL builder refuses it too).
    const bad = mk("server", "evil.org:http");
    m.add(bad);
    expect(m.matchServer("evil.org")).toEqual([]);
    expect(m.size).toBe(7);
    expect(m.remove(bad)).toBe(true);
  });

  it("port rules of every rule-type generation, from list state to matches", () => {
    const types = ["m.policy.rule.server", "m.room.rule.server", "org.matrix.mjolnir.rule.server"];
    const { diff } = fromState(
      LISTS[0] as string,
      types.map((type, i) => ({
        type,
        state_key: `k${i}`,
        content: { entity: ["PIXTE.RU:8448", "*.Evil.org:8448", "bad.org:*"][i], recommendation: "m.ban" },
      })),
    );
    const m = new Matcher();
    m.apply(diff);
    expect(m.size).toBe(3);
    for (const [subject, n] of [
      ["@x:pixte.ru", 1],
      ["@x:PIXTE.ru:443", 1],
      ["@x:chat.evil.org:8448", 1],
      ["@x:evil.org", 0],
      ["@x:bad.org:1", 1],
    ] as const)
      expect(m.matchUser(subject), subject).toHaveLength(n);
  });

  it("server rules apply to users by default, per list when configured", () => {
    const ban = mk("server", "*.evil.org", "ban", LISTS[1]);
    const on = new Matcher();
    on.add(ban);
    expect(on.matchUser("@x:chat.evil.org")).toEqual([ban]);
    expect(on.matchUser("@x:evil.org")).toEqual([]);
    const off = new Matcher({ serverRulesApplyToUsers: false });
    off.add(ban);
    expect(off.matchUser("@x:chat.evil.org")).toEqual([]);
    expect(off.matchServer("chat.evil.org")).toEqual([ban]);
    const perList = new Matcher({ serverRulesApplyToUsers: (l) => l === LISTS[0] });
    perList.add(ban);
    expect(perList.matchUser("@x:chat.evil.org")).toEqual([]);
  });

  it("replaces a rule with the same list, kind and state key", () => {
    const m = new Matcher();
    const a = mk("user", "@a:x");
    m.add(a);
    const b = { ...a, entity: "@b:x" };
    m.add(b);
    expect(m.size).toBe(1);
    expect(m.matchUser("@a:x")).toEqual([]);
    expect(m.matchUser("@b:x")).toEqual([b]);
    expect(m.remove({ ...a, stateKey: "other" })).toBe(false);
  });

  it("follows a policy list through diffs, and drops a list", () => {
    const room = LISTS[0] as string;
    const ev = (k: string, entity: string | null) => ({
      type: "m.policy.rule.user",
      state_key: k,
      content: entity === null ? {} : { entity, recommendation: "m.ban" },
    });
    const m = new Matcher();
    const r0 = fromState(room, [ev("a", "@a:x"), ev("b", "@b*:x")]);
    m.apply(r0.diff);
    expect(m.matchUser("@bob:x")).toHaveLength(1);
    const r1 = applyStateEvent(r0.revision, ev("b", "@c*:x"));
    m.apply(r1.diff);
    expect(m.matchUser("@bob:x")).toHaveLength(0);
    expect(m.matchUser("@carl:x")).toHaveLength(1);
    const r2 = applyStateEvent(r1.revision, ev("a", null));
    m.apply(r2.diff);
    expect(m.matchUser("@a:x")).toHaveLength(0);
    m.removeList(room);
    expect(m.size).toBe(0);
    expect(m.matchUser("@carl:x")).toHaveLength(0);
    expect([...m.rules()]).toEqual([]);
  });

  it("returns all matches in priority order and can reorder lists without re-indexing", () => {
    const m = new Matcher({ listOrder: LISTS });
    const low = mk("user", "@*:x", "ban", LISTS[2]);
    const mid = mk("user", "*spam*", "ban", LISTS[1]);
    const high = mk("user", "@spam:x", "ban", LISTS[0]);
    const srv = mk("server", "x", "ban", LISTS[0]);
    m.addAll([low, mid, srv, high]);
    expect(m.matchUser("@spam:x")).toEqual([high, srv, mid, low]);
    m.setListOrder([LISTS[2] as string]);
    expect(m.matchUser("@spam:x")).toEqual([low, high, srv, mid]);
    expect(m.priorityOf("!new:x")).toBe(3);
  });

  it("adversarial globs and inputs stay fast", () => {
    const m = new Matcher();
    m.add(mk("user", "*?".repeat(500) + "x"));
    m.add(mk("user", "*a".repeat(500) + "b"));
    m.add(mk("user", "@" + "?".repeat(900) + "*:x"));
    m.add(mk("user", "*" + "a?".repeat(400) + "*"));
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) m.matchUser("@" + "a".repeat(10_000) + ":x");
    expect(performance.now() - t0).toBeLessThan(2_000);
  });
});

describe("hashed rules (MSC4205)", () => {
  it("match the ID as given or lower-cased, and servers by host", () => {
    const m = new Matcher();
    const exactCase = mk("user", { sha256: sha256Base64("@Yarrgh:example.com") });
    const lowered = mk("user", { sha256: sha256Base64("@bob:example.com") });
    const server = mk("server", { sha256: sha256Base64("evil.org") }, "ban");
    const room = mk("room", { sha256: sha256Base64("#bad:x") });
    m.addAll([exactCase, lowered, server, room]);
    expect(m.matchUser("@Yarrgh:example.com")).toEqual([exactCase]);
    expect(m.matchUser("@yarrgh:example.com")).toEqual([]); // the list hashed a mixed-case ID
    expect(m.matchUser("@BOB:example.com")).toEqual([lowered]);
    expect(m.matchUser("@x:EVIL.org:8448")).toEqual([server]);
    expect(m.matchServer("evil.org")).toEqual([server]);
    expect(m.matchRoom("#BAD:x")).toEqual([room]);
    expect(sha256Base64("@yarrgh:example.com")).toBe(refSha("@yarrgh:example.com"));
    expect(sha256Base64("x")).toHaveLength(43);
  });
});

describe("hashed rules: cost per check (issue #12)", () => {
  it("a digest that is not canonical base64 of 32 bytes matches nothing", () => {
    const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const m = new Matcher();
    const good = sha256Base64("@a:x");
    m.addAll([
      mk("user", { sha256: "AAAA" }),
      mk("user", { sha256: good.slice(0, 42) + B64[B64.indexOf(good.slice(42)) ^ 1] }), // same bytes, not canonical
      mk("user", { sha256: `${good}=` }),
    ]);
    expect(m.matchUser("@a:x")).toEqual([]);
    const ok = mk("user", { sha256: good });
    m.add(ok);
    expect(m.matchUser("@a:x")).toEqual([ok]);
  });

  it("a tiny host-hash cache still answers right across its generation swaps", () => {
    const m = new Matcher({ hashCacheSize: 2 });
    const hosts = ["a.org", "b.org", "c.org", "d.org", "e.org"];
    const rules = hosts.slice(0, 3).map((h) => mk("server", { sha256: sha256Base64(h) }));
    m.addAll(rules);
    for (let round = 0; round < 4; round++)
      hosts.forEach((h, i) => {
        expect(m.matchUser(`@x:${h.toUpperCase()}:8448`)).toEqual(i < 3 ? [rules[i]] : []);
        expect(m.matchServer(h)).toEqual(i < 3 ? [rules[i]] : []);
      });
  });

  it("with hashed rules, a check costs no more when it sees many distinct IDs than a few", () => {
    // Relative bound (same process, same matcher, best of 3, generous factor): with a cache
    // evicted by an iterator scan, checks over 200,000 distinct IDs ran ~60× slower than over few.
    const ids = Array.from(
      { length: 200_000 },
      (_, i) => `@user${i.toString(36)}:server${i % 997}.example.org`,
    );
    const few = ids.map((_, i) => ids[i % 1_000] as string);
    const m = new Matcher();
    m.add(mk("user", "@listed:example.org"));
    m.add(mk("user", { sha256: sha256Base64("@user0:server0.example.org") }));
    m.add(mk("server", { sha256: sha256Base64("server1.example.org") }));
    const best = (checks: readonly string[]): number => {
      let t = Infinity;
      for (let round = 0; round < 3; round++) {
        const t0 = performance.now();
        for (const id of checks) m.matchUser(id);
        t = Math.min(t, performance.now() - t0);
      }
      return t;
    };
    best(few); // warm-up
    const distinct = best(ids);
    const repeated = best(few);
    expect(m.matchUser(ids[0] as string)).toHaveLength(1);
    expect(m.matchUser(ids[1] as string)).toHaveLength(1);
    expect(distinct / repeated).toBeLessThan(4);
  }, 120_000);
});

describe("exceptions and decisions", () => {
  const [L0, L1, L2] = LISTS as [string, string, string];
  it("no rules: nothing to do", () => {
    const m = new Matcher({ listOrder: LISTS });
    expect(m.decideUser("@a:x")).toEqual({ action: "none", rules: [], excepted: [] });
  });

  it("an exception in a higher or equal priority list overrides bans from lower ones", () => {
    const m = new Matcher({ listOrder: LISTS });
    const banHigh = mk("user", "@spam:x", "ban", L0);
    const exc = mk("user", "@spam*", "exception", L1);
    const banSame = mk("user", "*spam*", "ban", L1);
    const banLow = mk("user", "@*:x", "takedown", L2);
    m.addAll([banHigh, exc, banSame, banLow]);
    const d = m.decideUser("@spam:x");
    expect(d.action).toBe("ban");
    expect(d.rule).toBe(banHigh);
    expect(d.rules).toEqual([banHigh]);
    expect(d.excepted.map((e) => [e.rule, e.by])).toEqual([
      [banSame, exc],
      [banLow, exc],
    ]);
    m.remove(banHigh);
    expect(m.decideUser("@spam:x").action).toBe("none");
    // The exception does not reach users it does not match.
    expect(m.decideUser("@eggs:x")).toMatchObject({ action: "takedown", rule: banLow });
  });

  it("takedown beats ban; the deciding rule is the highest-priority takedown", () => {
    const m = new Matcher({ listOrder: LISTS });
    const ban = mk("user", "@a:x", "ban", L0);
    const td = mk("user", "@a*", "takedown", L2);
    m.addAll([ban, td]);
    expect(m.decideUser("@a:x")).toMatchObject({ action: "takedown", rule: td, rules: [ban, td] });
  });

  it("a user exception also shields from server bans; a server exception shields only from server rules", () => {
    const m = new Matcher({ listOrder: LISTS });
    const srvBan = mk("server", "evil.org", "ban", L1);
    const userExc = mk("user", "@good:evil.org", "exception", L0);
    const userBan = mk("user", "@bad:evil.org", "ban", L2);
    const srvExc = mk("server", "evil.org", "exception", L0);
    m.addAll([srvBan, userExc, userBan]);
    expect(m.decideUser("@good:evil.org").action).toBe("none");
    expect(m.decideUser("@other:evil.org")).toMatchObject({ action: "ban", rule: srvBan });
    m.add(srvExc);
    expect(m.decideServer("evil.org")).toMatchObject({
      action: "none",
      excepted: [{ rule: srvBan, by: srvExc }],
    });
    expect(m.decideUser("@bad:evil.org")).toMatchObject({
      action: "ban",
      rule: userBan,
      excepted: [{ rule: srvBan, by: srvExc }],
    });
    expect(m.decideUser("@other:evil.org").action).toBe("none");
  });

  it("a lower-priority exception does not override", () => {
    const m = new Matcher({ listOrder: LISTS });
    const ban = mk("room", "#bad:x", "ban", L0);
    const exc = mk("room", "#bad:x", "exception", L1);
    m.addAll([ban, exc]);
    expect(m.decideRoom("#BAD:x")).toMatchObject({ action: "ban", rule: ban, excepted: [] });
  });
});

describe("compatibility note: matrix-bot-sdk's MatrixGlob", () => {
  it("is case-sensitive where Tyr is not (the gap this matcher closes)", () => {
    expect(new MatrixGlob("@spammer:evil.org").test("@SPAMMER:evil.org")).toBe(false);
    const m = new Matcher();
    m.add(mk("user", "@spammer:evil.org"));
    expect(m.matchUser("@SPAMMER:evil.org")).toHaveLength(1);
  });
});

describe("decide vs a reference reading of the exception rules", () => {
  /** Reference: rule r is suppressed iff some matching exception e with kind(e) = kind(r), or
   *  kind(e) = the subject's kind, has rank(e) ≤ rank(r). */
  function refDecide(matches: Rule[], subject: RuleKind, rank: (l: string) => number) {
    const exceptions = matches.filter((r) => r.recommendation === "exception");
    const live = matches.filter(
      (r) =>
        r.recommendation !== "exception" &&
        !exceptions.some((e) => (e.kind === r.kind || e.kind === subject) && rank(e.list) <= rank(r.list)),
    );
    const action = live.some((r) => r.recommendation === "takedown")
      ? "takedown"
      : live.length
        ? "ban"
        : "none";
    const best = live
      .filter((r) => action === "ban" || r.recommendation === "takedown")
      .sort((a, b) => rank(a.list) - rank(b.list))[0];
    return { action, best, live: live.map(ruleId).sort() };
  }

  it("random users, rules and list orders", () => {
    fc.assert(
      fc.property(
        fc.array(ruleArb, { maxLength: 30 }),
        fc.array(userSubjectArb, { minLength: 1, maxLength: 8 }),
        fc.shuffledSubarray(LISTS, { minLength: 0, maxLength: 3 }),
        (rules, users, order) => {
          const m = new Matcher({ listOrder: LISTS });
          m.addAll(rules);
          m.setListOrder(order);
          const rank = (l: string) => m.priorityOf(l);
          for (const u of users) {
            const d = m.decideUser(u);
            const ref = refDecide(m.matchUser(u), "user", rank);
            expect(d.action).toBe(ref.action);
            expect(d.rules.map(ruleId).sort()).toEqual(ref.live);
            if (ref.best !== undefined) expect(rank((d.rule as Rule).list)).toBe(rank(ref.best.list));
            expect(d.rule?.recommendation ?? "none").toBe(
              ref.action === "none" ? "none" : ref.action === "takedown" ? "takedown" : "ban",
            );
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

describe("index maintenance at scale", () => {
  it("adds and removes 20,000 rules in random order without losing or keeping any", () => {
    const rand = fc.sample(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { numRuns: 40_000, seed: 7 });
    const rules: Rule[] = [];
    for (let i = 0; i < 20_000; i++) {
      const server = `s${(rand[i] as number) % 300}.org`;
      const shape = i % 10;
      const entity =
        shape < 7
          ? `@u${i}:${server}`
          : shape === 7
            ? `@*:${server}`
            : shape === 8
              ? `@p${i % 97}*:s${i % 3}.org`
              : `*w${i % 500}x*`;
      rules.push(mk("user", entity, "ban", LISTS[i % 3]));
    }
    const m = new Matcher();
    m.addAll(rules);
    const removed = new Set<Rule>();
    for (let i = 0; i < rules.length; i++)
      if ((rand[20_000 + i] as number) % 2 === 0) removed.add(rules[i] as Rule);
    for (const r of removed) expect(m.remove(r)).toBe(true);
    const kept = rules.filter((r) => !removed.has(r));
    expect(m.size).toBe(kept.length);
    const subjects = [...Array(2_000).keys()].map((i) => `@${i % 3 ? "u" : "p"}${i * 7}:s${i % 300}.org`);
    subjects.push("@u1w12x:s1.org", "@U7:S7.ORG");
    // Reference on the remaining rules only, with a cheap per-rule glob check.
    const globs = kept.map((r) => [r, compileGlob(r.entity as string)] as const);
    let total = 0;
    for (const s of subjects) {
      const expected = globs.filter(([, g]) => g.matches(s.toLowerCase())).map(([r]) => ruleId(r));
      expect(ids(m.matchUser(s)), s).toEqual(expected.sort());
      total += expected.length;
    }
    expect(total).toBeGreaterThan(500); // the comparison is not vacuous
    for (const r of kept) m.remove(r);
    expect(m.size).toBe(0);
    for (const s of subjects.slice(0, 100)) expect(m.matchUser(s)).toEqual([]);
  });
});

describe("hot-path shortcuts", () => {
  // The matcher reads an ID as given while it holds no character lower-casing could change
  // (A–Z or non-ASCII), and restarts on the lower-cased ID otherwise.
  const odd = [
    "@alice:example.org", // already lower-case: no copy
    "@Alice:example.org", // upper-case in the localpart (found last by the backward pass)
    "@alice:EXAMPLE.org", // upper-case in the server (found first)
    "@alice:example.orG", // the very last character
    "@ALICE:EXAMPLE.ORG",
    "@aZ:example.org", // the ends of A–Z
    "@Az:example.org",
    "@[alice]`{|}~@:example.org", // just outside A–Z on both sides: never lower-cased
    "@élodie:example.org", // Latin-1 lower-case letter (non-ASCII, unchanged by toLowerCase)
    "@ÉLODIE:example.org", // Latin-1 upper-case
    "@Élodie:example.org", // Latin-1 upper-case and no ASCII upper-case at all
    "@élodie:exÀmple.org",
    "@İstanbul:example.org", // lower-cases to a longer string (i + combining dot)
    "@ΣΟΦΙΑΣ:example.org", // final sigma
    "@😀spam:example.org", // astral (surrogate pairs)
    "@spam😀:EXAMPLE.org",
    "@:example.org",
    "@alice", // no server
    ":",
    "",
  ];
  const entities = [
    ...odd.filter((s) => s !== ""),
    "@élodie:example.org",
    "@i̇stanbul:example.org",
    "@σοφιας:example.org",
    "@*:example.org",
    "@al*:example.org",
    "*odie*",
    "*😀*",
    "@?????:example.org",
    "*[alice]*",
    "@É*",
  ];

  it("matches IDs in any letter case and alphabet exactly like the brute-force reference", () => {
    const rules = entities.flatMap((e, i) => [
      mk("user", e, "ban", LISTS[i % 3]),
      mk("user", { sha256: refSha(e) }, "ban", LISTS[(i + 1) % 3]),
    ]);
    rules.push(mk("server", "example.org", "ban", LISTS[1]), mk("server", "*.ORG", "ban", LISTS[2]));
    const m = new Matcher({ listOrder: LISTS });
    m.addAll(rules);
    let total = 0;
    for (const u of [...odd, ...odd.map((s) => s.toUpperCase()), ...odd.map((s) => s.toLowerCase())]) {
      const got = m.matchUser(u);
      expect(ids(got), u).toEqual(ids(refMatch(rules, "user", u)));
      total += got.length;
    }
    expect(total).toBeGreaterThan(100); // not vacuous
  });

  it("agrees with the reference on arbitrary Unicode IDs and case variants of listed ones", () => {
    const idArb = fc
      .tuple(fc.string({ unit: "binary", maxLength: 12 }), serverArb)
      .map(([l, s]) => `@${l}:${s}`);
    fc.assert(
      fc.property(fc.array(idArb, { minLength: 1, maxLength: 8 }), caseArb, (listed, bits) => {
        const rules = listed.flatMap((id, i) => [
          mk("user", id, "ban", LISTS[i % 3]),
          mk("user", `@*${id.slice(1, 3)}*`, "ban", LISTS[(i + 1) % 3]),
        ]);
        const m = new Matcher({ listOrder: LISTS });
        m.addAll(rules);
        for (const u of [
          ...listed,
          ...listed.map((id) => flipCase(id, bits)),
          ...listed.map((id) => id.toUpperCase()),
        ])
          expect(ids(m.matchUser(u)), JSON.stringify(u)).toEqual(ids(refMatch(rules, "user", u)));
      }),
      { numRuns: 500 },
    );
  });

  it("returns frozen results: one shared empty array, one shared array per single exact match", () => {
    const m = new Matcher();
    const a = mk("user", "@a:x");
    m.add(a);
    const miss = m.matchUser("@nobody:x");
    expect(miss).toEqual([]);
    expect(Object.isFrozen(miss)).toBe(true);
    expect(m.matchUser("@other:y")).toBe(miss);
    expect(m.matchRoom("#r:x")).toBe(miss);
    expect(m.matchServer("x")).toBe(miss);
    const hit = m.matchUser("@a:x");
    expect(hit).toEqual([a]);
    expect(Object.isFrozen(hit)).toBe(true);
    expect(m.matchUser("@A:X")).toBe(hit); // every query for the entity shares it
    expect(() => (hit as Rule[]).push(a)).toThrow(TypeError);
    // Changing the rules never changes a result a caller holds.
    const b = mk("user", "@a:x", "takedown", LISTS[1]);
    m.add(b);
    expect(hit).toEqual([a]);
    expect(ids(m.matchUser("@a:x"))).toEqual(ids([a, b]));
    m.remove(a);
    expect(m.matchUser("@a:x")).toEqual([b]);
    m.remove(b);
    expect(m.matchUser("@a:x")).toBe(miss);
    expect(hit).toEqual([a]);
    // One glob alone: shared as well; several rules: a fresh array, frozen too.
    const star = mk("user", "@*:x");
    m.addAll([a, star]);
    const globOnly = m.matchUser("@zz:x");
    expect(globOnly).toEqual([star]);
    expect(Object.isFrozen(globOnly)).toBe(true);
    expect(m.matchUser("@YY:x")).toBe(globOnly);
    const two = m.matchUser("@a:x");
    expect(ids(two)).toEqual(ids([a, star]));
    expect(Object.isFrozen(two)).toBe(true);
    expect(m.matchUser("@a:x")).not.toBe(two);
  });

  it("orders many matches by list rank, then kind, keeping insertion order within a tie", () => {
    const m = new Matcher({ listOrder: LISTS });
    const rules: Rule[] = [];
    for (let i = 0; i < 60; i++) {
      const list = LISTS[(i * 7) % 3] as string;
      rules.push(
        i % 5 === 0
          ? mk("server", `*${"x".repeat(i % 2)}`, "ban", list)
          : mk("user", `@*${"?".repeat(i % 4)}*`, "ban", list),
      );
    }
    m.addAll(rules);
    for (const [u, at] of [
      ["@ab:x", 17],
      ["@abcdefgh:x", 60],
    ] as const) {
      const got = m.matchUser(u);
      expect(ids(got)).toEqual(ids(refMatch(rules, "user", u)));
      expect(got.length).toBeGreaterThanOrEqual(at); // beyond the insertion-sort size too
      const keys = got.map((r) => m.priorityOf(r.list) * 4 + (r.kind === "user" ? 0 : 2));
      expect([...keys].sort((a, b) => a - b)).toEqual(keys);
    }
  });

  it("keeps the rules of one exact entity in priority order, also after reordering the lists", () => {
    const m = new Matcher({ listOrder: LISTS });
    const [r0, r1, r2] = [2, 0, 1].map((l) => mk("user", "@dup:x", "ban", LISTS[l]));
    m.addAll([r0 as Rule, r1 as Rule, r2 as Rule]);
    const before = m.matchUser("@DUP:x");
    expect(before).toEqual([r1, r2, r0]);
    expect(m.matchUser("@dup:x")).toBe(before);
    m.setListOrder([LISTS[2] as string, LISTS[1] as string]);
    expect(m.matchUser("@dup:x")).toEqual([r0, r2, r1]);
    expect(before).toEqual([r1, r2, r0]); // a result already handed out never changes
    m.remove(r2 as Rule);
    expect(m.matchUser("@dup:x")).toEqual([r0, r1]);
    // With a glob match as well, the exact rules are merged into the priority order.
    const glob = mk("user", "@d*", "ban", LISTS[1]);
    m.add(glob);
    expect(m.matchUser("@dup:x")).toEqual([r0, glob, r1]);
  });

  it("survives heavy churn of exact rules (table growth, shrinking and re-use)", () => {
    const m = new Matcher({ listOrder: LISTS });
    const live = new Map<string, Rule>();
    let round = 0;
    for (; round < 30; round++) {
      // Replace a rotating window of 2,000 IDs: 400 removed, 400 added per round.
      for (let i = 0; i < 400; i++) {
        const gone = `@u${(round - 5) * 400 + i}:s${i % 7}.org`;
        const r = live.get(gone);
        if (r !== undefined) {
          expect(m.remove(r)).toBe(true);
          live.delete(gone);
        }
        const id = `@u${round * 400 + i}:s${i % 7}.org`;
        const rule = mk("user", i % 3 ? id : id.toUpperCase(), "ban", LISTS[i % 3]);
        m.add(rule);
        live.set(id, rule);
      }
      expect(m.size).toBe(live.size);
    }
    for (let n = 0; n < round * 400; n += 37) {
      const id = `@u${n}:s${(n % 400) % 7}.org`;
      const want = live.get(id);
      expect(m.matchUser(id), id).toEqual(want === undefined ? [] : [want]);
    }
    for (const r of [...live.values()]) m.remove(r);
    expect(m.size).toBe(0);
    expect(m.matchUser("@u11999:s5.org")).toEqual([]);
  });

  it("server rules: skipped when they never apply, filtered per list around an exact user match", () => {
    const userHit = mk("user", "@a:evil.org", "ban", LISTS[1]);
    const srvApplying = mk("server", "evil.org", "ban", LISTS[0]);
    const srvNot = mk("server", "*.org", "takedown", LISTS[1]);
    const rules = [userHit, srvApplying, srvNot];
    const applies = (l: string) => l === LISTS[0];
    const perList = new Matcher({ listOrder: LISTS, serverRulesApplyToUsers: applies });
    perList.addAll(rules);
    expect(perList.matchUser("@A:evil.org")).toEqual([srvApplying, userHit]);
    expect(perList.matchUser("@b:EVIL.org")).toEqual([srvApplying]);
    expect(perList.matchUser("@b:good.org")).toEqual([]);
    const never = new Matcher({ listOrder: LISTS, serverRulesApplyToUsers: false });
    never.addAll(rules);
    expect(never.matchUser("@a:evil.org")).toEqual([userHit]);
    expect(never.matchUser("@b:evil.org")).toEqual([]);
    const always = new Matcher({ listOrder: LISTS });
    always.addAll(rules);
    expect(always.matchUser("@a:evil.org")).toEqual([srvApplying, userHit, srvNot]);
    expect(always.matchUser("@b:evil.org:8448")).toEqual([srvApplying, srvNot]);
    for (const [m, f] of [
      [perList, applies],
      [never, () => false],
      [always, () => true],
    ] as const)
      for (const u of ["@a:evil.org", "@a:x.org", "@A:EVIL.ORG:1", "@a:[::1]"])
        expect(ids(m.matchUser(u))).toEqual(ids(refMatch(rules, "user", u, f)));
  });

  it("decisions: shared when nothing applies, never alias a caller's array", () => {
    const m = new Matcher({ listOrder: LISTS });
    const none = m.decideUser("@a:x");
    expect(Object.isFrozen(none)).toBe(true);
    expect(m.decideUser("@b:x")).toBe(none);
    const exc = mk("user", "@a:x", "exception");
    m.add(exc);
    expect(m.decideUser("@a:x")).toEqual({ action: "none", rules: [], excepted: [] });
    const ban = mk("user", "@b:x", "takedown");
    m.add(ban);
    expect(m.decideUser("@B:x")).toEqual({ action: "takedown", rule: ban, rules: [ban], excepted: [] });
    const mine = [ban];
    const d = m.decide(mine, "user");
    expect(d.rules).toEqual([ban]);
    expect(d.rules).not.toBe(mine);
    // Out-of-order input to decide() is still ordered by priority.
    const low = mk("user", "@c:x", "ban", LISTS[2]);
    const high = mk("user", "@c*", "ban", LISTS[0]);
    expect(m.decide([low, high], "user")).toMatchObject({ action: "ban", rule: high, rules: [high, low] });
  });
});
