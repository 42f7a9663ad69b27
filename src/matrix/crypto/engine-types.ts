// The crypto engine's public types (and its algorithm constant), re-exported whole by engine.ts.
// Kept apart so the modules behind the CryptoEngine facade (rooms, decryption, encryption, ...) can
// name them without importing engine.ts, which imports those modules.

import type { VerificationRequest } from "@matrix-org/matrix-sdk-crypto-wasm";

import type { Logger, RequestFn } from "./types.ts";

export const MEGOLM_ALGORITHM = "m.megolm.v1.aes-sha2";

/** Who receives the room keys Tyr shares. */
export type KeySharingPolicy =
  /** Devices signed by their owner's cross-signing identity (spec v1.18 recommendation). */
  | "cross-signed"
  /** Only devices Tyr verified (or whose owner Tyr verified and who signed them). */
  | "verified"
  /** Every device that is not blocked. */
  | "all";

export interface CryptoEngineOptions {
  userId: string;
  /** Device ID of the access token (from /whoami or the login response). */
  deviceId: string;
  /** matrix-bot-sdk `doRequest`-compatible function of the (rate-limit aware) client. */
  request: RequestFn;
  /** Directory of the crypto store files, e.g. `<dataDir>/crypto`. */
  storeDir: string;
  /** Configured store secret instead of the generated key file (see store.ts). */
  storeSecret?: string;
  logger?: Logger;
  /** Default "cross-signed". */
  keySharing?: KeySharingPolicy;
  /**
   * Runs when the store is new, before the new device's keys are saved or uploaded; if it throws,
   * the start is abandoned with nothing uploaded (see bootstrap.ts startEncryption).
   */
  beforeNewDeviceKeys?: () => Promise<void>;
}

/** Crypto metadata of a decrypted event. */
export interface DecryptionInfo {
  /** Device that sent the event (authenticated by the Megolm session, unless `authentic` is false). */
  senderDevice: string | undefined;
  senderCurve25519Key: string;
  /**
   * Shield of the event in strict mode, at decryption time: undefined = verified sender; otherwise
   * the reason ("UnverifiedIdentity", "UnsignedDevice", "UnknownDevice", "AuthenticityNotGuaranteed",
   * "VerificationViolation", "MismatchedSender").
   */
  shield: ShieldReason | undefined;
  /** False when the key came from a backup/forward, or the sender does not match the session. */
  authentic: boolean;
}

export type ShieldReason =
  | "AuthenticityNotGuaranteed"
  | "UnknownDevice"
  | "UnsignedDevice"
  | "UnverifiedIdentity"
  | "VerificationViolation"
  | "MismatchedSender"
  | "Unknown";

export interface DecryptedEvent {
  type: string;
  content: Record<string, unknown>;
  event_id: string;
  sender: string;
  room_id: string;
  origin_server_ts: number;
  unsigned?: Record<string, unknown>;
  [key: string]: unknown;
}

export type DecryptFailureCode =
  | "malformed"
  | "MissingRoomKey"
  | "UnknownMessageIndex"
  | "MismatchedIdentityKeys"
  | "UnknownSenderDevice"
  | "UnsignedSenderDevice"
  | "SenderIdentityVerificationViolation"
  | "UnableToDecrypt"
  | "MismatchedSender"
  /** Another event already used this message of the Megolm session: a replay. */
  | "Replayed"
  | "Unknown";

export type DecryptResult =
  | { ok: true; event: DecryptedEvent; info: DecryptionInfo }
  | { ok: false; code: DecryptFailureCode; reason: string; retrying: boolean; withheld?: string };

export type LateDecryptionHandler = (
  roomId: string,
  event: DecryptedEvent,
  info: DecryptionInfo,
) => void | Promise<void>;

/** A to-device event after the OlmMachine processed it. */
export interface ToDeviceEvent {
  type: string;
  sender: string;
  content: Record<string, unknown>;
  encrypted: boolean;
  senderDevice?: string;
  senderVerified?: boolean;
}

export interface ReceiveSyncResult {
  toDevice: ToDeviceEvent[];
}

/** Hooks of the verification module (verification.ts). */
export interface VerificationHooks {
  /** A verification request arrived (to-device or in-room) and is known to the OlmMachine. */
  onRequest(request: VerificationRequest): void;
}
