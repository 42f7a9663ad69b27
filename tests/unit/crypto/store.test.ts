import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdtempSync,
  rmSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { DeviceId, EncryptionSettings, OlmMachine, RoomId, UserId } from "@matrix-org/matrix-sdk-crypto-wasm";
import { afterAll, afterEach, describe, expect, it } from "vitest";

import { databaseNames } from "../../../src/matrix/crypto/idb-snapshot.ts";
import { CryptoStore } from "../../../src/matrix/crypto/store.ts";
import { CryptoStoreError, readStoredIdentity } from "../../../src/matrix/crypto/store-files.ts";

const USER = "@bot:example.org";

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), "tyr-store-test-"));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const open: { store: CryptoStore; machine?: OlmMachine }[] = [];

async function openMachine(
  dir: string,
  opts: { deviceId?: string; secret?: string } = {},
): Promise<{ store: CryptoStore; machine: OlmMachine }> {
  const store = await CryptoStore.open({ dir, userId: USER, deviceId: opts.deviceId, secret: opts.secret });
  const machine = await OlmMachine.initFromStore(
    new UserId(USER),
    new DeviceId(store.deviceId),
    store.handle,
  );
  open.push({ store, machine });
  return { store, machine };
}

async function closeAll(): Promise<void> {
  for (const o of open.splice(0)) {
    o.machine?.close();
    await o.store.close();
  }
}

afterEach(closeAll);

async function expectStoreError(p: Promise<unknown>, kind: string): Promise<CryptoStoreError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CryptoStoreError);
  expect((e as CryptoStoreError).kind).toBe(kind);
  return e as CryptoStoreError;
}

/** A store with one saved identity; returns its identity keys. */
async function seed(dir: string, secret?: string): Promise<{ ed25519: string; curve25519: string }> {
  const { store, machine } = await openMachine(dir, { deviceId: "DEVICE1", secret });
  const keys = {
    ed25519: machine.identityKeys.ed25519.toBase64(),
    curve25519: machine.identityKeys.curve25519.toBase64(),
  };
  await store.save();
  await closeAll();
  return keys;
}

