// Cross-signing and secure backup.
//
// `setUpSecurity(engine, opts)` runs at every start, after `CryptoEngine.start`:
//   - first start of the account: creates the cross-signing identity (master, self-signing and
//     user-signing keys; user-interactive auth with the bot's password when the server asks),
//     signs Tyr's device, creates secret storage (SSSS, m.secret_storage.v1.aes-hmac-sha2) with a
//     new recovery key — written FIRST to a 0600 file whose path is logged once —, stores the
//     private cross-signing keys there, and creates a server-side key backup
//     (m.megolm_backup.v1.curve25519-aes-sha2) whose key is stored in SSSS too;
//   - a new installation (new device) of an account that has an identity: with the recovery key
//     (configured, or the recovery-key file copied over) it imports the cross-signing keys from
//     SSSS, signs the new device, enables the backup and restores the room keys from it;
//   - later starts: checks that the device is still signed and the backup enabled.
// Room keys Tyr receives are then backed up by the engine's outgoing-request loop.

import { randomBytes } from "node:crypto";
import { readFile, rename, stat } from "node:fs/promises";
import path from "node:path";

import {
  BackupDecryptionKey,
  DeviceId,
  OwnUserIdentity,
  RoomId,
  UserId,
} from "@matrix-org/matrix-sdk-crypto-wasm";

import { CryptoEngine } from "./engine.ts";
import type { CryptoEngineOptions } from "./engine.ts";
import { httpErrorInfo, uploadSigningKeys } from "./requests.ts";
import {
  canonicalJson,
  checkKey,
  decodeRecoveryKey,
  encodeRecoveryKey,
  keyFromPassphrase,
  SECRET_BACKUP,
  SECRET_MASTER,
  SECRET_SELF_SIGNING,
  SECRET_USER_SIGNING,
  SecretStorage,
} from "./ssss.ts";
import { writeFileAtomicAsync } from "../../store/files.ts";
import { errorMessage, isRecord } from "./types.ts";
import type { RequestFn } from "./types.ts";

export const BACKUP_ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2";
export const RECOVERY_KEY_FILE = "recovery-key.txt";

export interface SecurityOptions {
  /** The bot's password, for user-interactive auth when uploading cross-signing keys. */
  password?: string;
  /** Where the recovery key is written (0600) and read from. Default `<storeDir>/recovery-key.txt`. */
  recoveryKeyFile?: string;
  /** A recovery key supplied by the operator (restoring on a new machine). */
  recoveryKey?: string;
  /**
   * Replace an existing cross-signing identity that cannot be restored (no recovery key). Users
   * who verified Tyr must verify it again. Default false: refuse with an explanation.
   */
  resetIdentity?: boolean;
  /** Create a key backup if the account has none. Default true. */
  createBackup?: boolean;
}

export interface SecurityResult {
  crossSigning: "created" | "restored" | "present";
  /** Whether Tyr's device carries a valid self-signing signature now. */
  deviceSigned: boolean;
  backupVersion: string | undefined;
  /** Room keys imported from the backup during this call. */
  restoredRoomKeys: number;
  /** Set when a recovery key was created and written during this call. */
  recoveryKeyFile: string | undefined;
}

export class SecuritySetupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SecuritySetupError";
  }
}

/** Read a recovery key file: lines starting with `#` are comments. */
export async function readRecoveryKeyFile(file: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  const key = text
    .split("\n")
    .filter((l) => !l.trim().startsWith("#"))
    .join(" ")
    .trim();
  return key.length > 0 ? key : undefined;
}

/**
 * The secret-storage key derived from `passphrase` with the parameters of the account's default
 * key; undefined when that key was not made from a passphrase. Throws when it does not unlock it.
 */
