// Sending room events. In an encrypted room the event is encrypted first (when the crypto engine
// is running); the rest of Tyr just says what to send and where.
import { randomUUID } from "node:crypto";
import type { TyrClient } from "./client.ts";
import type { RoomStateCache } from "./roomState.ts";

export interface Encryptor {
  encrypt(
    roomId: string,
    eventType: string,
    content: Record<string, unknown>,
  ): Promise<{ type: string; content: Record<string, unknown> }>;
}

export class Messenger {
  private readonly client: TyrClient;
  private readonly state: RoomStateCache;
  encryptor: Encryptor | undefined;

  constructor(client: TyrClient, state: RoomStateCache) {
    this.client = client;
    this.state = state;
  }

  async send(roomId: string, eventType: string, content: Record<string, unknown>): Promise<string> {
    let type = eventType;
    let body = content;
    // Every non-state event is encrypted in an encrypted room, reactions and edits included.
    if (this.encryptor && this.state.peek(roomId)?.encrypted) {
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
}
