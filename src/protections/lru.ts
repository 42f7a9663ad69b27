// Bounded containers for protection state. A spam wave must not be able to grow memory without
// bound, so every per-user or per-event map in this directory is one of these.

/** A Map that forgets its least recently used entry once `capacity` is reached. */
export class Lru<K, V> {
  readonly capacity: number;
  readonly #map = new Map<K, V>();

  constructor(capacity: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
  }

  get size(): number {
    return this.#map.size;
  }

  /** Returns the value and marks it as most recently used. */
  get(key: K): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }

  /** Returns the value without changing its recency. */
  peek(key: K): V | undefined {
    return this.#map.get(key);
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  set(key: K, value: V): this {
    if (this.#map.has(key)) this.#map.delete(key);
    else if (this.#map.size >= this.capacity) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
    this.#map.set(key, value);
    return this;
  }

  /** Returns the existing value (touched) or stores and returns `make()`. */
  getOrCreate(key: K, make: () => V): V {
    const v = this.get(key);
    if (v !== undefined) return v;
    const created = make();
    this.set(key, created);
    return created;
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }

  entries(): IterableIterator<[K, V]> {
    return this.#map.entries();
  }

  keys(): IterableIterator<K> {
    return this.#map.keys();
  }
}

/**
 * The most recent `capacity` timestamps. Knowing whether more than N events happened in a window
 * only needs the last N+1 timestamps, so memory stays fixed whatever the event rate.
 */
export class TimeWindow {
  readonly #ring: number[];
  #start = 0;
  #length = 0;

  constructor(capacity: number) {
    this.#ring = new Array<number>(Math.max(1, Math.floor(capacity))).fill(0);
  }

  get capacity(): number {
    return this.#ring.length;
  }

  push(t: number): void {
    const cap = this.#ring.length;
    if (this.#length < cap) {
      this.#ring[(this.#start + this.#length) % cap] = t;
      this.#length++;
    } else {
      this.#ring[this.#start] = t;
      this.#start = (this.#start + 1) % cap;
    }
  }

  /** How many stored timestamps are strictly after `since` (at most `capacity`). */
  countAfter(since: number): number {
    const cap = this.#ring.length;
    let n = 0;
    // Newest first; stop at the first one that is too old. Timestamps come from a clock that can
    // step backwards, so this is a count of "recent enough" entries, not a binary search.
    for (let i = this.#length - 1; i >= 0; i--) {
      const t = this.#ring[(this.#start + i) % cap] as number;
      if (t > since) n++;
      else break;
    }
    return n;
  }

  clear(): void {
    this.#start = 0;
    this.#length = 0;
  }

  get length(): number {
    return this.#length;
  }
}
