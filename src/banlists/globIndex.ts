// The glob buckets of one rule kind's index (KindIndex in kindIndex.ts decides which bucket a
// glob goes to): a prefix table for globs with a literal head, suffix buckets for globs anchored
// at a separator, n-gram buckets behind a bit filter for globs with a literal fragment, and
// `globShape`, which finds those literal parts of a glob. Candidates from buckets are always
// verified with the full glob, so buckets only have to be necessary conditions.
import type { Glob } from "./glob.ts";
import { backHash, StrTable } from "./hashTables.ts";
import type { Entry, Query } from "./query.ts";
import type { Rule } from "./rule.ts";

/** What the index can use of a glob: anchored prefix/suffix and the best literal fragment. */
export interface GlobShape {
  /** Literal characters the input must start with (head up to its first `?`). */
  readonly prefix: string;
  /** Literal characters the input must end with (after the last `?` of the anchored end). */
  readonly suffix: string;
  /** From the first separator of `suffix` on: the key for separator-suffix lookups. */
  readonly sepSuffix: string | null;
  /** Longest `?`-free substring the input must contain somewhere. */
  readonly fragment: string;
}

export function globShape(glob: Glob, sep: string): GlobShape {
  const src = glob.source;
  const q = glob.head.indexOf("?");
  const prefix = q < 0 ? glob.head : glob.head.slice(0, q);
  // The anchored end: the tail of a starred glob, or the whole pattern when there is no star.
  const end = glob.hasStar ? glob.tail : src;
  const suffix = end.slice(end.lastIndexOf("?") + 1);
  const s = suffix.indexOf(sep);
  const sepSuffix = s >= 0 && suffix.length - s >= 2 ? suffix.slice(s) : null;
  let fragment = "";
  for (const piece of src.split(/[*?]/)) if (piece.length > fragment.length) fragment = piece;
  return { prefix, suffix, sepSuffix, fragment };
}

/** Longest literal head used as a prefix-table key. */
export const PREFIX_KEY_MAX = 4;

function pushTo(table: StrTable<Entry[]>, key: string, e: Entry): void {
  const list = table.get(key);
  if (list === undefined) table.set(key, [e]);
  else list.push(e);
}

export function removeFromList(list: Entry[], e: Entry): boolean {
  const i = list.indexOf(e);
  if (i < 0) return false;
  list[i] = list[list.length - 1] as Entry;
  list.pop();
  return true;
}

function removeFrom(table: StrTable<Entry[]>, key: string, e: Entry): boolean {
  const list = table.get(key);
  if (list === undefined || !removeFromList(list, e)) return false;
  if (list.length === 0) table.delete(key);
  return true;
}

/** Prefix table keyed by the first min(len, PREFIX_KEY_MAX) characters of the literal head. */
export class PrefixIndex {
  private readonly table = new StrTable<Entry[]>();
  /** How many keys of each length exist; lengths with none are skipped at lookup. */
  private readonly lengthCount = new Uint32Array(PREFIX_KEY_MAX + 1);
  private lengths: number[] = [];

  static keyOf(prefix: string): string {
    return prefix.length > PREFIX_KEY_MAX ? prefix.slice(0, PREFIX_KEY_MAX) : prefix;
  }

  get empty(): boolean {
    return this.table.size === 0;
  }

  add(key: string, e: Entry): void {
    if (this.table.get(key) === undefined && this.lengthCount[key.length]!++ === 0) this.refreshLengths();
    pushTo(this.table, key, e);
  }

  remove(key: string, e: Entry): boolean {
    if (!removeFrom(this.table, key, e)) return false;
    if (this.table.get(key) === undefined && --this.lengthCount[key.length]! === 0) this.refreshLengths();
    return true;
  }

  private refreshLengths(): void {
    this.lengths = [];
    for (let l = 1; l <= PREFIX_KEY_MAX; l++) if (this.lengthCount[l]! > 0) this.lengths.push(l);
  }

  collect(input: string, q: Query): void {
    const lengths = this.lengths;
    for (let k = 0; k < lengths.length; k++) {
      const l = lengths[k] as number;
      if (l > input.length) break;
      const list = this.table.find(backHash(input, 0, l), input, 0, l);
      if (list !== undefined) q.verifyAll(list);
    }
  }
}

/** Suffix buckets keep globs with a literal head in a flat list up to this many, then index them. */
export const FLAT_PREFIX_MAX = 16;

