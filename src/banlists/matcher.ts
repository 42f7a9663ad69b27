// Matching entities against the rules of many policy lists.
//
// The `Matcher` keeps one index per rule kind (KindIndex, kindIndex.ts: where each rule lands and
// the single backward pass that queries it), built from the glob buckets of globIndex.ts and the
// hash tables of hashTables.ts; entities.ts derives the forms of an entity rules are matched
// against (server host, MSC4205 hash). This module adds what spans lists and kinds: list
// priorities, ordering of results, exceptions and decisions.
//
// Results: every exact entity and every glob keeps its rules as a frozen array in priority order;
// a query whose hits all come from one of them (almost every hit) returns that array as is, and a
// miss returns one shared empty array, so neither allocates, sorts nor even loads a rule. Only
// queries with several sources of hits build (and freeze) a new array.
import { RecentHashes, serverHost, serverOfLowerUser, sha256Key } from "./entities.ts";
import { KindIndex, Query, type Entry } from "./kindIndex.ts";
import { serverRuleEntity } from "./serverName.ts";
import type { RuleDiff } from "./policyList.ts";
import type { Rule, RuleKind } from "./rule.ts";

// Moved out of this module; still importable from here.
export { serverHost, serverOfUser, sha256Base64 } from "./entities.ts";
export { globShape, type GlobShape } from "./globIndex.ts";

export interface Decision {
  /** What to do: takedown (ban + remove content), ban, or nothing. */
  readonly action: "takedown" | "ban" | "none";
  /** The highest-priority rule with the winning recommendation. */
  readonly rule?: Rule;
  /** Every ban/takedown rule that still applies, in priority order. */
  readonly rules: readonly Rule[];
  /** Ban/takedown rules suppressed by an exception, with the exception that did it. */
  readonly excepted: readonly { readonly rule: Rule; readonly by: Rule }[];
}

export interface MatcherOptions {
  /** Policy list room IDs, highest priority first. Lists not named rank after these, in order seen. */
  readonly listOrder?: readonly string[];
  /**
   * Whether server rules of a list also apply to the users of that server in `matchUser` (default
   * true: a server `m.ban` bans that server's members from protected rooms, not only via the ACL).
   * A function decides per list.
   */
  readonly serverRulesApplyToUsers?: boolean | ((list: string) => boolean);
  /** How many server hosts' hashes to remember (only used while hashed server rules exist). Default 100,000. */
  readonly hashCacheSize?: number;
}

const KIND_ORDER: Record<RuleKind, number> = { user: 0, room: 1, server: 2 };
const EMPTY: readonly Rule[] = Object.freeze([]);
const NO_EXCEPTIONS: Decision["excepted"] = Object.freeze([]);
/** The decision when nothing (or only exceptions) matched: shared and frozen. */
const NO_DECISION: Decision = Object.freeze({ action: "none", rules: EMPTY, excepted: NO_EXCEPTIONS });

/** Results up to this many rules are ordered by insertion sort (no comparator closure). */
const INSERTION_SORT_MAX = 16;

/**
 * Priorities: list rank 0 (first in `listOrder`) is the highest. Every `match*` returns all matching
 * rules sorted by list rank, then by kind (user, room, server). `decide*` resolves exceptions; see
 * `decide`.
 *
 * Results are read-only and frozen: `match*` return a shared empty array for no match and, when
 * one exact entity or one glob rule is all that matches, an array shared by every such query;
 * `decide*` return a shared decision when nothing applies. Copy before changing one (mutating
 * throws).
 */
export class Matcher {
  private readonly user = new KindIndex(":", (list) => this.priorityOf(list));
  private readonly room = new KindIndex(":", (list) => this.priorityOf(list));
  private readonly server = new KindIndex(".", (list) => this.priorityOf(list));
  /** list → kind → state key → entry (identity of a rule inside the matcher). */
  private readonly byList = new Map<string, Record<RuleKind, Map<string, Entry>>>();
  private readonly rank = new Map<string, number>();
  private nextRank = 0;
  private readonly serverApplies: (list: string) => boolean;
  /** Server rules of every list apply to users (no per-rule filter), or of none (never looked up). */
  private readonly serverAll: boolean;
  private readonly serverNone: boolean;
  /** Hashes of server hosts (few, and one per user check while hashed server rules exist). */
  private readonly hostHashes: RecentHashes;
  private readonly q = new Query();
  /** Scratch for ordering results: hit index → sort key (rank · 4 + kind). */
  private sortKeys = new Float64Array(16);

