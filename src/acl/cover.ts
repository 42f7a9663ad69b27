// "Glob A covers pattern B": every server name B can match is also matched by A, so B adds nothing
// to a deny list that already holds A (or is fully lifted by an exception A).
//
// Rule used (sound, deliberately not complete): A covers B when A matches B's text read as a
// sequence of tokens, where
//   - A's `*` may absorb any run of B's tokens (literal characters, `?` or `*`);
//   - A's `?` may stand for one literal character of B or one `?` of B, never for B's `*`
//     (B's `*` can be zero or many characters);
//   - A's literal characters match only the same literal character of B.
// Any concrete name matched by B then maps onto a match of A token by token, so the rule never
// removes an entry that denies something A does not. It misses some covers (`?*` does cover `*a`,
// but proving it needs reasoning about what B's `*` stands for); a missed cover only costs bytes.
// For a literal B it is exactly glob matching. Worst case O(|A|·|B|) per test; both are at most 255 characters.

import type { Glob } from "../banlists/glob.ts";

const STAR = 42; // "*"
const QUESTION = 63; // "?"

/** Can segment `seg` of A (literals and `?`) sit on B's tokens starting at `at`? */
function segmentFits(seg: string, text: string, at: number): boolean {
  if (at < 0 || at + seg.length > text.length) return false;
  for (let j = 0; j < seg.length; j++) {
    const t = text.charCodeAt(at + j);
    if (t === STAR) return false;
    const s = seg.charCodeAt(j);
    if (s !== QUESTION && s !== t) return false;
  }
  return true;
}

function findSegment(text: string, from: number, seg: string, limit: number): number {
  for (let at = from; at + seg.length <= limit; at++) {
    if (segmentFits(seg, text, at)) return at;
  }
  return -1;
}

/** Does compiled glob `a` cover the normalised (lower-cased, runs collapsed) pattern `b`? */
export function globCovers(a: Glob, b: string): boolean {
  if (!a.hasStar) return b.length === a.source.length && segmentFits(a.source, b, 0);
  const end = b.length - a.tail.length;
  if (end < a.head.length) return false;
  if (!segmentFits(a.head, b, 0) || !segmentFits(a.tail, b, end)) return false;
  // Leftmost placement of each middle segment is optimal, as in ordinary glob matching: it leaves
  // the most room for the segments after it, and fitting is a per-position test.
  let pos = a.head.length;
  for (const seg of a.middle) {
    const at = findSegment(b, pos, seg, end);
    if (at < 0) return false;
    pos = at + seg.length;
  }
  return true;
}

const SUFFIX_ROOT = 0;
const PREFIX_ROOT = 1;
/** Edge keys are node * 128 + char, kept below 2^31 so they stay small integers. */
const MAX_NODES = 1 << 23;

/** Open-addressing hash table from non-negative int keys to non-negative ints (-1: absent). */
class EdgeTable {
  #bits = 10;
  #keys = new Int32Array(1 << 10); // key + 1; 0 marks an empty slot
  #values = new Int32Array(1 << 10);
  #count = 0;

  #slot(key: number): number {
    // Fibonacci hashing: the top bits of the product mix every bit of the key.
    const mask = this.#keys.length - 1;
    let i = Math.imul(key, 0x9e3779b1) >>> (32 - this.#bits);
    const keys = this.#keys;
    while (keys[i] !== 0 && keys[i] !== key + 1) i = (i + 1) & mask;
    return i;
  }

  get(key: number): number {
    const i = this.#slot(key);
    return this.#keys[i] === 0 ? -1 : this.#values[i]!;
  }

