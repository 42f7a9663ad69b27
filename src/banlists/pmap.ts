// A small persistent (immutable) hash map with string keys: a hash array mapped trie.
// Policy list revisions must stay immutable while a list floods thousands of changes, so each
// update copies only the O(log32 n) path to the changed key instead of the whole map.
// `withMutations` lets a batch edit nodes it created itself in place (they are not shared yet).

const BITS = 5;
const MASK = 31;
/** Below this shift every hash bit is consumed and equal hashes share a collision node. */
const MAX_SHIFT = 30;

// Classes (not object literals) so every node kind has one stable hidden class: the trie walk
// stays monomorphic per kind.
class Leaf<V> {
  readonly t = 0 as const;
  readonly key: string;
  readonly hash: number;
  readonly value: V;
  constructor(key: string, hash: number, value: V) {
    this.key = key;
    this.hash = hash;
    this.value = value;
  }
}

class Branch<V> {
  readonly t = 1 as const;
  bitmap: number;
  children: Child<V>[];
  edit: Edit | null;
  constructor(bitmap: number, children: Child<V>[], edit: Edit | null) {
    this.bitmap = bitmap;
    this.children = children;
    this.edit = edit;
  }
}

class Collision<V> {
  readonly t = 2 as const;
  readonly hash: number;
  leaves: Leaf<V>[];
  edit: Edit | null;
  constructor(hash: number, leaves: Leaf<V>[], edit: Edit | null) {
    this.hash = hash;
    this.leaves = leaves;
    this.edit = edit;
  }
}

type Child<V> = Leaf<V> | Branch<V> | Collision<V>;
type Edit = { readonly id: number };

let editCounter = 0;

/** FNV-1a over UTF-16 code units; good enough spread for state keys and event IDs. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

function fragment(hash: number, shift: number): number {
  return (hash >>> shift) & MASK;
}

/** Mutable bookkeeping for one set/delete call. */
interface OpState {
  sizeDelta: number;
  changed: boolean;
}

function lookup<V>(node: Child<V>, key: string, hash: number, shift: number): V | undefined {
  for (;;) {
    if (node.t === 0) return node.key === key ? node.value : undefined;
    if (node.t === 2) {
      if (node.hash !== hash) return undefined;
      for (const leaf of node.leaves) if (leaf.key === key) return leaf.value;
      return undefined;
    }
    const bit = 1 << fragment(hash, shift);
    if ((node.bitmap & bit) === 0) return undefined;
    const child = node.children[popcount(node.bitmap & (bit - 1))];
    if (child === undefined) return undefined;
    node = child;
    shift += BITS;
  }
}

/** The branch itself when this batch created it, else a copy the batch may edit. */
function ownedBranch<V>(node: Branch<V>, edit: Edit | null): Branch<V> {
  return edit !== null && node.edit === edit ? node : new Branch(node.bitmap, node.children.slice(), edit);
}

/** Builds the smallest subtree holding two leaves with different keys. */
function mergeLeaves<V>(a: Leaf<V>, b: Leaf<V>, shift: number, edit: Edit | null): Child<V> {
  if (shift > MAX_SHIFT || a.hash === b.hash) {
    return new Collision(a.hash, [a, b], edit);
  }
  const fa = fragment(a.hash, shift);
  const fb = fragment(b.hash, shift);
  if (fa === fb) {
    return new Branch(1 << fa, [mergeLeaves(a, b, shift + BITS, edit)], edit);
  }
  const children = fa < fb ? [a, b] : [b, a];
  return new Branch((1 << fa) | (1 << fb), children, edit);
}

function insert<V>(
  node: Child<V>,
  edit: Edit | null,
  key: string,
  hash: number,
  value: V,
  shift: number,
  op: OpState,
): Child<V> {
  if (node.t === 0) {
    if (node.key === key) {
      if (node.value === value) return node;
      op.changed = true;
      return new Leaf(key, hash, value);
    }
    op.changed = true;
    op.sizeDelta = 1;
    return mergeLeaves(node, new Leaf(key, hash, value), shift, edit);
  }
  if (node.t === 2) {
    if (node.hash !== hash) {
      // A different hash reached this depth only through a shared prefix: split here.
      op.changed = true;
      op.sizeDelta = 1;
      const leaf = new Leaf(key, hash, value);
      const f1 = fragment(node.hash, shift);
      const f2 = fragment(hash, shift);
      if (f1 === f2) {
        const inner = insert(node, edit, key, hash, value, shift + BITS, op);
        return new Branch(1 << f1, [inner], edit);
      }
      const children: Child<V>[] = f1 < f2 ? [node, leaf] : [leaf, node];
      return new Branch((1 << f1) | (1 << f2), children, edit);
    }
    const idx = node.leaves.findIndex((l) => l.key === key);
    if (idx >= 0 && node.leaves[idx]?.value === value) return node;
    op.changed = true;
    const leaf = new Leaf(key, hash, value);
    const target =
      edit !== null && node.edit === edit ? node : new Collision(node.hash, node.leaves.slice(), edit);
    if (idx >= 0) target.leaves[idx] = leaf;
    else {
      target.leaves.push(leaf);
      op.sizeDelta = 1;
    }
    return target;
  }
  const bit = 1 << fragment(hash, shift);
  const pos = popcount(node.bitmap & (bit - 1));
  const target = (): Branch<V> => ownedBranch(node, edit);
  if ((node.bitmap & bit) === 0) {
    op.changed = true;
    op.sizeDelta = 1;
    const t = target();
    t.children.splice(pos, 0, new Leaf(key, hash, value));
    t.bitmap |= bit;
    return t;
  }
  const child = node.children[pos] as Child<V>;
  const next = insert(child, edit, key, hash, value, shift + BITS, op);
  if (next === child) return node;
  const t = target();
  t.children[pos] = next;
  return t;
}

