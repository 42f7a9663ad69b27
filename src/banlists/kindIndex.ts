// The index of all rules of one kind (user, room or server), and the query that collects matches.
//
// Every rule lands in exactly one place, chosen so that most rules are never looked at:
//   exact entity        → hash table keyed by the lower-cased entity (a Bloom-filter bit that
//                         answers most misses, then one probe)
//   MSC4205 hash        → map keyed by the raw digest (sha256Key; one lookup per form of the entity)
//   glob with an anchored suffix that starts at a separator (`@*:server`, `@spam*:server`,
//   `*.evil.org`)       → suffix table; the input is probed once per separator it contains (one
//                         `:` in a user ID); inside a suffix bucket, globs with a literal head are
//                         bucketed again by that head
//   glob with a literal head (`@spam*`) → prefix table (one probe per distinct key length)
//   glob with a literal fragment (`*word*`) → n-gram buckets behind a bit filter (one bit test per
//                         input position; a map lookup only when the n-gram may be present)
//   anything else (`*`, `@*`, `?*x`) → checked one by one
// Candidates from buckets are always verified with the full glob, so buckets only have to be
// necessary conditions; tests/unit/banlists/matcher.test.ts checks all of it against brute force.
// (Tables: hashTables.ts; glob buckets: globIndex.ts.)
//
// Hot path: one backward pass over the lower-cased input computes a rolling hash. At position i
// the hash covers input[i..], so the same pass yields the hash of the whole input (for the exact
// table) and of every suffix starting at a separator (for the suffix table), and checks the n-gram
// filters. Tables are open-addressing over typed arrays, keyed by that same hash, so a miss costs
// one probe and no string hashing or slicing.
import { compileGlob, hasWildcard } from "./glob.ts";
import {
  FLAT_PREFIX_MAX,
  globShape,
  maybe as ngramMaybe,
  NgramIndex,
  PrefixIndex,
  removeFromList,
  type SuffixBucket,
} from "./globIndex.ts";
import { ExactTable, FNV_OFFSET as OFFSET, FNV_PRIME as PRIME, StrTable } from "./hashTables.ts";
import type { Rule } from "./rule.ts";
import { hashKeyOfDigest } from "./entities.ts";
import { Query, type Entry, type Home } from "./query.ts";

export { Query, type Entry } from "./query.ts";

// What the backward pass (KindIndex.collect) uses for every input character from other modules,
// bound to module-local consts: V8 treats an imported binding as live and reloads and re-checks it
// on every use in the loop, while a module-local const is folded into the compiled code. (The pass
// must hash exactly like backHash, hence hashTables.ts's constants.)
const FNV_OFFSET = OFFSET;
const FNV_PRIME = PRIME;
const maybe = ngramMaybe;

/** All rules of one kind. */
export class KindIndex {
  readonly sep: string;
  private readonly sepCode: number;
  /** Exact entities → their rules, frozen and in priority order (see ExactTable). */
  private readonly exact = new ExactTable();
  /** List priority (Matcher.priorityOf), for ordering the rules of one exact entity. */
  private readonly rank: (list: string) => number;
  readonly hashes = new Map<string, Entry[]>();
  /** Suffix buckets by key (maintenance). */
  private readonly suffixBuckets = new Map<string, SuffixBucket>();
  /**
   * What the hot path reads for each suffix: the bucket (tag 0), or for a bucket holding just one
   * `<head>*<suffix>` glob, that glob's frozen `[rule]` with its head as aux (tag 1), so `@*:server`
   * or `@spam*:server` alone cost no further loads.
   */
  private readonly suffix = new StrTable<SuffixBucket | readonly Rule[]>();
  private readonly prefix = new PrefixIndex();
  private readonly ngram4 = new NgramIndex(4);
  private readonly ngram3 = new NgramIndex(3);
  private readonly ngram2 = new NgramIndex(2);
  private readonly general: Entry[] = [];
  /** How many inert entries (see Home) are counted in `size`. */
  private inert = 0;
  size = 0;
  globCount = 0;

  constructor(sep: string, rank: (list: string) => number) {
    this.sep = sep;
    this.sepCode = sep.charCodeAt(0);
    this.rank = rank;
  }

  /** Sorts a fresh array of rules by list priority (stable) and freezes it; `one` if it is `[one[0]]`. */
  private ordered(rules: Rule[], one?: readonly Rule[]): readonly Rule[] {
    if (rules.length === 1 && one !== undefined && one[0] === rules[0]) return one;
    if (rules.length > 1) rules.sort((a, b) => this.rank(a.list) - this.rank(b.list));
    return Object.freeze(rules);
  }

  /** Re-sorts the rules of exact entities after list priorities changed. */
  reorder(): void {
    this.exact.mapValues((v) => (v.length > 1 ? this.ordered([...v]) : v));
  }

