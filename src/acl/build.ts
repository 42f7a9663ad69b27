// Pure ACL builder: server rules of all watched lists → one m.room.server_acl content that never
// denies our own server and always fits in an event, plus a report of everything left out.
//
// Documented behaviour (what moderators are told by `acl`):
// - Rules: `ban` and `takedown` server rules become deny entries; `exception` rules lift them.
//   Hashed rules (no entity) cannot be written into an ACL and are reported. Non-server rules are
//   ignored.
// - Entries are normalised by `parseServerEntity` (lower case, port stripped, wildcard runs
//   collapsed; banlists/serverName.ts, the reading the matcher uses too, so a rule bans in member
//   bans exactly what it denies here) and de-duplicated; a duplicated entry belongs to the
//   highest-priority list naming it.
// - Refused with a reason: invalid entities, `*`, anything matching our own server, and IP
//   literals while `allow_ip_literals` is false (blocked anyway).
// - Exceptions: an exception in list i lifts every deny entry of list i or any lower-priority list
//   that it covers (see cover.ts), whether the exception is a literal or a glob. An ACL cannot
//   carve an exception out of a broader deny glob (deny is checked before allow), so such a glob is
//   kept and the pair is reported in `conflicts`: a ban is never silently widened into an unban.
// - Covering: an entry covered by another deny glob is removed (it denies nothing new). The
//   covering glob takes on the priority of the best-ranked entry it covers, so the size cut below
//   never drops it while keeping entries ranked below what it stands for.
// - Size: the content must fit `budgetBytes` (default 65,536 − a 4,096-byte envelope reserve).
//   Entries are ranked by (list priority, globs before literals, then code-point order of the
//   entry) and kept as a strict prefix of that ranking: the first entry that does not fit and all
//   entries after it are left out, and counted per list. A glob goes first within a list because it
//   usually denies more servers per byte; the alphabetical tie-break makes the result independent
//   of the order rules arrive in (room state has no order).
// - Output: `allow` defaults to ["*"]; a configured allow list that does not cover our own server
//   gets it added. `allow_ip_literals` defaults to false but is forced to true when our own server
//   is an IP literal (otherwise the ACL would lock us out). `deny` is sorted.

import { compileGlob, type Glob } from "../banlists/glob.ts";
import type { Rule } from "../banlists/rule.ts";
import type { ServerAclContent } from "../consequences/types.ts";
import { MAX_EVENT_BYTES, canonicalJsonBytes } from "../util/canonicalJson.ts";
import { GlobIndex, globCovers } from "./cover.ts";
import {
  checkDenyEntry,
  clip,
  entryMatchesServer,
  parseOwnServer,
  parseServerEntity,
  type ServerEntityProblem,
} from "./serverName.ts";

/**
 * Bytes kept free for everything in the PDU except `content`. A modern-room-version event at its
 * worst (255-byte room ID, sender and signing server, 20 prev_events, 10 auth_events, hashes,
 * signature, unsigned.replaces_state) takes about 2.9 KB; 4,096 leaves margin.
 */
export const ACL_ENVELOPE_RESERVE_BYTES = 4_096;
export const DEFAULT_ACL_CONTENT_BUDGET = MAX_EVENT_BYTES - ACL_ENVELOPE_RESERVE_BYTES;

export interface AclListInput {
  /** Room ID of the policy list. */
  readonly id: string;
  /** Its rules; only `kind: "server"` ones are used. */
  readonly rules: readonly Rule[];
}

export interface BuildAclOptions {
  /** Value of `allow_ip_literals`; default false. */
  readonly allowIpLiterals?: boolean;
  /** Configured allow list; default ["*"]. Our own server is added when not covered. */
  readonly allow?: readonly string[];
  /** Bytes the content may take as canonical JSON; default DEFAULT_ACL_CONTENT_BUDGET. */
  readonly budgetBytes?: number;
}

export interface BuildAclInput {
  /** Watched lists in priority order: index 0 is the highest priority. */
  readonly lists: readonly AclListInput[];
  /** The bot's server name; may carry a port. Throws if it is not a valid server name. */
  readonly ownServer: string;
  readonly options?: BuildAclOptions;
}

export type DropCode = ServerEntityProblem | "hashed" | "no-entity";

export interface DroppedEntry {
  /** The rule's entity as written (or `sha256:<hash>` for a hashed rule), cut to 300 characters. */
  readonly entity: string;
  readonly list: string;
  readonly code: DropCode;
  readonly reason: string;
  /** True for an exception rule, false for a ban/takedown. */
  readonly exception: boolean;
}

export interface ExceptedEntry {
  readonly entity: string;
  readonly list: string;
  readonly exception: string;
  readonly exceptionList: string;
}

