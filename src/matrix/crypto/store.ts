// Crypto store persistence: crypto-wasm runs on an in-memory IndexedDB (fake-indexeddb); this
// module saves its content to disk and loads it back at start (the file formats are sealed and
// read in store-files.ts, the store key comes from store-keys.ts).
//
// Files, in the crypto directory (created 0700):
//   store.bin    a full snapshot (written atomically: temp file + fsync + rename + fsync of the dir)
//   store.journal  the writes committed since that snapshot, appended (and fsynced) at each save:
//                a save costs the size of the changes, not of the store. When the journal outgrows
//                max(snapshot, 4 MiB) the next save writes a new snapshot and drops the journal.
//   store.key    32 random bytes, base64, mode 0600 — only when no secret is configured
//   device.json  { userId, deviceId } — a readable copy of the identity in store.bin's header, so
//                the login step can reuse the device ID before the store key is at hand
//
// The IndexedDB content is itself encrypted by crypto-wasm (`StoreHandle.openWithKey` with the
// 32-byte store key). The snapshot file is additionally sealed with AES-256-GCM under a key
// derived from the same store key (HKDF), so the file is authenticated (corruption and truncation
// are detected) and leaks no structure.
//
// Layout of store.bin:
//   "TYRCRY01" (8 bytes) | u32 BE header length | header JSON (also the GCM AAD) | ciphertext | tag(16)
// Layout of store.journal:
//   "TYRJRN01" | u32 BE header length | header JSON { baseId } | frames
//   frame = u32 BE length | IV(12) | ciphertext | tag(16), AAD = "<baseId>:<frame number>"
// A journal whose baseId is not the snapshot's is stale (the snapshot already contains it) and
// is ignored. A torn last frame (crash while appending, before persist() returned and thus before
// the sync token advanced) is dropped; a damaged frame before the last is corruption.
//
// Safety rules: a store.bin that cannot be read is a fatal error that names the file and what to
// do; nothing ever silently replaces an existing identity with a new one.

import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { deserialize } from "node:v8";

import { StoreHandle } from "@matrix-org/matrix-sdk-crypto-wasm";

import {
  applyChanges,
  deleteDatabases,
  dumpDatabases,
  hasChanges,
  installIndexedDb,
  loadDatabases,
  takeChanges,
} from "./idb-snapshot.ts";
import type { JournalOp, Snapshot } from "./idb-snapshot.ts";
import { fsyncDir, writeFileAtomicAsync } from "../../store/files.ts";
import {
  corrupted,
  CryptoStoreError,
  exists,
  IDENTITY_FILE,
  JOURNAL_FILE,
  JOURNAL_FORMAT,
  KEY_FILE,
  keyCheckOf,
  openSnapshot,
  parseFile,
  readJournal,
  readStoredIdentity,
  sealJournalFrame,
  sealSnapshot,
  STORE_FILE,
} from "./store-files.ts";
import { keyFromSecret, loadOrCreateKeyFile } from "./store-keys.ts";
import { errorMessage, noopLogger } from "./types.ts";
import type { Logger } from "./types.ts";

export interface CryptoStoreOptions {
  /** Directory of the crypto files (e.g. `<dataDir>/crypto`). Created 0700 if absent. */
  dir: string;
  /** The bot's user ID. */
  userId: string;
  /**
   * The device ID the access token belongs to (from /whoami or the login response). Required when
   * no store exists yet; when a store exists it must match the stored device ID.
   */
  deviceId?: string;
  /**
   * Operator-configured store secret instead of the key file: 64 hex characters or base64 of 32
   * bytes are used as the key directly; anything else is a passphrase stretched with scrypt.
   */
  secret?: string;
  logger?: Logger;
}

export interface SaveResult {
  saved: boolean;
  bytes: number;
  ms: number;
}

/** A journal smaller than max(snapshot, this) is appended to; a larger one is compacted. */
const MIN_COMPACT_BYTES = 4 * 1024 * 1024;

let instanceCounter = 0;

