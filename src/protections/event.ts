// Raw Matrix timeline events (untrusted, any shape) → the typed inputs protections read.
// Never throws: garbage yields `{ ok: false, reason }`, oversized or malformed parts are bounded
// or dropped. Protections receive cleartext: an `m.room.encrypted` event is refused here.
import { scanHtml } from "./html.ts";
import { findLinks, findUserIds, hasNonAscii, isValidUserId } from "./text.ts";

/** Bodies and HTML beyond this many characters are not analysed (the rest of the event is). */
export const MAX_ANALYSED_CHARS = 65_536;
const MAX_ID_LENGTH = 255;
const MAX_MENTIONS = 1000;
const MAX_LINKS = 50;
const MAX_NAME_LENGTH = 512;
const MAX_URL_LENGTH = 2048;
const MAX_KEY_LENGTH = 256;
/** origin_server_ts is set by the sender's server and can be forged; we only keep plausible ones. */
const MAX_TS = 8_640_000_000_000; // the largest Date, far beyond any honest clock

export type MediaKind = "image" | "video" | "audio" | "voice" | "file" | "sticker" | "inlineImage";
export const MEDIA_KINDS: readonly MediaKind[] = [
  "image",
  "video",
  "audio",
  "voice",
  "file",
  "sticker",
  "inlineImage",
];

interface EventBase {
  readonly room: string;
  readonly sender: string;
  readonly eventId: string;
  /** The claimed origin_server_ts, or null when missing or implausible. Informational only:
   *  time windows use the pipeline's `now`, because a hostile server can forge this value. */
  readonly ts: number | null;
}

export interface RoomMessage extends EventBase {
  readonly kind: "message";
  readonly type: "m.room.message" | "m.sticker";
  /** `m.text`, `m.image`, …; `m.sticker` for sticker events; "" when absent or invalid. */
  readonly msgtype: string;
  /** Plain body (of `m.new_content` for edits), reply fallback removed, at most 64 K chars. */
  readonly body: string;
  /** `formatted_body` when the format is HTML, at most 64 K chars; null otherwise. */
  readonly html: string | null;
  /** Visible text of the HTML (reply fallback removed); "" without HTML. */
  readonly htmlText: string;
  /** True when the body or HTML was cut to the analysis limit. */
  readonly truncated: boolean;
  readonly isEdit: boolean;
  /** Event ID this edit replaces (may itself be an edit). */
  readonly editOf: string | null;
  readonly replyTo: string | null;
  /** Valid user IDs from `m.mentions.user_ids` (of the event and, for edits, of `m.new_content`). */
  readonly mentionedUserIds: readonly string[];
  readonly mentionsRoom: boolean;
  /** Users linked from the HTML (matrix.to / matrix: pills). */
  readonly pills: readonly string[];
  /** User IDs written out in the body or HTML text. */
  readonly textUserIds: readonly string[];
  /** Distinct union of the three above: everyone this message mentions one way or another. */
  readonly mentioned: readonly string[];
  readonly media: readonly MediaKind[];
  /** Links in the body, the HTML text and `<a href>` (user pills excluded), at most 50. */
  readonly links: readonly string[];
}

export type Membership = "join" | "leave" | "ban" | "invite" | "knock";

export interface MembershipChange extends EventBase {
  readonly kind: "membership";
  /** The member whose membership changed (the state key); `sender` differs for kicks, bans, invites. */
  readonly user: string;
  readonly membership: Membership;
  readonly prevMembership: Membership | null;
  readonly displayname: string | null;
  readonly avatarUrl: string | null;
  readonly prevDisplayname: string | null;
  readonly prevAvatarUrl: string | null;
}

export interface Reaction extends EventBase {
  readonly kind: "reaction";
  readonly target: string;
  /** The annotation key (usually an emoji), at most 256 chars. */
  readonly key: string;
}

export type ProtectionEvent = RoomMessage | MembershipChange | Reaction;

export type NormaliseResult =
  { readonly ok: true; readonly event: ProtectionEvent } | { readonly ok: false; readonly reason: string };

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: unknown, max: number): string | null {
  return typeof v === "string" && v.length <= max ? v : null;
}

function idLike(v: unknown, sigil: string): string | null {
  return typeof v === "string" && v.length > 1 && v.length <= MAX_ID_LENGTH && v.startsWith(sigil) ? v : null;
}

function fail(reason: string): NormaliseResult {
  return { ok: false, reason };
}

function plausibleTs(v: unknown): number | null {
  return typeof v === "number" && Number.isSafeInteger(v) && v > 0 && v <= MAX_TS ? v : null;
}

const MEMBERSHIPS: ReadonlySet<string> = new Set(["join", "leave", "ban", "invite", "knock"]);

function membershipOf(v: unknown): Membership | null {
  return typeof v === "string" && MEMBERSHIPS.has(v) ? (v as Membership) : null;
}

/**
 * Normalises one raw timeline event. `roomId` is used when the event has no `room_id` (events
 * inside a /sync room section don't carry one).
 */
