// Shared fixtures for the ACL tests.
import type { Recommendation, Rule } from "../../../src/banlists/rule.ts";
import { canonicalJsonBytes } from "../../../src/util/canonicalJson.ts";
export { mulberry32 } from "../../harness/prng.ts";

let counter = 0;

export function serverRule(
  list: string,
  entity: string | undefined,
  recommendation: Recommendation = "ban",
  sha256?: string,
): Rule {
  counter++;
  return {
    list,
    kind: "server",
    entity,
    sha256,
    recommendation,
    eventType: "m.policy.rule.server",
    stateKey: `rule-${counter}`,
  };
}

export function bans(list: string, ...entities: string[]): Rule[] {
  return entities.map((e) => serverRule(list, e));
}

/** An m.room.server_acl PDU at its largest for modern room versions (20 prev_events, 10 auth
 *  events, 255-byte IDs and signing server name, hashes, signature, unsigned). */
export function fullEventBytes(content: unknown): number {
  const id = (n: number): string => `$${"A".repeat(42)}${n % 10}`;
  const server = "s".repeat(255);
  return canonicalJsonBytes({
    auth_events: Array.from({ length: 10 }, (_, i) => id(i)),
    prev_events: Array.from({ length: 20 }, (_, i) => id(i)),
    content,
    depth: Number.MAX_SAFE_INTEGER,
    hashes: { sha256: "h".repeat(43) },
    origin: server,
    origin_server_ts: 1_900_000_000_000,
    room_id: `!${"r".repeat(254)}`,
    sender: `@${"u".repeat(100)}:${"s".repeat(154)}`,
    signatures: { [server]: { "ed25519:a_key_id_of_some_length": "S".repeat(86) } },
    state_key: "",
    type: "m.room.server_acl",
    unsigned: { age_ts: 1_900_000_000_000, replaces_state: id(0) },
  });
}
