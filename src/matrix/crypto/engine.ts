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
//
// This class is the facade; the work lives in rooms.ts (room state and members), decryption.ts
// (decrypt and late-key retries), encryption.ts (room key sharing and rotation), outgoing.ts
// (outgoing-request and backup loops), sync-input.ts (to-device events, device lists, key counts)
// and verification-events.ts; engine-types.ts has the public types.

import { DeviceId, DeviceLists, OlmMachine, UserId } from "@matrix-org/matrix-sdk-crypto-wasm";

import { RoomDecryptor } from "./decryption.ts";
import { RoomEncryptor } from "./encryption.ts";
import type {
  CryptoEngineOptions,
  DecryptResult,
  KeySharingPolicy,
  LateDecryptionHandler,
  ReceiveSyncResult,
  VerificationHooks,
} from "./engine-types.ts";
import { CryptoEngineClosedError, MachineGuard } from "./machine-guard.ts";
import { OutgoingLoop } from "./outgoing.ts";
import type { RoomEventSender } from "./outgoing.ts";
import { ReplayGuard } from "./replay.ts";
import type { AnyOutgoingRequest } from "./requests.ts";
import { RoomTracker, toUserIds } from "./rooms.ts";
import { CryptoStore } from "./store.ts";
import { CryptoStoreError } from "./store-files.ts";
import type { SaveResult } from "./store.ts";
import {
  feedSyncChanges,
  readProcessedToDevice,
  readSyncDeviceInput,
  verificationRequesters,
} from "./sync-input.ts";
import { errorMessage, isRecord, MAX_LOGGED_KEYS, noopLogger } from "./types.ts";
import type { Logger, RawEvent, RequestFn } from "./types.ts";
import { VerificationEvents } from "./verification-events.ts";

// The engine's public names, wherever they are defined.
export * from "./engine-types.ts";
export { collectStrategy } from "./encryption.ts";
export { isVerificationEvent } from "./verification-events.ts";
export { CryptoEngineClosedError } from "./machine-guard.ts";

export class CryptoEngine {
  readonly userId: string;
  readonly deviceId: string;
  /** Guarded (machine-guard.ts): throws CryptoEngineClosedError once the engine has freed it. */
  readonly machine: OlmMachine;
  readonly store: CryptoStore;
  readonly logger: Logger;
  readonly request: RequestFn;
  keySharing: KeySharingPolicy;

  private readonly loggedOnce = new Set<string>();
  private stopped = false;
  private readonly guard: MachineGuard;

  private readonly replay: ReplayGuard;
  private readonly rooms: RoomTracker;
  private readonly decryption: RoomDecryptor;
  private readonly encryption: RoomEncryptor;
  private readonly outgoing: OutgoingLoop;
  private readonly verification: VerificationEvents;

