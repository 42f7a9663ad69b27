import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { PMap } from "../../../src/banlists/pmap.ts";

// Property tests run thousands of cases; shared CI machines can be slow.
vi.setConfig({ testTimeout: 60_000 });

// Pairs with equal FNV-1a hashes (found by search), so collision nodes get exercised.
const COLLIDING = ["k4uzx", "kf2ad", "k4uzy", "kf2ae", "k4uzz", "kf2af", "k4uzt", "kf2ah"];
const keyOf = (i: number): string => COLLIDING[i % 40] ?? `k${i}`;

describe("PMap (persistent hash trie)", () => {
  it("behaves like a Map under random operations, and old versions never change", () => {
    const op = fc.record({ del: fc.boolean(), key: fc.integer({ min: 0, max: 300 }), value: fc.integer() });
    fc.assert(
      fc.property(fc.array(fc.array(op, { maxLength: 40 }), { maxLength: 20 }), (batches) => {
        let m = PMap.empty<number>();
        const ref = new Map<string, number>();
        const snapshots: [PMap<number>, Map<string, number>][] = [];
        for (const batch of batches) {
          m = m.withMutations((b) => {
            for (const o of batch) {
              const k = keyOf(o.key);
              if (o.del) {
                b.delete(k);
                ref.delete(k);
              } else {
                b.set(k, o.value);
                ref.set(k, o.value);
              }
            }
          });
          snapshots.push([m, new Map(ref)]);
        }
        for (const [snap, expected] of snapshots) {
          expect(snap.size).toBe(expected.size);
          expect(new Map(snap.entries())).toEqual(expected);
          for (const [k, v] of expected) expect(snap.get(k)).toBe(v);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("keeps colliding keys apart", () => {
    let m = PMap.empty<string>();
    for (const k of COLLIDING) m = m.set(k, k.toUpperCase());
    for (const k of COLLIDING) expect(m.get(k)).toBe(k.toUpperCase());
    const half = m.delete("k4uzx").delete("kf2ae");
    expect(half.get("kf2ad")).toBe("KF2AD");
    expect(half.get("k4uzx")).toBeUndefined();
    expect(half.size).toBe(6);
    expect(m.size).toBe(8);
  });

  it("handles many keys and single-key updates", () => {
    let m = PMap.empty<number>();
    const versions: PMap<number>[] = [];
    for (let i = 0; i < 20_000; i++) {
      m = m.set(String(i), i);
      if (i % 5000 === 0) versions.push(m);
    }
    expect(m.size).toBe(20_000);
    for (let i = 0; i < 20_000; i += 3) m = m.delete(String(i));
    expect(m.size).toBe(20_000 - 6667);
    for (let i = 0; i < 20_000; i++) expect(m.get(String(i))).toBe(i % 3 === 0 ? undefined : i);
    expect(versions.map((v) => v.size)).toEqual([1, 5001, 10001, 15001]);
    expect(m.delete("nope")).toBe(m);
    expect(m.set("1", 1)).toBe(m);
    expect(() => {
      let leaked: { set(k: string, v: number): void } | undefined;
      m.withMutations((b) => (leaked = b));
      leaked?.set("x", 1);
    }).toThrow(/after withMutations/);
  });
});
