// Routing of incoming verification events to the OlmMachine: plaintext in-room events from /sync,
// decrypted in-room events, and announcing new requests (to-device or in-room) to the verification
// module (verification.ts) once crypto-wasm knows them. Requesters' devices are fetched first, or
// crypto-wasm would drop or cancel their requests.

import { RoomId, UserId } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { OlmMachine, VerificationRequest } from "@matrix-org/matrix-sdk-crypto-wasm";

import type { VerificationHooks } from "./engine-types.ts";
import { errorMessage, isRecord } from "./types.ts";
import type { Logger, LogOnce, RawEvent } from "./types.ts";

const VERIFICATION_TYPES = new Set([
  "m.key.verification.ready",
  "m.key.verification.start",
  "m.key.verification.accept",
  "m.key.verification.key",
  "m.key.verification.mac",
  "m.key.verification.done",
  "m.key.verification.cancel",
]);

export function isVerificationEvent(type: unknown, content: unknown): boolean {
  if (typeof type !== "string") return false;
  if (VERIFICATION_TYPES.has(type)) return true;
  return (
    type === "m.room.message" && isRecord(content) && content["msgtype"] === "m.key.verification.request"
  );
}

export interface VerificationEventsDeps {
  machine: OlmMachine;
  userId: string;
  logger: Logger;
  logOnce: LogOnce;
  /** Fetch users' device lists now (never throws). */
  fetchDevices: (users: string[]) => Promise<void>;
  /** Let crypto-wasm drop finished verification objects. */
  collectGarbage: () => Promise<void>;
  /** Responses to verification events are outgoing requests: start a pass. */
  kickOutgoing: () => void;
}

export class VerificationEvents {
  private readonly deps: VerificationEventsDeps;
  private hooks: VerificationHooks | undefined;

  constructor(deps: VerificationEventsDeps) {
    this.deps = deps;
  }

  setHooks(hooks: VerificationHooks | undefined): void {
    this.hooks = hooks;
  }

  /** Plaintext in-room verification events of a /sync response (encrypted ones come via decrypt). */
  async readSync(body: Record<string, unknown>): Promise<void> {
    const rooms = isRecord(body["rooms"]) ? body["rooms"] : {};
    const join = isRecord(rooms["join"]) ? rooms["join"] : {};
    for (const [roomId, room] of Object.entries(join)) {
      if (!isRecord(room) || !isRecord(room["timeline"])) continue;
      const events = room["timeline"]["events"];
      if (!Array.isArray(events)) continue;
      for (const ev of events) {
        if (!isRecord(ev) || typeof ev["state_key"] === "string") continue;
        if (isVerificationEvent(ev["type"], ev["content"])) await this.receiveRoomEvent(roomId, ev);
      }
    }
  }

  /** Pass an in-room verification event (plaintext or decrypted) to the OlmMachine. */
  async receiveRoomEvent(roomId: string, ev: RawEvent): Promise<void> {
    if (typeof ev.sender !== "string" || typeof ev.event_id !== "string" || ev.sender === this.deps.userId)
      return;
    // Remote echoes of our own messages carry a transaction ID; everything from us is skipped above.
    try {
      const isRequest = ev.type === "m.room.message";
      // Know the requester's devices before the request is processed, or it is cancelled at once.
      if (isRequest) {
        await this.deps.fetchDevices([ev.sender]);
        // A finished request still cached would make crypto-wasm cancel this new one.
        await this.deps.collectGarbage();
      }
      await this.deps.machine.receiveVerificationEvent(
        JSON.stringify({
          event_id: ev.event_id,
          type: ev.type,
          sender: ev.sender,
          content: ev.content,
          origin_server_ts: ev.origin_server_ts,
        }),
        new RoomId(roomId),
      );
      if (isRequest) this.announceRequest(ev.sender, ev.event_id);
      this.deps.kickOutgoing();
    } catch (e) {
      this.deps.logger.warn(
        { roomId, type: ev.type, err: errorMessage(e) },
        "crypto: in-room verification event not processed",
      );
    }
  }

  /** Hand a request crypto-wasm now knows to the verification module, if it is enabled. */
  announceRequest(sender: string, flowId: string): void {
    let req: VerificationRequest | undefined;
    try {
      req = this.deps.machine.getVerificationRequest(new UserId(sender), flowId);
    } catch {
      req = undefined;
    }
    if (!req) {
      this.deps.logger.debug(
        { sender, flowId },
        "crypto: verification request not known to the OlmMachine (too old?)",
      );
      return;
    }
    if (this.hooks) this.hooks.onRequest(req);
    else
      this.deps.logOnce(
        `verif-nohook|${sender}`,
        "info",
        { sender },
        "crypto: ignoring a verification request (verification is not enabled)",
      );
  }
}
