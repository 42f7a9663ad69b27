// Open-addressing hash tables (linear probing over typed arrays) for the matcher's indexes. They
// are keyed by the rolling hash that the backward pass of KindIndex.collect (kindIndex.ts) computes
// for the whole input and for every suffix starting at a separator, so a lookup needs no string
// hashing or slicing and a miss costs one probe; `backHash` is that hash for keys and substrings.
import type { Rule } from "./rule.ts";

export const FNV_OFFSET = 0x811c9dc5 | 0;
export const FNV_PRIME = 0x01000193;

/** Hash of s[from..to) read right to left (matches the backward pass); never 0 (0 = empty slot). */
export function backHash(s: string, from: number, to: number): number {
  let h = FNV_OFFSET;
  for (let i = to - 1; i >= from; i--) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h === 0 ? 1 : h;
}

/**
 * Open-addressing string table (linear probing, backward-shift deletion) keyed by `backHash`, for
 * the glob buckets. `find` compares a key with a substring of the input without slicing it.
 */
export class StrTable<V> {
  private mask = 15;
  private hashes = new Int32Array(16);
  /** Key at 4i, value at 4i+1, tag at 4i+2, aux at 4i+3: a hit reads one cache line for all. */
  private slots: unknown[] = new Array<unknown>(64).fill(undefined);
  size = 0;
  /** Tag of the last successful `find` (a caller-defined small integer stored with the value). */
  lastTag = 0;
  /** Aux of the last successful `find` (caller-defined). */
  lastAux: unknown = undefined;

  /** The value whose key equals input[from..from+len), given that substring's backHash. */
  find(hash: number, input: string, from: number, len: number): V | undefined {
    const hashes = this.hashes;
    const mask = this.mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const h = hashes[i];
      if (h === 0) return undefined;
      if (h === hash) {
        const k = this.slots[4 * i] as string;
        if (k.length === len) {
          // Whole input and suffixes (the hot cases) compare without a position argument.
          const atEnd = from + len === input.length;
          if (atEnd ? (from === 0 ? k === input : input.endsWith(k)) : input.startsWith(k, from)) {
            this.lastTag = this.slots[4 * i + 2] as number;
            this.lastAux = this.slots[4 * i + 3];
            return this.slots[4 * i + 1] as V;
          }
        }
      }
    }
  }

  get(key: string, hash = backHash(key, 0, key.length)): V | undefined {
    return this.find(hash, key, 0, key.length);
  }

  private slotOf(key: string, hash: number): number {
    const mask = this.mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const h = this.hashes[i];
      if (h === 0 || (h === hash && this.slots[4 * i] === key)) return i;
    }
  }

  set(key: string, value: V, tag = 0, hash = backHash(key, 0, key.length), aux: unknown = undefined): void {
    const i = this.slotOf(key, hash);
    if (this.hashes[i] === 0) {
      this.hashes[i] = hash;
      this.slots[4 * i] = key;
      this.size++;
    }
    this.slots[4 * i + 1] = value;
    this.slots[4 * i + 2] = tag;
    this.slots[4 * i + 3] = aux;
    if (this.size * 2 > this.mask) this.resize((this.mask + 1) * 2);
  }

  delete(key: string, hash = backHash(key, 0, key.length)): boolean {
    const mask = this.mask;
    let i = this.slotOf(key, hash);
    if (this.hashes[i] === 0) return false;
    // Backward-shift deletion keeps every probe chain contiguous (no tombstones).
    for (let j = (i + 1) & mask; this.hashes[j] !== 0; j = (j + 1) & mask) {
      const home = (this.hashes[j] as number) & mask;
      // Move j into the hole at i unless j's home lies cyclically in (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        this.hashes[i] = this.hashes[j] as number;
        for (let k = 0; k < 4; k++) this.slots[4 * i + k] = this.slots[4 * j + k];
        i = j;
      }
    }
    this.hashes[i] = 0;
    for (let k = 0; k < 4; k++) this.slots[4 * i + k] = undefined;
    this.size--;
    if (this.mask > 15 && this.size * 8 < this.mask) this.resize((this.mask + 1) / 2);
    return true;
  }

  private resize(capacity: number): void {
    const { hashes, slots } = this;
    this.mask = capacity - 1;
    this.hashes = new Int32Array(capacity);
    this.slots = new Array<unknown>(4 * capacity).fill(undefined);
    for (let j = 0; j < hashes.length; j++) {
      const h = hashes[j] as number;
      if (h === 0) continue;
      let i = h & this.mask;
      while (this.hashes[i] !== 0) i = (i + 1) & this.mask;
      this.hashes[i] = h;
      for (let k = 0; k < 4; k++) this.slots[4 * i + k] = slots[4 * j + k];
    }
  }
}

