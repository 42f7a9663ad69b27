// Crypto engine benchmarks (no homeserver): a second OlmMachine in the same process creates the
// Megolm sessions and encrypted events; Tyr's engine imports the keys and decrypts.
//
//   crypto.decrypt_per_s  CryptoEngine.decrypt throughput (validation, replay check, JSON merge);
//                         baseline = bare OlmMachine.decryptRoomEvent on the same events
//   crypto.save_ms_1k     full snapshot save (dump, serialise, AES-GCM, fsync, rename) with 1,000
//                         inbound room keys in the store (median of 5)
//   crypto.save_ms_10k    the same with 10,000 room keys
//   crypto.save_append_ms_1k / _10k   the usual save: one new room key appended to the journal
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import {
  DecryptionSettings,
  DeviceId,
  EncryptionSettings,
  OlmMachine,
  RoomId,
  StoreHandle,
  TrustRequirement,
  UserId,
} from "@matrix-org/matrix-sdk-crypto-wasm";

import { CryptoEngine } from "../src/matrix/crypto/engine.ts";
import { deleteDatabases, installIndexedDb } from "../src/matrix/crypto/idb-snapshot.ts";
import type { RequestFn } from "../src/matrix/crypto/types.ts";
import type { BenchResult } from "./types.ts";

const BOT = "@bot:bench.example";
const SENDER = "@alice:bench.example";

/** Stand-in for the homeserver's key endpoints so the engine never waits; nothing else is called. */
const offline: RequestFn = async (_method, endpoint, _qs, body) => {
  if (endpoint === "/_matrix/client/v3/keys/upload")
    return { one_time_key_counts: { signed_curve25519: 50 } };
  if (endpoint === "/_matrix/client/v3/keys/query") {
    const asked = (body as { device_keys?: Record<string, unknown> } | undefined)?.device_keys ?? {};
    return { device_keys: Object.fromEntries(Object.keys(asked).map((u) => [u, {}])), failures: {} };
  }
  throw new Error(`bench: no homeserver for ${endpoint}`);
};

async function startEngine(dir: string): Promise<CryptoEngine> {
  return CryptoEngine.start({ userId: BOT, deviceId: "BENCHBOT", request: offline, storeDir: dir });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function senderWithRooms(rooms: number): Promise<OlmMachine> {
  const m = await OlmMachine.initialize(new UserId(SENDER), new DeviceId("ALICE"));
  for (let i = 0; i < rooms; i++) {
    await m.shareRoomKey(new RoomId(`!r${i}:bench.example`), [], new EncryptionSettings());
  }
  return m;
}

async function decryptBench(): Promise<BenchResult> {
  const N = 3000;
  const room = new RoomId("!decrypt:bench.example");
  const alice = await OlmMachine.initialize(new UserId(SENDER), new DeviceId("ALICE"));
  const events: Record<string, unknown>[] = [];
  for (let i = 0; i < N; i++) {
    // Share before every encrypt (as Tyr does): the default settings rotate the session every
    // 100 messages, like real senders, so message indexes stay realistic.
    await alice.shareRoomKey(room, [], new EncryptionSettings());
    const content = await alice.encryptRoomEvent(
      room,
      "m.room.message",
      JSON.stringify({ msgtype: "m.text", body: `spam message number ${i} with some text in it` }),
    );
    events.push({
      type: "m.room.encrypted",
      event_id: `$event${i}`,
      sender: SENDER,
      origin_server_ts: 1_700_000_000_000 + i,
      content: JSON.parse(content),
    });
  }
  const keys = await alice.exportRoomKeys(() => true);
  alice.close();

  // Baseline: a bare OlmMachine on the same kind of store (IndexedDB via fake-indexeddb).
  installIndexedDb();
  const bare = await OlmMachine.initFromStore(
    new UserId(BOT),
    new DeviceId("BARE"),
    await StoreHandle.openWithKey(`tyr-bench-bare-${process.pid}`, new Uint8Array(32)),
  );
  await bare.importExportedRoomKeys(keys, () => {});
  const ds = new DecryptionSettings(TrustRequirement.Untrusted);
  const dir = mkdtempSync(path.join(tmpdir(), "tyr-bench-decrypt-"));
  const engine = await startEngine(dir);
  await engine.machine.importExportedRoomKeys(keys, () => {});

  // Alternate the two runs (best of 3 each): the machine may be shared and noisy.
  let bareRate = 0;
  let rate = 0;
  let ok = 0;
  for (let round = 0; round < 3; round++) {
    let t0 = performance.now();
    for (const ev of events) {
      const d = await bare.decryptRoomEvent(JSON.stringify(ev), room, ds);
      d.free();
    }
    bareRate = Math.max(bareRate, N / ((performance.now() - t0) / 1000));
    t0 = performance.now();
    ok = 0;
    for (const ev of events) {
      const r = await engine.decrypt(room.toString(), ev);
      if (r.ok) ok += 1;
    }
    rate = Math.max(rate, N / ((performance.now() - t0) / 1000));
  }
  bare.close();
  await deleteDatabases(`tyr-bench-bare-${process.pid}`);
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
  if (ok !== N) throw new Error(`bench: only ${ok}/${N} events decrypted`);
  return {
    name: "crypto.decrypt_per_s",
    value: Math.round(rate),
    unit: "events/s",
    baseline: Math.round(bareRate),
    ratio: Number((rate / bareRate).toFixed(2)),
    note: `target ≥ 1,000/s on one core; ${N} events in sessions of 100, best of 3; baseline = bare OlmMachine.decryptRoomEvent on the same IndexedDB store`,
  };
}

async function saveBench(sessions: number, name: string): Promise<BenchResult[]> {
  const alice = await senderWithRooms(sessions + 5);
  const all: unknown[] = JSON.parse(await alice.exportRoomKeys(() => true)) as unknown[];
  alice.close();
  const dir = mkdtempSync(path.join(tmpdir(), "tyr-bench-save-"));
  const engine = await startEngine(dir);
  await engine.machine.importExportedRoomKeys(JSON.stringify(all.slice(0, sessions)), () => {});
  const counts = await engine.machine.roomKeyCounts();
  const full: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 5; i++) {
    const r = await engine.store.save(true);
    full.push(r.ms);
    bytes = r.bytes;
  }
  const unchanged = await engine.store.save();
  // The common case: a sync brought one new room key; the save appends it to the journal.
  const append: number[] = [];
  for (let i = 0; i < 5; i++) {
    await engine.machine.importExportedRoomKeys(JSON.stringify([all[sessions + i]]), () => {});
    append.push((await engine.store.save()).ms);
  }
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
  const label = name.endsWith("10k") ? "10k" : "1k";
  return [
    {
      name,
      value: Number(median(full).toFixed(1)),
      unit: "ms",
      note: `full snapshot, ${counts.total} room keys, ${(bytes / 1e6).toFixed(1)} MB file; unchanged store: ${unchanged.saved ? "saved" : "skipped"}`,
    },
    {
      name: `crypto.save_append_ms_${label}`,
      value: Number(median(append).toFixed(2)),
      unit: "ms",
      note: `one new room key appended to the journal (fsync included), ${counts.total} room keys in the store`,
    },
  ];
}

export async function run(): Promise<BenchResult[]> {
  return [
    await decryptBench(),
    ...(await saveBench(1_000, "crypto.save_ms_1k")),
    ...(await saveBench(10_000, "crypto.save_ms_10k")),
  ];
}