  /**
   * Where `rule` goes. `entity` is what the rule's entity matches (default: the entity as written;
   * the matcher passes a server rule's normalised host); null: it matches nothing (kept, inert).
   */
  place(rule: Rule, entity: string | null | undefined = rule.entity): Entry {
    if (entity === null) {
      return { rule, one: Object.freeze([rule]), glob: null, home: { t: "inert" }, stamp: 0 };
    }
    if (entity === undefined) {
      return {
        rule,
        one: Object.freeze([rule]),
        glob: null,
        home: { t: "hash", key: hashKeyOfDigest(rule.sha256 ?? "") },
        stamp: 0,
      };
    }
    if (!hasWildcard(entity)) {
      return {
        rule,
        one: Object.freeze([rule]),
        glob: null,
        home: { t: "exact", key: entity.toLowerCase() },
        stamp: 0,
      };
    }
    const glob = compileGlob(entity);
    const shape = globShape(glob, this.sep);
    let home: Home;
    const f = shape.fragment.length;
    if (shape.sepSuffix !== null) {
      const p = shape.prefix.length >= 2 ? PrefixIndex.keyOf(shape.prefix) : null;
      const simple =
        glob.hasStar && glob.middle.length === 0 && glob.tail === shape.sepSuffix && !glob.head.includes("?")
          ? glob.head
          : null;
      home = { t: "suffix", key: shape.sepSuffix, prefix: p, simple };
    } else if (shape.prefix.length >= 3) {
      home = { t: "prefix", key: PrefixIndex.keyOf(shape.prefix) };
    } else if (f >= 4) {
      home = { t: "ngram", n: 4, key: this.ngram4.keyFor(shape.fragment) };
    } else if (f === 3) {
      home = { t: "ngram", n: 3, key: shape.fragment };
    } else if (shape.prefix.length === 2) {
      home = { t: "prefix", key: shape.prefix };
    } else if (f === 2) {
      home = { t: "ngram", n: 2, key: shape.fragment };
    } else {
      home = { t: "general" };
    }
    return { rule, one: Object.freeze([rule]), glob, home, stamp: 0 };
  }

  add(e: Entry): void {
    const h = e.home;
    switch (h.t) {
      case "exact":
        this.exact.set(h.key, this.ordered([...(this.exact.get(h.key) ?? []), e.rule], e.one));
        break;
      case "hash": {
        const list = this.hashes.get(h.key);
        if (list === undefined) this.hashes.set(h.key, [e]);
        else list.push(e);
        break;
      }
      case "suffix": {
        let bucket = this.suffixBuckets.get(h.key);
        if (bucket === undefined) {
          bucket = {
            simpleHeads: [],
            simpleOnes: [],
            simpleEntries: [],
            all: [],
            prefix: null,
            prefixed: 0,
          };
          this.suffixBuckets.set(h.key, bucket);
        }
        if (h.simple !== null) {
          bucket.simpleHeads.push(h.simple);
          bucket.simpleOnes.push(e.one);
          bucket.simpleEntries.push(e);
        } else if (h.prefix === null) bucket.all.push(e);
        else if (bucket.prefix !== null) bucket.prefix.add(h.prefix, e);
        else {
          bucket.all.push(e);
          if (++bucket.prefixed > FLAT_PREFIX_MAX) {
            // Enough globs with a head here: move them into a prefix index.
            const prefix = new PrefixIndex();
            const rest: Entry[] = [];
            for (const x of bucket.all) {
              const xh = x.home as { prefix: string | null };
              if (xh.prefix !== null) prefix.add(xh.prefix, x);
              else rest.push(x);
            }
            bucket.all.length = 0;
            bucket.all.push(...rest);
            bucket.prefix = prefix;
            bucket.prefixed = 0;
          }
        }
        this.refreshSuffix(h.key, bucket);
        break;
      }
      case "prefix":
        this.prefix.add(h.key, e);
        break;
      case "ngram":
        this.ngram(h.n).add(h.key, e);
        break;
      case "general":
        this.general.push(e);
        break;
      case "inert":
        this.inert++;
        break;
    }
    this.size++;
    if (e.glob !== null) this.globCount++;
  }

