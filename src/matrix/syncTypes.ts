// The parts of a /sync response Tyr reads. Everything is optional: a homeserver (or a proxy in
// front of it) may omit any section, and handlers must treat all event content as untrusted.

export interface RawEvent {
  type?: unknown;
  event_id?: unknown;
  sender?: unknown;
  state_key?: unknown;
  content?: unknown;
  origin_server_ts?: unknown;
  unsigned?: unknown;
  redacts?: unknown;
  room_id?: unknown;
}

export interface JoinedRoomSync {
  state?: { events?: RawEvent[] };
  timeline?: { events?: RawEvent[]; limited?: boolean; prev_batch?: string };
  account_data?: { events?: RawEvent[] };
  ephemeral?: { events?: RawEvent[] };
}

export interface InvitedRoomSync {
  invite_state?: { events?: RawEvent[] };
}

export interface LeftRoomSync {
  state?: { events?: RawEvent[] };
  timeline?: { events?: RawEvent[]; limited?: boolean };
}

export interface SyncResponse {
  next_batch?: string;
  rooms?: {
    join?: Record<string, JoinedRoomSync>;
    invite?: Record<string, InvitedRoomSync>;
    leave?: Record<string, LeftRoomSync>;
  };
  account_data?: { events?: RawEvent[] };
  to_device?: { events?: RawEvent[] };
  device_lists?: { changed?: string[]; left?: string[] };
  device_one_time_keys_count?: Record<string, number>;
  device_unused_fallback_key_types?: string[];
}
