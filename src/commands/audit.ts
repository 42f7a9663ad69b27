// `audit <room>`: a room security report following the "Room Security" section of the user
// documentation — who can join, whether the room is listed, guest access, who can read the
// history, encryption, the server ACL, and whether Tyr and the moderators hold the power to
// moderate. Pure: room state and a few fetched facts in, findings with a plain-language verdict out.
import { actionLevel, creators, eventLevel, userLevel } from "../matrix/power.ts";
import type { RoomState } from "../matrix/roomState.ts";
import {
  blocks,
  bold,
  bullets,
  code,
  concat,
  fmt,
  heading,
  text,
  type Fragment,
} from "../format/fragment.ts";

/** good: as it should be · info: a choice worth knowing · warning: a weakness · risk: act on it. */
export type Verdict = "good" | "info" | "warning" | "risk";

export interface Finding {
  /** What was checked: "Join rule", "Ban", … */
  readonly topic: string;
  /** What the room has, short: "public", "needs 50". */
  readonly value: string;
  readonly verdict: Verdict;
  /** One plain-language sentence. */
  readonly says: string;
}

export interface AuditFacts {
  readonly state: RoomState;
  /** Listed in the server's public room directory; undefined when that could not be checked. */
  readonly published: boolean | undefined;
  readonly botUserId: string;
  /** The people who moderate through Tyr (management room members), other than Tyr. */
  readonly moderators: readonly string[];
}