  set(key: number, value: number): void {
    if ((this.#count + 1) * 2 > this.#keys.length) this.#grow();
    const i = this.#slot(key);
    if (this.#keys[i] === 0) this.#count++;
    this.#keys[i] = key + 1;
    this.#values[i] = value;
  }

  #grow(): void {
    const oldKeys = this.#keys;
    const oldValues = this.#values;
    this.#bits++;
    this.#keys = new Int32Array(1 << this.#bits);
    this.#values = new Int32Array(1 << this.#bits);
    for (let i = 0; i < oldKeys.length; i++) {
      const k = oldKeys[i]!;
      if (k !== 0) {
        const j = this.#slot(k - 1);
        this.#keys[j] = k;
        this.#values[j] = oldValues[i]!;
      }
    }
  }
}

function literalRunFromEnd(source: string): number {
  let n = 0;
  for (let i = source.length - 1; i >= 0; i--, n++) {
    const c = source.charCodeAt(i);
    if (c === STAR || c === QUESTION) break;
  }
  return n;
}

function literalRunFromStart(source: string): number {
  let n = 0;
  for (; n < source.length; n++) {
    const c = source.charCodeAt(n);
    if (c === STAR || c === QUESTION) break;
  }
  return n;
}

/**
 * Finds, for a pattern B, the globs that might cover it, without testing every glob.
 * A glob's literal suffix (or prefix) is anchored, so it can only cover a B that ends (starts) with
 * exactly those characters: globs sit in a trie keyed by their longer anchored literal run, and a
 * lookup walks B from that end collecting the globs on the path. Globs with no anchored literal
 * (`*foo*`, `?*`) are tested against everything.
 *
 * The trie is one hash table from (node, character) to child node, integers only: far cheaper to
 * build and probe than a Map per node. Keys stop at the first non-ASCII character (or when the
 * table is full), which only makes the filter less selective, never wrong.
 */
export class GlobIndex<T extends { readonly glob: Glob }> {
  readonly #edges = new EdgeTable();
  /** Globs whose key ends at node i. Node 0 is the suffix root, node 1 the prefix root. */
  readonly #items: (T[] | undefined)[] = [undefined, undefined];
  readonly #floating: T[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(item: T): void {
    const source = item.glob.source;
    const fromEnd = literalRunFromEnd(source);
    const fromStart = literalRunFromStart(source);
    this.#size++;
    // Server names differ most at the end (`*.evil.org`), so ties go to the suffix trie.
    const useSuffix = fromEnd >= fromStart;
    const len = useSuffix ? fromEnd : fromStart;
    let n = useSuffix ? SUFFIX_ROOT : PREFIX_ROOT;
    for (let k = 0; k < len; k++) {
      const c = useSuffix ? source.charCodeAt(source.length - 1 - k) : source.charCodeAt(k);
      if (c >= 128) break;
      const edge = n * 128 + c;
      let next = this.#edges.get(edge);
      if (next < 0) {
        if (this.#items.length >= MAX_NODES) break;
        next = this.#items.length;
        this.#items.push(undefined);
        this.#edges.set(edge, next);
      }
      n = next;
    }
    if (n === SUFFIX_ROOT || n === PREFIX_ROOT) this.#floating.push(item);
    else (this.#items[n] ??= []).push(item);
  }

  /**
   * Calls `visit(item, ctx)` for each indexed glob that covers `b`, until `visit` returns true
   * (then returns true). `ctx` saves callers from allocating a closure per lookup.
   */
  findCovering<C>(b: string, visit: (item: T, ctx: C) => boolean, ctx: C): boolean {
    if (this.#size === 0) return false;
    const edges = this.#edges;
    const items = this.#items;
    let n = SUFFIX_ROOT;
    for (let i = b.length - 1; i >= 0; i--) {
      const c = b.charCodeAt(i);
      if (c >= 128) break;
      n = edges.get(n * 128 + c);
      if (n < 0) break;
      const here = items[n];
      if (here !== undefined && visitCovering(here, b, visit, ctx)) return true;
    }
    n = PREFIX_ROOT;
    for (let i = 0; i < b.length; i++) {
      const c = b.charCodeAt(i);
      if (c >= 128) break;
      n = edges.get(n * 128 + c);
      if (n < 0) break;
      const here = items[n];
      if (here !== undefined && visitCovering(here, b, visit, ctx)) return true;
    }
    return this.#floating.length > 0 && visitCovering(this.#floating, b, visit, ctx);
  }
}

function visitCovering<T extends { readonly glob: Glob }, C>(
  items: readonly T[],
  b: string,
  visit: (item: T, ctx: C) => boolean,
  ctx: C,
): boolean {
  for (const item of items) {
    if (globCovers(item.glob, b) && visit(item, ctx)) return true;
  }
  return false;
}
