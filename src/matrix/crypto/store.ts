// Crypto store persistence: crypto-wasm runs on an in-memory IndexedDB (fake-indexeddb); this
// module saves its content to disk and loads it back at start.
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

import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, scryptSync } from "node:crypto";
import { mkdir, open, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { deserialize, serialize } from "node:v8";

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
import { errorMessage, isRecord, noopLogger } from "./types.ts";
import type { Logger } from "./types.ts";

const MAGIC = Buffer.from("TYRCRY01", "ascii");
const JOURNAL_MAGIC = Buffer.from("TYRJRN01", "ascii");
const IV_BYTES = 12;
const MIN_COMPACT_BYTES = 4 * 1024 * 1024;
const FORMAT = 1;
const TAG_BYTES = 16;

export const STORE_FILE = "store.bin";
export const KEY_FILE = "store.key";
export const IDENTITY_FILE = "device.json";
export const JOURNAL_FILE = "store.journal";

/** Why opening the crypto store failed; `message` tells the operator what to do. */
export type CryptoStoreErrorKind =
  "corrupted" | "wrong-key" | "missing-key" | "missing-store" | "identity-mismatch" | "bad-secret" | "io";

export class CryptoStoreError extends Error {
  readonly kind: CryptoStoreErrorKind;
  readonly file: string;
  constructor(kind: CryptoStoreErrorKind, file: string, message: string) {
    super(message);
    this.name = "CryptoStoreError";
    this.kind = kind;
    this.file = file;
  }
}

export interface StoredIdentity {
  userId: string;
  deviceId: string;
}

interface Header {
  format: number;
  userId: string;
  deviceId: string;
  createdAt: number;
  savedAt: number;
  /** "file" (random key in store.key) or "secret" (configured secret). */
  keySource: "file" | "secret";
  keyCheck: string;
  iv: string;
  payloadBytes: number;
  /** Random ID of this snapshot; the journal names the snapshot it continues. */
  baseId: string;
}

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

function deriveKeys(storeKey: Uint8Array): { fileKey: Buffer; checkKey: Buffer } {
  const okm = Buffer.from(hkdfSync("sha256", storeKey, Buffer.alloc(0), "tyr crypto snapshot v1", 64));
  return { fileKey: okm.subarray(0, 32), checkKey: okm.subarray(32) };
}

function keyCheckOf(storeKey: Uint8Array): string {
  return createHmac("sha256", deriveKeys(storeKey).checkKey).update("tyr-key-check").digest("base64");
}

/** Parse a configured secret into a 32-byte key (see `CryptoStoreOptions.secret`). */
export function keyFromSecret(secret: string, userId: string): Uint8Array {
  const s = secret.trim();
  if (s.length === 0)
    throw new CryptoStoreError("bad-secret", "", "The configured crypto store secret is empty.");
  if (/^[0-9a-fA-F]{64}$/.test(s)) return new Uint8Array(Buffer.from(s, "hex"));
  if (/^[A-Za-z0-9+/]{43}=?$/.test(s)) {
    const raw = Buffer.from(s, "base64");
    if (raw.length === 32) return new Uint8Array(raw);
  }
  if (s.length < 12) {
    throw new CryptoStoreError(
      "bad-secret",
      "",
      "The configured crypto store secret is too short: use at least 12 characters, or 32 random bytes as 64 hex characters.",
    );
  }
  return new Uint8Array(
    scryptSync(s, `tyr crypto store v1 ${userId}`, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 << 20 }),
  );
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

/** Read `device.json` (the identity of an existing store), or undefined when there is none. */
export async function readStoredIdentity(dir: string): Promise<StoredIdentity | undefined> {
  const file = path.join(dir, IDENTITY_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      // Fall back to the header of store.bin (readable without the key).
      const storeFile = path.join(dir, STORE_FILE);
      if (!(await exists(storeFile))) return undefined;
      const header = parseFile(await readFile(storeFile), storeFile).header;
      return { userId: header.userId, deviceId: header.deviceId };
    }
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CryptoStoreError(
      "corrupted",
      file,
      `${file} is not valid JSON. It only caches the device ID stored in ${STORE_FILE}: delete it and Tyr rewrites it.`,
    );
  }
  if (!isRecord(parsed) || typeof parsed["userId"] !== "string" || typeof parsed["deviceId"] !== "string") {
    throw new CryptoStoreError(
      "corrupted",
      file,
      `${file} lacks userId/deviceId. It only caches the device ID stored in ${STORE_FILE}: delete it and Tyr rewrites it.`,
    );
  }
  return { userId: parsed["userId"], deviceId: parsed["deviceId"] };
}

