// Turns a Consequence into homeserver calls. Nothing else in Tyr bans, kicks, redacts or sets
// room state; the queue calls this and only this.
import type { TyrClient } from "../matrix/client.ts";
import type { Messenger } from "../matrix/messenger.ts";
import type { Executor } from "./queue.ts";
import type { Consequence } from "./types.ts";
import { noticeContent } from "../matrix/notice.ts";

const enc = encodeURIComponent;

export class MatrixExecutor implements Executor {
  private readonly client: TyrClient;
  private readonly messenger: Messenger;
  private readonly managementRoomId: () => string;

  constructor(client: TyrClient, messenger: Messenger, managementRoomId: () => string) {
    this.client = client;
    this.messenger = messenger;
    this.managementRoomId = managementRoomId;
  }

  async execute(c: Consequence): Promise<string | void> {
    const room = (r: string) => `/_matrix/client/v3/rooms/${enc(r)}`;
    switch (c.kind) {
      case "ban":
      case "unban":
      case "kick":
        await this.client.doRequest("POST", `${room(c.room)}/${c.kind}`, null, {
          user_id: c.user,
          reason: c.reason,
        });
        return;
      case "redact":
        await this.client.doRequest(
          "PUT",
          `${room(c.room)}/redact/${enc(c.event)}/${enc(`tyr-${c.event}`)}`,
          null,
          { reason: c.reason },
        );
        return;
      case "setAcl":
        return this.putState(c.room, "m.room.server_acl", "", { ...c.content });
      case "setJoinRule": {
        const current = await this.getState(c.room, "m.room.join_rules");
        return this.putState(c.room, "m.room.join_rules", "", { ...current, join_rule: c.joinRule });
      }
      case "mute": {
        // Read fresh power levels: a stale copy would undo concurrent changes by other admins.
        const pl = await this.getState(c.room, "m.room.power_levels");
        const users = { ...((pl.users as Record<string, number> | undefined) ?? {}) };
        const eventsDefault = typeof pl.events_default === "number" ? pl.events_default : 0;
        users[c.user] = Math.min(
          eventsDefault - 1,
          (users[c.user] ?? Number(pl.users_default ?? 0)) as number,
        );
        return this.putState(c.room, "m.room.power_levels", "", { ...pl, users });
      }
      case "warn":
        return this.messenger.send(c.room, "m.room.message", noticeContent(c.text));
      case "notify":
        return this.messenger.send(this.managementRoomId(), "m.room.message", noticeContent(c.text, c.html));
      case "send":
        return this.messenger.send(c.room, c.eventType, c.content);
    }
  }

  private async getState(roomId: string, type: string): Promise<Record<string, unknown>> {
    try {
      return (await this.client.doRequest(
        "GET",
        `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/`,
      )) as Record<string, unknown>;
    } catch (e) {
      if ((e as { errcode?: string }).errcode === "M_NOT_FOUND") return {};
      throw e;
    }
  }

  private async putState(
    roomId: string,
    type: string,
    stateKey: string,
    content: Record<string, unknown>,
  ): Promise<string> {
    const res = (await this.client.doRequest(
      "PUT",
      `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`,
      null,
      content,
    )) as { event_id?: string };
    return res.event_id ?? "";
  }
}
