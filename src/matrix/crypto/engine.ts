// Tyr's end-to-end-encryption engine: an OlmMachine (crypto-wasm) driven by Tyr's own sync loop.
//
// Start-up (after login; the device ID must be the access token's):
//   const engine = await CryptoEngine.start({ userId, deviceId, request: client.doRequest-like,
//                                             storeDir: `${dataDir}/crypto`, storeSecret?, logger,
//                                             keySharing?: "cross-signed" | "verified" | "all" });
//     opens (or creates) the encrypted crypto store (store.ts) — throws CryptoStoreError with an
//     operator-facing message instead of ever replacing an existing identity —, saves a new
//     identity to disk BEFORE its keys are uploaded, then uploads the device keys.
//   await setUpSecurity(engine, { password, recoveryKey?, recoveryKeyFile? })   (bootstrap.ts)
//     cross-signing, secret storage, key backup; restore on a new machine.
//   new VerificationManager(engine, { isAllowed, autoConfirm, onUpdate })    (verification.ts)
//   engine.onLateDecryption((roomId, event, info) => route(event))   events whose key came late
//   ... sync loop ...
//   await engine.close();      stops background work, saves, frees wasm memory
//
// The sync loop, for each /sync response, in this order:
//   1. await engine.receiveSync(syncBody)
//        feeds to-device events, device-list changes, one-time-key counts and unused fallback key
//        types to the OlmMachine; also reads m.room.encryption / m.room.member /
//        m.room.history_visibility from rooms.join.*.{state,timeline} and plaintext in-room
//        verification events; kicks the outgoing-request loop (keys upload/query/claim, to-device,
//        signatures) and the key backup in the background. Returns the processed to-device events.
//   2. for each timeline event of type m.room.encrypted (state events included):
//        const r = await engine.decrypt(roomId, event)
//        r.ok  → r.event is the cleartext event (type/content from the plaintext; event_id, sender,
//                origin_server_ts, room_id, unsigned kept) and r.info the sender device, the shield
//                and whether the key is authentic (for the command gate: trust.ts checkSender).
//        !r.ok → r.code / r.reason. When r.retrying (key missing), the event is queued and later
//                handed to the onLateDecryption handlers when its key arrives. "Replayed" means the
//                same Megolm message arrived as another event (refuse it). Failures are logged once.
//   3. (optional) engine.onRoomState(roomId, event) for state obtained outside /sync (e.g. a
//      full /state fetch); /sync state is already read in step 1.
//   4. await engine.persist()  — BEFORE the sync token is saved. Usually appends a few KB to the
//      journal (see store.ts).
//
// Sending into an encrypted room:
//   if (await engine.isRoomEncrypted(roomId)) {
//     const { type, content } = await engine.encrypt(roomId, "m.room.message", content);
//     → PUT /rooms/{roomId}/send/{type}/{txnId} with content
//   }
//   encrypt() shares the room key first every time (track members, claim one-time keys, share,
//   send to-device) under a per-room lock, and rotates the Megolm session itself before
//   crypto-wasm would find it expired, because encryptRoomEvent on an expired or missing session
//   panics inside wasm and kills the process. It throws (never returns plaintext) when the room
//   is not encrypted, uses an unknown algorithm, or the key cannot be shared.
//
// Other entry points: prepareRoom (share ahead of sending), rotateRoomKey / rotateAllRoomKeys,
// fetchDevices (fresh /keys/query), processOutgoingRequests / kickOutgoing, settle (wait for
// background work), pendingDecryptions, machine (the OlmMachine, for bootstrap/verification/trust).