export interface AuditReport {
  readonly findings: Finding[];
  /** Findings with verdict warning or risk. */
  readonly weaknesses: number;
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

const lvl = (n: number): string => (n === Infinity ? "unlimited" : String(n));

function joinRule(s: RoomState): Finding {
  const content = s.get("m.room.join_rules")?.content ?? {};
  // Without a join_rules event nobody can join uninvited.
  const rule = str(content.join_rule) ?? "invite";
  const allowed = Array.isArray(content.allow)
    ? content.allow
        .map((a) => (a && typeof a === "object" ? str((a as Record<string, unknown>).room_id) : undefined))
        .filter((r): r is string => r !== undefined)
    : [];
  const base = { topic: "Join rule", value: rule };
  switch (rule) {
    case "public":
      return {
        ...base,
        verdict: "warning",
        says: "Anyone can join without an invitation — spammers too. Fine for a public community if Tyr's protections are on; otherwise make it invite-only or knock.",
      };
    case "invite":
    case "private":
      return { ...base, verdict: "good", says: "Only invited users can join." };
    case "knock":
      return { ...base, verdict: "good", says: "People must ask to join and be let in by a member." };
    case "restricted":
    case "knock_restricted":
      return {
        ...base,
        verdict: "good",
        says: `Only members of ${allowed.length ? allowed.join(", ") : "the allowed rooms"} can join directly${rule === "knock_restricted" ? "; others can ask to join" : ""}.`,
      };
    default:
      return {
        ...base,
        verdict: "info",
        says: "An unknown join rule: clients may treat the room as invite-only.",
      };
  }
}

function directory(published: boolean | undefined): Finding {
  const topic = "Public room directory";
  if (published === undefined)
    return {
      topic,
      value: "unknown",
      verdict: "info",
      says: "Tyr could not check whether the room is listed.",
    };
  return published
    ? {
        topic,
        value: "listed",
        verdict: "warning",
        says: "Listed in the public room directory: anyone on the server can find it. Unlist it unless it is meant to be found.",
      }
    : { topic, value: "not listed", verdict: "good", says: "Hidden from the public room directory." };
}

function guestAccess(s: RoomState): Finding {
  const v = str(s.get("m.room.guest_access")?.content.guest_access) ?? "forbidden";
  return v === "can_join"
    ? {
        topic: "Guest access",
        value: v,
        verdict: "warning",
        says: "Guests (accounts without registration) can join: throw-away visitors are hard to hold to account. Set guest access to forbidden.",
      }
    : { topic: "Guest access", value: v, verdict: "good", says: "Guests cannot join." };
}

function historyVisibility(s: RoomState, isPublic: boolean): Finding {
  // Without the event, the spec's default is "shared".
  const v = str(s.get("m.room.history_visibility")?.content.history_visibility) ?? "shared";
  const base = { topic: "History visibility", value: v };
  switch (v) {
    case "world_readable":
      return {
        ...base,
        verdict: "risk",
        says: "Anyone, even non-members and search engines, can read the whole history. Choose shared, invited or joined unless the room is meant to be public reading.",
      };
    case "shared":
      return isPublic
        ? {
            ...base,
            verdict: "warning",
            says: "Anyone who joins (and the room is public) can read everything ever said here. Consider invited or joined.",
          }
        : { ...base, verdict: "info", says: "Every member, including new ones, can read the whole history." };
    case "invited":
      return { ...base, verdict: "good", says: "Members can read from the moment they were invited." };
    case "joined":
      return { ...base, verdict: "good", says: "Members can read only from the moment they joined." };
    default:
      return { ...base, verdict: "info", says: "An unknown setting: servers treat it as shared." };
  }
}

function encryption(s: RoomState, isPublic: boolean): Finding {
  const ev = s.get("m.room.encryption");
  if (!ev)
    return {
      topic: "Encryption",
      value: "off",
      verdict: "warning",
      says: "Not end-to-end encrypted: every participating server can read the messages. Turn on encryption for private conversations (it cannot be turned off again).",
    };
  const alg = str(ev.content.algorithm) ?? "unknown algorithm";
  return isPublic
    ? {
        topic: "Encryption",
        value: alg,
        verdict: "info",
        says: "End-to-end encrypted — but anyone can join and read new messages, so it protects little here.",
      }
    : { topic: "Encryption", value: alg, verdict: "good", says: "End-to-end encrypted." };
}

function strings(v: unknown): string[] | undefined {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : undefined;
}

function serverAcl(s: RoomState): Finding[] {
  const ev = s.get("m.room.server_acl");
  const topic = "Server ACL";
  if (!ev || Object.keys(ev.content).length === 0)
    return [
      {
        topic,
        value: "none",
        verdict: "warning",
        says: "No server ACL: every server can take part, including known bad ones. Tyr writes one from the server rules of the lists it watches.",
      },
    ];
  const allow = strings(ev.content.allow) ?? [];
  const deny = strings(ev.content.deny) ?? [];
  const out: Finding[] = [];
  const denied = `${deny.length} server pattern${deny.length === 1 ? "" : "s"} denied`;
  if (allow.length === 0)
    out.push({
      topic,
      value: `allows nothing; ${denied}`,
      verdict: "risk",
      says: 'The ACL allows no server at all (a missing "allow" means none) — not even your own: nobody can send. Set allow to ["*"].',
    });
  else if (allow.includes("*"))
    out.push({
      topic,
      value: `all servers allowed; ${denied}`,
      verdict: "good",
      says:
        deny.length === 0
          ? "Present, but it denies no server."
          : "Every server may take part except the denied ones. An ACL does not remove members already in the room.",
    });
  else
    out.push({
      topic,
      value: `only ${allow.slice(0, 5).join(", ")}${allow.length > 5 ? ` and ${allow.length - 5} more` : ""}; ${denied}`,
      verdict: "info",
      says: "Only the allowed servers may take part.",
    });
  if (ev.content.allow_ip_literals !== false)
    out.push({
      topic: "Server ACL: IP addresses",
      value: "allowed",
      verdict: "warning",
      says: "Servers addressed by a bare IP address may take part: a common way round server bans. Set allow_ip_literals to false.",
    });
  return out;
}

/** Room version 12: who holds the creators' unlimited power (nobody can ban, kick or demote them). */
function creatorPower(s: RoomState, facts: AuditFacts): Finding[] {
  const held = [...creators(s)];
  if (held.length === 0) return [];
  const others = held.filter((u) => u !== facts.botUserId && !facts.moderators.includes(u));
  return [
    {
      topic: "Creator power",
      value: held.join(", "),
      verdict: others.length > 0 ? "info" : "good",
      says: `${held.length === 1 ? "This creator holds" : "These creators hold"} unlimited power (room version ${String(s.createEvent?.content.room_version)}): nobody, Tyr included, can ban, kick or demote ${held.length === 1 ? "them" : "any of them"}.${others.length > 0 ? ` Not a moderator through Tyr: ${others.join(", ")}.` : ""}`,
    },
  ];
}

function powerFinding(s: RoomState, facts: AuditFacts, topic: string, needed: number, what: string): Finding {
  const bot = userLevel(s, facts.botUserId);
  const botCan = bot >= needed;
  const able = facts.moderators.filter((m) => userLevel(s, m) >= needed);
  const defaultLevel = s.powerLevels.users_default;
  const everyone = typeof defaultLevel === "number" && defaultLevel >= needed;
  const value = `needs ${lvl(needed)}; Tyr has ${lvl(bot)}${botCan ? "" : " (not enough)"}; ${able.length} of ${facts.moderators.length} moderator${facts.moderators.length === 1 ? "" : "s"} can`;
  if (everyone)
    return {
      topic,
      value,
      verdict: "risk",
      says: `Every member can ${what}: the default user level (${defaultLevel}) is high enough. Lower users_default or raise the required level.`,
    };
  if (!botCan)
    return {
      topic,
      value,
      verdict: "risk",
      says: `Tyr cannot ${what} here. Give Tyr power level ${lvl(needed)} or more.`,
    };
  if (able.length === 0)
    return {
      topic,
      value,
      verdict: "warning",
      says: `Only Tyr can ${what} here — no moderator could step in if Tyr were down.`,
    };
  return { topic, value, verdict: "good", says: `Tyr and ${able.length} moderator(s) can ${what}.` };
}

export function auditRoom(facts: AuditFacts): AuditReport {
  const s = facts.state;
  const jr = joinRule(s);
  const isPublic = jr.value === "public";
  const findings: Finding[] = [
    jr,
    directory(facts.published),
    guestAccess(s),
    historyVisibility(s, isPublic),
    encryption(s, isPublic),
    ...serverAcl(s),
    ...creatorPower(s, facts),
    powerFinding(s, facts, "Ban", actionLevel(s, "ban"), "ban"),
    powerFinding(s, facts, "Kick", actionLevel(s, "kick"), "kick"),
    powerFinding(s, facts, "Redact", actionLevel(s, "redact"), "remove other people's messages"),
    powerFinding(
      s,
      facts,
      "Change the server ACL",
      eventLevel(s, "m.room.server_acl", true),
      "change the server ACL",
    ),
    powerFinding(
      s,
      facts,
      "Change power levels",
      eventLevel(s, "m.room.power_levels", true),
      "change power levels (mute, promote)",
    ),
  ];
  return {
    findings,
    weaknesses: findings.filter((f) => f.verdict === "warning" || f.verdict === "risk").length,
  };
}

const MARK: Record<Verdict, string> = { good: "✅", info: "ℹ️", warning: "⚠️", risk: "❌" };

/** The report as a reply: one line per finding, weaknesses counted up front. */
export function renderAudit(report: AuditReport, roomLabel: string): Fragment {
  const risks = report.findings.filter((f) => f.verdict === "risk").length;
  const summary =
    report.weaknesses === 0
      ? text("No weaknesses found.")
      : text(
          `${report.weaknesses} weakness${report.weaknesses === 1 ? "" : "es"} found${risks ? ` (${risks} serious)` : ""}.`,
        );
  const lines = report.findings.map((f) =>
    concat(`${MARK[f.verdict]} `, bold(f.topic), ": ", code(f.value), " — ", f.says),
  );
  return blocks(heading(4, fmt`Security audit of ${code(roomLabel)}`), summary, bullets(lines));
}
