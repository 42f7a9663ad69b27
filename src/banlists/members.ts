// The members Tyr tracks in protected rooms (join, invite, knock), indexed so that a NEW rule is
// checked only against the members it can match: an exact entity is one lookup, a glob with a
// server suffix looks at that server's members only, other globs scan the lower-cased IDs once.
// Fed from sync membership events by the bot; pure data structure otherwise.
import { compileGlob } from "./glob.ts";
import { globShape, serverHost, serverOfUser, sha256Base64 } from "./matcher.ts";
import type { Rule } from "./rule.ts";
import { serverRuleEntity } from "./serverName.ts";

export type Membership = "join" | "invite" | "knock";

const TRACKED: ReadonlySet<string> = new Set(["join", "invite", "knock"]);

export function isTrackedMembership(m: unknown): m is Membership {
  return typeof m === "string" && TRACKED.has(m);
}

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  set.add(value);
}

function deleteFrom(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}

/** Every suffix of a lower-cased user ID that starts at a `:` (usually just `:server`). */
function colonSuffixes(lower: string): string[] {
  const out: string[] = [];
  for (let at = lower.indexOf(":"); at >= 0; at = lower.indexOf(":", at + 1)) out.push(lower.slice(at));
  return out;
}

/** Where `room` sits in a flat [room, membership, …] array, or -1. */
function pairIndex(pairs: readonly string[], room: string): number {
  for (let i = 0; i < pairs.length; i += 2) if (pairs[i] === room) return i;
  return -1;
}

const NO_ROOMS: ReadonlyMap<string, Membership> = new Map();

export class MemberIndex {
  /**
   * Exact user ID → its rooms and memberships as a flat [room, membership, room, …] array: a
   * member is in a handful of rooms, and a Map per user cost 18 MB at 100,000 members (an array
   * of a few pairs is about half).
   */
  private readonly users = new Map<string, string[]>();
  private readonly rooms = new Map<string, Set<string>>();
  /**
   * Lower-cased ID → exact ID(s) (letter-case variants are distinct Matrix users). Nearly every
   * ID has no variant, so one ID is stored bare and a Set only appears for a second one (a Set
   * per user cost 14 MB at 100,000 members).
   */
  private readonly byLower = new Map<string, string | Set<string>>();
  /** `:`-suffix of lower-cased IDs → lower-cased IDs. */
  private readonly bySuffix = new Map<string, Set<string>>();
  /** Server host (lower-cased, no port) → lower-cased IDs. */
  private readonly byHost = new Map<string, Set<string>>();
  /** sha256 of the exact and lower-cased ID → exact IDs; built on the first hashed rule. */
  private byHash: Map<string, Set<string>> | null = null;

  /** Records a membership; anything but join/invite/knock (leave, ban, null) forgets it. */
  setMembership(roomId: string, userId: string, membership: unknown): void {
    const rooms = this.users.get(userId);
    const at = rooms === undefined ? -1 : pairIndex(rooms, roomId);
    if (isTrackedMembership(membership)) {
      if (rooms === undefined) {
        this.users.set(userId, [roomId, membership]);
        this.indexUser(userId);
      } else if (at >= 0) rooms[at + 1] = membership;
      else this.users.set(userId, rooms.concat(roomId, membership)); // exact size: push over-allocates
      addTo(this.rooms, roomId, userId);
      return;
    }
    if (rooms === undefined || at < 0) return;
    rooms.splice(at, 2);
    deleteFrom(this.rooms, roomId, userId);
    if (rooms.length === 0) {
      this.users.delete(userId);
      this.unindexUser(userId);
    }
  }

  /** Replaces what is known about a room (e.g. after loading its full member list). */
  setRoomMembers(roomId: string, members: Iterable<readonly [userId: string, membership: unknown]>): void {
    this.removeRoom(roomId);
    for (const [userId, membership] of members) this.setMembership(roomId, userId, membership);
  }

  /** Forgets a room (no longer protected, or the bot left it). */
  removeRoom(roomId: string): void {
    const users = this.rooms.get(roomId);
    if (users === undefined) return;
    for (const userId of [...users]) this.setMembership(roomId, userId, null);
  }

  private indexUser(userId: string): void {
    const lower = userId.toLowerCase();
    const known = this.byLower.get(lower);
    if (known === undefined) this.byLower.set(lower, userId);
    else if (typeof known === "string") this.byLower.set(lower, new Set([known, userId]));
    else known.add(userId);
    if (known === undefined) {
      for (const s of colonSuffixes(lower)) addTo(this.bySuffix, s, lower);
      addTo(this.byHost, serverOfUser(lower), lower);
    }
    if (this.byHash !== null) for (const h of hashesOf(userId)) addTo(this.byHash, h, userId);
  }