  constructor(options: MatcherOptions = {}) {
    const s = options.serverRulesApplyToUsers ?? true;
    this.serverApplies = typeof s === "function" ? s : () => s;
    this.serverAll = s === true;
    this.serverNone = s === false;
    this.hostHashes = new RecentHashes(options.hashCacheSize ?? 100_000);
    if (options.listOrder) this.setListOrder(options.listOrder);
  }

  /** Reorders priorities without re-indexing. Lists not named keep their relative order after these. */
  setListOrder(order: readonly string[]): void {
    const rest = [...this.rank.entries()]
      .filter(([list]) => !order.includes(list))
      .sort((a, b) => a[1] - b[1])
      .map(([list]) => list);
    this.rank.clear();
    this.nextRank = 0;
    for (const list of [...order, ...rest]) if (!this.rank.has(list)) this.rank.set(list, this.nextRank++);
    for (const idx of [this.user, this.room, this.server]) idx.reorder();
  }

  /** 0 = highest priority. Lists never seen get the next free (lowest) rank. */
  priorityOf(list: string): number {
    let r = this.rank.get(list);
    if (r === undefined) {
      r = this.nextRank++;
      this.rank.set(list, r);
    }
    return r;
  }

  get size(): number {
    return this.user.size + this.room.size + this.server.size;
  }

  private kindIndex(kind: RuleKind): KindIndex {
    return kind === "user" ? this.user : kind === "room" ? this.room : this.server;
  }

  private slotsOf(list: string, create: boolean): Record<RuleKind, Map<string, Entry>> | undefined {
    let slots = this.byList.get(list);
    if (slots === undefined && create) {
      slots = { user: new Map(), room: new Map(), server: new Map() };
      this.byList.set(list, slots);
      this.priorityOf(list);
    }
    return slots;
  }

  /** Adds a rule; a rule with the same list, kind and state key is replaced. */
  add(rule: Rule): void {
    if (rule.entity === undefined && rule.sha256 === undefined) return;
    const slots = this.slotsOf(rule.list, true) as Record<RuleKind, Map<string, Entry>>;
    const idx = this.kindIndex(rule.kind);
    const old = slots[rule.kind].get(rule.stateKey);
    if (old !== undefined) idx.remove(old);
    // A server rule matches by its normalised host (port removed; serverName.ts), as in an ACL.
    const e =
      rule.kind === "server" && rule.entity !== undefined
        ? idx.place(rule, serverRuleEntity(rule.entity) ?? null)
        : idx.place(rule);
    idx.add(e);
    slots[rule.kind].set(rule.stateKey, e);
  }

  /** Removes the rule with this rule's list, kind and state key. Returns whether there was one. */
  remove(rule: Rule): boolean {
    const slot = this.slotsOf(rule.list, false)?.[rule.kind];
    const e = slot?.get(rule.stateKey);
    if (slot === undefined || e === undefined) return false;
    this.kindIndex(rule.kind).remove(e);
    slot.delete(rule.stateKey);
    return true;
  }

  apply(diff: RuleDiff): void {
    for (const r of diff.removed) this.remove(r);
    for (const { previous, current } of diff.modified) {
      this.remove(previous);
      this.add(current);
    }
    for (const r of diff.added) this.add(r);
  }

  addAll(rules: Iterable<Rule>): void {
    for (const r of rules) this.add(r);
  }

  /** Drops every rule of a list (unwatch). Its priority slot is kept until setListOrder. */
  removeList(list: string): void {
    const slots = this.byList.get(list);
    if (slots === undefined) return;
    for (const kind of ["user", "room", "server"] as const) {
      const idx = this.kindIndex(kind);
      for (const e of slots[kind].values()) idx.remove(e);
    }
    this.byList.delete(list);
  }

  *rules(): Generator<Rule> {
    for (const slots of this.byList.values()) {
      for (const kind of ["user", "room", "server"] as const)
        for (const e of slots[kind].values()) yield e.rule;
    }
  }

