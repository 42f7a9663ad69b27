// The wire format of synapse-http-antispam 0.5.1 (read from its source): Synapse's module POSTs
// `<base_url>/<callback>` with the callback's arguments as a JSON object and
// `Authorization: Bearer <secret>`. Any 2xx answer allows; any other status refuses, with the
// JSON body handed to the client (`errcode` defaults to M_FORBIDDEN when absent). A non-JSON
// answer or no answer fails closed (M_UNKNOWN) unless the callback is in the module's
// `fail_open` map; check_event_for_spam fails open unless set to false there.
// This module validates the bodies (pure) so garbage gets a 400 and never reaches a decision.

/** Every callback the module can forward, plus its start-up `ping`. */
export const CALLBACKS = [
  "user_may_invite",
  "federated_user_may_invite",
  "user_may_join_room",
  "check_event_for_spam",
  "user_may_create_room",
  "user_may_create_room_alias",
  "user_may_publish_room",
  "user_may_send_3pid_invite",
  "accept_make_join",
  "check_username_for_spam",
  "check_login_for_spam",
  "ping",
] as const;

export type Callback = (typeof CALLBACKS)[number];

export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

type Obj = Record<string, unknown>;

const MAX_ID = 255;
const isUserId = (v: unknown): v is string =>
  typeof v === "string" && v.length <= MAX_ID && /^@[^\s:]+:[^\s]+$/.test(v);
const isRoomId = (v: unknown): v is string =>
  typeof v === "string" && v.length <= MAX_ID && /^![^\s]+$/.test(v);
const isEventId = (v: unknown): v is string =>
  typeof v === "string" && v.length <= MAX_ID && /^\$[^\s]+$/.test(v);
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

const bad = (error: string): Parsed<never> => ({ ok: false, error });

export interface InviteArgs {
  readonly inviter: string;
  readonly invitee: string;
  readonly room: string;
}

export function parseUserMayInvite(b: Obj): Parsed<InviteArgs> {
  if (!isUserId(b.inviter)) return bad("inviter: expected a user ID");
  if (!isUserId(b.invitee)) return bad("invitee: expected a user ID");
  if (!isRoomId(b.room_id)) return bad("room_id: expected a room ID");
  return { ok: true, value: { inviter: b.inviter, invitee: b.invitee, room: b.room_id } };
}

/** federated_user_may_invite sends the invite event (client format): sender, room, invitee. */
export function parseFederatedInvite(b: Obj): Parsed<InviteArgs> {
  const ev = b.event;
  if (!isObj(ev)) return bad("event: expected an object");
  if (ev.type !== "m.room.member") return bad("event.type: expected m.room.member");
  if (!isUserId(ev.sender)) return bad("event.sender: expected a user ID");
  if (!isUserId(ev.state_key)) return bad("event.state_key: expected a user ID");
  if (!isRoomId(ev.room_id)) return bad("event.room_id: expected a room ID");
  return { ok: true, value: { inviter: ev.sender, invitee: ev.state_key, room: ev.room_id } };
}

export interface JoinArgs {
  readonly user: string;
  readonly room: string;
  readonly isInvited: boolean;
}

export function parseUserMayJoinRoom(b: Obj): Parsed<JoinArgs> {
  if (!isUserId(b.user)) return bad("user: expected a user ID");
  if (!isRoomId(b.room)) return bad("room: expected a room ID");
  if (typeof b.is_invited !== "boolean") return bad("is_invited: expected true or false");
  return { ok: true, value: { user: b.user, room: b.room, isInvited: b.is_invited } };
}

export interface EventArgs {
  readonly eventId: string;
  readonly roomId: string;
  readonly sender: string;
  readonly type: string;
  readonly isState: boolean;
  /** The event as the module sent it (client format), for the protections pipeline. */
  readonly raw: Obj;
}

export function parseCheckEvent(b: Obj): Parsed<EventArgs> {
  const ev = b.event;
  if (!isObj(ev)) return bad("event: expected an object");
  if (!isEventId(ev.event_id)) return bad("event.event_id: expected an event ID");
  if (!isRoomId(ev.room_id)) return bad("event.room_id: expected a room ID");
  if (!isUserId(ev.sender)) return bad("event.sender: expected a user ID");
  if (typeof ev.type !== "string" || ev.type.length === 0 || ev.type.length > MAX_ID)
    return bad("event.type: expected an event type");
  if (!isObj(ev.content)) return bad("event.content: expected an object");
  return {
    ok: true,
    value: {
      eventId: ev.event_id,
      roomId: ev.room_id,
      sender: ev.sender,
      type: ev.type,
      isState: typeof ev.state_key === "string",
      raw: ev,
    },
  };
}

export function parseCreateRoom(b: Obj): Parsed<{ readonly user: string }> {
  return isUserId(b.user_id) ? { ok: true, value: { user: b.user_id } } : bad("user_id: expected a user ID");
}

export function parsePing(b: Obj): Parsed<{ readonly id: string }> {
  return typeof b.id === "string" && b.id.length <= MAX_ID
    ? { ok: true, value: { id: b.id } }
    : bad("id: expected a string");
}

/** The module's answers. */
export const ALLOW_BODY = Object.freeze({});

export function refusalBody(reason: string): { errcode: string; error: string } {
  return { errcode: "M_FORBIDDEN", error: reason };
}
