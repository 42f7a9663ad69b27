// The redaction algorithm (spec: room versions, "Redactions"), per room version. A policy server
// signs the *redacted* event: Synapse checks its signature with VerifyJsonRequest.from_event, which
// verifies `redact_event(event).get_pdu_json()`. So the signature survives a later redaction, and
// which content keys survive must match Synapse's rules for the room's version exactly.
import { isJsonObject, type JsonObject } from "./signedJson.ts";

export interface RedactionRules {
  /** v11+ (MSC2176/MSC3821): origin, membership, prev_state no longer kept; create content kept
   *  whole; power levels keep `invite`; redactions keep `redacts`; member keeps third_party_invite.signed. */
  readonly updatedRules: boolean;
  /** v1–v5: m.room.aliases keeps `aliases`. */
  readonly aliasesKept: boolean;
  /** v8+: join rules keep `allow`. */
  readonly restrictedJoinRule: boolean;
  /** v9+: member events keep `join_authorised_via_users_server`. */
  readonly restrictedJoinRuleFix: boolean;
  /** v11+: the create event's `creator` has no special meaning (kept only as part of the whole content). */
  readonly implicitRoomCreator: boolean;
  /** v12+: the create event has no `room_id` (the room ID is derived from its event ID). */
  readonly roomIdsAsHashes: boolean;
}

function rules(v: number): RedactionRules {
  return {
    updatedRules: v >= 11,
    aliasesKept: v <= 5,
    restrictedJoinRule: v >= 8,
    restrictedJoinRuleFix: v >= 9,
    implicitRoomCreator: v >= 11,
    roomIdsAsHashes: v >= 12,
  };
}

/** The stable room versions Synapse 1.163 supports. */
export const SUPPORTED_ROOM_VERSIONS: readonly string[] = [
  "1",
  "2",
  "3",
  "4",
  "5",
  "6",
  "7",
  "8",
  "9",
  "10",
  "11",
  "12",
];
const BY_VERSION = new Map(SUPPORTED_ROOM_VERSIONS.map((v) => [v, rules(Number(v))]));

/** The rules of a room version; undefined for versions Tyr does not know (refuse rather than guess). */
export function redactionRules(roomVersion: string): RedactionRules | undefined {
  return BY_VERSION.get(roomVersion);
}

const KEPT_TOP_LEVEL = [
  "event_id",
  "sender",
  "room_id",
  "hashes",
  "signatures",
  "content",
  "type",
  "state_key",
  "depth",
  "prev_events",
  "auth_events",
  "origin_server_ts",
];
const KEPT_BEFORE_V11 = ["prev_state", "membership", "origin"];
const KEPT_UNSIGNED = ["age_ts", "replaces_state"];

/** Content keys kept for an event type, beyond the special cases in `redactedContent`. */
function keptContentKeys(type: string, r: RedactionRules): readonly string[] {
  switch (type) {
    case "m.room.member":
      return r.restrictedJoinRuleFix ? ["membership", "join_authorised_via_users_server"] : ["membership"];
    case "m.room.create":
      return r.implicitRoomCreator ? [] : ["creator"];
    case "m.room.join_rules":
      return r.restrictedJoinRule ? ["join_rule", "allow"] : ["join_rule"];
    case "m.room.power_levels": {
      const keys = [
        "users",
        "users_default",
        "events",
        "events_default",
        "state_default",
        "ban",
        "kick",
        "redact",
      ];
      return r.updatedRules ? [...keys, "invite"] : keys;
    }
    case "m.room.aliases":
      return r.aliasesKept ? ["aliases"] : [];
    case "m.room.history_visibility":
      return ["history_visibility"];
    case "m.room.redaction":
      return r.updatedRules ? ["redacts"] : [];
    default:
      return [];
  }
}

function redactedContent(type: string, content: JsonObject, r: RedactionRules): JsonObject {
  // v11+: the create event's content is never redacted. (Spread, not Object.assign: a
  // `__proto__` key must stay a key, not become the prototype.)
  const out: JsonObject = type === "m.room.create" && r.updatedRules ? { ...content } : {};
  for (const key of keptContentKeys(type, r)) if (Object.hasOwn(content, key)) out[key] = content[key];
  if (type === "m.room.member" && r.updatedRules && isJsonObject(content["third_party_invite"])) {
    const invite = content["third_party_invite"];
    out["third_party_invite"] = Object.hasOwn(invite, "signed") ? { signed: invite["signed"] } : {};
  }
  return out;
}

/**
 * The redacted copy of a PDU under `r`. Values are shared with the input, not copied. Throws
 * TypeError when `type` is not a string or `content` is missing (Synapse refuses those too).
 */
export function redactEvent(event: JsonObject, r: RedactionRules): JsonObject {
  const type = event["type"];
  if (typeof type !== "string") throw new TypeError("event has no string `type`");
  if (!Object.hasOwn(event, "content")) throw new TypeError("event has no `content`");
  const content = event["content"];
  const keep = new Set(r.updatedRules ? KEPT_TOP_LEVEL : [...KEPT_TOP_LEVEL, ...KEPT_BEFORE_V11]);
  if (type === "m.room.create" && r.roomIdsAsHashes) keep.delete("room_id");
  const out: JsonObject = {};
  for (const key of Object.keys(event)) if (keep.has(key)) out[key] = event[key];
  out["content"] = isJsonObject(content) ? redactedContent(type, content, r) : {};
  if (Object.hasOwn(event, "unsigned")) {
    const unsigned = event["unsigned"];
    const kept: JsonObject = {};
    if (isJsonObject(unsigned))
      for (const key of KEPT_UNSIGNED) if (Object.hasOwn(unsigned, key)) kept[key] = unsigned[key];
    out["unsigned"] = kept;
  }
  return out;
}
