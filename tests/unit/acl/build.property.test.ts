// Property test over 10,000 random rule sets: whatever the lists say, the ACL never denies our
// own server, always allows it, always fits, and only denies what some valid ban rule asked for.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DEFAULT_ACL_CONTENT_BUDGET, buildAcl, type AclListInput } from "../../../src/acl/build.ts";
import { MAX_EVENT_BYTES, canonicalJsonBytes } from "../../../src/util/canonicalJson.ts";
import { parseOwnServer, parseServerEntity } from "../../../src/acl/serverName.ts";
import { compileGlob, globMatches } from "../../../src/banlists/glob.ts";
import { globCovers } from "../../../src/acl/cover.ts";
import type { Recommendation, Rule } from "../../../src/banlists/rule.ts";
import { fullEventBytes, mulberry32 } from "./helpers.ts";

/** A list too big for one event (~2,600 names of ~27 bytes), appended to some scenarios so the
 *  default budget is exercised too. Four variants, built once. */
const bulkLists = new Map<number, AclListInput>();
function bulkList(seed: number): AclListInput {
  const cached = bulkLists.get(seed % 4);
  if (cached !== undefined) return cached;
  const rnd = mulberry32(seed % 4);
  const id = "!bulk:example.org";
  const rules: Rule[] = [];
  for (let i = 0; i < 2_600; i++) {
    let w = "";
    for (let k = 0; k < 16; k++) w += String.fromCharCode(97 + Math.floor(rnd() * 26));
    rules.push({
      list: id,
      kind: "server",
      entity: `${w}-${i}.org`,
      recommendation: "ban",
      eventType: "m.policy.rule.server",
      stateKey: `b${i}`,
    });
  }
  const list = { id, rules };
  bulkLists.set(seed % 4, list);
  return list;
}

const OWN_SERVERS = [
  "tyr.example.org",
  "example.org:8448",
  "localhost:8008",
  "a.b",
  "127.0.0.1:8008",
  "[::1]:8448",
  "Mixed.Case.Example:443",
];

/** Entities built around our own server: wildcards swapped in, case changed, ports added. */
function derivedFrom(own: string): fc.Arbitrary<string> {
  const host = parseOwnServer(own).host;
  return fc
    .tuple(
      fc.array(fc.tuple(fc.nat(host.length), fc.constantFrom("*", "?", "**", "", "X")), { maxLength: 3 }),
      fc.boolean(),
      fc.option(fc.constantFrom(":8448", ":*", ":1"), { nil: undefined }),
      fc.constantFrom("", "*", "*.", "?"),
    )
    .map(([edits, upper, port, prefix]) => {
      let s = host;
      for (const [at, w] of edits) s = s.slice(0, at) + w + s.slice(at + 1);
      s = prefix + s;
      if (upper) s = s.toUpperCase();
      return s + (port ?? "");
    });
}

const nameish = fc.string({
  unit: fc.constantFrom("a", "b", "e", "o", "r", "g", ".", "-", "*", "?", ":", "1", "[", "]", "A", " "),
  maxLength: 14,
});

const interesting = fc.constantFrom(
  "",
  "*",
  "**",
  "?*",
  "*.org",
  "*.*",
  "evil.org",
  "EVIL.ORG:8448",
  "*.evil.org",
  "1.2.3.4",
  "[::1]",
  "[::1]:8448",
  "[*]",
  "a b.org",
  "evil\u0000.org",
  "évil.org",
  "a".repeat(10_000),
  "a".repeat(255),
  `${"b".repeat(250)}.org`,
);

function entityArb(own: string): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: nameish, weight: 5 },
    { arbitrary: interesting, weight: 3 },
    { arbitrary: derivedFrom(own), weight: 3 },
    { arbitrary: fc.string({ unit: "binary", maxLength: 12 }), weight: 1 },
  );
}

interface Scenario {
  own: string;
  lists: AclListInput[];
  allow: string[] | undefined;
  allowIpLiterals: boolean | undefined;
  budgetBytes: number | undefined;
  bulkSeed: number | undefined;
}

