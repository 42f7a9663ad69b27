import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { compileGlob, globMatches, hasWildcard, normaliseGlob } from "../../../src/banlists/glob.ts";
import { refGlob } from "./reference.ts";

// Property tests run thousands of cases; shared CI machines can be slow.
vi.setConfig({ testTimeout: 60_000 });

describe("glob semantics", () => {
  const table: [pattern: string, input: string, expected: boolean][] = [
    ["@*:evil.org", "@spammer:evil.org", true],
    ["@*:evil.org", "@spammer:EVIL.org", true],
    ["@*:evil.org", "@spammer:evil.org.uk", false],
    ["@*:evil.org", "@a:b:evil.org", true], // `*` crosses `:`
    ["*.evil.org", "evil.org", false],
    ["*.evil.org", "a.b.evil.org", true],
    ["*evil.org", "evil.org", true],
    ["evil.org", "EVIL.ORG", true],
    ["evil.org", "evil.org.", false],
    ["?", "", false],
    ["?", "a", true],
    ["?", "ab", false],
    ["*", "", true],
    ["*", "anything at all", true],
    ["", "", true],
    ["", "a", false],
    ["@spam??:x", "@spam12:x", true],
    ["@spam??:x", "@spam1:x", false],
    ["a*b*c", "abc", true],
    ["a*b*c", "aXbYc", true],
    ["a*b*c", "acb", false],
    ["a*a", "a", false],
    ["a*a", "aa", true],
    ["*a?b*", "xxa-bxx", true],
    ["*a?b*", "xxabxx", false],
    ["*?", "", false],
    ["*?*", "x", true],
    // No escaping and no regex meaning: every other character is literal.
    ["a\\*b", "a\\xyzb", true],
    ["a\\*b", "a*b", false],
    ["a.c", "abc", false],
    ["a+", "aa", false],
    ["(a|b)", "(a|b)", true],
    ["[ab]", "a", false],
    ["^$", "^$", true],
    ["@ÄBC:x", "@äbc:x", true],
  ];
  for (const [pattern, input, expected] of table) {
    it(`${JSON.stringify(pattern)} vs ${JSON.stringify(input)} → ${expected}`, () => {
      expect(globMatches(pattern, input)).toBe(expected);
      expect(refGlob(pattern, input)).toBe(expected);
    });
  }

  it("normalises case and wildcard runs", () => {
    expect(normaliseGlob("@FoO*:X")).toBe("@foo*:x");
    expect(normaliseGlob("a**b")).toBe("a*b");
    expect(normaliseGlob("a*?*?*b")).toBe("a??*b");
    expect(normaliseGlob("*?*?*?")).toBe("???*");
    expect(normaliseGlob("??")).toBe("??");
    expect(normaliseGlob("")).toBe("");
  });

  it("exposes its structure", () => {
    const g = compileGlob("@Spam*x?y*:Evil.org");
    expect(g.source).toBe("@spam*x?y*:evil.org");
    expect(g.head).toBe("@spam");
    expect(g.tail).toBe(":evil.org");
    expect(g.middle).toEqual(["x?y"]);
    expect(g.hasStar).toBe(true);
    expect(g.literal).toBe(false);
    expect(compileGlob("@a:b").literal).toBe(true);
    expect(compileGlob("@a?b").literal).toBe(false);
    expect(hasWildcard("a?")).toBe(true);
    expect(hasWildcard("a*")).toBe(true);
    expect(hasWildcard("a")).toBe(false);
  });
});

describe("glob vs brute-force reference", () => {
  const patternArb = fc.stringMatching(/^[abAB*?:]{0,12}$/);
  const inputArb = fc.stringMatching(/^[abAB:]{0,14}$/);

  it("agrees on random small-alphabet patterns and inputs", () => {
    fc.assert(
      fc.property(patternArb, inputArb, (pattern, input) => {
        expect(globMatches(pattern, input)).toBe(refGlob(pattern, input));
      }),
      { numRuns: 20_000 },
    );
  });

  it("agrees when the input is built from the pattern (mostly matches)", () => {
    // Instantiate wildcards so that a large share of cases are true matches.
    const arb = fc.tuple(
      patternArb,
      fc.array(fc.stringMatching(/^[abAB:]{0,3}$/), { minLength: 12, maxLength: 12 }),
    );
    fc.assert(
      fc.property(arb, ([pattern, fills]) => {
        let k = 0;
        const input = [...pattern]
          .map((c) => (c === "*" ? (fills[k++] ?? "") : c === "?" ? "b" : c))
          .join("");
        expect(refGlob(pattern, input)).toBe(true);
        expect(globMatches(pattern, input)).toBe(true);
      }),
      { numRuns: 5_000 },
    );
  });

  it("agrees on long `?` segments (bit-parallel path, more than 32 characters)", () => {
    const arb = fc.tuple(
      fc.stringMatching(/^[ab?]{30,80}$/),
      fc.stringMatching(/^[ab]{0,120}$/),
      fc.stringMatching(/^[ab]{0,40}$/),
    );
    fc.assert(
      fc.property(arb, ([seg, pre, post]) => {
        const pattern = `*${seg}*`;
        const input = pre + seg.replaceAll("?", "a") + post;
        expect(globMatches(pattern, input)).toBe(true);
        const other = pre + post;
        expect(globMatches(pattern, other)).toBe(refGlob(pattern, other));
      }),
      { numRuns: 500 },
    );
  });
});

describe("adversarial globs finish fast", () => {
  const time = (f: () => void): number => {
    const t0 = performance.now();
    f();
    return performance.now() - t0;
  };
  const big = "a".repeat(10_000);

  it("10,000-character literal and wildcard patterns", () => {
    const cases: [string, string][] = [
      ["a".repeat(10_000), big],
      ["*?".repeat(5_000), big],
      ["*a".repeat(5_000) + "b", big],
      ["*" + "a?".repeat(2_500) + "b*", big],
      ["*" + "?".repeat(4_999) + "b*", big + "c"],
      ["a*".repeat(5_000), big],
      [("*" + "a".repeat(50) + "?").repeat(150) + "b", big],
    ];
    for (const [pattern, input] of cases) {
      const ms = time(() => {
        const g = compileGlob(pattern);
        for (let i = 0; i < 3; i++) g.matches(input);
      });
      expect(ms, pattern.slice(0, 20)).toBeLessThan(500);
    }
  });

  it("gives the right answers on the adversarial inputs", () => {
    expect(globMatches("*a".repeat(5_000) + "b", big)).toBe(false);
    expect(globMatches("*?".repeat(5_000), big)).toBe(true);
    expect(globMatches("*?".repeat(10_000), big)).toBe(true);
    expect(globMatches("*?".repeat(10_001), big)).toBe(false);
    expect(globMatches("*" + "a?".repeat(2_500) + "b*", big)).toBe(false);
    expect(globMatches("*" + "a?".repeat(2_500) + "b*", big + "b")).toBe(true);
    expect(globMatches("a*".repeat(5_000), big)).toBe(true);
  });
});