  /**
   * Hashed rules of `idx` for the entity as given and lower-cased: a list may have hashed either
   * form. Hashed without a cache: a user or room ID recurs too rarely for a cache to pay (measured
   * in BENCHMARKS.md: over many distinct IDs a cache costs more than hashing).
   */
  private collectHashes(idx: KindIndex, entity: string, lower: string, q: Query): void {
    idx.collectHash(sha256Key(entity), q);
    if (entity !== lower) idx.collectHash(sha256Key(lower), q);
  }

  private begin(): Query {
    const q = this.q;
    q.reset();
    return q;
  }

  /** The hits of `q` as a frozen array in priority order (see the class comment on sharing). */
  private finish(q: Query): Rule[] {
    if (q.count === 0) return (q.one ?? EMPTY) as Rule[];
    q.flush();
    const n = q.count;
    const hits = q.hits;
    if (this.sortKeys.length < n) this.sortKeys = new Float64Array(2 * n);
    const keys = this.sortKeys;
    const out = new Array<Rule>(n);
    if (n <= INSERTION_SORT_MAX) {
      // Stable insertion sort of the hits by (list rank, kind), straight into `out`.
      for (let i = 0; i < n; i++) {
        const r = hits[i] as Rule;
        const key = this.priorityOf(r.list) * 4 + KIND_ORDER[r.kind];
        let j = i;
        for (; j > 0 && (keys[j - 1] as number) > key; j--) {
          keys[j] = keys[j - 1] as number;
          out[j] = out[j - 1] as Rule;
        }
        keys[j] = key;
        out[j] = r;
      }
    } else {
      const order = new Array<number>(n);
      for (let i = 0; i < n; i++) {
        const r = hits[i] as Rule;
        keys[i] = this.priorityOf(r.list) * 4 + KIND_ORDER[r.kind];
        order[i] = i;
      }
      order.sort((a, b) => (keys[a] as number) - (keys[b] as number) || a - b);
      for (let i = 0; i < n; i++) out[i] = hits[order[i] as number] as Rule;
    }
    return Object.freeze(out) as Rule[];
  }

  /**
   * Server rules matching `host` (lower-case, no port) into `q`; with `onlyApplying`, only rules of
   * lists whose server rules apply to users.
   */
  private collectServer(host: string, q: Query, onlyApplying: boolean): void {
    const idx = this.server;
    if (idx.size === 0 || host === "") return;
    if (onlyApplying) q.flush(); // hits[start..] must be server rules only
    const start = q.count;
    idx.collect(host, q);
    if (idx.hashes.size > 0) idx.collectHash(this.hostHashes.of(host), q);
    if (onlyApplying) {
      q.flush();
      let w = start;
      for (let r = start; r < q.count; r++) {
        const rule = q.hits[r] as Rule;
        if (this.serverApplies(rule.list)) q.hits[w++] = rule;
      }
      q.count = w;
    }
  }

  /**
   * All rules matching a user ID (case-insensitive; hashed rules by the ID as given or lower-cased),
   * plus the server rules matching the user's server for lists where server rules apply to users.
   * The result is frozen and may be shared (see the class comment).
   */
  matchUser(userId: string): Rule[] {
    const q = this.begin();
    const idx = this.user;
    // V8's toLowerCase is native and cheaper than any JS scan for "already lower-case?" (measured:
    // ~20 ns against ~70 ns for a 38-character ID); it copies even then, but the copy dies young.
    const lower = userId.toLowerCase();
    if (idx.size > 0) {
      idx.collect(lower, q);
      if (idx.hashes.size > 0) this.collectHashes(idx, userId, lower, q);
    }
    if (this.server.size > 0 && !this.serverNone)
      this.collectServer(serverOfLowerUser(lower), q, !this.serverAll);
    return this.finish(q);
  }

  /** Server rules matching a server name (port ignored, case-insensitive). Frozen, may be shared. */
  matchServer(name: string): Rule[] {
    const q = this.begin();
    this.collectServer(serverHost(name), q, false);
    return this.finish(q);
  }