/** Returns the new node, or `undefined` when the subtree became empty. */
function remove<V>(
  node: Child<V>,
  edit: Edit | null,
  key: string,
  hash: number,
  shift: number,
  op: OpState,
): Child<V> | undefined {
  if (node.t === 0) {
    if (node.key !== key) return node;
    op.changed = true;
    op.sizeDelta = -1;
    return undefined;
  }
  if (node.t === 2) {
    if (node.hash !== hash) return node;
    const idx = node.leaves.findIndex((l) => l.key === key);
    if (idx < 0) return node;
    op.changed = true;
    op.sizeDelta = -1;
    if (node.leaves.length === 2) return node.leaves[1 - idx];
    const leaves = node.leaves.slice();
    leaves.splice(idx, 1);
    return new Collision(hash, leaves, edit);
  }
  const bit = 1 << fragment(hash, shift);
  if ((node.bitmap & bit) === 0) return node;
  const pos = popcount(node.bitmap & (bit - 1));
  const child = node.children[pos] as Child<V>;
  const next = remove(child, edit, key, hash, shift + BITS, op);
  if (next === child) return node;
  if (next === undefined) {
    if (node.children.length === 1) return undefined;
    // A branch left with a single leaf collapses into that leaf (keeps lookups short).
    if (node.children.length === 2) {
      const other = node.children[1 - pos] as Child<V>;
      if (other.t === 0 && shift > 0) return other;
    }
    const t: Branch<V> = ownedBranch(node, edit);
    t.children.splice(pos, 1);
    t.bitmap &= ~bit;
    return t;
  }
  if (next.t === 0 && node.children.length === 1 && shift > 0) return next;
  const t: Branch<V> = ownedBranch(node, edit);
  t.children[pos] = next;
  return t;
}

function* walk<V>(node: Child<V> | undefined): Generator<Leaf<V>> {
  if (node === undefined) return;
  if (node.t === 0) yield node;
  else if (node.t === 2) yield* node.leaves;
  else for (const c of node.children) yield* walk(c);
}

/** Editable view used inside `PMap.withMutations`; invalid once the callback returns. */
export interface PMapBuilder<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  delete(key: string): void;
  readonly size: number;
}

export class PMap<V> {
  private readonly root: Child<V> | undefined;
  readonly size: number;

  private constructor(root: Child<V> | undefined, size: number) {
    this.root = root;
    this.size = size;
  }

  static empty<V>(): PMap<V> {
    return new PMap<V>(undefined, 0);
  }

  get(key: string): V | undefined {
    return this.root === undefined ? undefined : lookup(this.root, key, hashString(key), 0);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  set(key: string, value: V): PMap<V> {
    return this.withMutations((m) => m.set(key, value));
  }

  delete(key: string): PMap<V> {
    return this.withMutations((m) => m.delete(key));
  }

  /** Applies many changes at once; nodes created during the batch are edited in place. */
  withMutations(fn: (m: PMapBuilder<V>) => void): PMap<V> {
    const edit: Edit = { id: ++editCounter };
    let root = this.root;
    let size = this.size;
    let changed = false;
    let open = true;
    const check = (): void => {
      if (!open) throw new Error("PMap builder used after withMutations returned");
    };
    const builder: PMapBuilder<V> = {
      get: (key) => (root === undefined ? undefined : lookup(root, key, hashString(key), 0)),
      set: (key, value) => {
        check();
        const hash = hashString(key);
        if (root === undefined) {
          root = new Leaf(key, hash, value);
          size = 1;
          changed = true;
          return;
        }
        const op: OpState = { sizeDelta: 0, changed: false };
        root = insert(root, edit, key, hash, value, 0, op);
        size += op.sizeDelta;
        changed ||= op.changed;
      },
      delete: (key) => {
        check();
        if (root === undefined) return;
        const op: OpState = { sizeDelta: 0, changed: false };
        root = remove(root, edit, key, hashString(key), 0, op);
        size += op.sizeDelta;
        changed ||= op.changed;
      },
      get size() {
        return size;
      },
    };
    fn(builder);
    open = false;
    return changed ? new PMap(root, size) : this;
  }

  *entries(): Generator<[string, V]> {
    for (const leaf of walk(this.root)) yield [leaf.key, leaf.value];
  }

  *values(): Generator<V> {
    for (const leaf of walk(this.root)) yield leaf.value;
  }

  *keys(): Generator<string> {
    for (const leaf of walk(this.root)) yield leaf.key;
  }
}
