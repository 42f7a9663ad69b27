// One query's working state (Query) and the index entry it collects (Entry), shared by the
// per-kind index (kindIndex.ts) and the glob buckets (globIndex.ts) without tying the two in a loop.
import type { Glob } from "./glob.ts";
import type { Rule } from "./rule.ts";

export interface Entry {
  readonly rule: Rule;
  /** `[rule]`, frozen: the whole result of a query whose only match this is (nothing to allocate). */
  readonly one: readonly Rule[];
  readonly glob: Glob | null;
  /** Where the entry is stored, for removal. */
  readonly home: Home;
  /** Query counter of the last query that saw this entry (de-duplicates n-gram hits). */
  stamp: number;
}

export type Home =
  | { readonly t: "exact"; readonly key: string }
  | { readonly t: "hash"; readonly key: string }
  | {
      readonly t: "suffix";
      readonly key: string;
      readonly prefix: string | null;
      readonly simple: string | null;
    }
  | { readonly t: "prefix"; readonly key: string }
  | { readonly t: "ngram"; readonly n: 2 | 3 | 4; readonly key: string }
  | { readonly t: "general" }
  /** A rule whose entity names nothing of this kind (an invalid server name): counted, never matched. */
  | { readonly t: "inert" };

/** Collects verified matches of one query. */
export class Query {
  input = "";
  stamp = 0;
  /** Scratch buffer: hits[0..count) are this query's hits (never truncated: `length = 0` is slow). */
  hits: Rule[] = [];
  count = 0;
  /**
   * The first hit's rules (frozen, in priority order: an exact entity's rules or a glob's
   * `[rule]`), held back from `hits`: when they are the query's only hits (the common case) they
   * are the result itself, so the query allocates nothing and never loads a rule.
   */
  one: readonly Rule[] | null = null;

  /** Records hits: `rules` is frozen and in priority order. */
  add(rules: readonly Rule[]): void {
    if (this.one === null) this.one = rules;
    else for (let k = 0; k < rules.length; k++) this.hits[this.count++] = rules[k] as Rule;
  }

  /** Starts a query. */
  reset(): void {
    this.count = 0;
    this.one = null;
    this.stamp++; // a double: never wraps around to a stamp an entry still carries
  }

  /** Moves the held-back exact hit into `hits`. */
  flush(): void {
    const one = this.one;
    if (one === null) return;
    for (let k = 0; k < one.length; k++) this.hits[this.count++] = one[k] as Rule;
    this.one = null;
  }

  verifyAll(list: readonly Entry[]): void {
    for (let i = 0; i < list.length; i++) {
      const e = list[i] as Entry;
      if (e.stamp === this.stamp) continue;
      e.stamp = this.stamp;
      if (e.glob === null || e.glob.matches(this.input)) this.add(e.one);
    }
  }
}
