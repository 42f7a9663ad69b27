import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { compileGlob, normaliseGlob } from "../../../src/banlists/glob.ts";
import { GlobIndex, globCovers } from "../../../src/acl/cover.ts";
import { mulberry32 } from "./helpers.ts";

const covers = (a: string, b: string): boolean => globCovers(compileGlob(a), normaliseGlob(b));

/** Every string over {a, b, .} up to `max` characters. */
function allStrings(max: number): string[] {
  const out = [""];
  let layer = [""];
  for (let n = 1; n <= max; n++) {
    layer = layer.flatMap((s) => ["a", "b", "."].map((c) => s + c));
    out.push(...layer);
  }
  return out;
}
const UNIVERSE = allStrings(6);

describe("globCovers", () => {
  it.each([
    ["*.evil.org", "a.evil.org", true],
    ["*.evil.org", "*.a.evil.org", true],
    ["*.evil.org", "?.evil.org", true],
    ["*.evil.org", "evil.org", false],
    ["*.evil.org", "*evil.org", false],
    ["*evil.org", "*.evil.org", true],
    ["?.evil.org", "*.evil.org", false], // ? is one character, * may be many
    ["?.evil.org", "a.evil.org", true],
    ["?.evil.org", "?.evil.org", true],
    ["a.evil.org", "?.evil.org", false],
    ["*.org", "*.evil.org", true],
    ["*", "anything*", true],
    ["ev?l.*", "evil.*", true],
    ["ev?l.*", "ev*l.org", false],
    ["*a*b*", "xaybz", true],
    ["*a*b*", "*b*a*", false],
    ["*a*b*", "*a?b*", true],
    ["a*", "a", true],
    ["a?*", "a", false],
    ["?*", "*a", false], // true in fact, but beyond the deliberately conservative rule
  ])("%j covers %j: %s", (a, b, expected) => {
    expect(covers(a, b)).toBe(expected);
  });

  it("is sound: whatever B matches, a covering A matches too (exhaustive on a small alphabet)", () => {
    const glob = fc.string({ unit: fc.constantFrom("a", "b", ".", "*", "?"), maxLength: 5 });
    fc.assert(
      fc.property(glob, glob, (a, b) => {
        if (!covers(a, b)) return;
        const ga = compileGlob(a);
        const gb = compileGlob(b);
        for (const s of UNIVERSE) {
          if (gb.matches(s)) expect(ga.matches(s), `${a} should match ${s} (matched by ${b})`).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("equals glob matching when B is a literal", () => {
    const glob = fc.string({ unit: fc.constantFrom("a", "b", ".", "*", "?"), maxLength: 6 });
    const literal = fc.string({ unit: fc.constantFrom("a", "b", "."), maxLength: 7 });
    fc.assert(
      fc.property(glob, literal, (a, s) => {
        expect(covers(a, s)).toBe(compileGlob(a).matches(s));
      }),
      { numRuns: 3000 },
    );
  });
});

describe("GlobIndex", () => {
  it("finds exactly the covering globs a linear scan finds", () => {
    const glob = fc.string({ unit: fc.constantFrom("a", "b", ".", "*", "?"), minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(
        fc.uniqueArray(glob, { maxLength: 20 }),
        fc.array(glob, { maxLength: 20 }),
        (globs, probes) => {
          const items = globs.map((g) => ({ glob: compileGlob(g) }));
          const index = new GlobIndex<{ glob: ReturnType<typeof compileGlob> }>();
          for (const it of items) index.add(it);
          for (const p of probes) {
            const b = normaliseGlob(p);
            const found: unknown[] = [];
            index.findCovering(b, (item, into) => (into.push(item), false), found);
            const expected = items.filter((it) => globCovers(it.glob, b));
            expect(new Set(found)).toEqual(new Set(expected));
            expect(found.length).toBe(expected.length);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("agrees with a linear scan on thousands of globs (hash table growth)", () => {
    const rnd = mulberry32(99);
    const pick = (s: string): string => s[Math.floor(rnd() * s.length)]!;
    const name = (n: number): string => Array.from({ length: n }, () => pick("abcdef.-")).join("");
    const shapes = [
      (): string => `*.${name(3 + Math.floor(rnd() * 8))}`,
      (): string => `${name(2 + Math.floor(rnd() * 6))}*`,
      (): string => `${name(2)}?${name(3)}*${name(2)}`,
      (): string => `*${name(2)}*`,
      (): string => name(4).replace(/^./, "?"),
    ];
    const globs = [
      ...new Set(
        Array.from({ length: 4_000 }, () => normaliseGlob(shapes[Math.floor(rnd() * shapes.length)]!())),
      ),
    ];
    const items = globs.map((g) => ({ glob: compileGlob(g) }));
    const index = new GlobIndex<{ glob: ReturnType<typeof compileGlob> }>();
    for (const it of items) index.add(it);
    expect(index.size).toBe(items.length);
    let hits = 0;
    for (let i = 0; i < 2_000; i++) {
      const b = i % 2 === 0 ? name(3 + Math.floor(rnd() * 10)) : normaliseGlob(shapes[i % shapes.length]!());
      const found: unknown[] = [];
      index.findCovering(b, (item, into) => (into.push(item), false), found);
      const expected = items.filter((it) => globCovers(it.glob, b));
      expect(found.length).toBe(expected.length);
      expect(new Set(found)).toEqual(new Set(expected));
      hits += found.length;
    }
    expect(hits).toBeGreaterThan(100); // the probes do hit something
  });

  it("stops when the visitor says so", () => {
    const index = new GlobIndex<{ glob: ReturnType<typeof compileGlob> }>();
    for (const g of ["*.org", "*.evil.org", "a.*"]) index.add({ glob: compileGlob(g) });
    let calls = 0;
    expect(index.findCovering("a.evil.org", () => (calls++, true), null)).toBe(true);
    expect(calls).toBe(1);
    expect(index.findCovering("x.com", () => true, null)).toBe(false);
  });
});
