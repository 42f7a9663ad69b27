// Pure decisions behind ACL sync: for one protected room, given what we know about it, is it in
// sync, waiting, blocked — or does it need the computed ACL sent? And: which entries of a plan are
// worth telling the moderators about. No network, no clock (the caller passes `now`).
import type { ServerAclContent } from "../consequences/types.ts";
import type { AclPlan, DropCode } from "./build.ts";
import { aclEquals } from "./compare.ts";

/** What happened to the last ACL Tyr submitted for a room. */
export interface AclAttempt {
  /** `aclKey` of the content submitted. */
  readonly key: string;
  readonly state: "in-flight" | "sent" | "failed" | "dry-run" | "refused";
  /** Event ID of the ACL event, once sent. */
  readonly eventId?: string;
  readonly error?: string;
  /** When the attempt reached `state` (ms). */
  readonly at: number;
}

export interface RoomAclFacts {
  readonly excluded: boolean;
  /** Tyr has the room's state (it is joined). */
  readonly joined: boolean;
  /** Tyr's power level and the level `m.room.server_acl` needs; only read when joined. */
  readonly level: { readonly has: number; readonly needed: number };
  /** Content of the room's current `m.room.server_acl`, undefined when it has none. */
  readonly current: unknown;
  readonly attempt: AclAttempt | undefined;
}

export type RoomAclStatus =
  | { readonly kind: "in-sync" }
  | { readonly kind: "excluded" }
  | { readonly kind: "not-joined" }
  | { readonly kind: "no-permission"; readonly has: number; readonly needed: number }
  /** Sent or about to be sent; not yet seen in the room's state. */
  | { readonly kind: "pending" }
  | { readonly kind: "failed"; readonly error: string }
  | { readonly kind: "dry-run" };

export interface RoomAclDecision {
  readonly status: RoomAclStatus;
  readonly send: boolean;
}

export interface DecideOptions {
  /** `acl sync`: send again even after a failure or a dry run for the same content. */
  readonly force: boolean;
  readonly now: number;
  /** How long a sent event may take to show up in the room state before we send again. */
  readonly sentGraceMs: number;
}

/** A stable identity for an ACL's meaning (order and duplicates do not matter). */
export function aclKey(content: ServerAclContent): string {
  return JSON.stringify([
    [...new Set(content.allow)].sort(),
    [...new Set(content.deny)].sort(),
    content.allow_ip_literals,
  ]);
}

export function decideRoom(
  facts: RoomAclFacts,
  desired: ServerAclContent,
  desiredKey: string,
  opts: DecideOptions,
): RoomAclDecision {
  if (facts.excluded) return { status: { kind: "excluded" }, send: false };
  if (!facts.joined) return { status: { kind: "not-joined" }, send: false };
  const inSync =
    facts.current === undefined
      ? // A room without an ACL needs none while nothing is denied: no event for nothing.
        desired.deny.length === 0
      : aclEquals(facts.current, desired);
  if (inSync) return { status: { kind: "in-sync" }, send: false };
  if (facts.level.has < facts.level.needed) {
    return {
      status: { kind: "no-permission", has: facts.level.has, needed: facts.level.needed },
      send: false,
    };
  }
  const a = facts.attempt;
  if (a !== undefined && a.key === desiredKey) {
    if (a.state === "in-flight") return { status: { kind: "pending" }, send: false };
    if (a.state === "sent" && opts.now - a.at < opts.sentGraceMs)
      return { status: { kind: "pending" }, send: false };
    if (!opts.force) {
      if (a.state === "dry-run") return { status: { kind: "dry-run" }, send: false };
      if (a.state === "failed" || a.state === "refused") {
        return { status: { kind: "failed", error: a.error ?? "unknown error" }, send: false };
      }
    }
  }
  return { status: { kind: "pending" }, send: true };
}

