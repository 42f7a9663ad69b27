// Turns a Consequence into homeserver calls. Nothing else in Tyr bans, kicks, redacts or sets
// room state; the queue calls this and only this.
import type { TyrClient } from "../matrix/client.ts";
import type { Messenger } from "../matrix/messenger.ts";
import { AccountModeration } from "../matrix/accountModeration.ts";
import { blockPath, takedownPath, takedownRequestBody } from "../matrix/roomAdmin.ts";
import { quarantinedCount, quarantinePath } from "../matrix/mediaAdmin.ts";
import {
  DEFAULT_REDACTION,
  UserRedaction,
  membershipBody,
  type RedactionOptions,
} from "../matrix/userRedaction.ts";
import type { Executor } from "./queue.ts";
import type { Consequence } from "./types.ts";
import { notice } from "../format/content.ts";
import { text, trusted } from "../format/fragment.ts";

const enc = encodeURIComponent;

export class MatrixExecutor implements Executor {
  private readonly client: TyrClient;
  private readonly messenger: Messenger;
  private readonly managementRoomId: () => string;
  private readonly roomLocks = new Map<string, Promise<void>>();
  private readonly accounts: AccountModeration;

  private readonly redaction: RedactionOptions;
  private readonly userRedaction: UserRedaction;

  constructor(
    client: TyrClient,
    messenger: Messenger,
    managementRoomId: () => string,
    redaction: RedactionOptions = DEFAULT_REDACTION,
  ) {
    this.client = client;
    this.messenger = messenger;
    this.managementRoomId = managementRoomId;
    this.accounts = new AccountModeration(client);
    this.redaction = redaction;
    this.userRedaction = new UserRedaction(client, redaction);
  }

  async execute(c: Consequence): Promise<string | void> {
    const room = (r: string) => `/_matrix/client/v3/rooms/${enc(r)}`;
    switch (c.kind) {
      case "ban":
      case "unban":
      case "kick": {
        const body = membershipBody(
          c.user,
          c.reason,
          c.kind !== "unban" && c.redactEvents === true,
          this.redaction,
        );
        await this.client.doRequest("POST", `${room(c.room)}/${c.kind}`, null, body);
        return;
      }
      case "redactUser":
        return this.userRedaction.redact(c.room, c.user, c.events, c.reason);
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
      case "setState":
        return this.putState(c.room, c.eventType, c.stateKey, c.content);
      case "setJoinRule": {
        const current = await this.getState(c.room, "m.room.join_rules");
        return this.putState(c.room, "m.room.join_rules", "", { ...current, join_rule: c.joinRule });
      }
      case "mute":
        // Read fresh power levels: a stale copy would undo concurrent changes by other admins.
        // One read-modify-write per room at a time, or concurrent mutes would undo each other.
        return this.inRoom(c.room, async () => {
          const pl = await this.getState(c.room, "m.room.power_levels");
          const users = { ...((pl.users as Record<string, number> | undefined) ?? {}) };
          const eventsDefault = typeof pl.events_default === "number" ? pl.events_default : 0;
          users[c.user] = Math.min(
            eventsDefault - 1,
            (users[c.user] ?? Number(pl.users_default ?? 0)) as number,
          );
          return this.putState(c.room, "m.room.power_levels", "", { ...pl, users });
        });
      case "unmute":
        return this.inRoom(c.room, async () => {
          const pl = await this.getState(c.room, "m.room.power_levels");
          const users = { ...((pl.users as Record<string, number> | undefined) ?? {}) };
          const eventsDefault = typeof pl.events_default === "number" ? pl.events_default : 0;
          const current = users[c.user] ?? Number(pl.users_default ?? 0);
          if (current >= eventsDefault) return "not muted any more; left as it is";
          if (c.restoreLevel === undefined) delete users[c.user];
          else users[c.user] = c.restoreLevel;
          return this.putState(c.room, "m.room.power_levels", "", { ...pl, users });
        });
      case "setPowerLevel":
        return this.inRoom(c.room, async () => {
          const pl = await this.getState(c.room, "m.room.power_levels");
          const users = { ...((pl.users as Record<string, number> | undefined) ?? {}) };
          if (users[c.user] === c.level) return "already at that level";
          users[c.user] = c.level;
          return this.putState(c.room, "m.room.power_levels", "", { ...pl, users });
        });
      case "deactivate":
        await this.client.doRequest("POST", `/_synapse/admin/v1/deactivate/${enc(c.user)}`, null, {
          erase: c.erase,
        });
        return;
      case "takedownRoom": {
        const res = (await this.client.doRequest(
          "DELETE",
          takedownPath(c.room),
          null,
          takedownRequestBody(c.purge, c.reason),
        )) as { delete_id?: unknown };
        return typeof res.delete_id === "string" ? res.delete_id : "";
      }
      case "quarantineMedia": {
        const res = await this.client.doRequest("POST", quarantinePath(c.target), null, {});
        return String(quarantinedCount(c.target, res));
      }
      case "unblockRoom":
        await this.client.doRequest("PUT", blockPath(c.room), null, { block: false });
        return;
      case "suspend":
      case "unsuspend":
        return this.accounts.set("suspend", c.user, c.kind === "suspend");
      case "lock":
      case "unlock":
        return this.accounts.set("lock", c.user, c.kind === "lock");
      case "warn":
        return this.messenger.send(c.room, "m.room.message", { ...notice(text(c.text)) });
      case "notify":
        return this.messenger.send(this.managementRoomId(), "m.room.message", {
          ...notice(c.html === undefined ? text(c.text) : trusted(c.html, c.text)),
        });
      case "send":
        return this.messenger.send(c.room, c.eventType, c.content);
    }
  }

  /** Runs read-modify-write steps on one room's state one at a time. */
  private inRoom<T>(roomId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.roomLocks.get(roomId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.roomLocks.set(roomId, settled);
    void settled.then(() => {
      if (this.roomLocks.get(roomId) === settled) this.roomLocks.delete(roomId);
    });
    return next;
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
