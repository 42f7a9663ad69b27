// Where the bot keeps its watched lists and protected rooms: its own Matrix account data, under
// the keys Mjolnir and Draupnir use, so an existing account switches to Tyr in place.
//   org.matrix.mjolnir.watched_lists   { references: ["https://matrix.to/#/!room:server", …] }
//   org.matrix.mjolnir.protected_rooms { rooms: ["!room:server", …] }
// Pure parsing: stored data is untrusted (edited by hand, by other bots, by older versions).
import { parseMatrixLink, parseRoomIdOrAlias, roomRefToString } from "../commands/framework/index.ts";

export const WATCHED_LISTS_KEY = "org.matrix.mjolnir.watched_lists";
export const PROTECTED_ROOMS_KEY = "org.matrix.mjolnir.protected_rooms";

export interface ParsedRooms {
  /** Room IDs (or aliases still to resolve), de-duplicated, in stored order. */
  rooms: string[];
  problems: string[];
}

/** A room ID/alias from a bare reference or a matrix.to permalink; undefined when neither. */
export function roomFromReference(ref: string): string | undefined {
  const trimmed = ref.trim();
  if (trimmed.startsWith("https://matrix.to/") || trimmed.startsWith("matrix:")) {
    const link = parseMatrixLink(trimmed);
    if (link.ok && link.value.kind === "room") return roomRefToString(link.value.room);
    return undefined;
  }
  const r = parseRoomIdOrAlias(trimmed);
  return r.ok ? roomRefToString(r.value) : undefined;
}

function parseList(content: unknown, field: string, key: string): ParsedRooms {
  const problems: string[] = [];
  const list = (content as Record<string, unknown> | null | undefined)?.[field];
  if (list === undefined) return { rooms: [], problems };
  if (!Array.isArray(list)) return { rooms: [], problems: [`${key}.${field}: expected a list, ignoring it`] };
  const seen = new Set<string>();
  const rooms: string[] = [];
  for (const [i, item] of list.entries()) {
    const room = typeof item === "string" ? roomFromReference(item) : undefined;
    if (room === undefined) {
      problems.push(`${key}.${field}[${i}]: not a room reference, skipped`);
      continue;
    }
    if (!seen.has(room)) rooms.push(room);
    seen.add(room);
  }
  return { rooms, problems };
}

export function parseWatchedLists(content: unknown): ParsedRooms {
  return parseList(content, "references", WATCHED_LISTS_KEY);
}

export function parseProtectedRooms(content: unknown): ParsedRooms {
  return parseList(content, "rooms", PROTECTED_ROOMS_KEY);
}

/** Keeps fields other software stored beside ours. */
export function serialiseWatchedLists(previous: unknown, rooms: readonly string[]): Record<string, unknown> {
  const base = previous && typeof previous === "object" && !Array.isArray(previous) ? previous : {};
  return { ...base, references: rooms.map((r) => `https://matrix.to/#/${encodeURIComponent(r)}`) };
}

export function serialiseProtectedRooms(
  previous: unknown,
  rooms: readonly string[],
): Record<string, unknown> {
  const base = previous && typeof previous === "object" && !Array.isArray(previous) ? previous : {};
  return { ...base, rooms: [...rooms] };
}

// ---- per-list settings ------------------------------------------------------------------------
// Tyr's own per-list options, beside the Mjolnir keys (which have no room for them):
//   org.matrix.tyr.list_settings { lists: { "!list:server": { autoSuspend: true, autoTakedownRooms: true } } }

export const LIST_SETTINGS_KEY = "org.matrix.tyr.list_settings";

export interface ListSettings {
  /** Local accounts this list bans are also suspended on Tyr's homeserver. */
  readonly autoSuspend: boolean;
  /** Rooms this list bans (literal room IDs) are taken down on Tyr's homeserver. */
  readonly autoTakedownRooms: boolean;
}

export const DEFAULT_LIST_SETTINGS: ListSettings = { autoSuspend: false, autoTakedownRooms: false };
const SETTING_NAMES = Object.keys(DEFAULT_LIST_SETTINGS) as (keyof ListSettings)[];

export interface ParsedListSettings {
  /** Only lists with a valid entry; the rest use DEFAULT_LIST_SETTINGS. */
  lists: Map<string, ListSettings>;
  problems: string[];
}

export function parseListSettings(content: unknown): ParsedListSettings {
  const out: ParsedListSettings = { lists: new Map(), problems: [] };
  const lists = (content as Record<string, unknown> | null | undefined)?.lists;
  if (lists === undefined) return out;
  if (!lists || typeof lists !== "object" || Array.isArray(lists)) {
    out.problems.push(`${LIST_SETTINGS_KEY}.lists: expected an object keyed by room ID, ignoring it`);
    return out;
  }
  for (const [room, v] of Object.entries(lists)) {
    const o = v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
    // Every setting is optional (absent = off), but a present one must be a boolean.
    const valid =
      o !== undefined &&
      SETTING_NAMES.some((k) => k in o) &&
      SETTING_NAMES.every((k) => o[k] === undefined || typeof o[k] === "boolean");
    if (!room.startsWith("!") || !valid) {
      out.problems.push(`${LIST_SETTINGS_KEY}.lists[${JSON.stringify(room).slice(0, 80)}]: invalid, skipped`);
      continue;
    }
    out.lists.set(room, {
      autoSuspend: o.autoSuspend === true,
      autoTakedownRooms: o.autoTakedownRooms === true,
    });
  }
  return out;
}

/** `previous` with one list's settings replaced; other lists and other fields are kept. */
export function withListSettings(
  previous: unknown,
  list: string,
  settings: ListSettings,
): Record<string, unknown> {
  const base = previous && typeof previous === "object" && !Array.isArray(previous) ? previous : {};
  const lists = (base as { lists?: unknown }).lists;
  const kept = lists && typeof lists === "object" && !Array.isArray(lists) ? lists : {};
  return { ...base, lists: { ...kept, [list]: { ...settings } } };
}
