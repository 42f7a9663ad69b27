// Policy rule parsing: one state event of unknown shape in, one Rule (or a reason why not) out.
// Pure and total: any JSON value is accepted as input and nothing throws.
import type { Recommendation, Rule, RuleKind } from "./rule.ts";

/** The exception recommendation Tyr reads and writes. Tyr-specific: see EXCEPTION_RECOMMENDATIONS. */
export const TYR_EXCEPTION = "org.matrix.tyr.exception";

/**
 * Recommendation strings → Tyr's meaning.
 * `m.allow` / `org.matrix.msc4150.allow` / `org.matrix.mjolnir.allow` are deliberately NOT exceptions:
 * they mean allow-list semantics (everything not allowed is denied), which would turn a list that uses
 * them into a ban of everyone else. They are ignored with their own reason instead.
 */
const RECOMMENDATIONS: ReadonlyMap<string, Recommendation> = new Map<string, Recommendation>([
  ["m.ban", "ban"],
  ["org.matrix.mjolnir.ban", "ban"],
  ["m.takedown", "takedown"],
  ["org.matrix.msc4204.takedown", "takedown"],
  [TYR_EXCEPTION, "exception"],
]);

export const EXCEPTION_RECOMMENDATIONS: readonly string[] = [TYR_EXCEPTION];

const ALLOW_LIST_RECOMMENDATIONS = new Set([
  "m.allow",
  "org.matrix.msc4150.allow",
  "org.matrix.mjolnir.allow",
]);

/**
 * Generations of the policy event types, oldest first. For the same kind and state key the
 * highest generation holding a valid rule is the effective one.
 */
export const TYPE_GENERATIONS = ["org.matrix.mjolnir.rule.", "m.room.rule.", "m.policy.rule."] as const;
export type Generation = 0 | 1 | 2;

const KINDS: readonly RuleKind[] = ["user", "room", "server"];

/** Entities longer than this are rejected. Real IDs are ≤ 255 bytes; globs get some slack. */
export const MAX_ENTITY_LENGTH = 1024;
/** Reasons are kept up to this many UTF-16 units (longer ones are cut, with an ellipsis). */
export const MAX_REASON_LENGTH = 1024;
/** State keys are limited to 255 bytes by the spec. */
export const MAX_STATE_KEY_BYTES = 255;

/** The hashed-entity field names: MSC4205 unstable first, then the proposed stable name. */
const HASH_FIELDS = ["org.matrix.msc4205.hashes", "hashes"] as const;

export interface PolicyType {
  readonly kind: RuleKind;
  readonly generation: Generation;
}

/** Recognises a policy rule event type, or returns null for any other type. */
export function policyType(type: unknown): PolicyType | null {
  if (typeof type !== "string") return null;
  for (let g = 0; g < TYPE_GENERATIONS.length; g++) {
    const prefix = TYPE_GENERATIONS[g] as string;
    if (type.startsWith(prefix)) {
      const kind = type.slice(prefix.length) as RuleKind;
      return KINDS.includes(kind) ? { kind, generation: g as Generation } : null;
    }
  }
  return null;
}

/** The newest event type for a kind (what Tyr writes). */
export function eventTypeFor(kind: RuleKind, generation: Generation = 2): string {
  return `${TYPE_GENERATIONS[generation]}${kind}`;
}

/** Every event type that can carry a rule of this kind, newest first (`unban` clears them all). */
export function allEventTypesFor(kind: RuleKind): string[] {
  return [2, 1, 0].map((g) => eventTypeFor(kind, g as Generation));
}