describe("crypto store snapshot", () => {
  it("round-trips the identity keys and the device ID across a restart", async () => {
    const dir = tmp();
    const keys = await seed(dir);
    expect(await readStoredIdentity(dir)).toEqual({ userId: USER, deviceId: "DEVICE1" });

    const { store, machine } = await openMachine(dir); // no device ID given: taken from the store
    expect(store.isNew).toBe(false);
    expect(store.deviceId).toBe("DEVICE1");
    expect(machine.identityKeys.ed25519.toBase64()).toBe(keys.ed25519);
    expect(machine.identityKeys.curve25519.toBase64()).toBe(keys.curve25519);
  });

  it("keeps room keys: an event encrypted before the restart decrypts after it", async () => {
    const dir = tmp();
    const { store, machine } = await openMachine(dir, { deviceId: "DEVICE1" });
    const room = "!room:example.org";
    // Our own outbound session (no recipients) gives us an inbound session for the same room.
    await machine.shareRoomKey(new RoomId(room), [], new EncryptionSettings());
    const content = await machine.encryptRoomEvent(
      new RoomId(room),
      "m.room.message",
      JSON.stringify({ body: "kept" }),
    );
    await store.save();
    await closeAll();

    const again = await openMachine(dir);
    const { DecryptionSettings, TrustRequirement } = await import("@matrix-org/matrix-sdk-crypto-wasm");
    const ev = {
      type: "m.room.encrypted",
      event_id: "$e",
      sender: USER,
      origin_server_ts: 1,
      content: JSON.parse(content),
    };
    const dec = await again.machine.decryptRoomEvent(
      JSON.stringify(ev),
      new RoomId(room),
      new DecryptionSettings(TrustRequirement.Untrusted),
    );
    expect(JSON.parse(dec.event).content.body).toBe("kept");
  });

  it("skips saving when nothing changed, and appends changes to the journal", async () => {
    const dir = tmp();
    const { store, machine } = await openMachine(dir, { deviceId: "DEVICE1" });
    expect((await store.save()).saved).toBe(true); // first save: full snapshot
    expect(existsSync(path.join(dir, "store.journal"))).toBe(false);
    expect(store.isDirty()).toBe(false);
    expect((await store.save()).saved).toBe(false);
    const snapshot = readFileSync(path.join(dir, "store.bin"));
    await machine.shareRoomKey(new RoomId("!r:example.org"), [], new EncryptionSettings());
    expect(store.isDirty()).toBe(true);
    const r = await store.save();
    expect(r.saved).toBe(true);
    expect(r.bytes).toBeLessThan(snapshot.length);
    expect(readFileSync(path.join(dir, "store.bin"))).toEqual(snapshot); // only the journal grew
    expect(statSync(path.join(dir, "store.journal")).size).toBeGreaterThan(0);
    expect((await store.save()).saved).toBe(false);
    // A forced full save folds the journal into a new snapshot.
    await store.save(true);
    expect(existsSync(path.join(dir, "store.journal"))).toBe(false);
  });

  it("writes its files with mode 0600 and leaves no temporary files", async () => {
    const dir = tmp();
    await seed(dir);
    for (const f of ["store.bin", "store.key", "device.json"]) {
      expect(statSync(path.join(dir, f)).mode & 0o777).toBe(0o600);
    }
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  it("frees its in-memory databases on close", async () => {
    const dir = tmp();
    const { store, machine } = await openMachine(dir, { deviceId: "DEVICE1" });
    const prefix = store.prefix;
    expect((await databaseNames(prefix)).length).toBeGreaterThan(0);
    machine.close();
    await store.close();
    open.length = 0;
    expect(await databaseNames(prefix)).toEqual([]);
  });

  it("closes promptly, without a task storm, while crypto-wasm objects still hold the store", async () => {
    // A Device (like an identity or a verification request) keeps crypto-wasm's IndexedDB
    // connection open until the garbage collector frees it, long after machine.close(). Deleting
    // a database with an open connection made fake-indexeddb re-queue itself on every event-loop
    // turn (about a million setImmediate calls a second) until then: Ctrl-C took ~100 s.
    const dir = tmp();
    const { store, machine } = await openMachine(dir, { deviceId: "DEVICE1" });
    const device = await machine.getDevice(new UserId(USER), new DeviceId("DEVICE1"));
    expect(device).toBeDefined();
    const prefix = store.prefix;
    machine.close();
    const realSetImmediate = globalThis.setImmediate;
    let immediates = 0;
    globalThis.setImmediate = ((...args: Parameters<typeof setImmediate>) => {
      immediates += 1;
      return realSetImmediate(...args);
    }) as typeof setImmediate;
    try {
      const t0 = performance.now();
      await store.close();
      open.length = 0;
      await new Promise((r) => setTimeout(r, 200));
      expect(performance.now() - t0).toBeLessThan(2_000);
      expect(immediates).toBeLessThan(1_000);
      expect(await databaseNames(prefix)).toEqual([]);
    } finally {
      globalThis.setImmediate = realSetImmediate;
    }
    // The device object outlived the store: keep it reachable until here.
    expect(device?.deviceId.toString()).toBe("DEVICE1");
  });
});

describe("crypto store journal", () => {
  /** A store with a snapshot, then `n` journal frames (one room key each). */
  async function withJournal(n: number): Promise<{ dir: string; sessions: string[] }> {
    const dir = tmp();
    const { store, machine } = await openMachine(dir, { deviceId: "DEVICE1" });
    await store.save();
    const sessions: string[] = [];
    for (let i = 0; i < n; i++) {
      const room = new RoomId(`!r${i}:example.org`);
      await machine.shareRoomKey(room, [], new EncryptionSettings());
      const content = JSON.parse(await machine.encryptRoomEvent(room, "m.room.message", "{}")) as {
        session_id: string;
      };
      sessions.push(content.session_id);
      await store.save();
    }
    await closeAll();
    return { dir, sessions };
  }

  async function roomKeyCount(dir: string): Promise<number> {
    const { machine } = await openMachine(dir);
    const n = (await machine.roomKeyCounts()).total;
    await closeAll();
    return n;
  }

  it("replays the journal on top of the snapshot at start", async () => {
    const { dir } = await withJournal(3);
    expect(existsSync(path.join(dir, "store.journal"))).toBe(true);
    expect(await roomKeyCount(dir)).toBe(3);
  });

  it("drops a torn last frame (a crash while appending) and keeps the rest", async () => {
    const { dir } = await withJournal(3);
    const file = path.join(dir, "store.journal");
    const buf = readFileSync(file);
    writeFileSync(file, buf.subarray(0, buf.length - 7));
    expect(await roomKeyCount(dir)).toBe(2);
    // The file was cut back to its last whole frame: appending works again.
    const { store, machine } = await openMachine(dir);
    await machine.shareRoomKey(new RoomId("!again:example.org"), [], new EncryptionSettings());
    await store.save();
    await closeAll();
    expect(await roomKeyCount(dir)).toBe(3);
  });

  /** Where each frame of a (format 2) journal starts: [u32 length][u32 ~length][IV, ciphertext]. */
  function frameOffsets(buf: Buffer): number[] {
    let pos = 8 + 4 + buf.readUInt32BE(8);
    const starts: number[] = [];
    while (pos < buf.length) {
      starts.push(pos);
      pos += 8 + buf.readUInt32BE(pos);
    }
    return starts;
  }

  it("refuses a journal damaged before its last frame, in a frame's content or in its length", async () => {
    for (const where of ["content", "length"] as const) {
      const { dir } = await withJournal(3);
      const file = path.join(dir, "store.journal");
      const buf = readFileSync(file);
      const [first, second] = frameOffsets(buf);
      // A flipped bit in the ciphertext of frame 0; or in the length of frame 1, which format 1
      // read as a torn tail and dropped frames 1 and 2 without a word.
      const at = where === "content" ? first! + 8 + 20 : second! + 2;
      buf[at] = buf[at]! ^ 0x40;
      writeFileSync(file, buf);
      const e = await expectStoreError(CryptoStore.open({ dir, userId: USER }), "corrupted");
      expect(e.message).toContain("store.journal");
    }
  });

  it("drops a zeroed tail (a crash after the file grew, before its bytes landed) and keeps the rest", async () => {
    const { dir } = await withJournal(2);
    const file = path.join(dir, "store.journal");
    writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.alloc(300)]));
    expect(await roomKeyCount(dir)).toBe(2);
  });

  it("reads a format-1 journal (lengths without their check), then replaces it with a snapshot", async () => {
    const { dir } = await withJournal(3);
    const file = path.join(dir, "store.journal");
    const buf = readFileSync(file);
    const hlen = buf.readUInt32BE(8);
    const header = JSON.parse(buf.subarray(12, 12 + hlen).toString("utf8")) as { baseId: string };
    const oldHeader = Buffer.from(JSON.stringify({ format: 1, baseId: header.baseId }), "utf8");
    const len = Buffer.alloc(4);
    len.writeUInt32BE(oldHeader.length);
    const frames = frameOffsets(buf).map((at) =>
      Buffer.concat([buf.subarray(at, at + 4), buf.subarray(at + 8, at + 8 + buf.readUInt32BE(at))]),
    );
    writeFileSync(file, Buffer.concat([buf.subarray(0, 8), len, oldHeader, ...frames]));
    const { store, machine } = await openMachine(dir);
    expect((await machine.roomKeyCounts()).total).toBe(3);
    await machine.shareRoomKey(new RoomId("!after:example.org"), [], new EncryptionSettings());
    await store.save();
    await closeAll();
    // The save wrote a snapshot instead of appending new-format frames to the old file.
    expect(existsSync(file)).toBe(false);
    expect(await roomKeyCount(dir)).toBe(4);
  });

  it("ignores a journal left over from an older snapshot", async () => {
    const { dir } = await withJournal(2);
    const old = readFileSync(path.join(dir, "store.journal"));
    const { store } = await openMachine(dir);
    await store.save(true); // new snapshot: the journal is folded in and removed
    await closeAll();
    writeFileSync(path.join(dir, "store.journal"), old); // as if a crash hit before the removal
    expect(await roomKeyCount(dir)).toBe(2);
    expect(existsSync(path.join(dir, "store.journal"))).toBe(false);
  });
});

