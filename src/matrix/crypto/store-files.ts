// The crypto store's files on disk: their names, the snapshot and journal formats (described in
// store.ts), their authenticated encryption, and the errors that tell the operator what to do
// when one cannot be read. No state: the CryptoStore class in store.ts owns the files.

import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";
import { open, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { deserialize, serialize } from "node:v8";

import type { JournalOp, Snapshot } from "./idb-snapshot.ts";
import { errorMessage, isRecord } from "./types.ts";
import type { Logger } from "./types.ts";

export const MAGIC = Buffer.from("TYRCRY01", "ascii");
export const JOURNAL_MAGIC = Buffer.from("TYRJRN01", "ascii");
export const IV_BYTES = 12;
export const FORMAT = 1;
/**
 * Journal format 2: each frame's length is followed by its complement, so a damaged length is
 * told from a torn last frame (format 1 read a damaged length as a torn tail and silently dropped
 * the frames after it). Format-1 journals are still read; the next save then writes a snapshot.
 */
export const JOURNAL_FORMAT = 2;
export const TAG_BYTES = 16;

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

export interface Header {
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

export function deriveKeys(storeKey: Uint8Array): { fileKey: Buffer; checkKey: Buffer } {
  const okm = Buffer.from(hkdfSync("sha256", storeKey, Buffer.alloc(0), "tyr crypto snapshot v1", 64));
  return { fileKey: okm.subarray(0, 32), checkKey: okm.subarray(32) };
}

export function keyCheckOf(storeKey: Uint8Array): string {
  return createHmac("sha256", deriveKeys(storeKey).checkKey).update("tyr-key-check").digest("base64");
}

export async function exists(file: string): Promise<boolean> {
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

export function corrupted(file: string, what: string): CryptoStoreError {
  return new CryptoStoreError(
    "corrupted",
    file,
    `The crypto store ${file} is damaged (${what}). Tyr will not start with it, and will not create a new ` +
      `encryption identity over it. Restore ${file} from a backup, or — to give up this device's keys — move ` +
      `the whole directory ${path.dirname(file)} away and log Tyr in as a NEW device (new access token / device ID); ` +
      `then restore room keys with the recovery key.`,
  );
}

export function parseFile(buf: Buffer, file: string): { header: Header; headerBytes: Buffer; body: Buffer } {
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

/** The snapshot file for `snapshot`: header, AES-256-GCM ciphertext (header as AAD), tag. */
export function sealSnapshot(
  storeKey: Uint8Array,
  snapshot: Snapshot,
  owner: Pick<Header, "userId" | "deviceId" | "createdAt" | "keySource">,
): { file: Buffer; baseId: string } {
  const plain = serialize(snapshot);
  const iv = randomBytes(IV_BYTES);
  const baseId = randomBytes(12).toString("base64url");
  const header: Header = {
    format: FORMAT,
    ...owner,
    savedAt: Date.now(),
    keyCheck: keyCheckOf(storeKey),
    iv: iv.toString("base64"),
    payloadBytes: plain.length,
    baseId,
  };
  const headerBytes = Buffer.from(JSON.stringify(header), "utf8");
  const cipher = createCipheriv("aes-256-gcm", deriveKeys(storeKey).fileKey, iv);
  cipher.setAAD(headerBytes);
  const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(headerBytes.length);
  return { file: Buffer.concat([MAGIC, len, headerBytes, ct, cipher.getAuthTag()]), baseId };
}

/** The decrypted payload of a parsed snapshot file; an altered file is a corruption error. */
export function openSnapshot(
  storeKey: Uint8Array,
  header: Header,
  headerBytes: Buffer,
  body: Buffer,
  file: string,
): Buffer {
  try {
    const decipher = createDecipheriv(
      "aes-256-gcm",
      deriveKeys(storeKey).fileKey,
      Buffer.from(header.iv, "base64"),
    );
    decipher.setAAD(headerBytes);
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw corrupted(file, "authentication failed: the content was altered");
  }
}

/**
 * One journal frame holding `ops`, sealed with its position (`<baseId>:<frame>` as AAD) so frames
 * cannot be reordered or moved to another journal; the first frame of a file carries its header.
 */
export function sealJournalFrame(
  storeKey: Uint8Array,
  ops: JournalOp[],
  baseId: string,
  frameNumber: number,
  withHeader: boolean,
): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", deriveKeys(storeKey).fileKey, iv);
  cipher.setAAD(Buffer.from(`${baseId}:${frameNumber}`, "utf8"));
  const ct = Buffer.concat([cipher.update(serialize(ops)), cipher.final(), cipher.getAuthTag()]);
  const len = Buffer.alloc(8);
  len.writeUInt32BE(IV_BYTES + ct.length);
  len.writeUInt32BE(~(IV_BYTES + ct.length) >>> 0, 4);
  const frame = Buffer.concat([len, iv, ct]);
  if (!withHeader) return frame;
  const headerBytes = Buffer.from(JSON.stringify({ format: JOURNAL_FORMAT, baseId }), "utf8");
  const hlen = Buffer.alloc(4);
  hlen.writeUInt32BE(headerBytes.length);
  return Buffer.concat([JOURNAL_MAGIC, hlen, headerBytes, frame]);
}

/**
 * Read the journal that continues snapshot `baseId`: its batches in order, and its valid length. A
 * stale journal (other baseId, or a header torn while being created) is removed; a torn last frame
 * is cut off; damage before the last frame is a corruption error.
 */
export async function readJournal(
  file: string,
  baseId: string,
  storeKey: Uint8Array,
  logger: Logger,
): Promise<{ batches: JournalOp[][]; bytes: number; format: number }> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT")
      return { batches: [], bytes: 0, format: JOURNAL_FORMAT };
    throw new CryptoStoreError(
      "io",
      file,
      `Cannot read the crypto store journal ${file}: ${errorMessage(e)}`,
    );
  }
  const stale = async (why: string): Promise<{ batches: JournalOp[][]; bytes: number; format: number }> => {
    logger.info({ file, why }, "crypto store: ignoring a stale journal");
    await rm(file, { force: true });
    return { batches: [], bytes: 0, format: JOURNAL_FORMAT };
  };
  const damaged = (frame: number): CryptoStoreError =>
    new CryptoStoreError(
      "corrupted",
      file,
      `The crypto store journal ${file} is damaged (frame ${frame} of several). Tyr will not start with ` +
        `it. Restore it from a backup; or delete ${file} to fall back to the last full snapshot — Tyr keeps its ` +
        `identity but loses the keys received since that snapshot (their senders' clients recover the sessions).`,
    );
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
  const format = header["format"] === JOURNAL_FORMAT ? JOURNAL_FORMAT : 1;
  const lengthBytes = format === JOURNAL_FORMAT ? 8 : 4;
  const { fileKey } = deriveKeys(storeKey);
  const batches: JournalOp[][] = [];
  let pos = hstart + hlen;
  let torn: string | undefined;
  while (pos < buf.length) {
    if (pos + lengthBytes > buf.length) {
      torn = "torn frame length";
      break;
    }
    const flen = buf.readUInt32BE(pos);
    if (format === JOURNAL_FORMAT && buf.readUInt32BE(pos + 4) !== ~flen >>> 0) {
      // A crash can leave an appended file's end zeroed; anything else is damage, not a tear.
      if (buf.subarray(pos).every((b) => b === 0)) {
        torn = "zeroed tail";
        break;
      }
      throw damaged(batches.length);
    }
    const fstart = pos + lengthBytes;
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
      throw damaged(batches.length);
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
  return { batches, bytes: pos, format };
}
