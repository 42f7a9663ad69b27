// Issue #12: the matcher (member bans, `rules matching`) and the ACL builder must read server rules
// the same way. Over random rule sets and ≥ 10,000 random server names (ports, letter cases, globs
// with and without a port part, IPv4 and IPv6 literals, punycode IDNs, invalid entities, hashed
// rules, exceptions), the matcher bans a server exactly when the built ACL denies it, as a
// homeserver evaluates the ACL — apart from the differences the ACL builder documents: rules it
// refuses for safety (our own server, `*`), hashed rules, exceptions an ACL cannot express (carved
// out of a deny glob) and IP literals blocked wholesale by `allow_ip_literals: false`.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildAcl, type AclListInput, type AclPlan } from "../../../src/acl/build.ts";
import type { ServerAclContent } from "../../../src/consequences/types.ts";
import { Matcher } from "../../../src/banlists/matcher.ts";
import type { Recommendation, Rule } from "../../../src/banlists/rule.ts";
import { refGlob, refServerHost, refSha } from "../banlists/reference.ts";

const LISTS = ["!l0:x", "!l1:x", "!l2:x"];
const OWN_SERVERS = ["tyr.example:8448", "localhost", "chat.evil.org", "[::1]:8448", "10.0.0.1:8008"];
const LABELS = ["evil", "chat", "pixte", "xn--e1afmkfd", "xn--p1ai", "org", "ru", "a"];
const PORTS = ["", "", ":8448", ":443", ":1"];

const flipCase = (s: string, bits: number) =>
  [...s].map((c, i) => ((bits >> (i % 30)) & 1 ? c.toUpperCase() : c)).join("");
const caseArb = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 30 - 1 }));

const hostArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.array(fc.constantFrom(...LABELS), { minLength: 1, maxLength: 3 }).map((l) => l.join(".")),
  },
  { weight: 1, arbitrary: fc.constantFrom("1.2.3.4", "10.0.0.1") },
  { weight: 1, arbitrary: fc.constantFrom("[::1]", "[2001:db8::1]", "[2001:db8::a]") },
);
/** A server name as it may reach the bot: any port, any letter case. */
const nameArb = fc
  .tuple(hostArb, fc.constantFrom(...PORTS), caseArb)
  .map(([h, p, bits]) => flipCase(h + p, bits));

/** Globs made from hosts: characters swapped for wildcards, `*.` in front, a port part behind. */
const globArb = fc
  .tuple(
    hostArb,
    fc.array(fc.tuple(fc.nat(40), fc.constantFrom("*", "?", "**", "")), { maxLength: 2 }),
    fc.constantFrom("", "", "*.", "*"),
    fc.constantFrom("", "", ":8448", ":*", ":84?8", ":?*"),
    caseArb,
  )
  .map(([host, edits, prefix, port, bits]) => {
    let s = host;
    for (const [at, w] of edits) s = s.slice(0, at % (s.length + 1)) + w + s.slice((at % (s.length + 1)) + 1);
    return flipCase(prefix + s + port, bits);
  });

const oddArb = fc.constantFrom(
  "*",
  "*:8448",
  "*.org:*",
  "evil.org:http",
  "evil.org:8448:1",
  "evil_org.ru",
  "[::1",
  "[2001:db8::*]:8448",
  "[*]",
  "1.2.3.*",
  "a b.org",
  "",
);

type Entity = string | { sha256: string };
const entityArb: fc.Arbitrary<Entity> = fc.oneof(
  { weight: 5, arbitrary: nameArb },
  { weight: 5, arbitrary: globArb },
  { weight: 1, arbitrary: oddArb },
  { weight: 1, arbitrary: hostArb.map((h) => ({ sha256: refSha(h.toLowerCase()) })) },
);

const scenarioArb = fc.record({
  own: fc.constantFrom(...OWN_SERVERS),
  allowIpLiterals: fc.boolean(),
  rules: fc.array(
    fc.record({
      entity: entityArb,
      recommendation: fc.constantFrom<Recommendation>("ban", "ban", "takedown", "exception"),
      list: fc.nat(LISTS.length - 1),
    }),
    { maxLength: 20 },
  ),
  names: fc.array(nameArb, { minLength: 8, maxLength: 8 }),
});