function corrupted(file: string, what: string): CryptoStoreError {
  return new CryptoStoreError(
    "corrupted",
    file,
    `The crypto store ${file} is damaged (${what}). Tyr will not start with it, and will not create a new ` +
      `encryption identity over it. Restore ${file} from a backup, or — to give up this device's keys — move ` +
      `the whole directory ${path.dirname(file)} away and log Tyr in as a NEW device (new access token / device ID); ` +
      `then restore room keys with the recovery key.`,
  );
}

function parseFile(buf: Buffer, file: string): { header: Header; headerBytes: Buffer; body: Buffer } {
  if (buf.length < MAGIC.length + 4) throw corrupted(file, `only ${buf.length} bytes`);
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw corrupted(file, "not a Tyr crypto store file");
  const headerLen = buf.readUInt32BE(MAGIC.length);
  const headerStart = MAGIC.length + 4;
  if (headerLen > 65536 || headerStart + headerLen > buf.length) throw corrupted(file, "truncated header");
  const headerBytes = buf.subarray(headerStart, headerStart + headerLen);
  let header: unknown;
  try {
    header = JSON.parse(headerBytes.toString("utf8"));
  } catch {
    throw corrupted(file, "unreadable header");
  }
  if (
    !isRecord(header) ||
    header["format"] !== FORMAT ||
    typeof header["userId"] !== "string" ||
    typeof header["deviceId"] !== "string" ||
    typeof header["keyCheck"] !== "string" ||
    typeof header["iv"] !== "string" ||
    typeof header["payloadBytes"] !== "number" ||
    typeof header["baseId"] !== "string"
  ) {
    throw corrupted(file, "unknown header format");
  }
  const h = header as unknown as Header;
  const body = buf.subarray(headerStart + headerLen);
  if (body.length !== h.payloadBytes + TAG_BYTES) {
    throw corrupted(file, `truncated: ${body.length} of ${h.payloadBytes + TAG_BYTES} payload bytes`);
  }
  return { header: h, headerBytes, body };
}

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
    let plain: Buffer;
    try {
      const { fileKey } = deriveKeys(key);
      const decipher = createDecipheriv("aes-256-gcm", fileKey, Buffer.from(header.iv, "base64"));
      decipher.setAAD(headerBytes);
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      plain = Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw corrupted(storeFile, "authentication failed: the content was altered");
    }
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
      fullSaveNeeded: false,
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
    const plain = serialize(snapshot);
    const iv = randomBytes(IV_BYTES);
    const baseId = randomBytes(12).toString("base64url");
    const header: Header = {
      format: FORMAT,
      userId: this.userId,
      deviceId: this.deviceId,
      createdAt: this.createdAt,
      savedAt: Date.now(),
      keySource: this.keySource,
      keyCheck: keyCheckOf(this.key),
      iv: iv.toString("base64"),
      payloadBytes: plain.length,
      baseId,
    };
    const headerBytes = Buffer.from(JSON.stringify(header), "utf8");
    const { fileKey } = deriveKeys(this.key);
    const cipher = createCipheriv("aes-256-gcm", fileKey, iv);
    cipher.setAAD(headerBytes);
    const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(headerBytes.length);
    const file = Buffer.concat([MAGIC, len, headerBytes, ct, cipher.getAuthTag()]);
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
    const plain = serialize(ops);
    const iv = randomBytes(IV_BYTES);
    const { fileKey } = deriveKeys(this.key);
    const cipher = createCipheriv("aes-256-gcm", fileKey, iv);
    cipher.setAAD(Buffer.from(`${this.baseId}:${this.journalFrames}`, "utf8"));
    const ct = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(IV_BYTES + ct.length);
    let frame = Buffer.concat([len, iv, ct]);
    const isNewFile = this.journalBytes === 0;
    if (isNewFile) {
      const headerBytes = Buffer.from(JSON.stringify({ format: FORMAT, baseId: this.baseId }), "utf8");
      const hlen = Buffer.alloc(4);
      hlen.writeUInt32BE(headerBytes.length);
      frame = Buffer.concat([JOURNAL_MAGIC, hlen, headerBytes, frame]);
    }
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

/**
 * Read the journal that continues snapshot `baseId`: its batches in order, and its valid length. A
 * stale journal (other baseId, or a header torn while being created) is removed; a torn last frame
 * is cut off; damage before the last frame is a corruption error.
 */