  remove(e: Entry): void {
    const h = e.home;
    let ok = false;
    switch (h.t) {
      case "exact": {
        const v = this.exact.get(h.key);
        if (v === undefined || !v.includes(e.rule)) break;
        ok = true;
        const rest = v.filter((r) => r !== e.rule);
        if (rest.length === 0) this.exact.delete(h.key);
        else this.exact.set(h.key, Object.freeze(rest)); // still in priority order
        break;
      }
      case "hash": {
        const list = this.hashes.get(h.key);
        ok = list !== undefined && removeFromList(list, e);
        if (list?.length === 0) this.hashes.delete(h.key);
        break;
      }
      case "suffix": {
        const bucket = this.suffixBuckets.get(h.key);
        if (bucket === undefined) break;
        if (h.simple !== null) {
          const k = bucket.simpleEntries.indexOf(e);
          if (k >= 0) {
            for (const arr of [bucket.simpleHeads, bucket.simpleOnes, bucket.simpleEntries] as unknown[][]) {
              arr[k] = arr[arr.length - 1];
              arr.pop();
            }
            ok = true;
          }
        } else if (h.prefix !== null && bucket.prefix !== null && bucket.prefix.remove(h.prefix, e))
          ok = true;
        else if (removeFromList(bucket.all, e)) {
          ok = true;
          if (h.prefix !== null) bucket.prefixed--;
        }
        if (bucket.prefix?.empty) bucket.prefix = null;
        if (bucket.all.length === 0 && bucket.prefix === null && bucket.simpleEntries.length === 0) {
          this.suffixBuckets.delete(h.key);
          this.suffix.delete(h.key);
        } else this.refreshSuffix(h.key, bucket);
        break;
      }
      case "prefix":
        ok = this.prefix.remove(h.key, e);
        break;
      case "ngram":
        ok = this.ngram(h.n).remove(h.key, e);
        break;
      case "general":
        ok = removeFromList(this.general, e);
        break;
      case "inert":
        ok = this.inert > 0;
        if (ok) this.inert--;
        break;
    }
    if (!ok) throw new Error("matcher index corrupted: entry not where it was placed");
    this.size--;
    if (e.glob !== null) this.globCount--;
  }

  private refreshSuffix(key: string, bucket: SuffixBucket): void {
    if (bucket.simpleEntries.length === 1 && bucket.all.length === 0 && bucket.prefix === null) {
      this.suffix.set(
        key,
        bucket.simpleOnes[0] as readonly Rule[],
        1,
        undefined,
        bucket.simpleHeads[0] as string,
      );
    } else this.suffix.set(key, bucket, 0);
  }

  /** Entity (lower-cased) → verified hits in `q`. Hashes are handled by the caller. */
  collect(input: string, q: Query): void {
    q.input = input;
    const len = input.length;
    const globs = this.globCount > 0;
    const suffix = globs && this.suffix.size > 0 ? this.suffix : null;
    const f4 = globs && !this.ngram4.empty ? this.ngram4.filter : null;
    const f3 = globs && !this.ngram3.empty ? this.ngram3.filter : null;
    const f2 = globs && !this.ngram2.empty ? this.ngram2.filter : null;
    const sep = this.sepCode;
    let h = FNV_OFFSET;
    let g = 0; // packed 4-gram starting at i (fewer characters near the end)
    for (let i = len - 1; i >= 0; i--) {
      const c = input.charCodeAt(i);
      h = Math.imul(h ^ c, FNV_PRIME);
      g = (c << 24) | (g >>> 8);
      if (c === sep && suffix !== null) {
        const found = suffix.find(h === 0 ? 1 : h, input, i, len - i);
        const tag = suffix.lastTag;
        if (found === undefined) {
          // no glob ends with this suffix
        } else if (tag === 1) {
          const head = suffix.lastAux as string;
          if (head.length <= i && input.startsWith(head)) q.add(found as readonly Rule[]);
        } else {
          const bucket = found as SuffixBucket;
          const heads = bucket.simpleHeads;
          for (let k = 0; k < heads.length; k++) {
            const head = heads[k] as string;
            if (head.length <= i && input.startsWith(head)) q.add(bucket.simpleOnes[k] as readonly Rule[]);
          }
          if (bucket.all.length > 0) q.verifyAll(bucket.all);
          if (bucket.prefix !== null) bucket.prefix.collect(input, q);
        }
      }
      const left = len - i;
      if (f4 !== null && left >= 4 && maybe(f4, g)) this.ngram4.lookup(g, input, i, q);
      if (f3 !== null && left >= 3 && maybe(f3, g >>> 8)) this.ngram3.lookup(g >>> 8, input, i, q);
      if (f2 !== null && left >= 2 && maybe(f2, g >>> 16)) this.ngram2.lookup(g >>> 16, input, i, q);
    }
    const exact = this.exact.find(h === 0 ? 1 : h, input);
    if (exact !== undefined) q.add(exact);
    if (!globs) return;
    if (!this.prefix.empty) this.prefix.collect(input, q);
    if (this.general.length > 0) q.verifyAll(this.general);
  }

  private ngram(n: 2 | 3 | 4): NgramIndex {
    return n === 4 ? this.ngram4 : n === 3 ? this.ngram3 : this.ngram2;
  }

  /** Hashed rules filed under `key` (a `sha256Key`). */
  collectHash(key: string, q: Query): void {
    const list = this.hashes.get(key);
    if (list !== undefined) q.verifyAll(list);
  }
}
