// Ban propagation, the pure part: which bans made by hand (in a client, not through Tyr) are
// worth asking about, the prompt that offers one reaction per writable list, and what a reaction
// on it means.
import { code, fmt, join, text, type Fragment } from "../format/fragment.ts";
import { normaliseReactionKey } from "../format/content.ts";

/** One keycap per list, in watch (priority) order: the prompt offers at most this many lists. */
export const LIST_KEYS = ["1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣"] as const;
export const DISMISS_KEY = "❌";

export interface MembershipChange {
  readonly stateKey: string;
  readonly sender: string;
  readonly content: Record<string, unknown>;
  /** The membership this event replaced, when known. */
  readonly previous?: string;
  /** origin_server_ts */
  readonly ts: number;
}

export interface HandBan {
  readonly room: string;
  readonly target: string;
  readonly by: string;
  readonly reason: string;
}

export interface HandBanFacts {
  readonly me: string;
  readonly isProtected: boolean;
  /** When Tyr's stay in the room began (undefined: not joined): older bans are history. */
  readonly joinedAt: number | undefined;
  coveredByRule(user: string): boolean;
}

/**
 * A ban someone made by hand in a protected room that no rule covers yet, or undefined. Bans
 * Tyr made (rules, protections, commands) are already everywhere they should be, and bans from
 * before Tyr joined (the state of a room just protected) are not news.
 */
export function handBan(room: string, ev: MembershipChange, facts: HandBanFacts): HandBan | undefined {
  if (!facts.isProtected || ev.content.membership !== "ban" || ev.previous === "ban") return undefined;
  if (facts.joinedAt === undefined || ev.ts <= facts.joinedAt) return undefined;
  if (ev.sender === facts.me || ev.stateKey === facts.me || !ev.stateKey.startsWith("@")) return undefined;
  if (facts.coveredByRule(ev.stateKey)) return undefined;
  const reason = typeof ev.content.reason === "string" ? ev.content.reason.trim().slice(0, 500) : "";
  return { room, target: ev.stateKey, by: ev.sender, reason };
}

export interface ListChoice {
  readonly list: string;
  /** Shortcode when the list has one, else its alias or room ID. */
  readonly label: string;
}

export interface Prompt {
  readonly body: Fragment;
  /** Normalised reaction key → list room ID. */
  readonly keys: ReadonlyMap<string, string>;
  /** The reactions Tyr adds itself, so a moderator only has to click. */
  readonly reactions: readonly string[];
}

/** The prompt for one hand ban; undefined when there is no list to offer. */
export function propagationPrompt(
  ban: HandBan,
  roomLabel: string,
  lists: readonly ListChoice[],
  commandPrefix: string,
): Prompt | undefined {
  const offered = lists.slice(0, LIST_KEYS.length);
  if (offered.length === 0) return undefined;
  const keys = listKeys(offered);
  const options = offered.map((l, i) => fmt`${LIST_KEYS[i]!} ${code(l.label)}`);
  const where = offered.length === 1 ? code(offered[0]!.label) : text("a list");
  const body = fmt`${code(ban.by)} banned ${code(ban.target)} in ${code(roomLabel)}${ban.reason ? ` (${ban.reason})` : ""}. Add to ${where}? React ${join(options, " · ")} to ban them in every protected room and for everyone watching the list, or ${DISMISS_KEY} to keep it a ban in this room only. (Same as ${code(`${commandPrefix} ban ${offered[0]!.label} ${ban.target}${ban.reason ? ` ${ban.reason}` : ""}`)}.)`;
  return { body, keys, reactions: [...offered.map((_, i) => LIST_KEYS[i]!), DISMISS_KEY] };
}

/** Normalised keycap → list room ID, for the lists offered (in order, at most LIST_KEYS.length). */
export function listKeys(offered: readonly ListChoice[]): Map<string, string> {
  const keys = new Map<string, string>();
  offered.slice(0, LIST_KEYS.length).forEach((l, i) => keys.set(normaliseReactionKey(LIST_KEYS[i]!), l.list));
  return keys;
}

export type Choice = { readonly kind: "list"; readonly list: string } | { readonly kind: "dismiss" };

/** What a reaction key on the prompt asks for; undefined for any other key. */
export function choiceOf(key: string, keys: ReadonlyMap<string, string>): Choice | undefined {
  const k = normaliseReactionKey(key);
  if (k === normaliseReactionKey(DISMISS_KEY)) return { kind: "dismiss" };
  const list = keys.get(k);
  return list === undefined ? undefined : { kind: "list", list };
}