export interface AclConflict {
  /** A kept deny glob that also matches everything an exception names. */
  readonly deny: string;
  readonly denyList: string;
  readonly exception: string;
  readonly exceptionList: string;
}

export interface AclListSummary {
  readonly list: string;
  /** Server rules read from the list (all recommendations, hashed included). */
  readonly serverRules: number;
  /** Distinct deny entries attributed to this list (their highest-priority list). */
  readonly entries: number;
  /** ...of which written into the ACL. */
  readonly kept: number;
  /** ...removed because a kept deny glob covers them. */
  readonly covered: number;
  /** ...lifted by an exception. */
  readonly excepted: number;
  /** ...left out because the ACL would not fit (including covered entries whose glob was left out). */
  readonly leftOutForSize: number;
  /** Rules refused (invalid, own server, hashed, ...). */
  readonly dropped: number;
}

export interface AclPlan {
  readonly content: ServerAclContent;
  /** Canonical JSON size of `content`. */
  readonly bytes: number;
  readonly budgetBytes: number;
  /** False only when `allow` alone exceeds the budget (then `deny` is empty): do not send. */
  readonly fits: boolean;
  readonly dropped: readonly DroppedEntry[];
  readonly excepted: readonly ExceptedEntry[];
  readonly conflicts: readonly AclConflict[];
  /** Per list, in priority order. */
  readonly lists: readonly AclListSummary[];
  /** Total distinct entries left out for size. */
  readonly leftOutForSize: number;
  /** Adjustments made to protect our own server (allow list, allow_ip_literals). */
  readonly notes: readonly string[];
}

// Entry states (plain numbers: no enums under erasableSyntaxOnly).
const ACTIVE = 0;
const EXCEPTED = 1;
const COVERED = 2;
type State = typeof ACTIVE | typeof EXCEPTED | typeof COVERED;

interface Entry {
  readonly value: string;
  /** Index of the highest-priority list naming this entry. */
  list: number;
  readonly glob: Glob | undefined;
  state: State;
  /** The glob that covers this entry, when covered. */
  coveredBy: Entry | undefined;
  /** Best list priority among this entry and what it covers. */
  rank: number;
  leftOut: boolean;
}

interface Exception {
  readonly value: string;
  readonly list: number;
  readonly glob: Glob;
}

function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/** The allow list to send: ["*"] by default; a configured one always covers our own server. */
function buildAllow(configured: readonly string[] | undefined, ownHost: string, notes: string[]): string[] {
  if (configured === undefined) return ["*"];
  const allow: string[] = [];
  let coversOwn = false;
  for (const raw of configured) {
    const r = parseServerEntity(raw);
    if (!r.ok) {
      notes.push(`allow entry ${JSON.stringify(raw)} ignored: ${r.reason}`);
      continue;
    }
    allow.push(r.value);
    if (entryMatchesServer(r.value, r.glob, ownHost)) coversOwn = true;
  }
  if (!coversOwn) {
    allow.push(ownHost);
    notes.push(`our own server ${ownHost} was added to the allow list, which did not cover it`);
  }
  return sortedUnique(allow);
}

type GlobEntry = Entry & { readonly glob: Glob };

interface ExceptionSearch {
  entry: Entry | undefined;
  best: { readonly value: string; readonly list: number } | undefined;
}

/** Keeps the highest-priority exception that may lift `search.entry`; stops at list 0. */
function considerException(ex: Exception, search: ExceptionSearch): boolean {
  const e = search.entry!;
  if (ex.list <= e.list && (search.best === undefined || ex.list < search.best.list)) search.best = ex;
  return search.best?.list === 0;
}

/** Records the first glob `g` (other than `e`) that may absorb `e`. */
function acceptCoverer(g: GlobEntry, e: Entry): boolean {
  if (g === e) return false;
  // Two different globs covering each other: the one first in code-point order absorbs the other.
  if (e.glob !== undefined && g.value > e.value && globCovers(e.glob, g.value)) return false;
  e.coveredBy = g;
  return true;
}

function collect<T>(item: T, into: T[]): boolean {
  into.push(item);
  return false;
}

/** JSON size of an entry with its quotes: entries are printable ASCII without `"` or `\\`
 *  (parseServerEntity guarantees it), so nothing is escaped. The final size is checked anyway. */
function entryBytes(e: Entry): number {
  return e.value.length + 2;
}

function entryValue(e: Entry): string {
  return e.value;
}

