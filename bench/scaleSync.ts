// The scale benchmark's initial /sync (bench/scale.bench.ts): generated as objects, turned into
// JSON text, and parsed from that text once the objects are gone, as the live bot only ever has
// the response text (src/matrix/http.ts). Deterministic: seeded PRNG.
import { Matcher } from "../src/banlists/matcher.ts";
import type { Rule } from "../src/banlists/rule.ts";
import type { RawEvent, SyncResponse } from "../src/matrix/syncTypes.ts";
import { PROTECTED_ROOMS_KEY, WATCHED_LISTS_KEY } from "../src/policy/settings.ts";
import { dataset, makeChecks, makeHashedRules, makeRules } from "./matcher.bench.ts";
import { BENCH_BOT, BENCH_MODERATOR } from "./scaleStandIns.ts";
import { mulberry32 } from "../tests/harness/prng.ts";

export const ROOMS = 1_000;
const MEMBERS = 100_000;
export const ROOMS_PER_MEMBER = 3;
/** Members a rule bans (the rest are unlisted). */
export const BANNED_MEMBERS = 2_000;
export const HASHED = 1_000;
export const LISTS = ["!community:example.org", "!shared-a:example.org", "!shared-b:example.org"];
export const MANAGEMENT = "!management:bench.example";

let eventSeq = 0;
export function stateEvent(
  type: string,
  stateKey: string,
  content: Record<string, unknown>,
  sender = BENCH_BOT,
): RawEvent {
  return {
    type,
    state_key: stateKey,
    content,
    sender,
    event_id: `$e${(eventSeq++).toString(36)}`,
    origin_server_ts: 1,
  };
}

function ruleEvent(r: Rule): RawEvent {
  const content: Record<string, unknown> = {
    recommendation: r.recommendation === "takedown" ? "m.takedown" : "m.ban",
    reason: r.reason,
  };
  if (r.sha256 !== undefined) content["org.matrix.msc4205.hashes"] = { sha256: r.sha256 };
  else content.entity = r.entity;
  return stateEvent(r.eventType, r.stateKey, content, "@lister:example.org");
}

function roomState(creator: string, extra: RawEvent[]): RawEvent[] {
  return [
    stateEvent("m.room.create", "", { creator, room_version: "10" }, creator),
    stateEvent("m.room.member", BENCH_BOT, { membership: "join" }),
    stateEvent("m.room.power_levels", "", { users: { [BENCH_BOT]: 100 }, ban: 50, kick: 50, redact: 50 }),
    ...extra,
  ];
}

export interface Scenario {
  /** The initial /sync response as JSON text. */
  text: string;
  members: string[];
  /** Members no rule matches (the one-rule changes name them). */
  unlisted: string[];
  rules: number;
  memberships: number;
}

function scenario(): Scenario {
  const d = dataset(0x5ca1e);
  const rand = mulberry32(0x5ca1e);
  const base = makeRules(d);
  const pool = makeChecks(d, base, MEMBERS * 2, true);
  // Half of the hashed user rules name IDs of the pool, so some members are matched by hash only.
  const rules = [...makeHashedRules(d, pool, HASHED), ...base.slice(HASHED)];
  const m = new Matcher({ listOrder: LISTS });
  m.addAll(rules);
  const listed: string[] = [];
  const unlisted: string[] = [];
  for (const id of pool) (m.matchUser(id).length > 0 ? listed : unlisted).push(id);
  const members = [...listed.slice(0, BANNED_MEMBERS), ...unlisted.slice(0, MEMBERS - BANNED_MEMBERS)];

  const roomIds = Array.from({ length: ROOMS }, (_, i) => `!room${i}:bench.example`);
  const { text, memberships } = syncText(roomIds, members, rules, rand);
  return {
    text,
    members,
    unlisted: members.slice(BANNED_MEMBERS),
    rules: rules.length,
    memberships,
  };
}

/** The initial /sync body as JSON text: every room's full state, the lists, the account data. */
function syncText(
  roomIds: string[],
  members: string[],
  rules: Rule[],
  rand: () => number,
): { text: string; memberships: number } {
  const roomMembers: RawEvent[][] = roomIds.map(() => []);
  let memberships = 0;
  for (const user of members) {
    const picked = new Set<number>();
    while (picked.size < ROOMS_PER_MEMBER) picked.add(Math.floor(rand() * ROOMS));
    for (const i of picked) {
      roomMembers[i]!.push(stateEvent("m.room.member", user, { membership: "join" }, user));
      memberships++;
    }
  }
  const join: NonNullable<NonNullable<SyncResponse["rooms"]>["join"]> = {};
  join[MANAGEMENT] = {
    state: {
      events: roomState(BENCH_MODERATOR, [
        stateEvent("m.room.member", BENCH_MODERATOR, { membership: "join" }, BENCH_MODERATOR),
      ]),
    },
    timeline: { events: [] },
  };
  for (const list of LISTS) {
    join[list] = {
      state: {
        events: roomState("@lister:example.org", rules.filter((r) => r.list === list).map(ruleEvent)),
      },
      timeline: { events: [] },
    };
  }
  for (const [i, room] of roomIds.entries())
    join[room] = { state: { events: roomState(BENCH_MODERATOR, roomMembers[i]!) }, timeline: { events: [] } };
  const body: SyncResponse = {
    next_batch: "s1",
    account_data: {
      events: [
        { type: WATCHED_LISTS_KEY, content: { references: LISTS } },
        { type: PROTECTED_ROOMS_KEY, content: { rooms: roomIds } },
      ],
    },
    rooms: { join },
  };
  return { text: JSON.stringify(body), memberships };
}

/** The scenario with its /sync body parsed from JSON text. */
export type ParsedScenario = Omit<Scenario, "text"> & { body: SyncResponse };

export function generateScenario(): ParsedScenario {
  const { text, ...rest } = scenario();
  return { ...rest, body: JSON.parse(text) as SyncResponse };
}