async function readJournal(
  file: string,
  baseId: string,
  storeKey: Uint8Array,
  logger: Logger,
): Promise<{ batches: JournalOp[][]; bytes: number }> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { batches: [], bytes: 0 };
    throw new CryptoStoreError(
      "io",
      file,
      `Cannot read the crypto store journal ${file}: ${errorMessage(e)}`,
    );
  }
  const stale = async (why: string): Promise<{ batches: JournalOp[][]; bytes: number }> => {
    logger.info({ file, why }, "crypto store: ignoring a stale journal");
    await rm(file, { force: true });
    return { batches: [], bytes: 0 };
  };
  if (buf.length < JOURNAL_MAGIC.length + 4 || !buf.subarray(0, JOURNAL_MAGIC.length).equals(JOURNAL_MAGIC)) {
    return stale("no journal header");
  }
  const hlen = buf.readUInt32BE(JOURNAL_MAGIC.length);
  const hstart = JOURNAL_MAGIC.length + 4;
  if (hstart + hlen > buf.length) return stale("torn journal header");
  let header: unknown;
  try {
    header = JSON.parse(buf.subarray(hstart, hstart + hlen).toString("utf8"));
  } catch {
    return stale("unreadable journal header");
  }
  if (!isRecord(header) || header["baseId"] !== baseId) return stale("journal of another snapshot");
  const { fileKey } = deriveKeys(storeKey);
  const batches: JournalOp[][] = [];
  let pos = hstart + hlen;
  let torn: string | undefined;
  while (pos < buf.length) {
    if (pos + 4 > buf.length) {
      torn = "torn frame length";
      break;
    }
    const flen = buf.readUInt32BE(pos);
    const fstart = pos + 4;
    if (flen < IV_BYTES + TAG_BYTES || fstart + flen > buf.length) {
      torn = "torn frame";
      break;
    }
    const frame = buf.subarray(fstart, fstart + flen);
    let ops: JournalOp[];
    try {
      const decipher = createDecipheriv("aes-256-gcm", fileKey, frame.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(`${baseId}:${batches.length}`, "utf8"));
      decipher.setAuthTag(frame.subarray(flen - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(frame.subarray(IV_BYTES, flen - TAG_BYTES)),
        decipher.final(),
      ]);
      ops = deserialize(plain) as JournalOp[];
      if (!Array.isArray(ops)) throw new Error("not a list");
    } catch (e) {
      if (fstart + flen === buf.length) {
        torn = `last frame unreadable (${errorMessage(e)})`;
        break;
      }
      throw new CryptoStoreError(
        "corrupted",
        file,
        `The crypto store journal ${file} is damaged (frame ${batches.length} of several). Tyr will not start with ` +
          `it. Restore it from a backup; or delete ${file} to fall back to the last full snapshot — Tyr keeps its ` +
          `identity but loses the keys received since that snapshot (their senders' clients recover the sessions).`,
      );
    }
    batches.push(ops);
    pos = fstart + flen;
  }
  if (torn !== undefined) {
    logger.warn(
      { file, frames: batches.length, droppedBytes: buf.length - pos, why: torn },
      "crypto store: dropped the unfinished end of the journal (a crash while saving; nothing acknowledged is lost)",
    );
    const fh = await open(file, "r+");
    try {
      await fh.truncate(pos);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
  return { batches, bytes: pos };
}

function nextPrefix(): string {
  instanceCounter += 1;
  return `tyr-crypto-${process.pid}-${instanceCounter}-${randomBytes(4).toString("hex")}`;
}

async function loadOrCreateKeyFile(file: string, mayCreate: boolean, logger: Logger): Promise<Uint8Array> {
  let text: string | undefined;
  try {
    const st = await stat(file);
    if ((st.mode & 0o077) !== 0) {
      logger.warn(
        { file, mode: (st.mode & 0o777).toString(8) },
        "crypto store key file is readable by other users; run chmod 600 on it",
      );
    }
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new CryptoStoreError("io", file, `Cannot read the crypto store key ${file}: ${errorMessage(e)}`);
    }
  }
  if (text === undefined) {
    if (!mayCreate) {
      throw new CryptoStoreError(
        "missing-key",
        file,
        `The crypto store key file ${file} is missing, so the existing store cannot be opened. Put the key file back ` +
          `(or configure the secret the store was created with). Tyr will not create a new identity over the existing store.`,
      );
    }
    const key = randomBytes(32);
    try {
      await writeFile(file, key.toString("base64") + "\n", { mode: 0o600, flag: "wx" });
    } catch (e) {
      throw new CryptoStoreError(
        "io",
        file,
        `Cannot create the crypto store key ${file}: ${errorMessage(e)}`,
      );
    }
    logger.info({ file }, "crypto store: created a new store key (keep it with the store; mode 0600)");
    return new Uint8Array(key);
  }
  const raw = Buffer.from(text.trim(), "base64");
  if (raw.length !== 32) {
    throw new CryptoStoreError(
      "missing-key",
      file,
      `The crypto store key file ${file} does not hold a 32-byte base64 key. Put back the original key file.`,
    );
  }
  return new Uint8Array(raw);
}