/**
 * The persisted crypto store. `open()` loads (or creates) the store and yields a `StoreHandle` for
 * `OlmMachine.initFromStore`; `save()` writes the snapshot when anything changed.
 */
export class CryptoStore {
  readonly dir: string;
  readonly userId: string;
  readonly deviceId: string;
  /** True when no store existed: a new device identity is being created. */
  readonly isNew: boolean;
  readonly handle: StoreHandle;
  /** The in-memory IndexedDB name prefix of this instance. */
  readonly prefix: string;
  private readonly key: Uint8Array;
  private readonly keySource: "file" | "secret";
  private readonly createdAt: number;
  private readonly logger: Logger;
  private baseId: string;
  private baseBytes: number;
  private journalBytes: number;
  private journalFrames: number;
  /** The next save must write a full snapshot (new store, schema change, failed save). */
  private fullSaveNeeded: boolean;
  private saving: Promise<SaveResult> | undefined;
  private closed = false;

  private constructor(args: {
    dir: string;
    userId: string;
    deviceId: string;
    isNew: boolean;
    handle: StoreHandle;
    prefix: string;
    key: Uint8Array;
    keySource: "file" | "secret";
    createdAt: number;
    logger: Logger;
    baseId: string;
    baseBytes: number;
    journalBytes: number;
    journalFrames: number;
    fullSaveNeeded: boolean;
  }) {
    this.dir = args.dir;
    this.userId = args.userId;
    this.deviceId = args.deviceId;
    this.isNew = args.isNew;
    this.handle = args.handle;
    this.prefix = args.prefix;
    this.key = args.key;
    this.keySource = args.keySource;
    this.createdAt = args.createdAt;
    this.logger = args.logger;
    this.baseId = args.baseId;
    this.baseBytes = args.baseBytes;
    this.journalBytes = args.journalBytes;
    this.journalFrames = args.journalFrames;
    this.fullSaveNeeded = args.fullSaveNeeded;
  }

  get journalFile(): string {
    return path.join(this.dir, JOURNAL_FILE);
  }

  get storeFile(): string {
    return path.join(this.dir, STORE_FILE);
  }

  static async open(opts: CryptoStoreOptions): Promise<CryptoStore> {
    const logger = opts.logger ?? noopLogger;
    const dir = path.resolve(opts.dir);
    installIndexedDb();
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const storeFile = path.join(dir, STORE_FILE);
    const keyFile = path.join(dir, KEY_FILE);
    const identityFile = path.join(dir, IDENTITY_FILE);

    let raw: Buffer | undefined;
    try {
      raw = await readFile(storeFile);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new CryptoStoreError(
          "io",
          storeFile,
          `Cannot read the crypto store ${storeFile}: ${errorMessage(e)}`,
        );
      }
    }

    if (raw === undefined) {
      // No store. Refuse if anything says there was one: never silently replace an identity.
      const cached = await readStoredIdentity(dir).catch(() => undefined);
      if (cached !== undefined || (await exists(identityFile))) {
        throw new CryptoStoreError(
          "missing-store",
          storeFile,
          `The crypto store ${storeFile} is missing, but ${identityFile} says device ` +
            `${cached?.deviceId ?? "(unknown)"} had one. Restore ${STORE_FILE} from a backup; or, to start over as a ` +
            `NEW device, delete ${identityFile} and log Tyr in with a new device (its old keys are lost; restore room ` +
            `keys with the recovery key).`,
        );
      }
      if (!opts.deviceId) {
        throw new CryptoStoreError(
          "identity-mismatch",
          storeFile,
          "A device ID is needed to create a new crypto store.",
        );
      }
      const key =
        opts.secret !== undefined
          ? keyFromSecret(opts.secret, opts.userId)
          : await loadOrCreateKeyFile(keyFile, true, logger);
      const prefix = nextPrefix();
      const handle = await StoreHandle.openWithKey(prefix, key);
      const store = new CryptoStore({
        dir,
        userId: opts.userId,
        deviceId: opts.deviceId,
        isNew: true,
        handle,
        prefix,
        key,
        keySource: opts.secret !== undefined ? "secret" : "file",
        createdAt: Date.now(),
        logger,
        baseId: "",
        baseBytes: 0,
        journalBytes: 0,
        journalFrames: 0,
        fullSaveNeeded: true,
      });
      logger.info({ dir, deviceId: opts.deviceId }, "crypto store: creating a new device identity");
      return store;
    }