export interface ParseResult {
  /** The rule, or null when the event holds no (valid) rule. */
  readonly rule: Rule | null;
  /** Why there is no rule; absent when a rule was parsed or the content is a plain removal (`{}`). */
  readonly reason?: string;
  /** True when the content is empty: the rule at this type and state key was removed. */
  readonly removal?: boolean;
  /** The recognised type, or null when the event is not a policy rule at all. */
  readonly type: PolicyType | null;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** Control characters, whitespace and line separators never appear in Matrix identifiers. */
// eslint-disable-next-line no-control-regex -- fixed pattern, not built from list content
const FORBIDDEN_CHARS = /[\u0000-\u0020\u007f-\u009f\u2028\u2029\ufeff]/;
const SERVER_CHARS = /^[a-z0-9.\-:[\]_*?]+$/i;

/** Validates an entity for its kind; returns a reason when it cannot be a valid identifier or glob. */
export function entityProblem(kind: RuleKind, entity: string): string | null {
  if (entity.length === 0) return "entity is empty";
  if (entity.length > MAX_ENTITY_LENGTH) {
    return `entity is ${entity.length} characters long (limit ${MAX_ENTITY_LENGTH})`;
  }
  if (FORBIDDEN_CHARS.test(entity)) return "entity contains whitespace or control characters";
  const first = entity[0];
  const wildFirst = first === "*" || first === "?";
  switch (kind) {
    case "user":
      if (first !== "@" && !wildFirst) return "user entity must start with @ (or a wildcard)";
      if (!entity.includes(":") && !entity.includes("*")) return "user entity has no server part";
      return null;
    case "room":
      if (first !== "!" && first !== "#" && !wildFirst) {
        return "room entity must start with ! or # (or a wildcard)";
      }
      return null;
    case "server":
      if (!SERVER_CHARS.test(entity)) return "server entity has characters not allowed in a server name";
      return null;
  }
}

/**
 * Canonical form of an MSC4205 sha256 hash: standard base64 alphabet, no padding (43 characters
 * for 32 bytes). The MSC's example is padded standard base64; Matrix elsewhere uses unpadded
 * base64, so both are accepted (and URL-safe characters are mapped to the standard alphabet).
 */
export function canonicalSha256(value: string): string | null {
  const v = value.replace(/=+$/, "").replaceAll("-", "+").replaceAll("_", "/");
  return /^[A-Za-z0-9+/]{43}$/.test(v) ? v : null;
}

function readHash(content: Record<string, unknown>): { sha256: string } | { problem: string } | null {
  for (const field of HASH_FIELDS) {
    if (!(field in content)) continue;
    const hashes = content[field];
    if (!isPlainObject(hashes)) return { problem: `${field} is not an object` };
    const raw = hashes["sha256"];
    if (typeof raw !== "string") return { problem: `${field}.sha256 is missing or not a string` };
    const sha256 = canonicalSha256(raw);
    if (sha256 === null) return { problem: `${field}.sha256 is not a base64 SHA-256 digest` };
    return { sha256 };
  }
  return null;
}

function truncateReason(reason: string): string {
  return reason.length <= MAX_REASON_LENGTH ? reason : `${reason.slice(0, MAX_REASON_LENGTH - 1)}…`;
}

function reject(type: PolicyType | null, reason: string): ParseResult {
  return { rule: null, reason, type };
}

/**
 * Parses one policy state event of the list `list` (the policy room's ID).
 * `event` is whatever came over the wire: `{type, state_key, content, event_id?, sender?}`.
 */
export function parsePolicyEvent(list: string, event: unknown): ParseResult {
  if (!isPlainObject(event)) return reject(null, "event is not an object");
  const type = policyType(event["type"]);
  if (type === null) return reject(null, "not a policy rule event type");
  const stateKey = event["state_key"];
  if (typeof stateKey !== "string") return reject(type, "state_key is missing or not a string");
  if (utf8Length(stateKey) > MAX_STATE_KEY_BYTES) return reject(type, "state_key is longer than 255 bytes");
  const content = event["content"];
  if (!isPlainObject(content)) return reject(type, "content is not an object");
  if (Object.keys(content).length === 0) return { rule: null, removal: true, type };

  const rawRecommendation = content["recommendation"];
  if (typeof rawRecommendation !== "string") return reject(type, "recommendation is missing or not a string");
  const recommendation = RECOMMENDATIONS.get(rawRecommendation);
  if (recommendation === undefined) {
    if (ALLOW_LIST_RECOMMENDATIONS.has(rawRecommendation)) {
      return reject(type, `allow-list recommendation ${rawRecommendation} is not supported`);
    }
    return reject(type, `unknown recommendation ${JSON.stringify(rawRecommendation.slice(0, 100))}`);
  }

  let entity: string | undefined;
  let sha256: string | undefined;
  const rawEntity = content["entity"];
  if (rawEntity !== undefined && typeof rawEntity !== "string") return reject(type, "entity is not a string");
  // Some writers send `entity: ""` next to the hashes (Go structs without omitempty): treat as absent.
  if (rawEntity !== undefined && rawEntity !== "") {
    const problem = entityProblem(type.kind, rawEntity);
    if (problem !== null) return reject(type, problem);
    entity = rawEntity;
  } else {
    const hash = readHash(content);
    if (hash === null) return reject(type, rawEntity === "" ? "entity is empty" : "entity is missing");
    if ("problem" in hash) return reject(type, hash.problem);
    sha256 = hash.sha256;
  }

  const rawReason = content["reason"];
  const eventId = event["event_id"];
  const sender = event["sender"];
  const rule: Rule = Object.freeze({
    list,
    kind: type.kind,
    ...(entity !== undefined ? { entity } : {}),
    ...(sha256 !== undefined ? { sha256 } : {}),
    recommendation,
    ...(typeof rawReason === "string" ? { reason: truncateReason(rawReason) } : {}),
    eventType: event["type"] as string,
    stateKey,
    ...(typeof eventId === "string" ? { eventId } : {}),
    ...(typeof sender === "string" ? { sender } : {}),
  });
  return { rule, type };
}