/** Human wording of a room status, for `acl` and reports. */
export function describeStatus(s: RoomAclStatus): string {
  switch (s.kind) {
    case "in-sync":
      return "in sync";
    case "excluded":
      return "excluded (acl.excludedRooms): Tyr leaves its ACL alone";
    case "not-joined":
      return "not joined: Tyr cannot see or set its ACL";
    case "no-permission":
      return `no permission: sending m.room.server_acl needs power level ${levelText(s.needed)}, Tyr has ${levelText(s.has)}`;
    case "pending":
      return "pending: update on its way";
    case "failed":
      return `failed: ${s.error}`;
    case "dry-run":
      return "differs (dry run: nothing is sent)";
  }
}

function levelText(n: number): string {
  return n === Infinity ? "unlimited (room creator)" : String(n);
}

// ---- what to tell the moderators about a plan ------------------------------------------------

export type LeftOutCategory = "own-server" | "invalid" | "hashed" | "ip-literal";

/** Which drop codes mean what, for people. */
export function categoryOf(code: DropCode): LeftOutCategory {
  switch (code) {
    case "own-server":
    case "deny-all":
      return "own-server";
    case "hashed":
      return "hashed";
    case "ip-literal-blocked":
      return "ip-literal";
    default:
      return "invalid";
  }
}

export interface ListLeftOut {
  readonly list: string;
  /** Ban rules refused because they would deny Tyr's own server (entities, sorted). */
  readonly ownServer: readonly string[];
  readonly invalid: number;
  readonly hashed: number;
  /** Already blocked by allow_ip_literals: false (harmless, not reported on its own). */
  readonly ipLiteral: number;
  readonly leftOutForSize: number;
}

/** Per list (priority order), what did not make it into the ACL; lists with nothing are omitted. */
export function leftOutByList(plan: AclPlan): ListLeftOut[] {
  const out: ListLeftOut[] = [];
  for (const s of plan.lists) {
    const own: string[] = [];
    let invalid = 0;
    let hashed = 0;
    let ip = 0;
    for (const d of plan.dropped) {
      if (d.list !== s.list || d.exception) continue;
      const c = categoryOf(d.code);
      if (c === "own-server") own.push(d.entity);
      else if (c === "hashed") hashed++;
      else if (c === "ip-literal") ip++;
      else invalid++;
    }
    if (own.length + invalid + hashed + ip + s.leftOutForSize === 0) continue;
    out.push({
      list: s.list,
      ownServer: [...new Set(own)].sort(),
      invalid,
      hashed,
      ipLiteral: ip,
      leftOutForSize: s.leftOutForSize,
    });
  }
  return out;
}

/** Identity of what is worth a report (IP literals are blocked anyway: not worth one). */
export function leftOutSignature(groups: readonly ListLeftOut[]): string {
  const worth = groups
    .filter((g) => g.ownServer.length + g.invalid + g.hashed + g.leftOutForSize > 0)
    .map((g) => [g.list, g.ownServer, g.invalid, g.hashed, g.leftOutForSize]);
  return worth.length === 0 ? "" : JSON.stringify(worth);
}

/** One line per list: "3 left out: 1 would deny our own server (`*`), 2 invalid". */
export function describeLeftOut(g: ListLeftOut, maxExamples = 5): string {
  const parts: string[] = [];
  if (g.ownServer.length > 0) {
    const shown = g.ownServer.slice(0, maxExamples).map((e) => `\`${e}\``);
    const more = g.ownServer.length > maxExamples ? ` and ${g.ownServer.length - maxExamples} more` : "";
    parts.push(`${g.ownServer.length} would deny Tyr's own server (${shown.join(", ")}${more})`);
  }
  if (g.leftOutForSize > 0) parts.push(`${g.leftOutForSize} did not fit in the size limit`);
  if (g.invalid > 0) parts.push(`${g.invalid} invalid server name(s)`);
  if (g.hashed > 0) parts.push(`${g.hashed} hashed rule(s) (an ACL needs the server name)`);
  if (g.ipLiteral > 0)
    parts.push(`${g.ipLiteral} IP literal(s), already blocked by allow_ip_literals: false`);
  const total = g.ownServer.length + g.leftOutForSize + g.invalid + g.hashed + g.ipLiteral;
  return `${total} left out: ${parts.join(", ")}`;
}