function rootOf(e: Entry): Entry {
  let r = e;
  while (r.coveredBy !== undefined) r = r.coveredBy;
  // Path compression keeps repeated lookups cheap on long chains.
  let n = e;
  while (n.coveredBy !== undefined && n.coveredBy !== r) {
    const next: Entry = n.coveredBy;
    n.coveredBy = r;
    n = next;
  }
  return r;
}

export function buildAcl(input: BuildAclInput): AclPlan {
  const options = input.options ?? {};
  const own = parseOwnServer(input.ownServer);
  const notes: string[] = [];
  let allowIpLiterals = options.allowIpLiterals ?? false;
  if (own.ipLiteral && !allowIpLiterals) {
    allowIpLiterals = true;
    notes.push(`allow_ip_literals set to true: our own server ${own.host} is an IP literal`);
  }
  const allow = buildAllow(options.allow, own.host, notes);
  const budgetBytes = options.budgetBytes ?? DEFAULT_ACL_CONTENT_BUDGET;

  const lists = input.lists;
  const serverRulesPerList = new Array<number>(lists.length).fill(0);
  const entries = new Map<string, Entry>();
  const exceptions: Exception[] = [];
  const literalExceptions = new Map<string, number>();

  // 1. Normalise, refuse, de-duplicate. Lists are visited from the lowest priority up and later
  // writes win, so an entry ends up owned by the highest-priority list naming it (one Map write
  // per rule instead of a lookup and a write).
  const droppedByList: DroppedEntry[][] = lists.map(() => []);
  for (let li = lists.length - 1; li >= 0; li--) {
    const list = lists[li]!;
    const listDropped = droppedByList[li]!;
    for (const rule of list.rules) {
      if (rule.kind !== "server") continue;
      serverRulesPerList[li]!++;
      const isException = rule.recommendation === "exception";
      let problem: { entity: string; code: DropCode; reason: string } | undefined;
      if (rule.entity === undefined) {
        problem =
          rule.sha256 !== undefined
            ? {
                entity: `sha256:${rule.sha256}`,
                code: "hashed",
                reason: "hashed rule: an ACL needs the server name itself",
              }
            : { entity: "", code: "no-entity", reason: "rule has no entity" };
      } else {
        const parsed = parseServerEntity(rule.entity);
        if (!parsed.ok) {
          problem = { entity: rule.entity, code: parsed.code, reason: parsed.reason };
        } else if (isException) {
          // An exception may name anything, our own server included: it only ever lifts denies.
          if (parsed.glob)
            exceptions.push({ value: parsed.value, list: li, glob: compileGlob(parsed.value) });
          else literalExceptions.set(parsed.value, li);
        } else {
          const glob = parsed.glob ? compileGlob(parsed.value) : undefined;
          const checked = checkDenyEntry(parsed, own, allowIpLiterals, glob);
          if (!checked.ok) {
            problem = { entity: rule.entity, code: checked.code, reason: checked.reason };
          } else {
            entries.set(checked.value, {
              value: checked.value,
              list: li,
              glob,
              state: ACTIVE,
              coveredBy: undefined,
              rank: li,
              leftOut: false,
            });
          }
        }
      }
      if (problem !== undefined) {
        listDropped.push({ ...problem, entity: clip(problem.entity), list: list.id, exception: isException });
      }
    }
  }
  const dropped = droppedByList.flat();

  // 2. Exceptions lift covered entries of the same or lower-priority lists. Literal exceptions
  // are looked up directly; only glob exceptions need a pass over every entry.
  const liftedBy = new Map<Entry, { readonly value: string; readonly list: number }>();
  for (const [value, li] of literalExceptions) {
    const e = entries.get(value);
    if (e !== undefined && li <= e.list) liftedBy.set(e, { value, list: li });
  }
  const exceptionIndex = new GlobIndex<Exception>();
  for (const ex of exceptions) exceptionIndex.add(ex);
  if (exceptionIndex.size > 0) {
    const search: ExceptionSearch = { entry: undefined, best: undefined };
    for (const e of entries.values()) {
      search.entry = e;
      search.best = liftedBy.get(e);
      exceptionIndex.findCovering(e.value, considerException, search);
      if (search.best !== undefined) liftedBy.set(e, search.best);
    }
  }
  const excepted: ExceptedEntry[] = [];
  for (const [e, by] of liftedBy) {
    e.state = EXCEPTED;
    excepted.push({
      entity: e.value,
      list: lists[e.list]!.id,
      exception: by.value,
      exceptionList: lists[by.list]!.id,
    });
  }

  // 3. Remove entries covered by another deny glob.
  const denyIndex = new GlobIndex<GlobEntry>();
  for (const e of entries.values()) {
    if (e.state === ACTIVE && e.glob !== undefined) denyIndex.add(e as GlobEntry);
  }
  if (denyIndex.size > 0) {
    for (const e of entries.values()) {
      if (e.state === ACTIVE && denyIndex.findCovering(e.value, acceptCoverer, e)) e.state = COVERED;
    }
    for (const e of entries.values()) {
      if (e.state !== COVERED) continue;
      const root = rootOf(e);
      if (e.list < root.rank) root.rank = e.list;
    }
  }

  // 4. Size: keep the best-ranked prefix that fits. Entries are bucketed by (rank, glob first);
  // only the bucket where the cut falls needs sorting.
  const buckets: Entry[][] = Array.from({ length: lists.length * 2 }, () => []);
  for (const e of entries.values()) {
    if (e.state === ACTIVE) buckets[e.rank * 2 + (e.glob !== undefined ? 0 : 1)]!.push(e);
  }
  const fixedBytes = canonicalJsonBytes({ allow, allow_ip_literals: allowIpLiterals, deny: [] });
  const fits = fixedBytes <= budgetBytes;
  let used = fixedBytes;
  const deny: string[] = [];
  let cut = !fits;
  for (const bucket of buckets) {
    if (cut) {
      for (const e of bucket) e.leftOut = true;
      continue;
    }
    let total = 0;
    for (const e of bucket) total += entryBytes(e) + 1;
    if (deny.length === 0 && total > 0) total--; // no comma before the first entry
    if (used + total <= budgetBytes) {
      used += total;
      for (const e of bucket) deny.push(e.value);
      continue;
    }
    // Sorting plain strings is much faster than sorting entries with a comparator.
    const values = bucket.map(entryValue).sort();
    for (const v of values) {
      const e = entries.get(v)!;
      if (!cut) {
        const cost = entryBytes(e) + (deny.length > 0 ? 1 : 0);
        if (used + cost <= budgetBytes) {
          used += cost;
          deny.push(e.value);
          continue;
        }
        cut = true;
      }
      e.leftOut = true;
    }
  }
  deny.sort();

  // 5. Conflicts: kept deny globs that an exception could not lift because they are broader.
  const conflicts: AclConflict[] = [];
  if (denyIndex.size > 0) {
    const report = (exValue: string, exList: number): void => {
      const found: GlobEntry[] = [];
      denyIndex.findCovering(exValue, collect, found);
      for (const g of found) {
        if (g.state === ACTIVE && !g.leftOut && g.list >= exList) {
          conflicts.push({
            deny: g.value,
            denyList: lists[g.list]!.id,
            exception: exValue,
            exceptionList: lists[exList]!.id,
          });
        }
      }
    };
    for (const [value, li] of literalExceptions) report(value, li);
    for (const ex of exceptions) report(ex.value, ex.list);
  }

  // 6. Report.
  const perList = lists.map((l, li) => ({
    list: l.id,
    serverRules: serverRulesPerList[li]!,
    entries: 0,
    kept: 0,
    covered: 0,
    excepted: 0,
    leftOutForSize: 0,
    dropped: droppedByList[li]!.length,
  }));
  let leftOutForSize = 0;
  for (const e of entries.values()) {
    const s = perList[e.list]!;
    s.entries++;
    if (e.state === EXCEPTED) s.excepted++;
    else if (e.state === COVERED) {
      if (rootOf(e).leftOut) {
        s.leftOutForSize++;
        leftOutForSize++;
      } else s.covered++;
    } else if (e.leftOut) {
      s.leftOutForSize++;
      leftOutForSize++;
    } else s.kept++;
  }

  // Reports in a stable order (list priority, then entry), independent of rule order.
  const listIndex = new Map(lists.map((l, i) => [l.id, i]));
  const byListThen = (la: string, lb: string, a: string, b: string): number =>
    listIndex.get(la)! - listIndex.get(lb)! || (a < b ? -1 : a > b ? 1 : 0);
  excepted.sort((x, y) => byListThen(x.list, y.list, x.entity, y.entity));
  conflicts.sort(
    (x, y) =>
      byListThen(x.denyList, y.denyList, x.deny, y.deny) ||
      byListThen(x.exceptionList, y.exceptionList, x.exception, y.exception),
  );

  const content: ServerAclContent = { allow, deny, allow_ip_literals: allowIpLiterals };
  const bytes = canonicalJsonBytes(content);
  if (fits && bytes !== used) {
    // Incremental accounting and the real encoding disagree: a bug, and sending could fail.
    throw new Error(`ACL size accounting is off: counted ${used} bytes, encoded ${bytes}`);
  }
  return {
    content,
    bytes,
    budgetBytes,
    fits,
    dropped,
    excepted,
    conflicts,
    lists: perList,
    leftOutForSize,
    notes,
  };
}