  private unindexUser(userId: string): void {
    const lower = userId.toLowerCase();
    const ids = this.byLower.get(lower);
    if (ids === userId) this.byLower.delete(lower);
    else if (typeof ids === "object") {
      ids.delete(userId);
      if (ids.size === 1) this.byLower.set(lower, ids.values().next().value!);
    }
    if (!this.byLower.has(lower)) {
      for (const s of colonSuffixes(lower)) deleteFrom(this.bySuffix, s, lower);
      deleteFrom(this.byHost, serverOfUser(lower), lower);
    }
    if (this.byHash !== null) for (const h of hashesOf(userId)) deleteFrom(this.byHash, h, userId);
  }

  /** Number of distinct tracked users. */
  get size(): number {
    return this.users.size;
  }

  has(userId: string): boolean {
    return this.users.has(userId);
  }

  /** Rooms (with membership) the user is tracked in; empty when unknown. */
  roomsOf(userId: string): ReadonlyMap<string, Membership> {
    const rooms = this.users.get(userId);
    if (rooms === undefined) return NO_ROOMS;
    const out = new Map<string, Membership>();
    for (let i = 0; i < rooms.length; i += 2) out.set(rooms[i]!, rooms[i + 1] as Membership);
    return out;
  }

  /** Tracked users of one room. */
  membersOf(roomId: string): ReadonlySet<string> {
    return this.rooms.get(roomId) ?? new Set();
  }

  userIds(): IterableIterator<string> {
    return this.users.keys();
  }

  /** Exact IDs whose lower-cased form is `lower`. */
  private expand(lower: string, out: string[]): void {
    const ids = this.byLower.get(lower);
    if (typeof ids === "string") out.push(ids);
    else if (ids !== undefined) for (const id of ids) out.push(id);
  }

  /** Tracked users on a server (host compared case-insensitively, port ignored). */
  usersOnServer(server: string): string[] {
    const out: string[] = [];
    for (const lower of this.byHost.get(serverHost(server)) ?? []) this.expand(lower, out);
    return out;
  }

  private hashIndex(): Map<string, Set<string>> {
    if (this.byHash === null) {
      this.byHash = new Map();
      for (const userId of this.users.keys()) for (const h of hashesOf(userId)) addTo(this.byHash, h, userId);
    }
    return this.byHash;
  }

  /**
   * Tracked users a rule can apply to (exact IDs). User rules: by entity (case-insensitive) or hash.
   * Server rules: every user of a matching server — whether server rules apply to users is the
   * caller's (the matcher's) choice. Room rules match no user. Exceptions and priorities are not
   * resolved here: run `Matcher.decideUser` on the result.
   */
  membersMatching(rule: Rule): string[] {
    const out: string[] = [];
    if (rule.kind === "room") return out;
    if (rule.kind === "server") {
      if (rule.entity === undefined) {
        if (rule.sha256 === undefined) return out;
        for (const [host, lowers] of this.byHost) {
          if (sha256Base64(host) === rule.sha256) for (const l of lowers) this.expand(l, out);
        }
        return out;
      }
      const host = serverRuleEntity(rule.entity); // port removed, as the matcher reads it
      if (host === undefined) return out;
      const glob = compileGlob(host);
      if (glob.literal) {
        for (const l of this.byHost.get(glob.source) ?? []) this.expand(l, out);
        return out;
      }
      for (const [host, lowers] of this.byHost) {
        if (glob.matches(host)) for (const l of lowers) this.expand(l, out);
      }
      return out;
    }
    if (rule.entity === undefined) {
      if (rule.sha256 !== undefined) out.push(...(this.hashIndex().get(rule.sha256) ?? []));
      return out;
    }
    const glob = compileGlob(rule.entity);
    if (glob.literal) {
      this.expand(glob.source, out);
      return out;
    }
    const shape = globShape(glob, ":");
    const candidates =
      shape.sepSuffix !== null ? (this.bySuffix.get(shape.sepSuffix) ?? []) : this.byLower.keys();
    for (const lower of candidates) if (glob.matches(lower)) this.expand(lower, out);
    return out;
  }
}

function hashesOf(userId: string): string[] {
  const lower = userId.toLowerCase();
  return lower === userId ? [sha256Base64(userId)] : [sha256Base64(userId), sha256Base64(lower)];
}

/** Brute force over any list of user IDs (for callers without an index, and as a test reference). */
export function usersMatching(rule: Rule, userIds: Iterable<string>): string[] {
  const out: string[] = [];
  if (rule.kind === "room") return out;
  const entity =
    rule.kind === "server" && rule.entity !== undefined ? serverRuleEntity(rule.entity) : rule.entity;
  if (entity === undefined && rule.entity !== undefined) return out; // not a server name
  const glob = entity !== undefined ? compileGlob(entity) : null;
  for (const id of userIds) {
    const lower = id.toLowerCase();
    const subject = rule.kind === "server" ? serverOfUser(lower) : lower;
    if (rule.kind === "server" && subject === "") continue;
    if (glob !== null) {
      if (glob.matches(subject)) out.push(id);
    } else if (rule.sha256 !== undefined) {
      const forms = rule.kind === "server" ? [subject] : [id, lower];
      if (forms.some((f) => sha256Base64(f) === rule.sha256)) out.push(id);
    }
  }
  return out;
}