    const { header, headerBytes, body } = parseFile(raw, storeFile);
    if (header.userId !== opts.userId) {
      throw new CryptoStoreError(
        "identity-mismatch",
        storeFile,
        `The crypto store ${storeFile} belongs to ${header.userId}, not ${opts.userId}. Point Tyr at that account's ` +
          `data directory, or use a separate data directory for ${opts.userId}.`,
      );
    }
    if (opts.deviceId !== undefined && opts.deviceId !== header.deviceId) {
      throw new CryptoStoreError(
        "identity-mismatch",
        storeFile,
        `The crypto store ${storeFile} belongs to device ${header.deviceId}, but the access token is for device ` +
          `${opts.deviceId}. Log in again with device ID ${header.deviceId} (Tyr does this by itself when it logs in ` +
          `with a password), or move ${dir} away to start a new device identity.`,
      );
    }
    let key: Uint8Array;
    if (opts.secret !== undefined) {
      key = keyFromSecret(opts.secret, opts.userId);
    } else {
      if (header.keySource === "secret") {
        throw new CryptoStoreError(
          "missing-key",
          storeFile,
          `The crypto store ${storeFile} was encrypted with a configured secret, but none is configured now. Configure the same secret.`,
        );
      }
      key = await loadOrCreateKeyFile(keyFile, false, logger);
    }
    if (keyCheckOf(key) !== header.keyCheck) {
      throw new CryptoStoreError(
        "wrong-key",
        storeFile,
        opts.secret !== undefined
          ? `The configured crypto store secret does not open ${storeFile} (wrong secret). Configure the secret the store was created with.`
          : `The key in ${keyFile} does not open ${storeFile} (wrong key file). Put back the key file the store was created with.`,
      );
    }
    const plain = openSnapshot(key, header, headerBytes, body, storeFile);
    let snapshot: Snapshot;
    try {
      snapshot = deserialize(plain) as Snapshot;
      if (!Array.isArray(snapshot.databases)) throw new Error("no databases");
    } catch (e) {
      throw corrupted(storeFile, `unreadable snapshot: ${errorMessage(e)}`);
    }
    const prefix = nextPrefix();
    await loadDatabases(prefix, snapshot);
    const journal = await readJournal(path.join(dir, JOURNAL_FILE), header.baseId, key, logger);
    if (journal.batches.length > 0) await applyChanges(prefix, journal.batches);
    let handle: StoreHandle;
    try {
      handle = await StoreHandle.openWithKey(prefix, key);
    } catch (e) {
      await deleteDatabases(prefix);
      throw new CryptoStoreError(
        "wrong-key",
        storeFile,
        `crypto-wasm cannot open the store in ${storeFile} with this key (${errorMessage(e)}). Use the key the store was created with.`,
      );
    }
    const store = new CryptoStore({
      dir,
      userId: header.userId,
      deviceId: header.deviceId,
      isNew: false,
      handle,
      prefix,
      key,
      keySource: header.keySource === "secret" ? "secret" : "file",
      createdAt: header.createdAt,
      logger,
      baseId: header.baseId,
      baseBytes: raw.length,
      journalBytes: journal.bytes,
      journalFrames: journal.batches.length,
      // Frames of a newer format are never appended to an older journal: a snapshot replaces it.
      fullSaveNeeded: journal.bytes > 0 && journal.format !== JOURNAL_FORMAT,
    });
    if (!(await exists(identityFile))) await store.writeIdentityFile();
    logger.info(
      { dir, deviceId: header.deviceId, bytes: raw.length, journalBytes: journal.bytes },
      "crypto store: loaded",
    );
    return store;
  }

  /** True when the in-memory store changed since the last save (or load). */
  isDirty(): boolean {
    return this.fullSaveNeeded || hasChanges(this.prefix);
  }

  /**
   * Persist what changed: append the committed writes to the journal, or (first save, schema
   * change, journal grown past max(snapshot, 4 MiB), `full`) write a new snapshot. Crash-safe: a
   * crash leaves the previous state or the new one. Concurrent calls run one after the other.
   */
  async save(full = false): Promise<SaveResult> {
    if (this.closed) throw new Error("crypto store is closed");
    while (this.saving) await this.saving.catch(() => undefined);
    if (!full && !this.isDirty()) return { saved: false, bytes: 0, ms: 0 };
    this.saving = this.doSave(full).finally(() => {
      this.saving = undefined;
    });
    return this.saving;
  }

  private async doSave(forceFull: boolean): Promise<SaveResult> {
    const t0 = performance.now();
    const { ops, schemaChanged } = takeChanges(this.prefix);
    const compact = this.journalBytes > Math.max(this.baseBytes, MIN_COMPACT_BYTES);
    try {
      let bytes: number;
      if (forceFull || this.fullSaveNeeded || schemaChanged || compact) {
        bytes = await this.writeSnapshot();
      } else if (ops.length > 0) {
        bytes = await this.appendJournal(ops);
      } else {
        return { saved: false, bytes: 0, ms: 0 };
      }
      const ms = performance.now() - t0;
      this.logger.debug({ bytes, ms: Math.round(ms), ops: ops.length }, "crypto store: saved");
      return { saved: true, bytes, ms };
    } catch (e) {
      // The taken changes are not on disk: only a full snapshot can catch up now.
      this.fullSaveNeeded = true;
      throw e;
    }
  }

  private async writeSnapshot(): Promise<number> {
    const snapshot = await dumpDatabases(this.prefix);
    const { file, baseId } = sealSnapshot(this.key, snapshot, {
      userId: this.userId,
      deviceId: this.deviceId,
      createdAt: this.createdAt,
      keySource: this.keySource,
    });
    await writeFileAtomicAsync(this.storeFile, file);
    // The old journal is now stale (its baseId differs); remove it.
    await rm(this.journalFile, { force: true });
    const first = this.baseId === "";
    this.baseId = baseId;
    this.baseBytes = file.length;
    this.journalBytes = 0;
    this.journalFrames = 0;
    this.fullSaveNeeded = false;
    if (first || !(await exists(path.join(this.dir, IDENTITY_FILE)))) await this.writeIdentityFile();
    return file.length;
  }

  private async appendJournal(ops: JournalOp[]): Promise<number> {
    const isNewFile = this.journalBytes === 0;
    const frame = sealJournalFrame(this.key, ops, this.baseId, this.journalFrames, isNewFile);
    const fh = await open(this.journalFile, isNewFile ? "w" : "a", 0o600);
    try {
      await fh.writeFile(frame);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (isNewFile) await fsyncDir(this.dir);
    this.journalBytes += frame.length;
    this.journalFrames += 1;
    return frame.length;
  }

  private async writeIdentityFile(): Promise<void> {
    const body = JSON.stringify({ userId: this.userId, deviceId: this.deviceId }, null, 2) + "\n";
    await writeFileAtomicAsync(path.join(this.dir, IDENTITY_FILE), body, 0o600);
  }

  /** Free the in-memory databases. Call after `OlmMachine.close()`; the store is unusable after. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.saving) await this.saving.catch(() => undefined);
    this.closed = true;
    try {
      this.handle.free();
    } catch {
      // already freed by the machine
    }
    await deleteDatabases(this.prefix);
  }
}

function nextPrefix(): string {
  instanceCounter += 1;
  return `tyr-crypto-${process.pid}-${instanceCounter}-${randomBytes(4).toString("hex")}`;
}
