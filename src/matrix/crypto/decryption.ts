// Decryption of m.room.encrypted timeline events, with replay refusal and the queue of events whose
// room key has not arrived yet: they are retried when crypto-wasm reports new keys and handed to the
// late-decryption handlers. Also remembers withheld codes (m.room_key.withheld) to explain failures.

import {
  DecryptionSettings,
  MegolmDecryptionError,
  RoomId,
  TrustRequirement,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import type {
  DecryptedRoomEvent,
  OlmMachine,
  RoomKeyInfo,
  RoomKeyWithheldInfo,
} from "@matrix-org/matrix-sdk-crypto-wasm";

import { MEGOLM_ALGORITHM } from "./engine-types.ts";
import type {
  DecryptedEvent,
  DecryptFailureCode,
  DecryptionInfo,
  DecryptResult,
  LateDecryptionHandler,
  ShieldReason,
} from "./engine-types.ts";
import { megolmMessageIndex } from "./replay.ts";
import type { ReplayGuard } from "./replay.ts";
import { errorMessage, isRecord, MAX_LOGGED_KEYS } from "./types.ts";
import type { Logger, LogOnce, RawEvent } from "./types.ts";
import { isVerificationEvent } from "./verification-events.ts";

const MAX_PENDING_EVENTS = 5000;
const PENDING_TTL_MS = 24 * 3600 * 1000;

const SHIELD_NAMES: Record<number, ShieldReason> = {
  0: "AuthenticityNotGuaranteed",
  1: "UnknownDevice",
  2: "UnsignedDevice",
  3: "UnverifiedIdentity",
  4: "VerificationViolation",
  5: "MismatchedSender",
};

const DECRYPT_CODES: Record<number, DecryptFailureCode> = {
  0: "MissingRoomKey",
  1: "UnknownMessageIndex",
  2: "MismatchedIdentityKeys",
  3: "UnknownSenderDevice",
  4: "UnsignedSenderDevice",
  5: "SenderIdentityVerificationViolation",
  6: "UnableToDecrypt",
  7: "MismatchedSender",
};

interface PendingEvent {
  roomId: string;
  event: RawEvent;
  since: number;
}

export interface RoomDecryptorDeps {
  machine: OlmMachine;
  replay: ReplayGuard;
  logger: Logger;
  logOnce: LogOnce;
  /** True once the engine is closing: retries stop. */
  isStopped: () => boolean;
  /** A decrypted in-room verification event, for the OlmMachine. */
  onVerificationEvent: (roomId: string, event: RawEvent) => Promise<void>;
  /** New keys may need backing up: start an outgoing-request pass. */
  onKeysReceived: () => void;
}

export class RoomDecryptor {
  private readonly deps: RoomDecryptorDeps;
  private readonly decryptionSettings = new DecryptionSettings(TrustRequirement.Untrusted);
  /** Undecryptable events waiting for their key, by `${roomId}|${sessionId}`. */
  private readonly pending = new Map<string, Map<string, PendingEvent>>();
  private pendingCount = 0;
  private readonly withheld = new Map<string, string>();
  private readonly lateHandlers = new Set<LateDecryptionHandler>();
  private retryScheduled: Set<string> = new Set();
  private retryTimer: NodeJS.Immediate | undefined;
  private retrying: Promise<void> | undefined;

  constructor(deps: RoomDecryptorDeps) {
    this.deps = deps;
  }

  /** Register a handler for events that become decryptable later; returns an unsubscribe function. */
  onLateDecryption(handler: LateDecryptionHandler): () => void {
    this.lateHandlers.add(handler);
    return () => this.lateHandlers.delete(handler);
  }

  /** Number of undecryptable events waiting for their keys. */
  get pendingDecryptions(): number {
    return this.pendingCount;
  }

  /** Decrypt one m.room.encrypted timeline event; queue it when its key may still come. */
  async decrypt(roomId: string, event: RawEvent): Promise<DecryptResult> {
    const r = await this.tryDecrypt(roomId, event);
    if (r.ok || r.code === "malformed") return r;
    const sessionId =
      isRecord(event.content) && typeof event.content["session_id"] === "string"
        ? event.content["session_id"]
        : "";
    const retry = r.code === "MissingRoomKey" || r.code === "UnknownMessageIndex";
    if (retry) this.addPending(roomId, sessionId, event);
    const withheld = this.withheld.get(`${roomId}|${sessionId}`);
    this.deps.logOnce(
      `utd|${roomId}|${sessionId}|${r.code}`,
      "warn",
      {
        roomId,
        eventId: event.event_id,
        sender: event.sender,
        sessionId,
        code: r.code,
        withheld,
        reason: r.reason,
      },
      retry ? "crypto: cannot decrypt yet; will retry when the key arrives" : "crypto: cannot decrypt event",
    );
    return { ...r, retrying: retry, ...(withheld !== undefined ? { withheld } : {}) };
  }

  private async tryDecrypt(roomId: string, event: RawEvent): Promise<DecryptResult> {
    const bad = (reason: string): DecryptResult => ({
      ok: false,
      code: "malformed",
      reason,
      retrying: false,
    });
    if (!isRecord(event)) return bad("event is not an object");
    if (event.type !== "m.room.encrypted")
      return bad(`event type is ${String(event.type)}, not m.room.encrypted`);
    if (typeof event.event_id !== "string" || typeof event.sender !== "string")
      return bad("event lacks event_id or sender");
    if (!isRecord(event.content) || typeof event.content["algorithm"] !== "string")
      return bad("event content lacks algorithm");
    if (event.content["algorithm"] !== MEGOLM_ALGORITHM)
      return bad(`unsupported algorithm ${event.content["algorithm"]}`);
    let room: RoomId;
    try {
      room = new RoomId(roomId);
    } catch {
      return bad(`invalid room ID ${roomId}`);
    }
    const payload = {
      type: event.type,
      event_id: event.event_id,
      sender: event.sender,
      origin_server_ts: typeof event.origin_server_ts === "number" ? event.origin_server_ts : 0,
      content: event.content,
      room_id: roomId,
      ...(isRecord(event.unsigned) ? { unsigned: event.unsigned } : {}),
    };
    let decrypted: DecryptedRoomEvent;
    try {
      decrypted = await this.deps.machine.decryptRoomEvent(
        JSON.stringify(payload),
        room,
        this.decryptionSettings,
      );
    } catch (e) {
      if (e instanceof MegolmDecryptionError) {
        return {
          ok: false,
          code: DECRYPT_CODES[e.code] ?? "Unknown",
          reason: e.description,
          retrying: false,
        };
      }
      return { ok: false, code: "Unknown", reason: errorMessage(e), retrying: false };
    }
    try {
      const sessionId = event.content["session_id"];
      const ciphertext = event.content["ciphertext"];
      const index = typeof ciphertext === "string" ? megolmMessageIndex(ciphertext) : undefined;
      if (
        typeof sessionId === "string" &&
        index !== undefined &&
        !this.deps.replay.check(sessionId, index, event.event_id)
      ) {
        this.deps.logOnce(
          `replay|${event.event_id}`,
          "warn",
          { roomId, eventId: event.event_id, sender: event.sender, sessionId, index },
          "crypto: refused a replayed encrypted message (same Megolm message as an earlier event)",
        );
        return {
          ok: false,
          code: "Replayed",
          reason: "this encrypted message was already received as another event (replay)",
          retrying: false,
        };
      }
      const clear: unknown = JSON.parse(decrypted.event);
      if (!isRecord(clear) || typeof clear["type"] !== "string" || !isRecord(clear["content"])) {
        return bad("decrypted payload lacks type or content");
      }
      const content: Record<string, unknown> = { ...clear["content"] };
      // Relations stay in the clear part of encrypted events.
      if (content["m.relates_to"] === undefined && isRecord(event.content["m.relates_to"])) {
        content["m.relates_to"] = event.content["m.relates_to"];
      }
      const out: DecryptedEvent = {
        ...(event as Record<string, unknown>),
        type: clear["type"],
        content,
        event_id: event.event_id,
        sender: event.sender,
        room_id: roomId,
        origin_server_ts: payload.origin_server_ts,
      };
      const strict = decrypted.shieldState(true);
      const code = strict.code;
      const shield = code === undefined ? undefined : (SHIELD_NAMES[code] ?? "Unknown");
      const info: DecryptionInfo = {
        senderDevice: decrypted.senderDevice?.toString(),
        senderCurve25519Key: decrypted.senderCurve25519Key,
        shield,
        authentic: shield !== "AuthenticityNotGuaranteed" && shield !== "MismatchedSender",
      };
      if (isVerificationEvent(out.type, out.content)) await this.deps.onVerificationEvent(roomId, out);
      return { ok: true, event: out, info };
    } finally {
      decrypted.free();
    }
  }

  private addPending(roomId: string, sessionId: string, event: RawEvent): void {
    if (typeof event.event_id !== "string") return;
    const key = `${roomId}|${sessionId}`;
    let m = this.pending.get(key);
    if (!m) {
      m = new Map();
      this.pending.set(key, m);
    }
    if (m.has(event.event_id)) return;
    if (this.pendingCount >= MAX_PENDING_EVENTS) this.dropOldestPending();
    m.set(event.event_id, { roomId, event, since: Date.now() });
    this.pendingCount += 1;
  }

  private dropOldestPending(): void {
    let oldestKey: string | undefined;
    let oldestEvent: string | undefined;
    let oldest = Infinity;
    for (const [key, m] of this.pending) {
      for (const [eventId, p] of m) {
        if (p.since < oldest) {
          oldest = p.since;
          oldestKey = key;
          oldestEvent = eventId;
        }
        break; // maps keep insertion order: the first entry is the oldest of its session
      }
    }
    if (oldestKey === undefined || oldestEvent === undefined) return;
    const m = this.pending.get(oldestKey);
    m?.delete(oldestEvent);
    if (m && m.size === 0) this.pending.delete(oldestKey);
    this.pendingCount -= 1;
  }

  /** crypto-wasm's room-key callback: schedule retries of the events waiting for these keys. */
  async onRoomKeysUpdated(infos: RoomKeyInfo[]): Promise<void> {
    for (const info of infos) {
      const key = `${info.roomId.toString()}|${info.sessionId}`;
      if (this.pending.has(key)) this.retryScheduled.add(key);
      this.withheld.delete(key);
    }
    if (this.retryScheduled.size > 0 && !this.retryTimer) {
      // Leave the wasm callback before decrypting again.
      this.retryTimer = setImmediate(() => {
        this.retryTimer = undefined;
        this.retrying = this.retryPending().finally(() => {
          this.retrying = undefined;
        });
      });
    }
    this.deps.onKeysReceived();
  }

  /** crypto-wasm's withheld-key callback: remember the code for the failures it explains. */
  async onRoomKeysWithheld(infos: RoomKeyWithheldInfo[]): Promise<void> {
    for (const info of infos) {
      const key = `${info.roomId.toString()}|${info.sessionId}`;
      this.withheld.set(key, info.withheldCode);
      if (this.withheld.size > MAX_LOGGED_KEYS) this.withheld.clear();
      this.deps.logOnce(
        `withheld|${key}`,
        "warn",
        {
          roomId: info.roomId.toString(),
          sessionId: info.sessionId,
          sender: info.sender.toString(),
          code: info.withheldCode,
        },
        "crypto: a sender withheld a room key from Tyr (m.unverified means Tyr's device is not trusted by the sender's policy)",
      );
    }
  }

  private async retryPending(): Promise<void> {
    const keys = [...this.retryScheduled];
    this.retryScheduled.clear();
    const now = Date.now();
    for (const key of keys) {
      const m = this.pending.get(key);
      if (!m) continue;
      for (const [eventId, p] of [...m]) {
        if (this.deps.isStopped()) return;
        if (now - p.since > PENDING_TTL_MS) {
          m.delete(eventId);
          this.pendingCount -= 1;
          continue;
        }
        const r = await this.tryDecrypt(p.roomId, p.event);
        if (!r.ok && (r.code === "MissingRoomKey" || r.code === "UnknownMessageIndex")) continue;
        m.delete(eventId);
        this.pendingCount -= 1;
        if (!r.ok) {
          this.deps.logOnce(
            `utd-late|${eventId}`,
            "warn",
            { roomId: p.roomId, eventId, code: r.code, reason: r.reason },
            "crypto: late key did not decrypt the event",
          );
          continue;
        }
        this.deps.logger.info(
          { roomId: p.roomId, eventId },
          "crypto: decrypted an event after its key arrived",
        );
        for (const h of this.lateHandlers) {
          try {
            await h(p.roomId, r.event, r.info);
          } catch (e) {
            this.deps.logger.error(
              { roomId: p.roomId, eventId, err: errorMessage(e) },
              "crypto: late-decryption handler failed",
            );
          }
        }
      }
      if (m.size === 0) this.pending.delete(key);
    }
  }

  /** Whether a retry pass is scheduled or running. */
  get busy(): boolean {
    return this.retryTimer !== undefined || this.retrying !== undefined;
  }

  /** Let a scheduled retry pass start, and wait for a running one (its failure propagates). */
  async settle(): Promise<void> {
    if (this.retryTimer) await new Promise((r) => setImmediate(r));
    if (this.retrying) await this.retrying;
  }

  /** At close: a scheduled retry pass never starts (and no new one is scheduled). */
  cancelScheduledRetry(): void {
    if (this.retryTimer) clearImmediate(this.retryTimer);
  }

  /** At close: wait for a running retry pass, whatever its outcome. */
  async finishRetrying(): Promise<void> {
    await this.retrying?.catch(() => undefined);
  }
}
