// The policy server's decision for one event (MSC4284): sign it, or refuse. Pure: everything it
// needs is in memory — the ban-list matcher (src/banlists/, through its public API) and a
// protections judge — so the answer costs no network call while every homeserver in the room waits.
//
// Refused: the sender, or the sender's server, is banned by a watched list (hashed rules included,
// as the matcher resolves them, exceptions respected); the room itself is banned; a protection
// says the event is spam. Dry-run signs everything and reports what it would have refused.
import type { Decision } from "../banlists/matcher.ts";
import type { Rule, RuleKind } from "../banlists/rule.ts";
import { isValidServerName } from "./serverName.ts";
import { isJsonObject, type JsonObject } from "./signedJson.ts";

/** What the decision reads from a PDU, validated. */
export interface PolicyEvent {
  readonly type: string;
  readonly roomId: string;
  readonly sender: string;
  readonly senderServer: string;
  readonly stateKey?: string;
  readonly content: JsonObject;
  /** The whole PDU, for judges that look further (e.g. media references). */
  readonly pdu: JsonObject;
}

/** The matcher's public API this uses (src/banlists/matcher.ts `Matcher`). */
export interface PolicyMatcher {
  matchUser(userId: string): readonly Rule[];
  matchServer(name: string): readonly Rule[];
  decide(matches: readonly Rule[], kind: RuleKind): Decision;
  decideServer(name: string): Decision;
  decideRoom(roomIdOrAlias: string): Decision;
}

/** A protection's opinion of one event; `spam` names the protection and says why. */
export type JudgeVerdict =
  { readonly spam: false } | { readonly spam: true; readonly protection: string; readonly reason: string };
export type ProtectionJudge = (event: PolicyEvent) => JudgeVerdict;

export interface Refusal {
  readonly cause: "user-rule" | "server-rule" | "room-rule" | "protection";
  /** For the action log and moderators; not sent to the requesting server. */
  readonly reason: string;
  readonly rule?: Rule;
  readonly protection?: string;
}

export type PolicyVerdict =
  | {
      readonly verdict: "sign";
      readonly event: PolicyEvent;
      /** Dry-run: what would have been refused. */
      readonly wouldRefuse?: Refusal;
      readonly judgeError?: string;
    }
  | { readonly verdict: "refuse"; readonly event: PolicyEvent; readonly refusal: Refusal }
  | { readonly verdict: "bad-event"; readonly reason: string };

export interface PolicyContext {
  readonly matcher: PolicyMatcher;
  readonly judge?: ProtectionJudge;
  readonly dryRun: boolean;
}

const USER_ID = /^@[^:]+:(.+)$/;

/** Validates the parts of a PDU the decision reads. Never throws. */
export function readPolicyEvent(
  pdu: unknown,
): { ok: true; event: PolicyEvent } | { ok: false; reason: string } {
  if (!isJsonObject(pdu)) return { ok: false, reason: "the event is not a JSON object" };
  const { type, room_id: roomId, sender, content, state_key: stateKey } = pdu;
  if (typeof type !== "string" || type === "") return { ok: false, reason: "the event has no type" };
  if (typeof roomId !== "string" || !roomId.startsWith("!"))
    return { ok: false, reason: "the event has no room_id" };
  if (typeof sender !== "string") return { ok: false, reason: "the event has no sender" };
  const server = USER_ID.exec(sender)?.[1];
  if (server === undefined || !isValidServerName(server))
    return { ok: false, reason: "the sender is not a valid user ID" };
  if (!isJsonObject(content)) return { ok: false, reason: "the event has no content object" };
  if (stateKey !== undefined && typeof stateKey !== "string")
    return { ok: false, reason: "the state_key is not a string" };
  return {
    ok: true,
    event: {
      type,
      roomId,
      sender,
      senderServer: server,
      content,
      pdu,
      ...(stateKey !== undefined ? { stateKey } : {}),
    },
  };
}

function fromRule(cause: Refusal["cause"], what: string, d: Decision): Refusal | undefined {
  if (d.action === "none" || d.rule === undefined) return undefined;
  const why = d.rule.reason ? `: ${d.rule.reason}` : "";
  return {
    cause,
    rule: d.rule,
    reason: `${what} is banned by ${d.rule.list} (${d.rule.entity ?? "hashed rule"})${why}`,
  };
}

/**
 * The sender's user rules and their server's rules, decided together as the user's: a user
 * exception then shields that user from a ban of their whole server, as everywhere else in Tyr.
 * (The matcher may already include server rules in matchUser; each rule counts once.)
 */
function senderRefusal(event: PolicyEvent, m: PolicyMatcher): Refusal | undefined {
  const byUser = m.matchUser(event.sender);
  const byServer = m.matchServer(event.senderServer).filter((r) => !byUser.includes(r));
  const d = m.decide(byServer.length === 0 ? byUser : [...byUser, ...byServer], "user");
  return d.rule?.kind === "server"
    ? fromRule("server-rule", `the sender's server ${event.senderServer}`, d)
    : fromRule("user-rule", `the sender ${event.sender}`, d);
}

export interface Assessment {
  readonly refusal?: Refusal;
  /** The judge threw: the event is signed (a failing protection must not take the room down). */
  readonly judgeError?: string;
}

/** Whether `event` must be refused, and why. Checks the cheapest first. */
export function assess(event: PolicyEvent, ctx: PolicyContext): Assessment {
  const byRule =
    senderRefusal(event, ctx.matcher) ??
    fromRule("room-rule", `the room ${event.roomId}`, ctx.matcher.decideRoom(event.roomId));
  if (byRule !== undefined || ctx.judge === undefined) return byRule === undefined ? {} : { refusal: byRule };
  let v: JudgeVerdict;
  try {
    v = ctx.judge(event);
  } catch (e) {
    return { judgeError: e instanceof Error ? e.message : String(e) };
  }
  return v.spam
    ? { refusal: { cause: "protection", protection: v.protection, reason: `${v.protection}: ${v.reason}` } }
    : {};
}

export function decidePolicy(pdu: unknown, ctx: PolicyContext): PolicyVerdict {
  const read = readPolicyEvent(pdu);
  if (!read.ok) return { verdict: "bad-event", reason: read.reason };
  const event = read.event;
  const { refusal, judgeError } = assess(event, ctx);
  const note = judgeError === undefined ? {} : { judgeError };
  if (refusal === undefined) return { verdict: "sign", event, ...note };
  return ctx.dryRun
    ? { verdict: "sign", event, wouldRefuse: refusal }
    : { verdict: "refuse", event, refusal };
}