/** An IPv6 literal, or an IPv4 dotted quad. */
function isIpLiteral(host: string): boolean {
  if (host.startsWith("[")) return true;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/** How a homeserver applies an ACL (Synapse's reading): port dropped, IP literals, deny, allow. */
function aclDenies(content: ServerAclContent, name: string): boolean {
  const host = refServerHost(name);
  if (!content.allow_ip_literals && isIpLiteral(host)) return true;
  if (content.deny.some((d) => refGlob(d, host))) return true;
  return !content.allow.some((a) => refGlob(a, host));
}

/** Rules the builder refused for safety or could not write (own server, `*`, hashed). */
function refusedBySafety(plan: AclPlan): Set<string> {
  const out = new Set<string>();
  for (const d of plan.dropped)
    if (d.code === "own-server" || d.code === "deny-all") out.add(`${d.list}\u0000${d.entity}`);
  return out;
}

describe("matcher and ACL builder agree on server names (issue #12)", () => {
  it("bans a server exactly when the ACL denies it, over ≥ 10,000 random names", () => {
    let compared = 0;
    let banned = 0;
    let bannedByPortRule = 0;
    let allowed = 0;
    fc.assert(
      fc.property(scenarioArb, (sc) => {
        let seq = 0;
        const rules = sc.rules.map((r): Rule => ({
          list: LISTS[r.list] as string,
          kind: "server",
          ...(typeof r.entity === "string" ? { entity: r.entity } : { sha256: r.entity.sha256 }),
          recommendation: r.recommendation,
          eventType: "m.policy.rule.server",
          stateKey: `k${seq++}`,
        }));
        const lists: AclListInput[] = LISTS.map((id) => ({ id, rules: rules.filter((r) => r.list === id) }));
        const plan = buildAcl({ lists, ownServer: sc.own, options: { allowIpLiterals: sc.allowIpLiterals } });
        expect(plan.leftOutForSize).toBe(0);
        const refused = refusedBySafety(plan);
        const m = new Matcher({ listOrder: LISTS, serverRulesApplyToUsers: true });
        m.addAll(rules);

        const problems: string[] = [];
        // Names the rules are about (wildcards filled in), besides the random ones.
        const named = sc.rules.flatMap((r) =>
          typeof r.entity === "string" ? [r.entity.replaceAll("*", "1").replaceAll("?", "2")] : [],
        );
        for (const name of [...sc.names, ...named.slice(0, 6)]) {
          const host = refServerHost(name);
          const d = m.decideServer(name);
          // A user of that server gets the same answer from server rules (port and case ignored).
          const asUser = m.decideUser(`@u:${name}`);
          if (asUser.action !== d.action) problems.push(`user @u:${name}: ${asUser.action} vs ${d.action}`);
          if (isIpLiteral(host) && !plan.content.allow_ip_literals) {
            // Blocked wholesale by the ACL whatever the rules say.
            if (!aclDenies(plan.content, name)) problems.push(`${name}: IP literal allowed`);
            continue;
          }
          compared++;
          const isBanned = d.action !== "none";
          const denied = aclDenies(plan.content, name);
          if (isBanned && denied) {
            banned++;
            if (d.rules.some((r) => r.entity?.includes(":") === true && !r.entity.startsWith("[")))
              bannedByPortRule++;
          }
          if (!isBanned && !denied) allowed++;
          if (isBanned && !denied) {
            // Only rules the ACL cannot carry may ban what it allows.
            const unexplained = d.rules.filter(
              (r) => r.entity !== undefined && !refused.has(`${r.list}\u0000${r.entity}`),
            );
            if (unexplained.length > 0)
              problems.push(
                `${name}: matcher bans (${unexplained.map((r) => r.entity).join(", ")}), ACL allows`,
              );
          }
          if (!isBanned && denied) {
            // Only an exception the ACL cannot express may allow what it denies: a hashed one, or
            // one carved out of a deny glob (deny is checked before allow). A literal deny entry
            // is lifted by any exception that lifts it in the matcher.
            const hashedException = d.excepted.some((e) => e.by.entity === undefined);
            const carvedFromGlob =
              d.excepted.length > 0 &&
              plan.content.deny
                .filter((x) => refGlob(x, host))
                .every((x) => x.includes("*") || x.includes("?"));
            if (!hashedException && !carvedFromGlob)
              problems.push(`${name}: ACL denies, matcher does not ban`);
          }
        }
        expect(problems, JSON.stringify({ rules: sc.rules, own: sc.own, deny: plan.content.deny })).toEqual(
          [],
        );
      }),
      { numRuns: 1_200 },
    );
    // Enough names, and both answers (and port rules) really exercised.
    expect(compared).toBeGreaterThanOrEqual(10_000);
    expect(banned).toBeGreaterThan(1_000);
    expect(allowed).toBeGreaterThan(1_000);
    expect(bannedByPortRule).toBeGreaterThan(500);
  }, 120_000);
});
