// Event contents the bot sends: notices, edits, reactions, thread relations. Pure builders;
// the Matrix layer only sends what these return.
import { contentBytes } from "./bytes.ts";
import type { Fragment } from "./fragment.ts";
import { truncateFragment } from "./truncate.ts";

export { contentBytes, jsonStringBytes } from "./bytes.ts";

/** Synapse rejects any event whose canonical JSON exceeds this (413 M_TOO_LARGE). */
export const MAX_EVENT_BYTES = 65_536;
/** Room for what the homeserver adds around `content`: sender, room_id, event_id, hashes,
 *  signatures, auth_events, prev_events (up to ~20 × ~50 bytes), unsigned… */
export const ENVELOPE_RESERVE_BYTES = 4_096;
/** Megolm framing around the encrypted plaintext ({type, room_id, content}): algorithm,
 *  sender_key, session_id, device_id, MAC, signature, the plaintext's own keys. */
const ENCRYPTION_OVERHEAD_BYTES = 1_024;

/** Largest `content` (serialised UTF-8 bytes) that still fits in one event. In an encrypted
 *  room the content travels base64-encoded inside the ciphertext, which grows it by 4/3. */
export function contentBudget(opts: { encrypted?: boolean; maxEventBytes?: number } = {}): number {
  const room = (opts.maxEventBytes ?? MAX_EVENT_BYTES) - ENVELOPE_RESERVE_BYTES;
  if (opts.encrypted === false) return room;
  return Math.floor(((room - ENCRYPTION_OVERHEAD_BYTES) * 3) / 4) - ENCRYPTION_OVERHEAD_BYTES;
}

/** Default budget per page: safe in encrypted rooms too (≈ 44.5 KB; pages are also far
 *  more readable well below the hard limit). */
export const DEFAULT_CONTENT_BUDGET = contentBudget({ encrypted: true });

export interface Mentions {
  user_ids?: string[];
  room?: boolean;
}

export interface InReplyTo {
  event_id: string;
}

export type RelatesTo =
  | { rel_type: "m.thread"; event_id: string; is_falling_back: boolean; "m.in_reply_to": InReplyTo }
  | { rel_type: "m.replace"; event_id: string }
  | { rel_type: "m.annotation"; event_id: string; key: string }
  | { "m.in_reply_to": InReplyTo };

export interface NoticeBody {
  msgtype: "m.notice";
  body: string;
  format: "org.matrix.custom.html";
  formatted_body: string;
  /** Always present: an explicit empty set turns off the legacy body-based push rules, so
   *  "@room" or a display name inside a reason quoted by the bot never pings anyone. */
  "m.mentions": Mentions;
}

export interface NoticeContent extends NoticeBody {
  "m.relates_to"?: RelatesTo;
}

export interface EditContent extends NoticeBody {
  "m.new_content": NoticeBody;
  "m.relates_to": { rel_type: "m.replace"; event_id: string };
}

export interface ReactionContent {
  "m.relates_to": { rel_type: "m.annotation"; event_id: string; key: string };
}

export interface NoticeOptions {
  /** Users to mention (and so notify) on purpose. Default: nobody. */
  mentions?: readonly string[];
  relatesTo?: RelatesTo;
}

export function notice(f: Fragment, opts: NoticeOptions = {}): NoticeContent {
  const content: NoticeContent = {
    msgtype: "m.notice",
    body: f.text,
    format: "org.matrix.custom.html",
    formatted_body: f.html,
    "m.mentions": opts.mentions && opts.mentions.length > 0 ? { user_ids: [...opts.mentions] } : {},
  };
  if (opts.relatesTo !== undefined) content["m.relates_to"] = opts.relatesTo;
  return content;
}

/**
 * Relation for replying to a command. Outside a thread the reply starts a thread rooted at
 * the command; inside one it joins that thread. `m.in_reply_to` points at the command so
 * clients without thread support still show what the reply answers; `is_falling_back: true`
 * tells thread-aware clients that this is only that fallback, not a quoted reply.
 */
export function threadReply(commandEventId: string, threadRootId?: string): RelatesTo {
  return {
    rel_type: "m.thread",
    event_id: threadRootId ?? commandEventId,
    is_falling_back: true,
    "m.in_reply_to": { event_id: commandEventId },
  };
}

/** A plain (non-threaded) rich reply. */
export function plainReply(eventId: string): RelatesTo {
  return { "m.in_reply_to": { event_id: eventId } };
}

function stripRelation(c: NoticeContent): NoticeBody {
  return {
    msgtype: c.msgtype,
    body: c.body,
    format: c.format,
    formatted_body: c.formatted_body,
    "m.mentions": c["m.mentions"],
  };
}

/**
 * Replace an earlier message (progress updates edit one message instead of posting many).
 * The top-level fields are the "* …" fallback for clients without edit support. The result
 * always fits `budget`: first the fallback shrinks to "* (edited)", then, if the new content
 * alone is still too large, it is truncated.
 */
export function editContent(
  originalEventId: string,
  replacement: NoticeContent | Fragment,
  budget = DEFAULT_CONTENT_BUDGET,
): EditContent {
  const next = "msgtype" in replacement ? stripRelation(replacement) : stripRelation(notice(replacement));
  const build = (n: NoticeBody, fallbackBody: string, fallbackHtml: string): EditContent => ({
    msgtype: "m.notice",
    body: fallbackBody,
    format: "org.matrix.custom.html",
    formatted_body: fallbackHtml,
    // Mentions in the fallback would re-notify on every edit.
    "m.mentions": {},
    "m.new_content": n,
    "m.relates_to": { rel_type: "m.replace", event_id: originalEventId },
  });
  const full = build(next, `* ${next.body}`, `* ${next.formatted_body}`);
  if (contentBytes(full) <= budget) return full;
  const short = build(next, "* (edited)", "* (edited)");
  if (contentBytes(short) <= budget) return short;
  const empty = build({ ...next, body: "", formatted_body: "" }, "* (edited)", "* (edited)");
  const cut = truncateFragment({ text: next.body, html: next.formatted_body }, budget - contentBytes(empty));
  return build({ ...next, body: cut.text, formatted_body: cut.html }, "* (edited)", "* (edited)");
}

export const REACTION_DONE = "✅";
export const REACTION_FAILED = "❌";
export const REACTION_WORKING = "⏳";

export function reactionContent(eventId: string, key: string): ReactionContent {
  return { "m.relates_to": { rel_type: "m.annotation", event_id: eventId, key } };
}

/** Clients differ on emoji presentation selectors ("✅" vs "✅\uFE0F"); compare keys after this. */
export function normaliseReactionKey(key: string): string {
  return key.replace(/[\uFE0E\uFE0F]/g, "").trim();
}