async function keyFromPassphraseText(
  ssss: SecretStorage,
  passphrase: string,
  where: string,
): Promise<Uint8Array | undefined> {
  const keyId = await ssss.getDefaultKeyId();
  const info = keyId === undefined ? undefined : await ssss.getKeyInfo(keyId);
  if (info === undefined) return undefined;
  const key = await keyFromPassphrase(passphrase, info);
  if (key === undefined) return undefined;
  if (!checkKey(key, info))
    throw new SecuritySetupError(
      `The text ${where} is neither a valid recovery key nor the passphrase of secret storage key ${keyId}. Check it.`,
    );
  return key;
}

async function writeRecoveryKeyFile(file: string, userId: string, recoveryKey: string): Promise<void> {
  try {
    await stat(file);
    // Never overwrite a recovery key: keep the old one beside.
    await rename(file, `${file}.old-${Date.now()}`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const body =
    `# Tyr recovery key for ${userId}, created ${new Date().toISOString()}.\n` +
    `# Keep it secret and keep a copy offline: with it, a new installation restores Tyr's\n` +
    `# cross-signing identity and its room keys from the server-side backup.\n` +
    `${recoveryKey}\n`;
  await writeFileAtomicAsync(file, body, 0o600);
}

/** Sign an object with our device key (and master key if available), in place. */
export async function signObject(engine: CryptoEngine, obj: Record<string, unknown>): Promise<void> {
  const existing = isRecord(obj["signatures"]) ? obj["signatures"] : {};
  const unsigned = obj["unsigned"];
  delete obj["signatures"];
  delete obj["unsigned"];
  const sigs = await engine.machine.sign(canonicalJson(obj));
  const ours: unknown = JSON.parse(sigs.asJSON());
  const mine = isRecord(ours) && isRecord(ours[engine.userId]) ? ours[engine.userId] : {};
  const prev = isRecord(existing[engine.userId]) ? existing[engine.userId] : {};
  obj["signatures"] = { ...existing, [engine.userId]: { ...(prev as object), ...(mine as object) } };
  if (unsigned !== undefined) obj["unsigned"] = unsigned;
}

async function refreshOwnKeys(engine: CryptoEngine): Promise<void> {
  await engine.sendAndMark(engine.machine.queryKeysForUsers([new UserId(engine.userId)]));
}

async function ownIdentity(engine: CryptoEngine): Promise<OwnUserIdentity | undefined> {
  const id = await engine.machine.getIdentity(new UserId(engine.userId));
  return id instanceof OwnUserIdentity ? id : undefined;
}

/** Sign Tyr's own device with the self-signing key (if not yet). Returns whether it is signed. */
export async function signOwnDevice(engine: CryptoEngine): Promise<boolean> {
  const identity = await ownIdentity(engine);
  if (!identity) return false;
  if (await identity.trustsOurOwnDevice()) return true;
  const status = await engine.machine.crossSigningStatus();
  if (!status.hasSelfSigning) return false;
  const device = await engine.machine.getDevice(new UserId(engine.userId), new DeviceId(engine.deviceId));
  if (!device) return false;
  const req = await device.verify();
  await engine.sendAndMark(req);
  await refreshOwnKeys(engine);
  const after = await ownIdentity(engine);
  return after ? after.trustsOurOwnDevice() : false;
}

interface BackupInfo {
  version: string;
  algorithm: string;
  auth_data: Record<string, unknown>;
}

async function getServerBackup(engine: CryptoEngine): Promise<BackupInfo | undefined> {
  try {
    const r = await engine.request("GET", "/_matrix/client/v3/room_keys/version");
    if (
      isRecord(r) &&
      typeof r["version"] === "string" &&
      typeof r["algorithm"] === "string" &&
      isRecord(r["auth_data"])
    ) {
      return { version: r["version"], algorithm: r["algorithm"], auth_data: r["auth_data"] };
    }
    return undefined;
  } catch (e) {
    const info = httpErrorInfo(e);
    if (info.status === 404 || info.errcode === "M_NOT_FOUND") return undefined;
    throw e;
  }
}

function missingRecoveryKeyMessage(userId: string, recoveryKeyFile: string): string {
  return (
    `${userId} already has a cross-signing identity, but this installation does not hold its keys. Give Tyr the ` +
    `recovery key (set encryption.recoveryKeyFile, or copy ${RECOVERY_KEY_FILE} from the old installation to ` +
    `${recoveryKeyFile}) to restore the identity and the room-key backup. If the recovery key is lost, start Tyr ` +
    `once with encryption.resetIdentity: true and the bot's password configured: it then makes a new identity, ` +
    `every moderator has to verify Tyr again, and what only the old key backup holds can no longer be decrypted.`
  );
}

/**
 * Before a new device's keys go up: fail now when setUpSecurity will fail for want of a recovery
 * key, so that no failed start leaves a device with uploaded keys that is never cross-signed.
 */
export async function checkIdentityRestorable(
  request: RequestFn,
  userId: string,
  storeDir: string,
  opts: SecurityOptions,
): Promise<void> {
  if (opts.resetIdentity) return;
  const recoveryKeyFile = path.resolve(opts.recoveryKeyFile ?? path.join(storeDir, RECOVERY_KEY_FILE));
  if ((opts.recoveryKey ?? (await readRecoveryKeyFile(recoveryKeyFile))) !== undefined) return;
  const resp = await request("POST", "/_matrix/client/v3/keys/query", null, {
    device_keys: { [userId]: [] },
  });
  const masters = isRecord(resp) && isRecord(resp["master_keys"]) ? resp["master_keys"] : {};
  if (masters[userId] !== undefined)
    throw new SecuritySetupError(missingRecoveryKeyMessage(userId, recoveryKeyFile));
}

/**
 * Start the crypto engine and set up cross-signing and backup (what `tyr run` does). A new device
 * uploads its keys only once the identity is known to be usable; the engine is closed on failure.
 */
export async function startEncryption(
  engineOpts: CryptoEngineOptions,
  security: SecurityOptions,
): Promise<{ engine: CryptoEngine; security: SecurityResult }> {
  const engine = await CryptoEngine.start({
    ...engineOpts,
    beforeNewDeviceKeys: () =>
      checkIdentityRestorable(engineOpts.request, engineOpts.userId, engineOpts.storeDir, security),
  });
  try {
    return { engine, security: await setUpSecurity(engine, security) };
  } catch (e) {
    await engine.close();
    throw e;
  }
}

/**
 * Bring cross-signing and key backup into shape (see the header). Throws `SecuritySetupError`
 * with an operator-facing message when it cannot (e.g. an identity exists but no recovery key).
 */
export async function setUpSecurity(
  engine: CryptoEngine,
  opts: SecurityOptions = {},
): Promise<SecurityResult> {
  const log = engine.logger;
  const m = engine.machine;
  const self = engine.userId;
  const recoveryKeyFile = path.resolve(
    opts.recoveryKeyFile ?? path.join(engine.store.dir, RECOVERY_KEY_FILE),
  );
  const ssss = new SecretStorage(engine.request, self);

  await refreshOwnKeys(engine);
  const status = await m.crossSigningStatus();
  const havePrivate = status.hasMaster && status.hasSelfSigning && status.hasUserSigning;
  const identity = await ownIdentity(engine);

  let recoveryText = opts.recoveryKey ?? (await readRecoveryKeyFile(recoveryKeyFile));
  let recoveryKey: Uint8Array | undefined;
  if (recoveryText !== undefined) {
    const where = opts.recoveryKey !== undefined ? "in the configuration" : `in ${recoveryKeyFile}`;
    try {
      recoveryKey = decodeRecoveryKey(recoveryText);
    } catch (e) {
      // Not a recovery key: it may be the passphrase the account's secret storage was made from.
      recoveryKey = await keyFromPassphraseText(ssss, recoveryText, where);
      if (recoveryKey === undefined)
        throw new SecuritySetupError(
          `The recovery key ${where} is not valid: ${errorMessage(e)}. (It is not a passphrase either: ${self}'s secret storage key was not made from one.)`,
        );
      log.info({ userId: self }, "crypto: unlocked secret storage with its passphrase");
    }
  }
  let ssssKeyId: string | undefined;
  let crossSigning: SecurityResult["crossSigning"];
  let writtenRecoveryFile: string | undefined;

  if (havePrivate && identity) {
    crossSigning = "present";
  } else if (identity && !opts.resetIdentity) {
    if (!recoveryKey) throw new SecuritySetupError(missingRecoveryKeyMessage(self, recoveryKeyFile));
    ssssKeyId = await restoreCrossSigning(engine, ssss, recoveryKey);
    crossSigning = "restored";
    log.info({ userId: self }, "crypto: restored the cross-signing identity from secret storage");
  } else {
    if (identity)
      log.warn({ userId: self }, "crypto: replacing the account's cross-signing identity (resetIdentity)");
    // A new recovery key, on disk before anything on the server depends on it.
    const key = new Uint8Array(randomBytes(32));
    recoveryKey = key;
    recoveryText = encodeRecoveryKey(key);
    await writeRecoveryKeyFile(recoveryKeyFile, self, recoveryText);
    writtenRecoveryFile = recoveryKeyFile;
    await createCrossSigning(engine, opts.password);
    ssssKeyId = await ssss.createDefaultKey(key);
    const exported = await m.exportCrossSigningKeys();
    if (!exported?.masterKey || !exported.self_signing_key || !exported.userSigningKey) {
      throw new SecuritySetupError("crypto-wasm did not export the new cross-signing keys");
    }
    await ssss.store(SECRET_MASTER, exported.masterKey, ssssKeyId, key);
    await ssss.store(SECRET_SELF_SIGNING, exported.self_signing_key, ssssKeyId, key);
    await ssss.store(SECRET_USER_SIGNING, exported.userSigningKey, ssssKeyId, key);
    crossSigning = "created";
    log.warn(
      { file: recoveryKeyFile },
      "crypto: created Tyr's cross-signing identity and secret storage. The RECOVERY KEY is in this file (mode 0600): " +
        "keep a copy offline — it restores Tyr's identity and room keys on a new machine",
    );
  }

  const deviceSigned = await signOwnDevice(engine);
  if (!deviceSigned)
    log.warn(
      { deviceId: engine.deviceId },
      "crypto: Tyr's device is not cross-signed; clients may withhold room keys",
    );
  await engine.persist();

  const backup = await setUpBackup(engine, ssss, recoveryKey, ssssKeyId, opts.createBackup ?? true);
  await engine.persist();
  engine.kickOutgoing();
  return {
    crossSigning,
    deviceSigned,
    backupVersion: backup.version,
    restoredRoomKeys: backup.restored,
    recoveryKeyFile: writtenRecoveryFile,
  };
}

async function createCrossSigning(engine: CryptoEngine, password: string | undefined): Promise<void> {
  const m = engine.machine;
  const reqs = await m.bootstrapCrossSigning(true);
  try {
    if (reqs.uploadKeysRequest) await engine.sendAndMark(reqs.uploadKeysRequest);
    await engine.persist(); // the private keys must survive a crash once the server has the public ones
    await uploadSigningKeys(engine.request, reqs.uploadSigningKeysRequest, {
      userId: engine.userId,
      password,
    });
    await engine.sendAndMark(reqs.uploadSignaturesRequest);
  } catch (e) {
    throw new SecuritySetupError(`Creating Tyr's cross-signing identity failed: ${errorMessage(e)}`, {
      cause: e,
    });
  }
  await refreshOwnKeys(engine);
}

async function restoreCrossSigning(
  engine: CryptoEngine,
  ssss: SecretStorage,
  key: Uint8Array,
): Promise<string> {
  const keyId = await ssss.getDefaultKeyId();
  if (!keyId)
    throw new SecuritySetupError(
      `${engine.userId} has no secret storage (no default key); the recovery key cannot restore anything.`,
    );
  const info = await ssss.getKeyInfo(keyId);
  if (!info)
    throw new SecuritySetupError(
      `The default secret storage key ${keyId} has no description in account data.`,
    );
  if (!checkKey(key, info)) {
    throw new SecuritySetupError(
      `The recovery key does not match ${engine.userId}'s secret storage key (${keyId}). Check the recovery key.`,
    );
  }
  let master: string | undefined;
  let selfSigning: string | undefined;
  let userSigning: string | undefined;
  try {
    master = await ssss.get(SECRET_MASTER, keyId, key);
    selfSigning = await ssss.get(SECRET_SELF_SIGNING, keyId, key);
    userSigning = await ssss.get(SECRET_USER_SIGNING, keyId, key);
  } catch (e) {
    throw new SecuritySetupError(
      `Reading the cross-signing keys from secret storage failed: ${errorMessage(e)}`,
      { cause: e },
    );
  }
  if (!master || !selfSigning || !userSigning) {
    throw new SecuritySetupError(
      `Secret storage of ${engine.userId} lacks the cross-signing keys; they cannot be restored.`,
    );
  }
  const status = await engine.machine.importCrossSigningKeys(master, selfSigning, userSigning);
  if (!status.hasMaster || !status.hasSelfSigning || !status.hasUserSigning) {
    throw new SecuritySetupError(
      "The cross-signing keys in secret storage do not match the account's published identity (was it reset by another client?).",
    );
  }
  await engine.persist();
  return keyId;
}

async function setUpBackup(
  engine: CryptoEngine,
  ssss: SecretStorage,
  recoveryKey: Uint8Array | undefined,
  ssssKeyIdIn: string | undefined,
  create: boolean,
): Promise<{ version: string | undefined; restored: number }> {
  const m = engine.machine;
  const log = engine.logger;
  const server = await getServerBackup(engine);
  const local = await m.getBackupKeys();
  const localKey = local.decryptionKey;

  if (server) {
    if (server.algorithm !== BACKUP_ALGORITHM) {
      log.warn(
        { algorithm: server.algorithm },
        "crypto: the account's key backup uses an unsupported algorithm; not using it",
      );
      return { version: undefined, restored: 0 };
    }
    const serverPub = server.auth_data["public_key"];
    if (localKey && localKey.megolmV1PublicKey.publicKeyBase64 === serverPub) {
      if (local.backupVersion !== server.version) await m.saveBackupDecryptionKey(localKey, server.version);
      if (!(await m.isBackupEnabled()))
        await m.enableBackupV1(localKey.megolmV1PublicKey.publicKeyBase64, server.version);
      return { version: server.version, restored: 0 };
    }
    // A key from secret storage (new installation), which also lets us restore.
    if (recoveryKey) {
      const keyId = ssssKeyIdIn ?? (await ssss.getDefaultKeyId());
      const secret = keyId
        ? await ssss.get(SECRET_BACKUP, keyId, recoveryKey).catch(() => undefined)
        : undefined;
      if (secret) {
        let key: BackupDecryptionKey | undefined;
        try {
          key = BackupDecryptionKey.fromBase64(secret);
        } catch {
          key = undefined;
        }
        if (key && key.megolmV1PublicKey.publicKeyBase64 === serverPub) {
          await m.saveBackupDecryptionKey(key, server.version);
          await m.enableBackupV1(key.megolmV1PublicKey.publicKeyBase64, server.version);
          const restored = await restoreRoomKeysFromBackup(engine, key, server.version);
          return { version: server.version, restored };
        }
        log.warn(
          { version: server.version },
          "crypto: the backup key in secret storage does not match the server's key backup",
        );
      }
    }
    // Trusted (signed by our identity) but no private key: upload-only.
    const verification = await m.verifyBackup({ algorithm: server.algorithm, auth_data: server.auth_data });
    if (verification.trusted()) {
      if (typeof serverPub === "string" && !(await m.isBackupEnabled()))
        await m.enableBackupV1(serverPub, server.version);
      return { version: server.version, restored: 0 };
    }
    log.warn(
      { version: server.version },
      "crypto: the account has a key backup Tyr cannot use (not signed by its identity, key unknown); Tyr's room keys are not backed up",
    );
    return { version: undefined, restored: 0 };
  }

  if (!create) return { version: undefined, restored: 0 };
  if (!recoveryKey) {
    log.warn(
      "crypto: no key backup exists and no recovery key is at hand to protect a new one; not creating a backup",
    );
    return { version: undefined, restored: 0 };
  }
  const keyId = ssssKeyIdIn ?? (await ssss.getDefaultKeyId());
  if (!keyId) {
    log.warn("crypto: no secret storage key; not creating a key backup");
    return { version: undefined, restored: 0 };
  }
  const key = BackupDecryptionKey.createRandomKey();
  const authData: Record<string, unknown> = { public_key: key.megolmV1PublicKey.publicKeyBase64 };
  await signObject(engine, authData);
  const resp = await engine.request("POST", "/_matrix/client/v3/room_keys/version", null, {
    algorithm: key.megolmV1PublicKey.algorithm,
    auth_data: authData,
  });
  const version = isRecord(resp) && typeof resp["version"] === "string" ? resp["version"] : undefined;
  if (!version) throw new SecuritySetupError("The server did not return a version for the new key backup");
  await ssss.store(SECRET_BACKUP, key.toBase64(), keyId, recoveryKey);
  await m.saveBackupDecryptionKey(key, version);
  await m.enableBackupV1(key.megolmV1PublicKey.publicKeyBase64, version);
  log.info({ version }, "crypto: created the server-side key backup");
  return { version, restored: 0 };
}

/** Download the whole key backup and import it. Returns the number of imported room keys. */
export async function restoreRoomKeysFromBackup(
  engine: CryptoEngine,
  key: BackupDecryptionKey,
  version: string,
): Promise<number> {
  const resp = await engine.request("GET", "/_matrix/client/v3/room_keys/keys", { version });
  const rooms = isRecord(resp) && isRecord(resp["rooms"]) ? resp["rooms"] : {};
  let imported = 0;
  let failed = 0;
  let batch = new Map<RoomId, Map<string, unknown>>();
  let batchSize = 0;
  const flush = async (): Promise<void> => {
    if (batchSize === 0) return;
    const r = await engine.machine.importBackedUpRoomKeys(batch, () => undefined, version);
    imported += r.importedCount;
    batch = new Map();
    batchSize = 0;
  };
  for (const [roomId, room] of Object.entries(rooms)) {
    if (!isRecord(room) || !isRecord(room["sessions"])) continue;
    let rid: RoomId;
    try {
      rid = new RoomId(roomId);
    } catch {
      continue;
    }
    const sessions = new Map<string, unknown>();
    for (const [sessionId, s] of Object.entries(room["sessions"])) {
      const data = isRecord(s) && isRecord(s["session_data"]) ? s["session_data"] : undefined;
      if (
        !data ||
        typeof data["ephemeral"] !== "string" ||
        typeof data["mac"] !== "string" ||
        typeof data["ciphertext"] !== "string"
      ) {
        failed += 1;
        continue;
      }
      try {
        const plain: unknown = JSON.parse(key.decryptV1(data["ephemeral"], data["mac"], data["ciphertext"]));
        if (!isRecord(plain)) throw new Error("not an object");
        sessions.set(sessionId, { ...plain, session_id: sessionId, room_id: roomId });
      } catch {
        failed += 1;
      }
    }
    if (sessions.size > 0) {
      batch.set(rid, sessions);
      batchSize += sessions.size;
    }
    if (batchSize >= 200) await flush();
  }
  await flush();
  engine.logger.info({ version, imported, failed }, "crypto: restored room keys from the key backup");
  await engine.persist();
  return imported;
}