describe("crypto store failures", () => {
  it("refuses a corrupted store file, naming it and what to do", async () => {
    const dir = tmp();
    await seed(dir);
    const file = path.join(dir, "store.bin");
    const buf = readFileSync(file);
    buf[buf.length - 100] = (buf[buf.length - 100] ?? 0) ^ 0xff;
    writeFileSync(file, buf);
    const e = await expectStoreError(CryptoStore.open({ dir, userId: USER }), "corrupted");
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/will not create a new/);
    // Nothing was replaced.
    expect(readFileSync(file)).toEqual(buf);
  });

  it("refuses a truncated store file", async () => {
    const dir = tmp();
    await seed(dir);
    const file = path.join(dir, "store.bin");
    const buf = readFileSync(file);
    writeFileSync(file, buf.subarray(0, Math.floor(buf.length / 2)));
    const e = await expectStoreError(CryptoStore.open({ dir, userId: USER }), "corrupted");
    expect(e.message).toMatch(/truncated/);
  });

  it("refuses garbage and an empty file", async () => {
    const dir = tmp();
    await seed(dir);
    const file = path.join(dir, "store.bin");
    writeFileSync(file, randomBytes(5000));
    await expectStoreError(CryptoStore.open({ dir, userId: USER }), "corrupted");
    writeFileSync(file, "");
    await expectStoreError(CryptoStore.open({ dir, userId: USER }), "corrupted");
  });

  it("reports a wrong key file as a wrong key (not as corruption)", async () => {
    const dir = tmp();
    await seed(dir);
    writeFileSync(path.join(dir, "store.key"), randomBytes(32).toString("base64"), { mode: 0o600 });
    const e = await expectStoreError(CryptoStore.open({ dir, userId: USER }), "wrong-key");
    expect(e.message).toContain("store.key");
  });

  it("reports a wrong configured secret", async () => {
    const dir = tmp();
    await seed(dir, "correct horse battery staple");
    const { store } = await openMachine(dir, { secret: "correct horse battery staple" });
    expect(store.deviceId).toBe("DEVICE1");
    await closeAll();
    await expectStoreError(
      CryptoStore.open({ dir, userId: USER, secret: "wrong horse battery staple" }),
      "wrong-key",
    );
    // A store created with a secret does not silently fall back to a key file.
    await expectStoreError(CryptoStore.open({ dir, userId: USER }), "missing-key");
    expect(existsSync(path.join(dir, "store.key"))).toBe(false);
  });

  it("refuses to open (or replace) a store whose key file is missing", async () => {
    const dir = tmp();
    await seed(dir);
    unlinkSync(path.join(dir, "store.key"));
    await expectStoreError(CryptoStore.open({ dir, userId: USER, deviceId: "DEVICE1" }), "missing-key");
    expect(existsSync(path.join(dir, "store.key"))).toBe(false);
  });

  it("refuses to create a new identity when the store is gone but device.json remains", async () => {
    const dir = tmp();
    await seed(dir);
    unlinkSync(path.join(dir, "store.bin"));
    const e = await expectStoreError(
      CryptoStore.open({ dir, userId: USER, deviceId: "DEVICE1" }),
      "missing-store",
    );
    expect(e.message).toContain("DEVICE1");
    expect(existsSync(path.join(dir, "store.bin"))).toBe(false);
  });

  it("refuses a store of another device or user", async () => {
    const dir = tmp();
    await seed(dir);
    const e = await expectStoreError(
      CryptoStore.open({ dir, userId: USER, deviceId: "OTHER" }),
      "identity-mismatch",
    );
    expect(e.message).toContain("DEVICE1");
    await expectStoreError(CryptoStore.open({ dir, userId: "@other:example.org" }), "identity-mismatch");
  });
});