/**
 * The exact-entity table (most rules). A listed ID's check spends most of its time here waiting
 * for memory, so a lookup touches as little as possible:
 * - a Bloom filter (one bit per key hash, ≥ 10 bits per key, small enough to stay cached)
 *   answers most misses without touching the table;
 * - `hashes` (one int32 per slot, load ≤ 3/4, linear probing) is probed before any key is read;
 * - `vals` holds, per slot, the key's rules as a frozen array sorted by list priority: a query
 *   whose only hit it is returns that very array (no allocation, no sort, no rule loaded).
 * (Keeping the keys' characters in a byte arena instead of string objects was measured slower:
 * a JS byte loop costs more than the string comparison's extra load.)
 */
export class ExactTable {
  private mask = 15;
  private hashes = new Int32Array(16);
  private keys: (string | undefined)[] = new Array<string | undefined>(16).fill(undefined);
  private vals: (readonly Rule[] | undefined)[] = new Array<readonly Rule[] | undefined>(16).fill(undefined);
  private filter = new Int32Array(4);
  private filterShift = 32 - 7;
  size = 0;

  /** The rules of the key equal to `input`, given `backHash(input)`. */
  find(hash: number, input: string): readonly Rule[] | undefined {
    // High hash bits pick the filter bit; the table uses the low bits, so they are independent.
    const bit = hash >>> this.filterShift;
    if (((this.filter[bit >>> 5] as number) & (1 << (bit & 31))) === 0) return undefined;
    const hashes = this.hashes;
    const mask = this.mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const h = hashes[i] as number;
      if (h === 0) return undefined;
      if (h === hash && this.keys[i] === input) return this.vals[i];
    }
  }

  get(key: string): readonly Rule[] | undefined {
    const i = this.slotOf(key, backHash(key, 0, key.length));
    return this.hashes[i] === 0 ? undefined : this.vals[i];
  }

  private slotOf(key: string, hash: number): number {
    const mask = this.mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const h = this.hashes[i];
      if (h === 0 || (h === hash && this.keys[i] === key)) return i;
    }
  }

  private mark(hash: number): void {
    const bit = hash >>> this.filterShift;
    this.filter[bit >>> 5]! |= 1 << (bit & 31);
  }

  /** Sets the rules of a key (a frozen array in priority order). */
  set(key: string, rules: readonly Rule[]): void {
    const hash = backHash(key, 0, key.length);
    const i = this.slotOf(key, hash);
    if (this.hashes[i] === 0) {
      this.hashes[i] = hash;
      this.keys[i] = key;
      this.size++;
      this.mark(hash);
    }
    this.vals[i] = rules;
    if (this.size * 4 > (this.mask + 1) * 3) this.resize((this.mask + 1) * 2);
  }

  delete(key: string): boolean {
    const mask = this.mask;
    const hashes = this.hashes;
    let i = this.slotOf(key, backHash(key, 0, key.length));
    if (hashes[i] === 0) return false;
    // Backward-shift deletion keeps every probe chain contiguous (no tombstones).
    for (let j = (i + 1) & mask; hashes[j] !== 0; j = (j + 1) & mask) {
      const home = (hashes[j] as number) & mask;
      // Move j into the hole at i unless j's home lies cyclically in (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        hashes[i] = hashes[j] as number;
        this.keys[i] = this.keys[j];
        this.vals[i] = this.vals[j];
        i = j;
      }
    }
    hashes[i] = 0;
    this.keys[i] = undefined;
    this.vals[i] = undefined;
    this.size--;
    // Stale filter bits stay set until the next resize (a stale bit only costs a probe).
    if (this.mask > 15 && this.size * 8 < this.mask) this.resize((this.mask + 1) / 2);
    return true;
  }

  /** Replaces every value `v` with `f(v)`. */
  mapValues(f: (v: readonly Rule[]) => readonly Rule[]): void {
    for (let i = 0; i < this.vals.length; i++) {
      const v = this.vals[i];
      if (v !== undefined) this.vals[i] = f(v);
    }
  }

  /** Rebuilds the table at `capacity` slots with a fresh filter. */
  private resize(capacity: number): void {
    const { hashes, keys, vals } = this;
    this.mask = capacity - 1;
    this.hashes = new Int32Array(capacity);
    this.keys = new Array<string | undefined>(capacity).fill(undefined);
    this.vals = new Array<readonly Rule[] | undefined>(capacity).fill(undefined);
    // 8 filter bits per slot, so ≥ 10 per key: about 10 % false positives when full.
    const bits = Math.max(128, capacity * 8);
    this.filterShift = 32 - Math.log2(bits);
    this.filter = new Int32Array(bits >>> 5);
    for (let j = 0; j < hashes.length; j++) {
      const h = hashes[j] as number;
      if (h === 0) continue;
      let i = h & this.mask;
      while (this.hashes[i] !== 0) i = (i + 1) & this.mask;
      this.hashes[i] = h;
      this.keys[i] = keys[j];
      this.vals[i] = vals[j];
      this.mark(h);
    }
  }
}