  private constructor(
    opts: CryptoEngineOptions,
    rawMachine: OlmMachine,
    store: CryptoStore,
    replay: ReplayGuard,
  ) {
    this.replay = replay;
    this.userId = opts.userId;
    this.deviceId = store.deviceId;
    this.guard = new MachineGuard(rawMachine);
    const machine = this.guard.machine;
    this.machine = machine;
    this.store = store;
    this.logger = opts.logger ?? noopLogger;
    this.request = opts.request;
    this.keySharing = opts.keySharing ?? "cross-signed";

    const logOnce = this.logOnce.bind(this);
    const isStopped = (): boolean => this.stopped;
    const kickOutgoing = (): void => this.kickOutgoing();
    const persist = (): Promise<SaveResult> => this.persist();
    const { logger, request, userId } = this;
    this.outgoing = new OutgoingLoop({ machine, request, logger, logOnce, isStopped, persist });
    this.rooms = new RoomTracker({ machine, request, logger, logOnce, onUsersTracked: kickOutgoing });
    this.verification = new VerificationEvents({
      machine,
      userId,
      logger,
      logOnce,
      fetchDevices: (users) => this.fetchDevices(users),
      collectGarbage: () => this.collectGarbage(),
      kickOutgoing,
    });
    this.decryption = new RoomDecryptor({
      machine,
      replay,
      logger,
      logOnce,
      isStopped,
      onVerificationEvent: (roomId, ev) => this.verification.receiveRoomEvent(roomId, ev),
      onKeysReceived: kickOutgoing,
    });
    this.encryption = new RoomEncryptor({
      machine,
      userId,
      rooms: this.rooms,
      keySharing: () => this.keySharing,
      logger,
      logOnce,
      processOutgoingRequests: () => this.processOutgoingRequests(),
      sendAndMark: (req) => this.sendAndMark(req),
      persist,
    });
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
      if (clash !== undefined && clash !== engine.machine.identityKeys.ed25519.toBase64()) {
        await engine.abandon();
        throw new CryptoStoreError(
          "identity-mismatch",
          store.storeFile,
          `Device ${store.deviceId} already has other encryption keys on the homeserver, but no crypto store here ` +
            `holds them (was ${store.dir} deleted?). Tyr cannot reuse that device: log in again to get a new device ` +
            `(a new access token, or delete the cached session), then restore with the recovery key.`,
        );
      }
      try {
        await opts.beforeNewDeviceKeys?.();
      } catch (e) {
        await engine.abandon();
        throw e;
      }
      // A new identity reaches the disk before its public keys reach the server.
      await store.save(true);
    }
    engine.machine.registerRoomKeyUpdatedCallback((infos) => engine.decryption.onRoomKeysUpdated(infos));
    engine.machine.registerRoomKeysWithheldCallback((infos) => engine.decryption.onRoomKeysWithheld(infos));
    logger.info(
      {
        deviceId: engine.deviceId,
        ed25519: engine.machine.identityKeys.ed25519.toBase64(),
        curve25519: engine.machine.identityKeys.curve25519.toBase64(),
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
    await this.guard.free();
    await this.store.close();
  }

  // ---------------------------------------------------------------------------------------------
  // Sync input

  /** Feed one /sync response (see the header for the order of calls). */
  async receiveSync(sync: unknown): Promise<ReceiveSyncResult> {
    this.assertRunning();
    const body = isRecord(sync) ? sync : {};
    const input = readSyncDeviceInput(body, this.logger);

    // Room state first: membership and encryption changes matter for the keys shared below.
    this.rooms.readSync(body);

    // A verification request from a device the OlmMachine does not know is dropped: fetch the
    // senders' devices before the batch is processed.
    const requesters = verificationRequesters(input.toDevice, this.userId);
    if (requesters.size > 0) await this.fetchDevices([...requesters]);

    const processed = await feedSyncChanges(this.machine, input, this.logger);
    const toDevice = readProcessedToDevice(processed, {
      logger: this.logger,
      logOnce: this.logOnce.bind(this),
      deviceId: this.deviceId,
      onVerificationRequest: (sender, flowId) => this.verification.announceRequest(sender, flowId),
    });

    // Plaintext in-room verification events (encrypted ones are handled in decrypt()).
    await this.verification.readSync(body);

    this.kickOutgoing();
    return { toDevice };
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
    this.rooms.onRoomState(roomId, event);
  }

  /**
   * Is the room encrypted? Known from m.room.encryption seen in /sync or, after a restart, from the
   * crypto store (which refuses downgrades: a room never becomes unencrypted).
   */
  isRoomEncrypted(roomId: string): Promise<boolean> {
    return this.rooms.isRoomEncrypted(roomId);
  }

  setVerificationHooks(hooks: VerificationHooks | undefined): void {
    this.verification.setHooks(hooks);
  }

  // ---------------------------------------------------------------------------------------------
  // Decryption (decryption.ts)

  /** Register a handler for events that become decryptable later; returns an unsubscribe function. */
  onLateDecryption(handler: LateDecryptionHandler): () => void {
    return this.decryption.onLateDecryption(handler);
  }

  /** Number of undecryptable events waiting for their keys. */
  get pendingDecryptions(): number {
    return this.decryption.pendingDecryptions;
  }

  /** Decrypt one m.room.encrypted timeline event. Never throws for bad input. */
  async decrypt(roomId: string, event: RawEvent): Promise<DecryptResult> {
    this.assertRunning();
    return this.decryption.decrypt(roomId, event);
  }

  /** Wait until background work started so far (late-key retries, requests, backup) is done. */
  async settle(): Promise<void> {
    for (let i = 0; i < 10; i++) {
      await this.decryption.settle();
      await this.outgoing.settle();
      if (!this.decryption.busy && !this.outgoing.busy) return;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Encryption (encryption.ts)

  /**
   * Encrypt an event for an encrypted room. Shares the room key with the members' devices first
   * (every time; a no-op when nothing changed). Throws if the room is not encrypted with Megolm,
   * or if the key could not be shared — never returns plaintext.
   */
  async encrypt(
    roomId: string,
    type: string,
    content: Record<string, unknown>,
    opts: {
      /**
       * Encrypt in a Megolm session of its own, shared with every unblocked device of the members
       * and discarded right after (an answer an untrusted device must be able to read).
       */
      oneOffSession?: boolean;
    } = {},
  ): Promise<{ type: "m.room.encrypted"; content: Record<string, unknown> }> {
    this.assertRunning();
    return this.encryption.encrypt(roomId, type, content, opts);
  }

  /** Share the room key now (e.g. ahead of sending); same work as encrypt() minus the event. */
  prepareRoom(roomId: string): Promise<void> {
    return this.encryption.prepareRoom(roomId);
  }

  /** Force a new outbound Megolm session for the room at the next send. */
  rotateRoomKey(roomId: string): Promise<void> {
    return this.encryption.rotateRoomKey(roomId);
  }

  /** Forget cached block states (after a device was blocked or unblocked). */
  invalidateBlockCache(userId?: string): void {
    this.encryption.invalidateBlockCache(userId);
  }

  /** Start new outbound sessions in every encrypted room known to this process. */
  rotateAllRoomKeys(): Promise<void> {
    return this.encryption.rotateAllRoomKeys();
  }

  /** Establish Olm sessions with every device of `users` that lacks one (one claim at a time). */
  claimMissingSessions(users: string[]): Promise<void> {
    return this.encryption.claimMissingSessions(users);
  }

  // ---------------------------------------------------------------------------------------------
  // Devices and outgoing requests (outgoing.ts)

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

  /** Load a room's members now and track their devices (queried in the background). */
  async trackRoomMembers(roomId: string): Promise<void> {
    await this.rooms.loadMembers(roomId, this.rooms.get(roomId));
    this.kickOutgoing();
  }

  /** Start tracking users' devices (key query happens in the outgoing-request loop). */
  trackUsers(users: string[]): void {
    this.rooms.trackUsers(users);
  }

  /** Send one request and report the response to the OlmMachine. */
  sendAndMark(req: AnyOutgoingRequest): Promise<void> {
    return this.outgoing.sendAndMark(req);
  }

  /**
   * Route in-room events the OlmMachine wants sent (in-room verification) through the bot's
   * sending gate, so that they are encrypted in encrypted rooms like everything else.
   */
  setRoomEventSender(sender: RoomEventSender | undefined): void {
    this.outgoing.roomEvents = sender;
  }

  /** Start a pass of the outgoing-request loop in the background. */
  kickOutgoing(): void {
    this.outgoing.kick();
  }

  /**
   * Send everything the OlmMachine wants sent, then back up new room keys. One loop at a time;
   * a call during a pass makes the loop run once more and resolves after that.
   */
  processOutgoingRequests(): Promise<void> {
    return this.outgoing.process();
  }

  // ---------------------------------------------------------------------------------------------
  // Persistence and shutdown

  /** Save the crypto store if anything changed. Call before advancing the sync token. */
  async persist(): Promise<SaveResult> {
    await this.replay.flush();
    return this.store.save();
  }

  /**
   * Stop background work, save, and free the OlmMachine. The engine is unusable afterwards: calls
   * already under way finish first, later ones throw CryptoEngineClosedError.
   */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.decryption.cancelScheduledRetry();
    await this.outgoing.settle();
    await this.decryption.finishRetrying();
    try {
      await this.persist();
    } finally {
      this.replay.close();
      await this.guard.free();
      await this.store.close();
    }
  }

  get isClosed(): boolean {
    return this.stopped;
  }

  private assertRunning(): void {
    if (this.stopped) throw new CryptoEngineClosedError();
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
