// Immutable revisions of one policy list. Applying state events yields a new revision plus a diff
// (added / modified / removed effective rules). Revisions share structure (see pmap.ts), so a list
// that floods thousands of changes costs O(log n) per change, never a rebuild.
import { PMap } from "./pmap.ts";
import { parsePolicyEvent, type Generation } from "./parse.ts";
import type { Rule, RuleKind } from "./rule.ts";

/** The rule held at each type generation for one (kind, state key); index = Generation. */
type Slot = readonly [Rule | undefined, Rule | undefined, Rule | undefined];

interface EventRef {
  readonly slotKey: string;
  readonly generation: Generation;
}

export interface RuleChange {
  readonly previous: Rule;
  readonly current: Rule;
}

/** Changes of effective rules. `modified` = same list, kind and state key, different rule object. */
export interface RuleDiff {
  readonly added: readonly Rule[];
  readonly modified: readonly RuleChange[];
  readonly removed: readonly Rule[];
}

/** A policy event that held no valid rule, and why (for the log / the moderators). */
export interface Rejection {
  readonly eventType: string;
  readonly stateKey: string;
  readonly eventId?: string;
  readonly reason: string;
}

export interface ApplyResult {
  readonly revision: PolicyListRevision;
  readonly diff: RuleDiff;
  readonly rejected: readonly Rejection[];
}

export const EMPTY_DIFF: RuleDiff = Object.freeze({
  added: Object.freeze([]),
  modified: Object.freeze([]),
  removed: Object.freeze([]),
});

export function isEmptyDiff(diff: RuleDiff): boolean {
  return diff.added.length === 0 && diff.modified.length === 0 && diff.removed.length === 0;
}

function slotKey(kind: RuleKind, stateKey: string): string {
  return `${kind}\u0000${stateKey}`;
}

/** Newest generation with a rule wins. */
function effectiveOf(slot: Slot | undefined): Rule | undefined {
  if (slot === undefined) return undefined;
  return slot[2] ?? slot[1] ?? slot[0];
}

const KIND_INDEX: Record<RuleKind, 0 | 1 | 2> = { user: 0, room: 1, server: 2 };

export class PolicyListRevision {
  /** Room ID of the policy list. */
  readonly roomId: string;
  /** Increases by one for every applied batch that changed the list's state. */
  readonly revisionId: number;
  private readonly slots: PMap<Slot>;
  private readonly events: PMap<EventRef>;
  private readonly kindCounts: readonly [number, number, number];

  /** @internal use emptyRevision / fromState / applyStateEvent. */
  constructor(
    roomId: string,
    revisionId: number,
    slots: PMap<Slot>,
    events: PMap<EventRef>,
    kindCounts: readonly [number, number, number],
  ) {
    this.roomId = roomId;
    this.revisionId = revisionId;
    this.slots = slots;
    this.events = events;
    this.kindCounts = kindCounts;
  }

  /** Number of effective rules. */
  get size(): number {
    return this.slots.size;
  }

  count(kind: RuleKind): number {
    return this.kindCounts[KIND_INDEX[kind]];
  }

  /** The effective rule for a kind and state key. */
  get(kind: RuleKind, stateKey: string): Rule | undefined {
    return effectiveOf(this.slots.get(slotKey(kind, stateKey)));
  }

  /** Every type variant present for a kind and state key, newest type first. */
  variants(kind: RuleKind, stateKey: string): Rule[] {
    const slot = this.slots.get(slotKey(kind, stateKey));
    return slot === undefined ? [] : [slot[2], slot[1], slot[0]].filter((r): r is Rule => r !== undefined);
  }

  /** The rule currently read from this event, if the event is still current state and valid. */
  ruleForEvent(eventId: string): Rule | undefined {
    const ref = this.events.get(eventId);
    return ref === undefined ? undefined : this.slots.get(ref.slotKey)?.[ref.generation];
  }

  *rules(kind?: RuleKind): Generator<Rule> {
    for (const slot of this.slots.values()) {
      const rule = effectiveOf(slot) as Rule;
      if (kind === undefined || rule.kind === kind) yield rule;
    }
  }

  /** @internal */
  get _slots(): PMap<Slot> {
    return this.slots;
  }
  /** @internal */
  get _events(): PMap<EventRef> {
    return this.events;
  }
}

export function emptyRevision(roomId: string): PolicyListRevision {
  return new PolicyListRevision(roomId, 0, PMap.empty(), PMap.empty(), [0, 0, 0]);
}

/**
 * Applies state events in order (later events win) and returns the new revision with the net diff
 * against `revision`: a rule added and removed in the same batch does not appear at all.
 * Non-policy events are skipped silently; invalid policy events count as "no rule" and are listed
 * in `rejected`.
 */