const scenario: fc.Arbitrary<Scenario> = fc
  .constantFrom(...OWN_SERVERS)
  .chain((own) =>
    fc.record({
      own: fc.constant(own),
      lists: fc
        .array(
          fc.array(
            fc.record({
              entity: fc.option(entityArb(own), { nil: undefined, freq: 20 }),
              recommendation: fc.constantFrom<Recommendation>("ban", "ban", "ban", "takedown", "exception"),
            }),
            { maxLength: 25 },
          ),
          { minLength: 0, maxLength: 4 },
        )
        .map((lists) =>
          lists.map((rules, li): AclListInput => {
            const id = `!list${li}:example.org`;
            return {
              id,
              rules: rules.map((r, i): Rule => ({
                list: id,
                kind: "server",
                entity: r.entity,
                sha256: r.entity === undefined ? "AAAA" : undefined,
                recommendation: r.recommendation,
                eventType: "m.policy.rule.server",
                stateKey: `k${i}`,
              })),
            };
          }),
        ),
      allow: fc.option(fc.array(fc.oneof(nameish, derivedFrom(own)), { maxLength: 4 }), { nil: undefined }),
      allowIpLiterals: fc.option(fc.boolean(), { nil: undefined }),
      budgetBytes: fc.option(fc.integer({ min: 20, max: 600 }), { nil: undefined, freq: 2 }), // half the runs
      // 1 scenario in 50 (fc.option's `freq` is the odds of the nil value, so not used here).
      bulkSeed: fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 49 },
        { arbitrary: fc.nat(), weight: 1 },
      ),
    }),
  )
  .map((sc) => ({
    ...sc,
    lists: sc.bulkSeed === undefined ? sc.lists : [...sc.lists, bulkList(sc.bulkSeed)],
  }));

describe("buildAcl properties", () => {
  it("never denies our own server, always allows it, always fits, denies only what was asked", () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        const plan = buildAcl({
          lists: sc.lists,
          ownServer: sc.own,
          options: { allow: sc.allow, allowIpLiterals: sc.allowIpLiterals, budgetBytes: sc.budgetBytes },
        });
        const { content } = plan;
        const own = parseOwnServer(sc.own);

        // Never denies our own server. (Loops collect failures: one expect per element is slow.)
        expect(content.deny.filter((d) => globMatches(d, own.host))).toEqual([]);
        // Always allows it.
        expect(content.allow.some((a) => globMatches(a, own.host))).toBe(true);
        if (own.ipLiteral) expect(content.allow_ip_literals).toBe(true);

        // Always fits.
        const budget = sc.budgetBytes ?? DEFAULT_ACL_CONTENT_BUDGET;
        expect(plan.bytes).toBe(canonicalJsonBytes(content));
        if (plan.fits) expect(plan.bytes).toBeLessThanOrEqual(budget);
        else expect(content.deny).toEqual([]);
        if (sc.budgetBytes === undefined)
          expect(fullEventBytes(content)).toBeLessThanOrEqual(MAX_EVENT_BYTES);

        // Denies only normalised entities of valid ban/takedown rules, sorted, unique.
        const asked = new Set<string>();
        const valid: string[] = [];
        for (const l of sc.lists) {
          for (const r of l.rules) {
            if (r.recommendation === "exception" || r.entity === undefined) continue;
            const p = parseServerEntity(r.entity);
            if (!p.ok) continue;
            asked.add(p.value);
            // Literals that must end up denied (IP literals are blocked wholesale when not allowed).
            if (!p.glob && !(p.ipLiteral && !content.allow_ip_literals)) valid.push(p.value);
          }
        }
        expect(content.deny.filter((d) => !asked.has(d))).toEqual([]);
        expect([...content.deny].sort()).toEqual(content.deny);
        expect(new Set(content.deny).size).toBe(content.deny.length);

        // Complete when nothing was left out and nothing excepted: every valid literal ban that is
        // not our own server (nor an IP literal blocked anyway) is denied by some entry.
        if (plan.leftOutForSize === 0 && plan.excepted.length === 0) {
          const notDenied = valid.filter(
            (v) => v !== own.host && !content.deny.some((d) => globMatches(d, v)),
          );
          expect(notDenied).toEqual([]);
        }

        // Minimal: no entry is covered by another one (checked on small outputs: quadratic).
        if (content.deny.length <= 200) {
          const globs = content.deny
            .filter((d) => d.includes("*") || d.includes("?"))
            .map((d) => compileGlob(d));
          const redundant = content.deny.filter((d) => globs.some((g) => g.source !== d && globCovers(g, d)));
          expect(redundant).toEqual([]);
        }

        // The report adds up.
        let entries = 0;
        for (const s of plan.lists) {
          expect(s.kept + s.covered + s.excepted + s.leftOutForSize).toBe(s.entries);
          entries += s.entries;
        }
        expect(plan.lists.reduce((n, s) => n + s.kept, 0)).toBe(content.deny.length);
        expect(plan.lists.reduce((n, s) => n + s.leftOutForSize, 0)).toBe(plan.leftOutForSize);
        expect(plan.lists.reduce((n, s) => n + s.dropped, 0)).toBe(plan.dropped.length);
        expect(entries).toBeLessThanOrEqual(asked.size);
      }),
      { numRuns: 10_000 },
    );
  }, 120_000);
});