export interface SuffixBucket {
  /**
   * Globs that are exactly `<literal head>*<this suffix>` (`@*:evil.org`): an input found in this
   * bucket matches iff it starts with the head before the suffix, so the glob never runs and the
   * entry is never touched. Parallel arrays.
   */
  readonly simpleHeads: string[];
  /** The frozen `[rule]` of each (see Entry.one). */
  readonly simpleOnes: (readonly Rule[])[];
  readonly simpleEntries: Entry[];
  /** Other globs, verified one by one (including globs with a literal head while few). */
  readonly all: Entry[];
  /** Globs with a literal head, once the bucket has more than FLAT_PREFIX_MAX of them. */
  prefix: PrefixIndex | null;
  /** How many entries in `all` have a prefix key. */
  prefixed: number;
}

/**
 * 2^16 filter bits (8 KB, stays in L1 while scanning): ~1.5 % false positives per input position
 * with 1,000 n-grams; a false positive costs one table probe.
 */
const NGRAM_BITS = 16;

/**
 * n-grams are packed 8 bits per character into one int32 (`c0 c1 c2 c3`, first character highest):
 * exact for Latin-1, a harmless collision otherwise (candidates are compared as strings). The
 * backward pass maintains it with one shift and one or per character.
 */
function packGram(key: string): number {
  let g = 0;
  for (let k = 0; k < key.length; k++) g = (g << 8) | (key.charCodeAt(k) & 0xff);
  return g;
}

/** Filter bit of a packed n-gram (Fibonacci hashing: the top bits are well mixed). */
function gramBit(g: number): number {
  return Math.imul(g, 0x9e3779b1) >>> (32 - NGRAM_BITS);
}

/** Table hash of a packed n-gram (computed only when the filter says "maybe"); never 0. */
function gramHash(g: number): number {
  let h = Math.imul(g ^ (g >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return h === 0 ? 1 : h;
}

export function maybe(bits: Int32Array, g: number): boolean {
  const bit = gramBit(g);
  return ((bits[bit >>> 5] as number) & (1 << (bit & 31))) !== 0;
}

/** Buckets globs by one n-gram of their literal fragment; a counting filter skips absent n-grams. */
export class NgramIndex {
  readonly n: 2 | 3 | 4;
  /** n-gram → globs, keyed by gramHash so a lookup needs no slice. */
  private readonly table = new StrTable<Entry[]>();
  /** Globs per filter slot (maintenance only). */
  private readonly counts = new Map<number, number>();
  /** Bit per slot, set while its count is > 0; allocated with the first glob. */
  filter: Int32Array | null = null;

  constructor(n: 2 | 3 | 4) {
    this.n = n;
  }

  private hashOf(key: string): number {
    return gramHash(packGram(key));
  }

  get empty(): boolean {
    return this.table.size === 0;
  }

  /** Picks the fragment's n-gram with the fewest globs so far (spreads common words). */
  keyFor(fragment: string): string {
    let best = fragment.slice(0, this.n);
    let bestCount = Infinity;
    for (let i = 0; i + this.n <= fragment.length; i++) {
      const gram = fragment.slice(i, i + this.n);
      const count = this.table.get(gram, this.hashOf(gram))?.length ?? 0;
      if (count < bestCount) {
        best = gram;
        bestCount = count;
        if (count === 0) break;
      }
    }
    return best;
  }

  add(key: string, e: Entry): void {
    const hash = this.hashOf(key);
    const slot = gramBit(packGram(key));
    const count = this.counts.get(slot) ?? 0;
    this.counts.set(slot, count + 1);
    this.filter ??= new Int32Array(1 << (NGRAM_BITS - 5));
    if (count === 0) this.filter[slot >>> 5]! |= 1 << (slot & 31);
    const list = this.table.get(key, hash);
    if (list === undefined) this.table.set(key, [e], 0, hash);
    else list.push(e);
  }

  remove(key: string, e: Entry): boolean {
    const hash = this.hashOf(key);
    const list = this.table.get(key, hash);
    if (list === undefined || !removeFromList(list, e)) return false;
    if (list.length === 0) this.table.delete(key, hash);
    const slot = gramBit(packGram(key));
    const count = (this.counts.get(slot) ?? 1) - 1;
    if (count > 0) this.counts.set(slot, count);
    else {
      this.counts.delete(slot);
      if (this.filter !== null) this.filter[slot >>> 5]! &= ~(1 << (slot & 31));
    }
    return true;
  }

  /** Called when the filter says the n-gram at `at` (packed as `g`) may be indexed. */
  lookup(g: number, input: string, at: number, q: Query): void {
    const list = this.table.find(gramHash(g), input, at, this.n);
    if (list !== undefined) q.verifyAll(list);
  }
}
