// Sending room events: the one gate every message, notice, reaction and edit of Tyr passes. In an
// encrypted room the event is encrypted first; the rest of Tyr just says what to send and where.
//
// It fails closed: a room counts as unencrypted only when Tyr knows it is — its full state came
// through /sync without m.room.encryption, or the homeserver answered 404 for that state. Until
// then the state is fetched before the first send, and any other answer means nothing is sent.
// Once a room is known encrypted it stays so for this process (the spec has no way back).
import { randomUUID } from "node:crypto";
import type { TyrClient } from "./client.ts";
import type { RoomStateCache } from "./roomState.ts";

export interface Encryptor {
  encrypt(
    roomId: string,
    eventType: string,
    content: Record<string, unknown>,
  ): Promise<{ type: string; content: Record<string, unknown> }>;
  /** Does the crypto engine already know the room is encrypted (from /sync or its store)? */
  isRoomEncrypted(roomId: string): Promise<boolean>;
  /** Tell the engine about an m.room.encryption event fetched outside /sync. */
  onRoomState(roomId: string, event: Record<string, unknown>): void;
}

type Request = (method: string, endpoint: string) => Promise<unknown>;

/**
 * The room's m.room.encryption content, fetched from the homeserver: undefined when the room has
 * none (404 M_NOT_FOUND). Throws for every other failure: the caller must then not send.
 */
export async function fetchRoomEncryption(
  request: Request,
  roomId: string,
): Promise<Record<string, unknown> | undefined> {
  try {
    const content = await request(
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.encryption/`,
    );
    return content && typeof content === "object" ? (content as Record<string, unknown>) : {};
  } catch (e) {
    const err = e as { statusCode?: number; errcode?: string };
    if (err.statusCode === 404 && err.errcode === "M_NOT_FOUND") return undefined;
    throw new Error(
      `not sending into ${roomId}: Tyr cannot tell whether the room is encrypted (${e instanceof Error ? e.message : String(e)})`,
      { cause: e },
    );
  }
}

export class Messenger {
  private readonly client: TyrClient;
  private readonly state: RoomStateCache;
  /** Rooms seen encrypted by this process (sticky: never downgraded). */
  private readonly encryptedRooms = new Set<string>();
  encryptor: Encryptor | undefined;

  constructor(client: TyrClient, state: RoomStateCache) {
    this.client = client;
    this.state = state;
  }

  async send(roomId: string, eventType: string, content: Record<string, unknown>): Promise<string> {
    let type = eventType;
    let body = content;
    // Every non-state event is encrypted in an encrypted room, reactions and edits included.
    if (await this.isEncrypted(roomId)) {
      if (!this.encryptor)
        throw new Error(
          `not sending into ${roomId}: the room is encrypted but Tyr's encryption is switched off (encryption.enabled)`,
        );
      ({ type, content: body } = await this.encryptor.encrypt(roomId, eventType, content));
    }
    const txn = randomUUID();
    const res = (await this.client.doRequest(
      "PUT",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/${encodeURIComponent(type)}/${txn}`,
      null,
      body,
    )) as { event_id?: string };
    return res.event_id ?? "";
  }

  /** Whether the room is encrypted; throws when that cannot be known (see the header). */
  async isEncrypted(roomId: string): Promise<boolean> {
    if (this.encryptedRooms.has(roomId)) return true;
    const room = this.state.peek(roomId);
    let encrypted = room?.encrypted === true || ((await this.encryptor?.isRoomEncrypted(roomId)) ?? false);
    // The room's full state arrived through /sync (it always holds m.room.create) without
    // m.room.encryption: known unencrypted. Anything less: ask the homeserver.
    if (!encrypted && room?.createEvent === undefined) {
      const fetched = await fetchRoomEncryption((m, e) => this.client.doRequest(m, e), roomId);
      if (fetched !== undefined) {
        encrypted = true;
        this.encryptor?.onRoomState(roomId, { type: "m.room.encryption", state_key: "", content: fetched });
      }
    }
    if (encrypted) this.encryptedRooms.add(roomId);
    return encrypted;
  }
}
