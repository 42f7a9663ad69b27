// A plain Matrix user for integration tests (moderator, spammer, list maintainer): raw
// client-server API calls over fetch, so tests exercise the real homeserver and nothing of Tyr's.
import { randomUUID } from "node:crypto";
import type { RegisteredUser, Synapse } from "./synapse.ts";

export interface SeenEvent {
  type: string;
  event_id: string;
  sender: string;
  content: Record<string, unknown>;
  state_key?: string;
  origin_server_ts: number;
  room_id: string;
}

const enc = encodeURIComponent;

export class TestUser {
  readonly userId: string;
  readonly accessToken: string;
  readonly url: string;
  readonly password: string;
  private since: string | undefined;
  /** Every timeline event seen by `sync()`, per room. */
  readonly seen = new Map<string, SeenEvent[]>();

  /** A new account on `hs` (a unique localpart from `name`; server admin with `admin`). */
  static async register(
    hs: Pick<Synapse, "url" | "register">,
    name: string,
    opts: { admin?: boolean } = {},
  ): Promise<TestUser> {
    return new TestUser(hs.url, await hs.register(name, opts));
  }

  constructor(url: string, user: RegisteredUser) {
    this.url = url;
    this.userId = user.userId;
    this.accessToken = user.accessToken;
    this.password = user.password;
  }

  async api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    for (;;) {
      const res = await fetch(`${this.url}${path}`, {
        method,
        headers: { Authorization: `Bearer ${this.accessToken}`, "Content-Type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const json = (await res.json()) as T & { retry_after_ms?: number };
      if (res.status === 429) {
        await new Promise((r) => setTimeout(r, json.retry_after_ms ?? 500));
        continue;
      }
      if (!res.ok)
        throw Object.assign(new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`), {
          status: res.status,
          body: json,
        });
      return json;
    }
  }

  async createRoom(opts: Record<string, unknown> = {}): Promise<string> {
    const r = await this.api<{ room_id: string }>("POST", "/_matrix/client/v3/createRoom", {
      preset: "private_chat",
      ...opts,
    });
    return r.room_id;
  }

  async join(roomIdOrAlias: string): Promise<string> {
    return (await this.api<{ room_id: string }>("POST", `/_matrix/client/v3/join/${enc(roomIdOrAlias)}`, {}))
      .room_id;
  }

  async leave(roomId: string): Promise<void> {
    await this.api("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
  }

  async invite(roomId: string, userId: string): Promise<void> {
    await this.api("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: userId });
  }

  async send(roomId: string, content: Record<string, unknown>, type = "m.room.message"): Promise<string> {
    const r = await this.api<{ event_id: string }>(
      "PUT",
      `/_matrix/client/v3/rooms/${enc(roomId)}/send/${enc(type)}/${randomUUID()}`,
      content,
    );
    return r.event_id;
  }

  sendText(roomId: string, body: string): Promise<string> {
    return this.send(roomId, { msgtype: "m.text", body });
  }

  async setState(
    roomId: string,
    type: string,
    stateKey: string,
    content: Record<string, unknown>,
  ): Promise<string> {
    const r = await this.api<{ event_id: string }>(
      "PUT",
      `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`,
      content,
    );
    return r.event_id;
  }

  async getState<T = Record<string, unknown>>(
    roomId: string,
    type: string,
    stateKey = "",
  ): Promise<T | undefined> {
    try {
      return await this.api<T>(
        "GET",
        `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`,
      );
    } catch (e) {
      if ((e as { status?: number }).status === 404) return undefined;
      throw e;
    }
  }

  async membership(roomId: string, userId: string): Promise<string | undefined> {
    return (await this.getState<{ membership?: string }>(roomId, "m.room.member", userId))?.membership;
  }

  async setPowerLevel(roomId: string, userId: string, level: number): Promise<void> {
    const pl = (await this.getState<Record<string, unknown>>(roomId, "m.room.power_levels")) ?? {};
    const users = { ...((pl.users as Record<string, number>) ?? {}), [userId]: level };
    await this.setState(roomId, "m.room.power_levels", "", { ...pl, users });
  }

  /** One incremental /sync; records timeline events. */
  async sync(timeoutMs = 1000): Promise<void> {
    const qs = new URLSearchParams({ timeout: String(timeoutMs) });
    if (this.since) qs.set("since", this.since);
    const body = await this.api<{
      next_batch: string;
      rooms?: { join?: Record<string, { timeline?: { events?: SeenEvent[] } }> };
    }>("GET", `/_matrix/client/v3/sync?${qs}`);
    this.since = body.next_batch;
    for (const [roomId, room] of Object.entries(body.rooms?.join ?? {})) {
      const list = this.seen.get(roomId) ?? [];
      for (const ev of room.timeline?.events ?? []) list.push({ ...ev, room_id: roomId });
      this.seen.set(roomId, list);
    }
  }

  /** Syncs until an event in `roomId` satisfies `pred` (checking events already seen too). */
  async waitFor(
    roomId: string,
    pred: (ev: SeenEvent) => boolean,
    timeoutMs = 30_000,
    what = "event",
  ): Promise<SeenEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.seen.get(roomId)?.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} in ${roomId}`);
      await this.sync(Math.min(2_000, Math.max(0, deadline - Date.now())));
    }
  }

  /** Waits for a notice from `botId` replying after `afterEventId` (by position in the timeline). */
  async waitForNotice(
    roomId: string,
    botId: string,
    match: RegExp | ((body: string) => boolean),
    timeoutMs = 30_000,
  ): Promise<SeenEvent> {
    const test = typeof match === "function" ? match : (b: string) => match.test(b);
    return this.waitFor(
      roomId,
      (ev) =>
        ev.sender === botId &&
        ev.type === "m.room.message" &&
        ev.content.msgtype === "m.notice" &&
        test(String(ev.content.body ?? "")),
      timeoutMs,
      `a notice from ${botId} matching ${String(match)}`,
    );
  }

  /** Reacts to `eventId` with `key` (how moderators answer Tyr's prompts: ✅, ❌). */
  async react(roomId: string, eventId: string, key: string): Promise<string> {
    return this.send(
      roomId,
      { "m.relates_to": { rel_type: "m.annotation", event_id: eventId, key } },
      "m.reaction",
    );
  }

  /** Waits for `fromId`'s reply (`m.in_reply_to`) to the event `replyTo`. */
  async waitForReply(roomId: string, fromId: string, replyTo: string, what: string, timeoutMs = 30_000) {
    return this.waitFor(
      roomId,
      (e) =>
        e.sender === fromId &&
        (e.content["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.[
          "m.in_reply_to"
        ]?.event_id === replyTo,
      timeoutMs,
      what,
    );
  }

  /** Marks everything seen so far as old, so `waitFor` only considers what arrives next. */
  async catchUp(): Promise<void> {
    await this.sync(0);
    this.seen.clear();
  }
}

/** Polls `check` until it returns a truthy value or the time runs out. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}