  /** Room rules matching a room ID or alias (case-insensitive). Frozen, may be shared. */
  matchRoom(roomIdOrAlias: string): Rule[] {
    const q = this.begin();
    const idx = this.room;
    const lower = roomIdOrAlias.toLowerCase();
    if (idx.size > 0) {
      idx.collect(lower, q);
      if (idx.hashes.size > 0) this.collectHashes(idx, roomIdOrAlias, lower, q);
    }
    return this.finish(q);
  }

  /**
   * Resolves exceptions among the matches of one entity of kind `kind` (what `match*` returned):
   * - a ban/takedown rule is suppressed by a matching exception of the same rule kind from a list
   *   of higher OR EQUAL priority; for a user, a user exception also suppresses server rules
   *   (it names that user), while a server exception suppresses only server rules (it never
   *   shields a server's users from user bans);
   * - the action is the strongest surviving recommendation (takedown > ban), and `rule` is the
   *   highest-priority surviving rule with that recommendation.
   */
  decide(matches: readonly Rule[], kind: RuleKind): Decision {
    return this.resolve(matches, kind, false);
  }

  /**
   * `decide`; `owned` says `matches` is a frozen result of `match*` that the decision may share
   * as its `rules` (no copy) when nothing is excepted.
   */
  private resolve(matches: readonly Rule[], kind: RuleKind, owned: boolean): Decision {
    const n = matches.length;
    if (n === 0) return NO_DECISION;
    if (n === 1) {
      const r = matches[0] as Rule;
      if (r.recommendation === "exception") return NO_DECISION;
      return { action: r.recommendation, rule: r, rules: owned ? matches : [r], excepted: NO_EXCEPTIONS };
    }
    // Ranks once per match; the highest-priority exception per rule kind (by KIND_ORDER).
    const ranks = new Array<number>(n);
    const excRank = [Infinity, Infinity, Infinity];
    const excRule: (Rule | undefined)[] = [undefined, undefined, undefined];
    let exceptions = false;
    for (let i = 0; i < n; i++) {
      const r = matches[i] as Rule;
      const rank = this.priorityOf(r.list);
      ranks[i] = rank;
      if (r.recommendation !== "exception") continue;
      exceptions = true;
      const k = KIND_ORDER[r.kind];
      if (rank < (excRank[k] as number)) {
        excRank[k] = rank;
        excRule[k] = r;
      }
    }
    const own = KIND_ORDER[kind];
    const rules: Rule[] = [];
    let excepted: { rule: Rule; by: Rule }[] | null = null;
    let sorted = true;
    let lastRank = -Infinity;
    for (let i = 0; i < n; i++) {
      const r = matches[i] as Rule;
      if (r.recommendation === "exception") continue;
      const rank = ranks[i] as number;
      const k = KIND_ORDER[r.kind];
      let by = rank >= (excRank[k] as number) ? excRule[k] : undefined;
      if (by === undefined && k !== own && rank >= (excRank[own] as number)) by = excRule[own];
      if (by !== undefined) (excepted ??= []).push({ rule: r, by });
      else {
        if (rank < lastRank) sorted = false;
        lastRank = rank;
        rules.push(r);
      }
    }
    if (!sorted) rules.sort((a, b) => this.priorityOf(a.list) - this.priorityOf(b.list));
    let takedown: Rule | undefined;
    for (let i = 0; i < rules.length && takedown === undefined; i++)
      if ((rules[i] as Rule).recommendation === "takedown") takedown = rules[i];
    const chosen = takedown ?? rules[0];
    if (chosen === undefined)
      return excepted === null ? NO_DECISION : { action: "none", rules: EMPTY, excepted };
    return {
      action: takedown !== undefined ? "takedown" : "ban",
      rule: chosen,
      // No exception among the matches: the rules are the matches, in the same (priority) order.
      rules: owned && !exceptions && sorted ? matches : rules,
      excepted: excepted ?? NO_EXCEPTIONS,
    };
  }

  /** `decide(matchUser(userId), "user")`. The decision may share the frozen match result. */
  decideUser(userId: string): Decision {
    return this.resolve(this.matchUser(userId), "user", true);
  }

  decideServer(name: string): Decision {
    return this.resolve(this.matchServer(name), "server", true);
  }

  decideRoom(roomIdOrAlias: string): Decision {
    return this.resolve(this.matchRoom(roomIdOrAlias), "room", true);
  }
}