export function normaliseEvent(raw: unknown, roomId?: string): NormaliseResult {
  try {
    return normaliseUnsafe(raw, roomId);
  } catch (e) {
    // Defence in depth: getters on exotic objects, proxies, etc.
    return fail(`unreadable event: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function normaliseUnsafe(raw: unknown, roomId?: string): NormaliseResult {
  if (!isObj(raw)) return fail("event is not an object");
  const type = raw["type"];
  if (typeof type !== "string") return fail("event has no type");
  const room = idLike(roomId ?? raw["room_id"], "!");
  if (room === null) return fail("event has no valid room ID");
  const sender = raw["sender"];
  if (!isValidUserId(sender)) return fail("event has no valid sender");
  const eventId = idLike(raw["event_id"], "$");
  if (eventId === null) return fail("event has no valid event ID");
  const ts = plausibleTs(raw["origin_server_ts"]);
  const base: EventBase = { room, sender, eventId, ts };
  const content = raw["content"];
  if (!isObj(content)) return fail(`${type} has no content object`);

  switch (type) {
    case "m.room.message":
    case "m.sticker":
      return normaliseMessage(base, type, content);
    case "m.room.member":
      return normaliseMembership(base, raw, content);
    case "m.reaction":
      return normaliseReaction(base, content);
    case "m.room.encrypted":
      return fail("encrypted event: decrypt before running protections");
    default:
      return fail(`event type ${type.slice(0, 100)} is not handled by protections`);
  }
}

function stripReplyFallback(body: string): string {
  if (!body.startsWith(">")) return body;
  let i = 0;
  while (i < body.length && body.startsWith(">", i)) {
    const nl = body.indexOf("\n", i);
    if (nl === -1) return "";
    i = nl + 1;
  }
  if (body.startsWith("\n", i)) i++;
  return body.slice(i);
}

function validMentions(m: unknown, into: Set<string>): boolean {
  if (!isObj(m)) return false;
  const ids = m["user_ids"];
  if (Array.isArray(ids)) {
    const n = Math.min(ids.length, MAX_MENTIONS * 4);
    for (let i = 0; i < n && into.size < MAX_MENTIONS; i++) {
      const id: unknown = ids[i];
      if (isValidUserId(id)) into.add(id);
    }
  }
  return m["room"] === true;
}

/** `https://matrix.to/#/@u:s` or `matrix:u/u:s` → `@u:s`; anything else → null. */
export function userIdFromPermalink(href: string): string | null {
  let rest: string | null = null;
  const lower = href.slice(0, 32).toLowerCase();
  if (lower.startsWith("https://matrix.to/#/") || lower.startsWith("http://matrix.to/#/")) {
    rest = href.slice(href.indexOf("#/") + 2);
  } else if (lower.startsWith("matrix:u/")) {
    rest = "@" + href.slice(9);
  }
  if (rest === null) return null;
  const q = rest.search(/[?/]/);
  let id = q === -1 ? rest : rest.slice(0, q);
  try {
    id = decodeURIComponent(id);
  } catch {
    return null;
  }
  return isValidUserId(id) ? id : null;
}

function mediaOf(type: string, msgtype: string, content: Obj, inlineImages: number): MediaKind[] {
  const media: MediaKind[] = [];
  if (type === "m.sticker") media.push("sticker");
  else if (msgtype === "m.image") media.push("image");
  else if (msgtype === "m.video") media.push("video");
  else if (msgtype === "m.file") media.push("file");
  else if (msgtype === "m.audio") {
    media.push("audio");
    if ("org.matrix.msc3245.voice" in content || "org.matrix.msc3245.voice.v2" in content)
      media.push("voice");
  }
  if (inlineImages > 0) media.push("inlineImage");
  return media;
}

function normaliseMessage(
  base: EventBase,
  type: "m.room.message" | "m.sticker",
  content: Obj,
): NormaliseResult {
  const relates = isObj(content["m.relates_to"]) ? content["m.relates_to"] : null;
  let isEdit = false;
  let editOf: string | null = null;
  let replyTo: string | null = null;
  let source = content;
  if (relates !== null) {
    const inReply = relates["m.in_reply_to"];
    if (isObj(inReply)) replyTo = idLike(inReply["event_id"], "$");
    if (relates["rel_type"] === "m.replace") {
      editOf = idLike(relates["event_id"], "$");
      isEdit = editOf !== null;
      // Clients render m.new_content; the top-level content is only a fallback for old clients.
      if (isEdit && isObj(content["m.new_content"])) source = content["m.new_content"];
    }
  }

  const mentioned = new Set<string>();
  let mentionsRoom = validMentions(content["m.mentions"], mentioned);
  if (source !== content) mentionsRoom = validMentions(source["m.mentions"], mentioned) || mentionsRoom;
  const mentionedUserIds = [...mentioned];

  const msgtype = type === "m.sticker" ? "m.sticker" : (str(source["msgtype"], 255) ?? "");
  let rawBody = typeof source["body"] === "string" ? source["body"] : "";
  if (isEdit && source === content && rawBody.startsWith("* ")) rawBody = rawBody.slice(2);
  let truncated = false;
  if (rawBody.length > MAX_ANALYSED_CHARS) {
    rawBody = rawBody.slice(0, MAX_ANALYSED_CHARS);
    truncated = true;
  }
  const body = replyTo !== null ? stripReplyFallback(rawBody) : rawBody;

  let html: string | null = null;
  if (source["format"] === "org.matrix.custom.html" && typeof source["formatted_body"] === "string") {
    html = source["formatted_body"];
    if (html.length > MAX_ANALYSED_CHARS) {
      html = html.slice(0, MAX_ANALYSED_CHARS);
      truncated = true;
    }
  }
  if (type === "m.room.message" && msgtype === "" && body === "" && html === null && !isEdit) {
    return fail("message has neither msgtype nor body (redacted or empty)");
  }

  const scan = html !== null ? scanHtml(html, MAX_ANALYSED_CHARS, 200) : null;
  const htmlText = scan?.text ?? "";

  const pills = new Set<string>();
  const links = new Set<string>();
  for (const href of scan?.hrefs ?? []) {
    const user = userIdFromPermalink(href);
    if (user !== null) {
      if (pills.size < MAX_MENTIONS) pills.add(user);
    } else if (href.length > 0 && !href.toLowerCase().startsWith("mailto:") && links.size < MAX_LINKS) {
      links.add(href.slice(0, MAX_URL_LENGTH));
    }
  }
  const addLinks = (text: string) => {
    if (links.size >= MAX_LINKS || text.length === 0) return;
    for (const l of findLinks(text, MAX_LINKS)) {
      if (userIdFromPermalink(l) === null) links.add(l.slice(0, MAX_URL_LENGTH));
    }
    // Full-width dots and letters (ｔ．ｍｅ) are links once folded.
    if (links.size < MAX_LINKS && hasNonAscii(text)) {
      for (const l of findLinks(text.normalize("NFKC"), MAX_LINKS)) links.add(l.slice(0, MAX_URL_LENGTH));
    }
  };
  addLinks(body);
  if (htmlText !== body) addLinks(htmlText);

  const textUserIds = new Set(findUserIds(body, MAX_MENTIONS));
  if (htmlText.length > 0 && htmlText !== body) {
    for (const u of findUserIds(htmlText, MAX_MENTIONS))
      if (textUserIds.size < MAX_MENTIONS) textUserIds.add(u);
  }
  const all = new Set<string>(mentionedUserIds);
  for (const u of pills) all.add(u);
  for (const u of textUserIds) all.add(u);

  const message: RoomMessage = {
    kind: "message",
    ...base,
    type,
    msgtype,
    body,
    html,
    htmlText,
    truncated,
    isEdit,
    editOf,
    replyTo,
    mentionedUserIds,
    mentionsRoom,
    pills: [...pills],
    textUserIds: [...textUserIds],
    mentioned: [...all],
    media: mediaOf(type, msgtype, source, scan?.images ?? 0),
    links: [...links].slice(0, MAX_LINKS),
  };
  return { ok: true, event: message };
}

function profileField(v: unknown, max: number): string | null {
  if (typeof v !== "string" || v.length === 0) return null;
  return v.length > max ? v.slice(0, max) : v;
}

function normaliseMembership(base: EventBase, raw: Obj, content: Obj): NormaliseResult {
  const user = raw["state_key"];
  if (!isValidUserId(user)) return fail("m.room.member has no valid state_key");
  const membership = membershipOf(content["membership"]);
  if (membership === null) return fail("m.room.member has no valid membership");
  const unsigned = isObj(raw["unsigned"]) ? raw["unsigned"] : null;
  // Servers put the previous content in unsigned.prev_content; very old ones at the top level.
  const prevRaw = unsigned?.["prev_content"] ?? raw["prev_content"];
  const prev = isObj(prevRaw) ? prevRaw : null;
  const change: MembershipChange = {
    kind: "membership",
    ...base,
    user,
    membership,
    prevMembership: prev === null ? null : membershipOf(prev["membership"]),
    displayname: profileField(content["displayname"], MAX_NAME_LENGTH),
    avatarUrl: profileField(content["avatar_url"], MAX_URL_LENGTH),
    prevDisplayname: prev === null ? null : profileField(prev["displayname"], MAX_NAME_LENGTH),
    prevAvatarUrl: prev === null ? null : profileField(prev["avatar_url"], MAX_URL_LENGTH),
  };
  return { ok: true, event: change };
}

function normaliseReaction(base: EventBase, content: Obj): NormaliseResult {
  const relates = content["m.relates_to"];
  if (!isObj(relates) || relates["rel_type"] !== "m.annotation")
    return fail("m.reaction is not an annotation");
  const target = idLike(relates["event_id"], "$");
  if (target === null) return fail("m.reaction has no valid target event");
  const key = typeof relates["key"] === "string" ? relates["key"].slice(0, MAX_KEY_LENGTH) : "";
  const reaction: Reaction = { kind: "reaction", ...base, target, key };
  return { ok: true, event: reaction };
}