export function applyStateEvents(revision: PolicyListRevision, events: Iterable<unknown>): ApplyResult {
  const roomId = revision.roomId;
  const before = new Map<string, Rule | undefined>();
  const rejected: Rejection[] = [];
  const counts: [number, number, number] = [
    revision.count("user"),
    revision.count("room"),
    revision.count("server"),
  ];
  let eventsMap = revision._events;

  const slots = revision._slots.withMutations((slotsB) => {
    eventsMap = eventsMap.withMutations((eventsB) => {
      for (const event of events) {
        const parsed = parsePolicyEvent(roomId, event);
        if (parsed.type === null) continue;
        const ev = event as Record<string, unknown>;
        const stateKey = typeof ev["state_key"] === "string" ? ev["state_key"] : "";
        const eventId = typeof ev["event_id"] === "string" ? ev["event_id"] : undefined;
        const eventType = ev["type"] as string;
        const roomOfEvent = ev["room_id"];
        const rule = parsed.rule;
        if (typeof roomOfEvent === "string" && roomOfEvent !== roomId) {
          rejected.push({
            eventType,
            stateKey,
            ...(eventId ? { eventId } : {}),
            reason: "event is from another room",
          });
          continue;
        }
        if (rule === null && parsed.reason !== undefined) {
          rejected.push({ eventType, stateKey, ...(eventId ? { eventId } : {}), reason: parsed.reason });
        }
        if (typeof ev["state_key"] !== "string") continue; // no slot to clear without a state key
        const key = slotKey(parsed.type.kind, stateKey);
        const gen = parsed.type.generation;
        const old = slotsB.get(key);
        if (!before.has(key)) before.set(key, effectiveOf(old));
        const oldRule = old?.[gen];
        if (oldRule?.eventId !== undefined) eventsB.delete(oldRule.eventId);
        if (rule !== null && rule.eventId !== undefined) {
          // The same event ID cannot be current state twice; drop any stale mapping first.
          eventsB.set(rule.eventId, { slotKey: key, generation: gen });
        }
        const next: [Rule | undefined, Rule | undefined, Rule | undefined] = old
          ? [old[0], old[1], old[2]]
          : [undefined, undefined, undefined];
        next[gen] = rule ?? undefined;
        const oldEffective = effectiveOf(old);
        if (next[0] === undefined && next[1] === undefined && next[2] === undefined) slotsB.delete(key);
        else slotsB.set(key, Object.freeze(next));
        const newEffective = effectiveOf(next);
        if (oldEffective !== undefined) counts[KIND_INDEX[oldEffective.kind]]--;
        if (newEffective !== undefined) counts[KIND_INDEX[newEffective.kind]]++;
      }
    });
  });

  if (slots === revision._slots && eventsMap === revision._events) {
    return { revision, diff: EMPTY_DIFF, rejected };
  }
  const added: Rule[] = [];
  const removed: Rule[] = [];
  const modified: RuleChange[] = [];
  for (const [key, previous] of before) {
    const current = effectiveOf(slots.get(key));
    if (previous === current) continue;
    if (previous === undefined) added.push(current as Rule);
    else if (current === undefined) removed.push(previous);
    else modified.push({ previous, current });
  }
  const next = new PolicyListRevision(roomId, revision.revisionId + 1, slots, eventsMap, counts);
  return { revision: next, diff: { added, modified, removed }, rejected };
}

export function applyStateEvent(revision: PolicyListRevision, event: unknown): ApplyResult {
  return applyStateEvents(revision, [event]);
}

/** Builds a revision from a room's full state (e.g. `/state` or the sync state block). */
export function fromState(roomId: string, events: Iterable<unknown>): ApplyResult {
  return applyStateEvents(emptyRevision(roomId), events);
}

/** What a state event looks like after redaction: policy content has no protected keys, so `{}`. */
export function redactedStateEvent<E extends Record<string, unknown>>(event: E): E {
  return { ...event, content: {} };
}

/**
 * Applies the redaction of `redactedEventId` (the `redacts` of an m.room.redaction). Only has an
 * effect when that event is the current state of a rule; redacting a superseded event changes nothing.
 */
export function applyRedaction(revision: PolicyListRevision, redactedEventId: string): ApplyResult {
  const rule = revision.ruleForEvent(redactedEventId);
  if (rule === undefined) return { revision, diff: EMPTY_DIFF, rejected: [] };
  return applyStateEvent(revision, {
    type: rule.eventType,
    state_key: rule.stateKey,
    event_id: redactedEventId,
    content: {},
  });
}

/**
 * The diff that turns `from` into `to` (e.g. after reloading a list's full state following a gap).
 * Both must be revisions of the same list.
 */
export function diffRevisions(from: PolicyListRevision, to: PolicyListRevision): RuleDiff {
  const added: Rule[] = [];
  const removed: Rule[] = [];
  const modified: RuleChange[] = [];
  const fromSlots = from._slots;
  const toSlots = to._slots;
  for (const [key, slot] of toSlots.entries()) {
    const current = effectiveOf(slot) as Rule;
    const previous = effectiveOf(fromSlots.get(key));
    if (previous === undefined) added.push(current);
    else if (previous !== current && !sameRule(previous, current)) modified.push({ previous, current });
  }
  for (const [key, slot] of fromSlots.entries()) {
    if (!toSlots.has(key)) removed.push(effectiveOf(slot) as Rule);
  }
  return { added, modified, removed };
}

/** Field-by-field equality of two rules (a reload produces equal but distinct objects). */
export function sameRule(a: Rule, b: Rule): boolean {
  return (
    a.list === b.list &&
    a.kind === b.kind &&
    a.entity === b.entity &&
    a.sha256 === b.sha256 &&
    a.recommendation === b.recommendation &&
    a.reason === b.reason &&
    a.eventType === b.eventType &&
    a.stateKey === b.stateKey &&
    a.eventId === b.eventId &&
    a.sender === b.sender
  );
}

/** True when two rules match the same entities with the same recommendation (reason may differ). */
export function sameEffect(a: Rule, b: Rule): boolean {
  return (
    a.kind === b.kind &&
    a.entity === b.entity &&
    a.sha256 === b.sha256 &&
    a.recommendation === b.recommendation
  );
}