import {
  CollectStrategy,
  DecryptionSettings,
  DeviceId,
  DeviceLists,
  EncryptionAlgorithm,
  EncryptionSettings,
  HistoryVisibility,
  KeysUploadRequest,
  MegolmDecryptionError,
  OlmMachine,
  ProcessedToDeviceEventType,
  RoomId,
  RoomSettings,
  ToDeviceRequest,
  TrustRequirement,
  UserId,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import type {
  DecryptedRoomEvent,
  KeysClaimRequest,
  RoomKeyInfo,
  RoomKeyWithheldInfo,
  VerificationRequest,
} from "@matrix-org/matrix-sdk-crypto-wasm";

import { megolmMessageIndex, ReplayGuard } from "./replay.ts";
import { sendOutgoingRequest } from "./requests.ts";
import type { AnyOutgoingRequest } from "./requests.ts";
import { CryptoStore, CryptoStoreError } from "./store.ts";
import type { SaveResult } from "./store.ts";
import { errorMessage, isRecord, noopLogger } from "./types.ts";
import type { Logger, RawEvent, RequestFn } from "./types.ts";

export const MEGOLM_ALGORITHM = "m.megolm.v1.aes-sha2";
const DEFAULT_ROTATION_MS = 7 * 24 * 3600 * 1000;
/** crypto-wasm never rotates faster than this, whatever the room says. */
const MIN_ROTATION_MS = 3600 * 1000;
/** We rotate this long before crypto-wasm would consider the session expired. */
const ROTATION_MARGIN_MS = 10 * 60 * 1000;
const MAX_PENDING_EVENTS = 5000;
const PENDING_TTL_MS = 24 * 3600 * 1000;
const MAX_LOGGED_KEYS = 10000;
const BLOCKED_CACHE_MS = 60_000;

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

interface RoomState {
  encryption: { algorithm: string; rotationPeriodMs?: number; rotationPeriodMsgs?: number } | undefined;
  historyVisibility: string;
  /** join/invite members, once loaded (lazily at the first encrypt). */
  members: Map<string, string> | undefined;
  membersLoading: Promise<void> | undefined;
}

interface PendingEvent {
  roomId: string;
  event: RawEvent;
  since: number;
}

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

function toUserIds(ids: Iterable<string>, logger: Logger): UserId[] {
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

function stringArray(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

function historyVisibilityOf(v: string): HistoryVisibility {
  switch (v) {
    case "invited":
      return HistoryVisibility.Invited;
    case "joined":
      return HistoryVisibility.Joined;
    case "world_readable":
      return HistoryVisibility.WorldReadable;
    default:
      return HistoryVisibility.Shared;
  }
}

export function collectStrategy(policy: KeySharingPolicy): CollectStrategy {
  switch (policy) {
    case "all":
      return CollectStrategy.allDevices();
    case "verified":
      return CollectStrategy.onlyTrustedDevices();
    default:
      return CollectStrategy.identityBasedStrategy();
  }
}

/** Run `fn` after every earlier call with the same key finished (a per-key async mutex). */
class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    this.tails.set(key, next);
    void next
      .catch(() => undefined)
      .finally(() => {
        if (this.tails.get(key) === next) this.tails.delete(key);
      });
    return next;
  }
}

export class CryptoEngine {
  readonly userId: string;
  readonly deviceId: string;
  readonly machine: OlmMachine;
  readonly store: CryptoStore;
  readonly logger: Logger;
  readonly request: RequestFn;
  keySharing: KeySharingPolicy;

  private readonly rooms = new Map<string, RoomState>();
  private readonly roomLock = new KeyedLock();
  private readonly claimLock = new KeyedLock();
  /** When we (re)started the outbound Megolm session of a room, per this process. */
  private readonly outboundStarted = new Map<string, number>();
  private readonly blockedCache = new Map<string, { blocked: boolean; at: number }>();
  /** Undecryptable events waiting for their key, by `${roomId}|${sessionId}`. */
  private readonly pending = new Map<string, Map<string, PendingEvent>>();
  private pendingCount = 0;
  private readonly loggedOnce = new Set<string>();
  private readonly withheld = new Map<string, string>();
  private readonly lateHandlers = new Set<LateDecryptionHandler>();
  private verificationHooks: VerificationHooks | undefined;
  private readonly decryptionSettings = new DecryptionSettings(TrustRequirement.Untrusted);

  private outgoingPass: Promise<void> | undefined;
  private outgoingAgain = false;
  private backupPass: Promise<void> | undefined;
  private backupAgain = false;
  private retryScheduled: Set<string> = new Set();
  private retryTimer: NodeJS.Immediate | undefined;
  private retrying: Promise<void> | undefined;
  private stopped = false;

  private readonly replay: ReplayGuard;

  private constructor(
    opts: CryptoEngineOptions,
    machine: OlmMachine,
    store: CryptoStore,
    replay: ReplayGuard,
  ) {
    this.replay = replay;
    this.userId = opts.userId;
    this.deviceId = store.deviceId;
    this.machine = machine;
    this.store = store;
    this.logger = opts.logger ?? noopLogger;
    this.request = opts.request;
    this.keySharing = opts.keySharing ?? "cross-signed";
  }

  /**
   * Open the crypto store and the OlmMachine, and upload device keys if needed. Throws
   * `CryptoStoreError` (with an operator-facing message) when the store cannot be used.
   */
  static async start(opts: CryptoEngineOptions): Promise<CryptoEngine> {
    const logger = opts.logger ?? noopLogger;
    const store = await CryptoStore.open({
      dir: opts.storeDir,
      userId: opts.userId,
      deviceId: opts.deviceId,
      secret: opts.storeSecret,
      logger,
    });
    let machine: OlmMachine;
    try {
      machine = await OlmMachine.initFromStore(
        new UserId(opts.userId),
        new DeviceId(store.deviceId),
        store.handle,
      );
    } catch (e) {
      await store.close();
      throw new Error(`Cannot open the OlmMachine on ${store.storeFile}: ${errorMessage(e)}`, { cause: e });
    }
    let replay: ReplayGuard;
    try {
      replay = await ReplayGuard.open(`${store.prefix}::tyr-replay`);
    } catch (e) {
      machine.close();
      await store.close();
      throw e;
    }
    const engine = new CryptoEngine(opts, machine, store, replay);
    if (store.isNew) {
      // The device must not already have keys on the server (a lost store, a reused access token):
      // ours would clash with them. Then a new device (new login) is the only way.
      let clash: string | undefined;
      try {
        clash = await engine.serverKeysOfOwnDevice();
      } catch (e) {
        await engine.abandon();
        throw new Error(`Cannot check this device's keys on the homeserver: ${errorMessage(e)}`, {
          cause: e,
        });
      }
      if (clash !== undefined && clash !== machine.identityKeys.ed25519.toBase64()) {
        await engine.abandon();
        throw new CryptoStoreError(
          "identity-mismatch",
          store.storeFile,
          `Device ${store.deviceId} already has other encryption keys on the homeserver, but no crypto store here ` +
            `holds them (was ${store.dir} deleted?). Tyr cannot reuse that device: log in again to get a new device ` +
            `(a new access token, or delete the cached session), then restore with the recovery key.`,
        );
      }
      // A new identity reaches the disk before its public keys reach the server.
      await store.save(true);
    }
    machine.registerRoomKeyUpdatedCallback((infos) => engine.onRoomKeysUpdated(infos));
    machine.registerRoomKeysWithheldCallback((infos) => engine.onRoomKeysWithheld(infos));
    logger.info(
      {
        deviceId: engine.deviceId,
        ed25519: machine.identityKeys.ed25519.toBase64(),
        curve25519: machine.identityKeys.curve25519.toBase64(),
        newDevice: store.isNew,
      },
      "crypto: engine started",
    );
    await engine.processOutgoingRequests();
    return engine;
  }

  /** ed25519 key the homeserver has for our own device, if any (a plain /keys/query). */
  private async serverKeysOfOwnDevice(): Promise<string | undefined> {
    const resp = await this.request("POST", "/_matrix/client/v3/keys/query", null, {
      device_keys: { [this.userId]: [this.deviceId] },
    });
    const mine =
      isRecord(resp) && isRecord(resp["device_keys"]) ? resp["device_keys"][this.userId] : undefined;
    const dev = isRecord(mine) ? mine[this.deviceId] : undefined;
    const keys = isRecord(dev) && isRecord(dev["keys"]) ? dev["keys"] : undefined;
    const ed = keys?.[`ed25519:${this.deviceId}`];
    return typeof ed === "string" ? ed : undefined;
  }

  /** Give up a freshly started engine without saving anything. */
  private async abandon(): Promise<void> {
    this.stopped = true;
    this.replay.close();
    this.machine.close();
    await this.store.close();
  }

  // ---------------------------------------------------------------------------------------------
  // Sync input

  /** Feed one /sync response (see the header for the order of calls). */
  async receiveSync(sync: unknown): Promise<ReceiveSyncResult> {
    this.assertRunning();
    const body = isRecord(sync) ? sync : {};
    const toDeviceRaw = isRecord(body["to_device"]) ? body["to_device"]["events"] : undefined;
    const toDevice = Array.isArray(toDeviceRaw) ? toDeviceRaw.filter(isRecord) : [];
    const lists = isRecord(body["device_lists"]) ? body["device_lists"] : {};
    const changed = toUserIds(stringArray(lists["changed"]), this.logger);
    const left = toUserIds(stringArray(lists["left"]), this.logger);
    const otkRaw = body["device_one_time_keys_count"];
    const otk = new Map<string, number>();
    if (isRecord(otkRaw)) {
      for (const [alg, n] of Object.entries(otkRaw)) {
        if (typeof n === "number" && Number.isFinite(n) && n >= 0) otk.set(alg, Math.floor(n));
      }
    }
    const fallbackRaw =
      body["device_unused_fallback_key_types"] ?? body["org.matrix.msc2732.device_unused_fallback_key_types"];
    const fallback = Array.isArray(fallbackRaw) ? new Set(stringArray(fallbackRaw)) : undefined;

    // Room state first: membership and encryption changes matter for the keys shared below.
    this.readRoomsFromSync(body);

    // A verification request from a device the OlmMachine does not know is dropped: fetch the
    // senders' devices before the batch is processed.
    const requesters = new Set<string>();
    for (const ev of toDevice) {
      if (
        ev["type"] === "m.key.verification.request" &&
        typeof ev["sender"] === "string" &&
        ev["sender"] !== this.userId
      ) {
        requesters.add(ev["sender"]);
      }
    }
    if (requesters.size > 0) await this.fetchDevices([...requesters]);

    let processed: Awaited<ReturnType<OlmMachine["receiveSyncChanges"]>> = [];
    const settings = new DecryptionSettings(TrustRequirement.Untrusted);
    try {
      // Sync v2: a missing algorithm in the counts means zero keys. If the whole field is missing
      // we know nothing, which is the MSC4186 ("unchanged") semantics.
      processed = isRecord(otkRaw)
        ? await this.machine.receiveSyncChanges(
            JSON.stringify(toDevice),
            new DeviceLists(changed, left),
            otk,
            fallback,
            settings,
          )
        : await this.machine.receiveSyncChangesMsc4186(
            JSON.stringify(toDevice),
            new DeviceLists(changed, left),
            otk,
            fallback,
            settings,
          );
    } catch (e) {
      this.logger.error({ err: errorMessage(e) }, "crypto: processing the sync's to-device events failed");
    }

    const out: ToDeviceEvent[] = [];
    for (const p of processed) {
      let ev: unknown;
      try {
        ev = JSON.parse(p.rawEvent);
      } catch {
        continue;
      }
      if (!isRecord(ev) || typeof ev["type"] !== "string" || typeof ev["sender"] !== "string") continue;
      const content = isRecord(ev["content"]) ? ev["content"] : {};
      if (p.type === ProcessedToDeviceEventType.Invalid) {
        this.logger.debug(
          { type: ev["type"], sender: ev["sender"] },
          "crypto: ignored an invalid to-device event",
        );
        continue;
      }
      if (p.type === ProcessedToDeviceEventType.UnableToDecrypt) {
        const reason = "utdInfo" in p ? p.utdInfo.reason : undefined;
        this.logOnce(
          `todevice-utd|${String(ev["sender"])}|${String(reason)}`,
          "warn",
          { sender: ev["sender"], senderKey: content["sender_key"], reason, deviceId: this.deviceId },
          "crypto: could not decrypt a to-device event",
        );
        continue;
      }
      const item: ToDeviceEvent = {
        type: ev["type"],
        sender: ev["sender"],
        content,
        encrypted: p.type === ProcessedToDeviceEventType.Decrypted,
      };
      if (p.type === ProcessedToDeviceEventType.Decrypted && "encryptionInfo" in p) {
        item.senderDevice = p.encryptionInfo.senderDevice?.toString();
        item.senderVerified = p.encryptionInfo.isSenderVerified();
      }
      out.push(item);
      if (item.type === "m.key.verification.request" && typeof content["transaction_id"] === "string") {
        this.announceVerificationRequest(item.sender, content["transaction_id"]);
      }
    }

    // Plaintext in-room verification events (encrypted ones are handled in decrypt()).
    await this.readPlainVerificationEvents(body);

    this.kickOutgoing();
    return { toDevice: out };
  }

  private readRoomsFromSync(body: Record<string, unknown>): void {
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

  /**
   * Let crypto-wasm drop finished and expired verification objects now (it does so at each sync):
   * an empty batch of sync changes, with "unchanged" one-time-key semantics.
   */
  async collectGarbage(): Promise<void> {
    this.assertRunning();
    await this.machine.receiveSyncChangesMsc4186("[]", new DeviceLists(), new Map(), undefined);
  }

  /** Tell the engine about a state event obtained outside /sync (idempotent). */
  onRoomState(roomId: string, event: RawEvent): void {
    const newlyTracked: string[] = [];
    this.applyState(roomId, event, newlyTracked);
    if (newlyTracked.length > 0) this.trackUsers(newlyTracked);
  }

  private roomState(roomId: string): RoomState {
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

  private applyState(roomId: string, ev: RawEvent, newlyTracked: string[]): void {
    if (typeof ev.state_key !== "string" || !isRecord(ev.content)) return;
    const content = ev.content;
    if (ev.type === "m.room.encryption" && ev.state_key === "") {
      const algorithm = content["algorithm"];
      if (typeof algorithm !== "string") {
        this.logger.warn(
          { roomId },
          "crypto: ignoring an m.room.encryption event without algorithm (encryption cannot be turned off)",
        );
        return;
      }
      const r = this.roomState(roomId);
      const enc: NonNullable<RoomState["encryption"]> = { algorithm };
      const ms = content["rotation_period_ms"];
      const msgs = content["rotation_period_msgs"];
      if (typeof ms === "number" && Number.isFinite(ms) && ms > 0) enc.rotationPeriodMs = ms;
      if (typeof msgs === "number" && Number.isFinite(msgs) && msgs > 0)
        enc.rotationPeriodMsgs = Math.floor(msgs);
      const wasEncrypted = r.encryption !== undefined;
      if (r.encryption && r.encryption.algorithm !== algorithm) {
        this.logger.warn(
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
      if (typeof v === "string") this.roomState(roomId).historyVisibility = v;
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

  private async persistRoomSettings(
    roomId: string,
    enc: NonNullable<RoomState["encryption"]>,
  ): Promise<void> {
    if (enc.algorithm !== MEGOLM_ALGORITHM) {
      this.logOnce(
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
      await this.machine.setRoomSettings(new RoomId(roomId), s);
    } catch (e) {
      this.logOnce(
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
    const stored = await this.machine.getRoomSettings(id);
    if (!stored) return false;
    const r = this.roomState(roomId);
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

  private async readPlainVerificationEvents(body: Record<string, unknown>): Promise<void> {
    const rooms = isRecord(body["rooms"]) ? body["rooms"] : {};
    const join = isRecord(rooms["join"]) ? rooms["join"] : {};
    for (const [roomId, room] of Object.entries(join)) {
      if (!isRecord(room) || !isRecord(room["timeline"])) continue;
      const events = room["timeline"]["events"];
      if (!Array.isArray(events)) continue;
      for (const ev of events) {
        if (!isRecord(ev) || typeof ev["state_key"] === "string") continue;
        if (isVerificationEvent(ev["type"], ev["content"]))
          await this.receiveRoomVerificationEvent(roomId, ev);
      }
    }
  }

  /** Pass an in-room verification event (plaintext or decrypted) to the OlmMachine. */
  private async receiveRoomVerificationEvent(roomId: string, ev: RawEvent): Promise<void> {
    if (typeof ev.sender !== "string" || typeof ev.event_id !== "string" || ev.sender === this.userId) return;
    // Remote echoes of our own messages carry a transaction ID; everything from us is skipped above.
    try {
      const isRequest = ev.type === "m.room.message";
      // Know the requester's devices before the request is processed, or it is cancelled at once.
      if (isRequest) {
        await this.fetchDevices([ev.sender]);
        // A finished request still cached would make crypto-wasm cancel this new one.
        await this.collectGarbage();
      }
      await this.machine.receiveVerificationEvent(
        JSON.stringify({
          event_id: ev.event_id,
          type: ev.type,
          sender: ev.sender,
          content: ev.content,
          origin_server_ts: ev.origin_server_ts,
        }),
        new RoomId(roomId),
      );
      if (isRequest) this.announceVerificationRequest(ev.sender, ev.event_id);
      this.kickOutgoing();
    } catch (e) {
      this.logger.warn(
        { roomId, type: ev.type, err: errorMessage(e) },
        "crypto: in-room verification event not processed",
      );
    }
  }

  private announceVerificationRequest(sender: string, flowId: string): void {
    let req: VerificationRequest | undefined;
    try {
      req = this.machine.getVerificationRequest(new UserId(sender), flowId);
    } catch {
      req = undefined;
    }
    if (!req) {
      this.logger.debug(
        { sender, flowId },
        "crypto: verification request not known to the OlmMachine (too old?)",
      );
      return;
    }
    if (this.verificationHooks) this.verificationHooks.onRequest(req);
    else
      this.logOnce(
        `verif-nohook|${sender}`,
        "info",
        { sender },
        "crypto: ignoring a verification request (verification is not enabled)",
      );
  }

  setVerificationHooks(hooks: VerificationHooks | undefined): void {
    this.verificationHooks = hooks;
  }

  // ---------------------------------------------------------------------------------------------
  // Decryption

  /** Register a handler for events that become decryptable later; returns an unsubscribe function. */
  onLateDecryption(handler: LateDecryptionHandler): () => void {
    this.lateHandlers.add(handler);
    return () => this.lateHandlers.delete(handler);
  }

  /** Number of undecryptable events waiting for their keys. */
  get pendingDecryptions(): number {
    return this.pendingCount;
  }

  /** Decrypt one m.room.encrypted timeline event. Never throws for bad input. */
  async decrypt(roomId: string, event: RawEvent): Promise<DecryptResult> {
    this.assertRunning();
    const r = await this.tryDecrypt(roomId, event);
    if (r.ok || r.code === "malformed") return r;
    const sessionId =
      isRecord(event.content) && typeof event.content["session_id"] === "string"
        ? event.content["session_id"]
        : "";
    const retry = r.code === "MissingRoomKey" || r.code === "UnknownMessageIndex";
    if (retry) this.addPending(roomId, sessionId, event);
    const withheld = this.withheld.get(`${roomId}|${sessionId}`);
    this.logOnce(
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
      decrypted = await this.machine.decryptRoomEvent(JSON.stringify(payload), room, this.decryptionSettings);
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
        !this.replay.check(sessionId, index, event.event_id)
      ) {
        this.logOnce(
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
      if (isVerificationEvent(out.type, out.content)) await this.receiveRoomVerificationEvent(roomId, out);
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

  private async onRoomKeysUpdated(infos: RoomKeyInfo[]): Promise<void> {
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
    this.kickOutgoing(); // new keys may need backing up
  }

  private async onRoomKeysWithheld(infos: RoomKeyWithheldInfo[]): Promise<void> {
    for (const info of infos) {
      const key = `${info.roomId.toString()}|${info.sessionId}`;
      this.withheld.set(key, info.withheldCode);
      if (this.withheld.size > MAX_LOGGED_KEYS) this.withheld.clear();
      this.logOnce(
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
        if (this.stopped) return;
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
          this.logOnce(
            `utd-late|${eventId}`,
            "warn",
            { roomId: p.roomId, eventId, code: r.code, reason: r.reason },
            "crypto: late key did not decrypt the event",
          );
          continue;
        }
        this.logger.info({ roomId: p.roomId, eventId }, "crypto: decrypted an event after its key arrived");
        for (const h of this.lateHandlers) {
          try {
            await h(p.roomId, r.event, r.info);
          } catch (e) {
            this.logger.error(
              { roomId: p.roomId, eventId, err: errorMessage(e) },
              "crypto: late-decryption handler failed",
            );
          }
        }
      }
      if (m.size === 0) this.pending.delete(key);
    }
  }

  /** Wait until background work started so far (late-key retries, requests, backup) is done. */
  async settle(): Promise<void> {
    for (let i = 0; i < 10; i++) {
      if (this.retryTimer) await new Promise((r) => setImmediate(r));
      if (this.retrying) await this.retrying;
      if (this.outgoingPass) await this.outgoingPass.catch(() => undefined);
      if (this.backupPass) await this.backupPass;
      if (!this.retryTimer && !this.retrying && !this.outgoingPass && !this.backupPass) return;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Encryption

  /**
   * Encrypt an event for an encrypted room. Shares the room key with the members' devices first
   * (every time; a no-op when nothing changed). Throws if the room is not encrypted with Megolm,
   * or if the key could not be shared — never returns plaintext.
   */
  async encrypt(
    roomId: string,
    type: string,
    content: Record<string, unknown>,
  ): Promise<{ type: "m.room.encrypted"; content: Record<string, unknown> }> {
    this.assertRunning();
    if (!(await this.isRoomEncrypted(roomId))) throw new Error(`room ${roomId} is not encrypted`);
    return this.roomLock.run(roomId, async () => {
      const r = this.roomState(roomId);
      const enc = r.encryption;
      if (!enc || enc.algorithm !== MEGOLM_ALGORITHM) {
        throw new Error(
          `room ${roomId} uses encryption algorithm ${enc?.algorithm ?? "?"}, which Tyr does not support`,
        );
      }
      await this.shareRoomKeyLocked(roomId, r, enc);
      const encrypted = await this.machine.encryptRoomEvent(
        new RoomId(roomId),
        type,
        JSON.stringify(content),
      );
      const parsed: unknown = JSON.parse(encrypted);
      if (!isRecord(parsed)) throw new Error("crypto-wasm returned a non-object encrypted content");
      return { type: "m.room.encrypted" as const, content: parsed };
    });
  }

  /** Share the room key now (e.g. ahead of sending); same work as encrypt() minus the event. */
  async prepareRoom(roomId: string): Promise<void> {
    if (!(await this.isRoomEncrypted(roomId))) return;
    await this.roomLock.run(roomId, async () => {
      const r = this.roomState(roomId);
      if (!r.encryption || r.encryption.algorithm !== MEGOLM_ALGORITHM) return;
      await this.shareRoomKeyLocked(roomId, r, r.encryption);
    });
  }

  /** Force a new outbound Megolm session for the room at the next send. */
  async rotateRoomKey(roomId: string): Promise<void> {
    await this.roomLock.run(roomId, async () => {
      await this.machine.invalidateGroupSession(new RoomId(roomId));
      this.outboundStarted.delete(roomId);
    });
  }

  private async shareRoomKeyLocked(
    roomId: string,
    r: RoomState,
    enc: NonNullable<RoomState["encryption"]>,
  ): Promise<void> {
    const room = new RoomId(roomId);
    await this.loadMembers(roomId, r);
    const includeInvited = r.historyVisibility !== "joined";
    const users = [...(r.members ?? new Map<string, string>())]
      .filter(([, m]) => m === "join" || (includeInvited && m === "invite"))
      .map(([u]) => u);
    if (!users.includes(this.userId)) users.push(this.userId);

    // Rotate ourselves before crypto-wasm would find the session expired: an expired session at
    // encryptRoomEvent panics. After a restart we do not know the session's age: start a new one.
    const rotationMs = Math.max(enc.rotationPeriodMs ?? DEFAULT_ROTATION_MS, MIN_ROTATION_MS);
    const started = this.outboundStarted.get(roomId);
    const now = Date.now();
    if (started === undefined || now - started > rotationMs - ROTATION_MARGIN_MS) {
      await this.machine.invalidateGroupSession(room);
      this.outboundStarted.set(roomId, now);
    }

    // Device lists must be fresh before claiming keys and sharing.
    await this.processOutgoingRequests();
    await this.claimMissingSessions(users);

    const settings = new EncryptionSettings();
    settings.algorithm = EncryptionAlgorithm.MegolmV1AesSha2;
    settings.rotationPeriod = BigInt(rotationMs) * 1000n; // m.room.encryption says ms; crypto-wasm wants µs
    if (enc.rotationPeriodMsgs !== undefined)
      settings.rotationPeriodMessages = BigInt(Math.min(Math.max(enc.rotationPeriodMsgs, 1), 10000));
    settings.historyVisibility = historyVisibilityOf(r.historyVisibility);
    settings.sharingStrategy = collectStrategy(this.keySharing);
    const excluded = await this.usersWithBlockedDevices(users);
    const recipients = users.filter((u) => !excluded.has(u));
    const requests = await this.machine.shareRoomKey(room, toUserIds(recipients, this.logger), settings);
    if (requests.length > 0) {
      // The Olm ratchets advanced: save before the messages leave (a crash then skips, not repeats).
      await this.persist();
      try {
        for (const req of requests) await this.sendAndMark(req);
      } catch (e) {
        // Some devices may not have the key: start over with a new session at the next attempt.
        await this.machine.invalidateGroupSession(room);
        this.outboundStarted.delete(roomId);
        throw new Error(`sharing the room key of ${roomId} failed: ${errorMessage(e)}`, { cause: e });
      }
    }
  }

  /**
   * Under the "cross-signed" policy crypto-wasm's identity-based strategy ignores local blocks, so
   * a user with a blocked cross-signed device gets no room keys at all (logged once). The other policies
   * exclude blocked devices themselves.
   */
  private async usersWithBlockedDevices(users: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    if (this.keySharing !== "cross-signed") return out;
    const now = Date.now();
    for (const u of users) {
      let cached = this.blockedCache.get(u);
      if (!cached || now - cached.at > BLOCKED_CACHE_MS) {
        let blocked: boolean;
        try {
          const devices = await this.machine.getUserDevices(new UserId(u));
          // Devices not signed by their owner get no keys under this strategy anyway.
          blocked = devices.devices().some((d) => d.isBlacklisted() && d.isCrossSignedByOwner());
        } catch {
          blocked = false; // unknown user: nothing blocked
        }
        cached = { blocked, at: now };
        this.blockedCache.set(u, cached);
      }
      if (cached.blocked) {
        out.add(u);
        this.logOnce(
          `blocked-user|${u}`,
          "warn",
          { userId: u },
          "crypto: not sharing room keys with this user: one of their devices is blocked (delete or unblock it)",
        );
      }
    }
    return out;
  }

  /** Forget cached block states (after a device was blocked or unblocked). */
  invalidateBlockCache(userId?: string): void {
    if (userId === undefined) this.blockedCache.clear();
    else this.blockedCache.delete(userId);
  }

  /** Start new outbound sessions in every encrypted room known to this process. */
  async rotateAllRoomKeys(): Promise<void> {
    for (const [roomId, r] of this.rooms) if (r.encryption) await this.rotateRoomKey(roomId);
  }

  private async loadMembers(roomId: string, r: RoomState): Promise<void> {
    if (r.members) return;
    if (!r.membersLoading) {
      r.membersLoading = (async () => {
        const resp = await this.request(
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
          const hv = await this.request(
            "GET",
            `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.history_visibility/`,
          );
          if (isRecord(hv) && typeof hv["history_visibility"] === "string")
            r.historyVisibility = hv["history_visibility"];
        } catch {
          // no history visibility state: "shared"
        }
        r.members = members;
        const ids = toUserIds(members.keys(), this.logger);
        if (ids.length > 0) await this.machine.updateTrackedUsers(ids);
      })().finally(() => {
        r.membersLoading = undefined;
      });
    }
    await r.membersLoading;
  }

  /** Establish Olm sessions with every device of `users` that lacks one (one claim at a time). */
  async claimMissingSessions(users: string[]): Promise<void> {
    await this.claimLock.run("claim", async () => {
      const req: KeysClaimRequest | null = await this.machine.getMissingSessions(
        toUserIds(users, this.logger),
      );
      if (req) await this.sendAndMark(req);
    });
  }

  /** Track `users` and fetch their device lists now (an out-of-band /keys/query). */
  async fetchDevices(users: string[]): Promise<void> {
    const ids = toUserIds(users, this.logger);
    if (ids.length === 0) return;
    try {
      await this.machine.updateTrackedUsers(ids.map((u) => u.clone()));
      await this.sendAndMark(this.machine.queryKeysForUsers(ids));
    } catch (e) {
      this.logger.warn({ users, err: errorMessage(e) }, "crypto: fetching device lists failed");
    }
  }

  /** Start tracking users' devices (key query happens in the outgoing-request loop). */
  trackUsers(users: string[]): void {
    const ids = toUserIds(users, this.logger);
    if (ids.length === 0) return;
    this.machine
      .updateTrackedUsers(ids)
      .then(() => this.kickOutgoing())
      .catch((e: unknown) =>
        this.logger.warn({ err: errorMessage(e) }, "crypto: updating tracked users failed"),
      );
  }

  // ---------------------------------------------------------------------------------------------
  // Outgoing requests

  /** Send one request and report the response to the OlmMachine. */
  async sendAndMark(req: AnyOutgoingRequest): Promise<void> {
    const resp = await sendOutgoingRequest(this.request, req);
    if (req.id !== undefined) await this.machine.markRequestAsSent(req.id, req.type, resp);
  }

  /** Start a pass of the outgoing-request loop in the background. */
  kickOutgoing(): void {
    if (this.stopped) return;
    this.processOutgoingRequests().catch((e: unknown) =>
      this.logger.warn({ err: errorMessage(e) }, "crypto: outgoing request loop failed"),
    );
  }

  /**
   * Send everything the OlmMachine wants sent, then back up new room keys. One loop at a time;
   * a call during a pass makes the loop run once more and resolves after that.
   */
  processOutgoingRequests(): Promise<void> {
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
        } while (this.outgoingAgain && !this.stopped && passes < 20);
        if (!this.stopped) this.kickBackup();
      } finally {
        this.outgoingPass = undefined;
      }
    })();
    return this.outgoingPass;
  }

  private async outgoingOnce(): Promise<number> {
    if (this.stopped) return 0;
    const requests = (await this.machine.outgoingRequests()) as AnyOutgoingRequest[];
    if (requests.length === 0) return 0;
    // New one-time keys and advanced Olm ratchets must be on disk before the server sees them.
    if (requests.some((r) => r instanceof KeysUploadRequest || r instanceof ToDeviceRequest))
      await this.persist();
    let sent = 0;
    for (const req of requests) {
      if (this.stopped) break;
      try {
        await this.sendAndMark(req);
        sent += 1;
      } catch (e) {
        this.logOnce(
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
      } while (this.backupAgain && !this.stopped);
    })().finally(() => {
      this.backupPass = undefined;
    });
  }

  private async backupOnce(): Promise<void> {
    try {
      if (!(await this.machine.isBackupEnabled())) return;
      while (!this.stopped) {
        const req = await this.machine.backupRoomKeys();
        if (!req) return;
        await this.sendAndMark(req);
      }
    } catch (e) {
      this.logOnce(
        `backup|${errorMessage(e)}`,
        "warn",
        { err: errorMessage(e) },
        "crypto: backing up room keys failed (will retry)",
      );
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Persistence and shutdown

  /** Save the crypto store if anything changed. Call before advancing the sync token. */
  async persist(): Promise<SaveResult> {
    await this.replay.flush();
    return this.store.save();
  }

  /** Stop background work, save, and free the OlmMachine. The engine is unusable afterwards. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer) clearImmediate(this.retryTimer);
    await this.outgoingPass?.catch(() => undefined);
    await this.backupPass;
    await this.retrying?.catch(() => undefined);
    try {
      await this.persist();
    } finally {
      this.replay.close();
      this.machine.close();
      await this.store.close();
    }
  }

  get isClosed(): boolean {
    return this.stopped;
  }

  private assertRunning(): void {
    if (this.stopped) throw new Error("crypto engine is closed");
  }

  /** Log a message once per key (bounded), so recurring failures do not flood the log. */
  logOnce(key: string, level: "info" | "warn" | "error", obj: Record<string, unknown>, msg: string): void {
    if (this.loggedOnce.has(key)) {
      this.logger.debug(obj, msg);
      return;
    }
    if (this.loggedOnce.size >= MAX_LOGGED_KEYS) this.loggedOnce.clear();
    this.loggedOnce.add(key);
    this.logger[level](obj, msg);
  }
}
