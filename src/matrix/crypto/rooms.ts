// Room tracking for the crypto engine: which rooms are encrypted and how (m.room.encryption), their
// history visibility and join/invite members, read from /sync state and stored in the OlmMachine's
// room settings so a restart still knows a room is encrypted. Members are loaded lazily at the first
// encrypt; the users of encrypted rooms get their device lists tracked.

import { EncryptionAlgorithm, RoomId, RoomSettings, UserId } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { OlmMachine } from "@matrix-org/matrix-sdk-crypto-wasm";

import { MEGOLM_ALGORITHM } from "./engine-types.ts";
import { errorMessage, isRecord } from "./types.ts";
import type { Logger, LogOnce, RawEvent, RequestFn } from "./types.ts";

export interface RoomEncryption {
  algorithm: string;
  rotationPeriodMs?: number;
  rotationPeriodMsgs?: number;
}

export interface RoomState {
  encryption: RoomEncryption | undefined;
  historyVisibility: string;
  /** join/invite members, once loaded (lazily at the first encrypt). */
  members: Map<string, string> | undefined;
  membersLoading: Promise<void> | undefined;
}

export interface RoomTrackerDeps {
  machine: OlmMachine;
  request: RequestFn;
  logger: Logger;
  logOnce: LogOnce;
  /** Newly tracked users' device lists are queried by the outgoing-request loop: start a pass. */
  onUsersTracked: () => void;
}

/** Valid user IDs of `ids` for crypto-wasm; invalid ones are skipped (logged at debug level). */
export function toUserIds(ids: Iterable<string>, logger: Logger): UserId[] {
  const out: UserId[] = [];
  for (const id of ids) {
    try {
      out.push(new UserId(id));
    } catch {
      logger.debug({ userId: id }, "crypto: ignoring an invalid user ID");
    }
  }
  return out;
}

export class RoomTracker {
  private readonly rooms = new Map<string, RoomState>();
  private readonly deps: RoomTrackerDeps;

  constructor(deps: RoomTrackerDeps) {
    this.deps = deps;
  }

  /** Read m.room.encryption / m.room.member / m.room.history_visibility of a /sync response. */
  readSync(body: Record<string, unknown>): void {
    const rooms = isRecord(body["rooms"]) ? body["rooms"] : {};
    const join = isRecord(rooms["join"]) ? rooms["join"] : {};
    const newlyTracked: string[] = [];
    for (const [roomId, room] of Object.entries(join)) {
      if (!isRecord(room)) continue;
      const events: RawEvent[] = [];
      const state = isRecord(room["state"]) ? room["state"]["events"] : undefined;
      if (Array.isArray(state)) events.push(...state.filter(isRecord));
      const timeline = isRecord(room["timeline"]) ? room["timeline"]["events"] : undefined;
      if (Array.isArray(timeline))
        events.push(...timeline.filter((e) => isRecord(e) && typeof e["state_key"] === "string"));
      // Encryption first, so that members of a room that just turned encrypted are tracked.
      for (const ev of events) if (ev.type === "m.room.encryption") this.applyState(roomId, ev, newlyTracked);
      for (const ev of events) if (ev.type !== "m.room.encryption") this.applyState(roomId, ev, newlyTracked);
    }
    const leave = isRecord(rooms["leave"]) ? rooms["leave"] : {};
    for (const roomId of Object.keys(leave)) {
      const r = this.rooms.get(roomId);
      if (r) r.members = undefined;
    }
    if (newlyTracked.length > 0) this.trackUsers(newlyTracked);
  }

  /** A state event obtained outside /sync (idempotent). */
  onRoomState(roomId: string, event: RawEvent): void {
    const newlyTracked: string[] = [];
    this.applyState(roomId, event, newlyTracked);
    if (newlyTracked.length > 0) this.trackUsers(newlyTracked);
  }

  /** The room's state, created (unencrypted, "shared", members not loaded) when unknown. */
  get(roomId: string): RoomState {
    let r = this.rooms.get(roomId);
    if (!r) {
      r = {
        encryption: undefined,
        historyVisibility: "shared",
        members: undefined,
        membersLoading: undefined,
      };
      this.rooms.set(roomId, r);
    }
    return r;
  }

  /** Encrypted rooms known to this process; rooms added while iterating are visited too. */
  *encryptedRoomIds(): Generator<string> {
    for (const [roomId, r] of this.rooms) if (r.encryption) yield roomId;
  }

