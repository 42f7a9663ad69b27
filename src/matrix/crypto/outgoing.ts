// The OlmMachine's outgoing-request loop (keys upload/query/claim, to-device messages, signatures)
// and the key backup loop it starts. Each loop runs one pass at a time; a kick during a pass makes
// it run once more, so callers can kick freely after every change that may produce requests.

import { KeysUploadRequest, RoomMessageRequest, ToDeviceRequest } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { OlmMachine } from "@matrix-org/matrix-sdk-crypto-wasm";

import { sendOutgoingRequest } from "./requests.ts";
import type { AnyOutgoingRequest } from "./requests.ts";
import { errorMessage, isRecord } from "./types.ts";
import type { Logger, LogOnce, RequestFn } from "./types.ts";

export interface OutgoingLoopDeps {
  machine: OlmMachine;
  request: RequestFn;
  logger: Logger;
  logOnce: LogOnce;
  /** True once the engine is closing: no new passes. */
  isStopped: () => boolean;
  /** Save the crypto store (before new keys or Olm messages reach the server). */
  persist: () => Promise<unknown>;
}

/**
 * Sends an in-room event (in-room verification) through Tyr's sending gate, which encrypts it in
 * an encrypted room; returns its event ID.
 */
export type RoomEventSender = (
  roomId: string,
  type: string,
  content: Record<string, unknown>,
) => Promise<string>;

export class OutgoingLoop {
  private readonly deps: OutgoingLoopDeps;
  private outgoingPass: Promise<void> | undefined;
  private outgoingAgain = false;
  private backupPass: Promise<void> | undefined;
  private backupAgain = false;
  /** Set by the bot: in-room events then go through its sending gate instead of out as they are. */
  roomEvents: RoomEventSender | undefined;
  /** In-room events being sent apart from the loop (their IDs). */
  private readonly roomEventsInFlight = new Set<string>();

  constructor(deps: OutgoingLoopDeps) {
    this.deps = deps;
  }

  /** Send one request and report the response to the OlmMachine. */
  async sendAndMark(req: AnyOutgoingRequest): Promise<void> {
    if (req instanceof RoomMessageRequest && this.roomEvents) {
      const content: unknown = JSON.parse(req.body);
      if (!isRecord(content)) throw new Error("crypto-wasm returned a non-object room event");
      const eventId = await this.roomEvents(req.room_id, req.event_type, content);
      await this.deps.machine.markRequestAsSent(req.id, req.type, JSON.stringify({ event_id: eventId }));
      return;
    }
    const resp = await sendOutgoingRequest(this.deps.request, req);
    if (req.id !== undefined) await this.deps.machine.markRequestAsSent(req.id, req.type, resp);
  }

  /**
   * An in-room event from the loop is sent beside it, not awaited: encrypting it waits for a pass
   * of this loop (device lists must be fresh), which must not wait for it in turn.
   */
  private sendRoomEventApart(req: RoomMessageRequest): void {
    if (this.roomEventsInFlight.has(req.id)) return;
    this.roomEventsInFlight.add(req.id);
    this.sendAndMark(req)
      .catch((e: unknown) =>
        this.deps.logger.warn(
          { err: errorMessage(e) },
          "crypto: sending an in-room verification event failed",
        ),
      )
      .finally(() => this.roomEventsInFlight.delete(req.id));
  }

  /** Start a pass of the outgoing-request loop in the background. */
  kick(): void {
    if (this.deps.isStopped()) return;
    this.process().catch((e: unknown) =>
      this.deps.logger.warn({ err: errorMessage(e) }, "crypto: outgoing request loop failed"),
    );
  }

  /**
   * Send everything the OlmMachine wants sent, then back up new room keys. One loop at a time;
   * a call during a pass makes the loop run once more and resolves after that.
   */
  process(): Promise<void> {
    if (this.outgoingPass) {
      this.outgoingAgain = true;
      return this.outgoingPass;
    }
    this.outgoingPass = (async () => {
      try {
        let passes = 0;
        do {
          this.outgoingAgain = false;
          const sent = await this.outgoingOnce();
          if (sent > 0) this.outgoingAgain = true;
          passes += 1;
        } while (this.outgoingAgain && !this.deps.isStopped() && passes < 20);
        if (!this.deps.isStopped()) this.kickBackup();
      } finally {
        this.outgoingPass = undefined;
      }
    })();
    return this.outgoingPass;
  }

  private async outgoingOnce(): Promise<number> {
    if (this.deps.isStopped()) return 0;
    const requests = (await this.deps.machine.outgoingRequests()) as AnyOutgoingRequest[];
    if (requests.length === 0) return 0;
    // New one-time keys and advanced Olm ratchets must be on disk before the server sees them.
    if (requests.some((r) => r instanceof KeysUploadRequest || r instanceof ToDeviceRequest))
      await this.deps.persist();
    let sent = 0;
    for (const req of requests) {
      if (this.deps.isStopped()) break;
      if (req instanceof RoomMessageRequest && this.roomEvents) {
        this.sendRoomEventApart(req);
        continue;
      }
      try {
        await this.sendAndMark(req);
        sent += 1;
      } catch (e) {
        this.deps.logOnce(
          `out|${req.constructor.name}|${errorMessage(e)}`,
          "warn",
          { request: req.constructor.name, err: errorMessage(e) },
          "crypto: an outgoing request failed (it will be retried)",
        );
      }
    }
    return sent;
  }

  /** Back up new room keys in the background (one loop at a time; never blocks sending). */
  private kickBackup(): void {
    if (this.backupPass) {
      this.backupAgain = true;
      return;
    }
    this.backupPass = (async () => {
      do {
        this.backupAgain = false;
        await this.backupOnce();
      } while (this.backupAgain && !this.deps.isStopped());
    })().finally(() => {
      this.backupPass = undefined;
    });
  }

  private async backupOnce(): Promise<void> {
    try {
      if (!(await this.deps.machine.isBackupEnabled())) return;
      while (!this.deps.isStopped()) {
        const req = await this.deps.machine.backupRoomKeys();
        if (!req) return;
        await this.sendAndMark(req);
      }
    } catch (e) {
      this.deps.logOnce(
        `backup|${errorMessage(e)}`,
        "warn",
        { err: errorMessage(e) },
        "crypto: backing up room keys failed (will retry)",
      );
    }
  }

  /** Whether a request or backup pass is running. */
  get busy(): boolean {
    return this.outgoingPass !== undefined || this.backupPass !== undefined;
  }

  /** Wait for the running request pass (whatever its outcome), then the running backup pass. */
  async settle(): Promise<void> {
    await this.outgoingPass?.catch(() => undefined);
    await this.backupPass;
  }
}
