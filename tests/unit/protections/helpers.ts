// Builders for raw Matrix events and a harness that drives one protection's handlers directly
// (fresh state, resolved settings, a controllable clock), so decision tables read like chat logs.
import type { Cause, Consequence } from "../../../src/consequences/types.ts";
import { resolveSettings } from "../../../src/protections/config.ts";
import { normaliseEvent, type ProtectionEvent } from "../../../src/protections/event.ts";
import type {
  AnyProtection,
  HandlerContext,
  RoomContext,
  TickContext,
} from "../../../src/protections/framework.ts";
import {
  defaultsOf,
  validateSetting,
  type SettingsSchema,
  type StoredValue,
} from "../../../src/protections/settings.ts";

export const ROOM = "!room:example.org";
export const OTHER_ROOM = "!other:example.org";
export const T0 = 1_700_000_000_000;

let counter = 0;
export const nextEventId = () => `$ev${++counter}`;

export interface MessageOpts {
  sender?: string;
  room?: string;
  eventId?: string;
  ts?: unknown;
}

export function rawMessage(content: Record<string, unknown>, o: MessageOpts = {}): Record<string, unknown> {
  return {
    type: "m.room.message",
    room_id: o.room ?? ROOM,
    sender: o.sender ?? "@alice:example.org",
    event_id: o.eventId ?? nextEventId(),
    origin_server_ts: o.ts ?? T0,
    content,
  };
}

export const text = (body: string, o: MessageOpts = {}) => rawMessage({ msgtype: "m.text", body }, o);

export const html = (body: string, formatted: string, o: MessageOpts = {}) =>
  rawMessage({ msgtype: "m.text", body, format: "org.matrix.custom.html", formatted_body: formatted }, o);

export const media = (msgtype: string, o: MessageOpts = {}, extra: Record<string, unknown> = {}) =>
  rawMessage({ msgtype, body: "file.bin", url: "mxc://example.org/abc", ...extra }, o);

export const sticker = (o: MessageOpts = {}) => ({
  ...rawMessage({ body: "a sticker", url: "mxc://example.org/st", info: {} }, o),
  type: "m.sticker",
});

export function edit(target: string, newContent: Record<string, unknown>, o: MessageOpts = {}) {
  return rawMessage(
    {
      msgtype: "m.text",
      body: `* ${String(newContent["body"] ?? "")}`,
      "m.new_content": newContent,
      "m.relates_to": { rel_type: "m.replace", event_id: target },
    },
    o,
  );
}

export interface MemberOpts {
  prev?: string | null;
  displayname?: string;
  avatar?: string;
  prevDisplayname?: string;
  sender?: string;
  room?: string;
  eventId?: string;
}

export function rawMember(user: string, membership: string, o: MemberOpts = {}): Record<string, unknown> {
  const content: Record<string, unknown> = { membership };
  if (o.displayname !== undefined) content["displayname"] = o.displayname;
  if (o.avatar !== undefined) content["avatar_url"] = o.avatar;
  const prev: Record<string, unknown> | undefined =
    o.prev === undefined || o.prev === null
      ? undefined
      : {
          membership: o.prev,
          ...(o.prevDisplayname !== undefined ? { displayname: o.prevDisplayname } : {}),
        };
  return {
    type: "m.room.member",
    room_id: o.room ?? ROOM,
    sender: o.sender ?? user,
    state_key: user,
    event_id: o.eventId ?? nextEventId(),
    origin_server_ts: T0,
    content,
    ...(prev !== undefined ? { unsigned: { prev_content: prev } } : {}),
  };
}

export function normalised(raw: unknown): ProtectionEvent {
  const r = normaliseEvent(raw);
  if (!r.ok) throw new Error(`test event did not normalise: ${r.reason}`);
  return r.event;
}

/** Stored settings for a protection: defaults plus validated overrides (throws on invalid). */
export function storedSettings(
  p: AnyProtection,
  overrides: Record<string, unknown>,
): Record<string, StoredValue> {
  const schema = p.settings as SettingsSchema;
  const stored = defaultsOf(schema);
  for (const [k, v] of Object.entries(overrides)) {
    const spec = schema[k];
    if (spec === undefined) throw new Error(`no setting ${k}`);
    const r = validateSetting(spec, v, `${p.name}.${k}`);
    if (!r.ok) throw new Error(r.error);
    stored[k] = r.value;
  }
  return stored;
}

/** Drives one protection like the pipeline would, without exemptions or incidents. */
export class Harness {
  now = T0;
  readonly state: unknown;
  readonly settings: Record<string, unknown>;
  readonly joined = new Map<string, number>();
  readonly cause: Cause;
  readonly protection: AnyProtection;
  readonly roomInfo: RoomContext;

  constructor(
    protection: AnyProtection,
    overrides: Record<string, unknown> = {},
    roomInfo: RoomContext = {},
  ) {
    this.protection = protection;
    this.roomInfo = roomInfo;
    this.settings = resolveSettings(protection, storedSettings(protection, overrides));
    this.state = protection.createState();
    this.cause = { by: "protection", name: protection.name };
  }

  advance(ms: number): this {
    this.now += ms;
    return this;
  }

  #ctx(room: string): HandlerContext<Record<string, unknown>, unknown> {
    return {
      room,
      settings: this.settings,
      state: this.state,
      now: this.now,
      cause: this.cause,
      roomInfo: this.roomInfo,
      joinedAt: (u) => this.joined.get(u),
    };
  }

  /** Feeds one raw event; membership events also update the join-time record first. */
  feed(raw: unknown): readonly Consequence[] {
    const ev = normalised(raw);
    const p = this.protection;
    const ctx = this.#ctx(ev.room);
    if (ev.kind === "membership") {
      if (ev.membership === "join" && ev.prevMembership !== "join") this.joined.set(ev.user, this.now);
      if (ev.membership === "leave" || ev.membership === "ban") this.joined.delete(ev.user);
    }
    const handler =
      ev.kind === "message" ? p.onMessage : ev.kind === "membership" ? p.onMembership : p.onReaction;
    if (handler === undefined) return [];
    return (handler as (e: ProtectionEvent, c: typeof ctx) => readonly Consequence[]).call(p, ev, ctx);
  }

  tick(room = ROOM): readonly Consequence[] {
    const ctx: TickContext<Record<string, unknown>, unknown> = {
      room,
      settings: this.settings,
      state: this.state,
      now: this.now,
      cause: this.cause,
    };
    const onTick = this.protection.onTick as ((c: typeof ctx) => readonly Consequence[]) | undefined;
    return onTick?.call(this.protection, ctx) ?? [];
  }
}

export const kinds = (cs: readonly Consequence[]) => cs.map((c) => c.kind);