  private applyState(roomId: string, ev: RawEvent, newlyTracked: string[]): void {
    if (typeof ev.state_key !== "string" || !isRecord(ev.content)) return;
    const content = ev.content;
    if (ev.type === "m.room.encryption" && ev.state_key === "") {
      const algorithm = content["algorithm"];
      if (typeof algorithm !== "string") {
        this.deps.logger.warn(
          { roomId },
          "crypto: ignoring an m.room.encryption event without algorithm (encryption cannot be turned off)",
        );
        return;
      }
      const r = this.get(roomId);
      const enc: RoomEncryption = { algorithm };
      const ms = content["rotation_period_ms"];
      const msgs = content["rotation_period_msgs"];
      if (typeof ms === "number" && Number.isFinite(ms) && ms > 0) enc.rotationPeriodMs = ms;
      if (typeof msgs === "number" && Number.isFinite(msgs) && msgs > 0)
        enc.rotationPeriodMsgs = Math.floor(msgs);
      const wasEncrypted = r.encryption !== undefined;
      if (r.encryption && r.encryption.algorithm !== algorithm) {
        this.deps.logger.warn(
          { roomId, from: r.encryption.algorithm, to: algorithm },
          "crypto: room changed its encryption algorithm",
        );
      }
      r.encryption = enc;
      void this.persistRoomSettings(roomId, enc);
      if (!wasEncrypted && r.members) newlyTracked.push(...r.members.keys());
      return;
    }
    if (ev.type === "m.room.history_visibility" && ev.state_key === "") {
      const v = content["history_visibility"];
      if (typeof v === "string") this.get(roomId).historyVisibility = v;
      return;
    }
    if (ev.type === "m.room.member") {
      const r = this.rooms.get(roomId);
      if (!r) return;
      const membership = content["membership"];
      const userId = ev.state_key;
      if (!r.members) return; // loaded lazily at the first encrypt
      if (membership === "join" || membership === "invite") {
        const known = r.members.has(userId);
        r.members.set(userId, membership);
        if (!known && r.encryption) newlyTracked.push(userId);
      } else {
        r.members.delete(userId);
      }
    }
  }

  private async persistRoomSettings(roomId: string, enc: RoomEncryption): Promise<void> {
    if (enc.algorithm !== MEGOLM_ALGORITHM) {
      this.deps.logOnce(
        `alg|${roomId}|${enc.algorithm}`,
        "warn",
        { roomId, algorithm: enc.algorithm },
        "crypto: unsupported room encryption algorithm; Tyr will not send into this room",
      );
      return;
    }
    try {
      const s = new RoomSettings();
      s.algorithm = EncryptionAlgorithm.MegolmV1AesSha2;
      if (enc.rotationPeriodMs !== undefined) s.sessionRotationPeriodMs = enc.rotationPeriodMs;
      if (enc.rotationPeriodMsgs !== undefined) s.sessionRotationPeriodMessages = enc.rotationPeriodMsgs;
      await this.deps.machine.setRoomSettings(new RoomId(roomId), s);
    } catch (e) {
      this.deps.logOnce(
        `settings|${roomId}`,
        "warn",
        { roomId, err: errorMessage(e) },
        "crypto: room encryption settings not stored",
      );
    }
  }

  /**
   * Is the room encrypted? Known from m.room.encryption seen in /sync or, after a restart, from the
   * crypto store (which refuses downgrades: a room never becomes unencrypted).
   */
  async isRoomEncrypted(roomId: string): Promise<boolean> {
    if (this.rooms.get(roomId)?.encryption) return true;
    let id: RoomId;
    try {
      id = new RoomId(roomId);
    } catch {
      return false;
    }
    const stored = await this.deps.machine.getRoomSettings(id);
    if (!stored) return false;
    const r = this.get(roomId);
    if (!r.encryption) {
      r.encryption = {
        algorithm: stored.algorithm === EncryptionAlgorithm.MegolmV1AesSha2 ? MEGOLM_ALGORITHM : "unknown",
      };
      if (stored.sessionRotationPeriodMs !== undefined)
        r.encryption.rotationPeriodMs = stored.sessionRotationPeriodMs;
      if (stored.sessionRotationPeriodMessages !== undefined)
        r.encryption.rotationPeriodMsgs = stored.sessionRotationPeriodMessages;
    }
    return true;
  }

  /** Load the room's join/invite members and history visibility once, and track the members. */
  async loadMembers(roomId: string, r: RoomState): Promise<void> {
    if (r.members) return;
    if (!r.membersLoading) {
      r.membersLoading = (async () => {
        const resp = await this.deps.request(
          "GET",
          `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/members`,
          {
            not_membership: "leave",
          },
        );
        const members = new Map<string, string>();
        const chunk = isRecord(resp) && Array.isArray(resp["chunk"]) ? resp["chunk"] : [];
        for (const ev of chunk) {
          if (
            !isRecord(ev) ||
            ev["type"] !== "m.room.member" ||
            typeof ev["state_key"] !== "string" ||
            !isRecord(ev["content"])
          )
            continue;
          const m = ev["content"]["membership"];
          if (m === "join" || m === "invite") members.set(ev["state_key"], m);
        }
        try {
          const hv = await this.deps.request(
            "GET",
            `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.history_visibility/`,
          );
          if (isRecord(hv) && typeof hv["history_visibility"] === "string")
            r.historyVisibility = hv["history_visibility"];
        } catch {
          // no history visibility state: "shared"
        }
        r.members = members;
        const ids = toUserIds(members.keys(), this.deps.logger);
        if (ids.length > 0) await this.deps.machine.updateTrackedUsers(ids);
      })().finally(() => {
        r.membersLoading = undefined;
      });
    }
    await r.membersLoading;
  }

  /** Start tracking users' devices (key query happens in the outgoing-request loop). */
  trackUsers(users: string[]): void {
    const ids = toUserIds(users, this.deps.logger);
    if (ids.length === 0) return;
    this.deps.machine
      .updateTrackedUsers(ids)
      .then(() => this.deps.onUsersTracked())
      .catch((e: unknown) =>
        this.deps.logger.warn({ err: errorMessage(e) }, "crypto: updating tracked users failed"),
      );
  }
}
