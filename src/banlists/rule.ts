// The policy model shared by matching, ACL building and commands. Plain data only.

export type RuleKind = "user" | "room" | "server";

/** What a rule asks for. `ban` covers m.ban and org.matrix.mjolnir.ban; `takedown` covers
 *  m.takedown and org.matrix.msc4204.takedown; `exception` overrides bans from lower-priority lists. */
export type Recommendation = "ban" | "takedown" | "exception";

export interface Rule {
  /** Room ID of the policy list the rule lives in. */
  readonly list: string;
  readonly kind: RuleKind;
  /** The glob or literal entity; absent for hashed rules. */
  readonly entity?: string;
  /** Base64 SHA-256 of the entity (MSC4205) when the rule is hashed. */
  readonly sha256?: string;
  readonly recommendation: Recommendation;
  readonly reason?: string;
  /** The event type the rule was read from (m.policy.rule.user, m.room.rule.user, …). */
  readonly eventType: string;
  readonly stateKey: string;
  readonly eventId?: string;
  readonly sender?: string;
}
