// Engine logic that needs no homeserver: input validation, late-key retries, Megolm rotation and
// share-before-encrypt. A second in-process OlmMachine plays the other side. The homeserver
// interactions themselves are covered by tests/integration/crypto.test.ts against real Synapse.
import { mkdtempSync as mkdtempRaw, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { DeviceId, EncryptionSettings, OlmMachine, RoomId, UserId } from "@matrix-org/matrix-sdk-crypto-wasm";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";

import { CryptoEngine, CryptoEngineClosedError } from "../../../src/matrix/crypto/engine.ts";
import type { DecryptedEvent, KeySharingPolicy } from "../../../src/matrix/crypto/engine.ts";
import type { Logger, RequestFn } from "../../../src/matrix/crypto/types.ts";

const dirs: string[] = [];
function mkdtempSync(prefix: string): string {
  const d = mkdtempRaw(prefix);
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const BOT = "@bot:example.org";
const ROOM = "!room:example.org";

function recorder(): Logger & { lines: { level: string; obj: unknown; msg: string | undefined }[] } {
  const lines: { level: string; obj: unknown; msg: string | undefined }[] = [];
  const rec = (level: string) => (obj: unknown, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, debug: () => {}, info: rec("info"), warn: rec("warn"), error: rec("error") };
}

/**
 * No homeserver: the room's member list is answered, key uploads are acknowledged and key queries
 * find no devices (so crypto-wasm does not wait for them); everything else fails like an outage.
 */
function offline(members: string[]): RequestFn {
  return async (method, endpoint, _qs, body) => {
    if (method === "GET" && endpoint.endsWith("/members")) {
      return {
        chunk: members.map((m) => ({
          type: "m.room.member",
          state_key: m,
          sender: m,
          content: { membership: "join" },
        })),
      };
    }
    if (endpoint === "/_matrix/client/v3/keys/query") {
      // Every asked user, with no devices (crypto-wasm would otherwise wait for an answer).
      const asked = (body as { device_keys?: Record<string, unknown> } | undefined)?.device_keys ?? {};
      return { device_keys: Object.fromEntries(Object.keys(asked).map((u) => [u, {}])), failures: {} };
    }
    if (endpoint === "/_matrix/client/v3/keys/upload")
      return { one_time_key_counts: { signed_curve25519: 50 } };
    throw Object.assign(new Error("offline"), { statusCode: 502, errcode: "M_UNKNOWN" });
  };
}

const engines: CryptoEngine[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const e of engines.splice(0)) await e.close();
});

async function engine(opts: { keySharing?: KeySharingPolicy; logger?: Logger } = {}): Promise<CryptoEngine> {
  const e = await CryptoEngine.start({
    userId: BOT,
    deviceId: "BOTDEVICE",
    request: offline([BOT]),
    storeDir: mkdtempSync(path.join(tmpdir(), "tyr-engine-test-")),
    logger: opts.logger,
    keySharing: opts.keySharing ?? "all",
  });
  engines.push(e);
  return e;
}

/** Starts engines on one store directory, to test what survives a restart; the caller closes them. */
function restartableEngine(prefix: string): () => Promise<CryptoEngine> {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return () =>
    CryptoEngine.start({
      userId: BOT,
      deviceId: "BOTDEVICE",
      request: offline([BOT]),
      storeDir: dir,
      keySharing: "all",
    });
}

/** Another user's machine with an outbound Megolm session in ROOM. */
async function sender(): Promise<{
  machine: OlmMachine;
  encrypt(body: string, eventId: string): Promise<Record<string, unknown>>;
}> {
  const machine = await OlmMachine.initialize(new UserId("@alice:example.org"), new DeviceId("ALICE"));
  await machine.shareRoomKey(new RoomId(ROOM), [], new EncryptionSettings());
  return {
    machine,
    async encrypt(body, eventId) {
      const content = await machine.encryptRoomEvent(
        new RoomId(ROOM),
        "m.room.message",
        JSON.stringify({ msgtype: "m.text", body }),
      );
      return {
        type: "m.room.encrypted",
        event_id: eventId,
        sender: "@alice:example.org",
        origin_server_ts: Date.now(),
        content: JSON.parse(content),
      };
    },
  };
}

function encryptionState(roomId: string, content: Record<string, unknown>): Record<string, unknown> {
  return {
    rooms: {
      join: {
        [roomId]: {
          state: { events: [{ type: "m.room.encryption", state_key: "", sender: BOT, content }] },
          timeline: { events: [] },
        },
      },
    },
  };
}

describe("decrypt input validation", () => {
  it("never throws on malformed events", async () => {
    const e = await engine();
    const bad: unknown[] = [
      {},
      { type: "m.room.message", event_id: "$a", sender: "@a:b", content: {} },
      { type: "m.room.encrypted", event_id: "$a", sender: "@a:b" },
      {
        type: "m.room.encrypted",
        event_id: "$a",
        sender: "@a:b",
        content: { algorithm: "m.olm.v1.curve25519-aes-sha2" },
      },
      {
        type: "m.room.encrypted",
        event_id: 5,
        sender: "@a:b",
        content: { algorithm: "m.megolm.v1.aes-sha2" },
      },
    ];
    for (const ev of bad) {
      const r = await e.decrypt(ROOM, ev as never);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.code).toBe("malformed");
    }
    const badRoom = await e.decrypt("not a room id", {
      type: "m.room.encrypted",
      event_id: "$a",
      sender: "@a:b",
      content: { algorithm: "m.megolm.v1.aes-sha2" },
    });
    expect(badRoom.ok).toBe(false);
    // Garbage Megolm content from an unknown session is a decryption failure, not a crash.
    const garbage = await e.decrypt(ROOM, {
      type: "m.room.encrypted",
      event_id: "$g",
      sender: "@a:b",
      origin_server_ts: 1,
      content: {
        algorithm: "m.megolm.v1.aes-sha2",
        ciphertext: "AAAA",
        session_id: "nope",
        sender_key: "x",
        device_id: "D",
      },
    });
    expect(garbage.ok).toBe(false);
  });

  it("ignores malformed sync bodies", async () => {
    const e = await engine();
    for (const body of [
      null,
      5,
      "x",
      { to_device: { events: "x" } },
      { to_device: { events: [1, null, { type: 3 }] } },
      { device_lists: { changed: ["not a user", 7], left: {} } },
      { device_one_time_keys_count: { signed_curve25519: "many" } },
      {
        rooms: {
          join: {
            "!r:x": { state: { events: [{ type: "m.room.encryption", state_key: "", content: {} }] } },
          },
        },
      },
    ]) {
      await expect(e.receiveSync(body)).resolves.toBeDefined();
    }
    expect(await e.isRoomEncrypted("!r:x")).toBe(false);
  });
});

describe("one-time keys", () => {
  it("uploads new one-time keys when the server reports it has none left", async () => {
    const uploads: Record<string, unknown>[] = [];
    const base = offline([BOT]);
    const e = await CryptoEngine.start({
      userId: BOT,
      deviceId: "BOTDEVICE",
      request: async (method, endpoint, qs, body) => {
        if (endpoint === "/_matrix/client/v3/keys/upload") uploads.push(body as Record<string, unknown>);
        return base(method, endpoint, qs, body);
      },
      storeDir: mkdtempSync(path.join(tmpdir(), "tyr-engine-otk-")),
    });
    engines.push(e);
    expect(uploads).toHaveLength(1); // device keys and the first one-time keys
    const firstKeys = Object.keys((uploads[0]?.["one_time_keys"] as object | undefined) ?? {});
    expect(firstKeys.length).toBeGreaterThan(0);
    // The homeserver dropped (or handed out) every one-time key.
    await e.receiveSync({
      device_one_time_keys_count: { signed_curve25519: 0 },
      device_unused_fallback_key_types: [],
    });
    await e.settle();
    expect(uploads.length).toBeGreaterThan(1);
    const fresh = Object.keys((uploads[uploads.length - 1]?.["one_time_keys"] as object | undefined) ?? {});
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.some((k) => firstKeys.includes(k))).toBe(false);
  });
});

describe("late room keys", () => {
  it("queues undecryptable events, logs once, and delivers them when the key arrives", async () => {
    const log = recorder();
    const e = await engine({ logger: log });
    const alice = await sender();
    const late: DecryptedEvent[] = [];
    e.onLateDecryption((_room, ev) => void late.push(ev));

    const ev1 = await alice.encrypt("first", "$1");
    const ev2 = await alice.encrypt("second", "$2");
    const r1 = await e.decrypt(ROOM, ev1);
    const r2 = await e.decrypt(ROOM, ev2);
    expect(r1).toMatchObject({ ok: false, code: "MissingRoomKey", retrying: true });
    expect(r2).toMatchObject({ ok: false, code: "MissingRoomKey", retrying: true });
    expect(e.pendingDecryptions).toBe(2);
    const warnings = log.lines.filter((l) => l.level === "warn" && l.msg?.includes("cannot decrypt"));
    expect(warnings).toHaveLength(1); // same session: logged once

    const keys = await alice.machine.exportRoomKeys(() => true);
    await e.machine.importExportedRoomKeys(keys, () => {});
    await e.settle();
    expect(late.map((x) => x.content["body"]).sort()).toEqual(["first", "second"]);
    expect(late[0]).toMatchObject({ type: "m.room.message", sender: "@alice:example.org", room_id: ROOM });
    expect(e.pendingDecryptions).toBe(0);
    alice.machine.close();
  });

  it("refuses a replayed Megolm message under another event ID", async () => {
    const e = await engine();
    const alice = await sender();
    await e.machine.importExportedRoomKeys(await alice.machine.exportRoomKeys(() => true), () => {});
    const ev = await alice.encrypt("once", "$orig");
    const ok = await e.decrypt(ROOM, ev);
    expect(ok.ok).toBe(true);
    if (ok.ok) expect(ok.event.content["body"]).toBe("once");
    const replay = await e.decrypt(ROOM, { ...ev, event_id: "$replayed" });
    expect(replay).toMatchObject({ ok: false, code: "Replayed" });
    // The same event again (a sync replayed after a crash, a /messages fetch) is fine.
    expect((await e.decrypt(ROOM, ev)).ok).toBe(true);
    alice.machine.close();
  });
});

describe("replay protection", () => {
  it("remembers used Megolm messages across restarts", async () => {
    const start = restartableEngine("tyr-engine-replay-");
    const alice = await sender();
    const keys = await alice.machine.exportRoomKeys(() => true);
    const ev = await alice.encrypt("ban @spammer everywhere", "$cmd");
    const e1 = await start();
    await e1.machine.importExportedRoomKeys(keys, () => {});
    expect((await e1.decrypt(ROOM, ev)).ok).toBe(true);
    await e1.close();
    const e2 = await start();
    engines.push(e2);
    expect(await e2.decrypt(ROOM, { ...ev, event_id: "$cmd-again" })).toMatchObject({
      ok: false,
      code: "Replayed",
    });
    expect((await e2.decrypt(ROOM, ev)).ok).toBe(true);
    alice.machine.close();
  });

  it("reads the message index of Megolm ciphertexts", async () => {
    const { megolmMessageIndex } = await import("../../../src/matrix/crypto/replay.ts");
    const alice = await sender();
    // (A raw OlmMachine: its session expires after 100 messages, and encrypting past that aborts.)
    for (let i = 0; i < 90; i++) {
      const ev = await alice.encrypt(`m${i}`, `$${i}`);
      expect(megolmMessageIndex(String((ev["content"] as Record<string, unknown>)["ciphertext"]))).toBe(i);
    }
    expect(megolmMessageIndex("AAAA")).toBeUndefined();
    alice.machine.close();
  });
});

describe("encrypt", () => {
  async function sessionOf(content: Record<string, unknown>): Promise<string> {
    return String(content["session_id"]);
  }

  it("shares before every encrypt and rotates by message count and by time (ms → µs)", async () => {
    const e = await engine();
    await e.receiveSync(
      encryptionState(ROOM, {
        algorithm: "m.megolm.v1.aes-sha2",
        rotation_period_ms: 3_600_000,
        rotation_period_msgs: 3,
      }),
    );
    expect(await e.isRoomEncrypted(ROOM)).toBe(true);
    const sessions: string[] = [];
    for (let i = 0; i < 4; i++) {
      const out = await e.encrypt(ROOM, "m.room.message", { body: `m${i}` });
      expect(out.type).toBe("m.room.encrypted");
      sessions.push(await sessionOf(out.content));
    }
    expect(sessions[0]).toBe(sessions[1]);
    expect(sessions[1]).toBe(sessions[2]);
    expect(sessions[3]).not.toBe(sessions[2]); // 3 messages per session

    // 55 minutes later: crypto-wasm would expire the session at 60; Tyr rotates first, so
    // encryptRoomEvent never meets an expired session (which would abort the process).
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 55 * 60_000);
    const later = await e.encrypt(ROOM, "m.room.message", { body: "later" });
    expect(await sessionOf(later.content)).not.toBe(sessions[3]);
    vi.setSystemTime(Date.now() + 3 * 3_600_000);
    const muchLater = await e.encrypt(ROOM, "m.room.message", { body: "much later" });
    expect(await sessionOf(muchLater.content)).not.toBe(await sessionOf(later.content));
    vi.useRealTimers();

    // Our own device holds the inbound sessions: everything decrypts.
    const r = await e.decrypt(ROOM, {
      type: "m.room.encrypted",
      event_id: "$x",
      sender: BOT,
      origin_server_ts: Date.now(),
      content: muchLater.content,
    });
    expect(r.ok && r.event.content["body"]).toBe("much later");
  });

  it("starts a new session after a restart", async () => {
    const start = restartableEngine("tyr-engine-restart-");
    const e1 = await start();
    await e1.receiveSync(encryptionState(ROOM, { algorithm: "m.megolm.v1.aes-sha2" }));
    const a = await e1.encrypt(ROOM, "m.room.message", { body: "a" });
    await e1.close();
    const e2 = await start();
    engines.push(e2);
    expect(await e2.isRoomEncrypted(ROOM)).toBe(true); // remembered in the crypto store
    const b = await e2.encrypt(ROOM, "m.room.message", { body: "b" });
    expect(b.content["session_id"]).not.toBe(a.content["session_id"]);
  });

  it("throws instead of crashing when the key cannot be shared (no cross-signing yet)", async () => {
    const e = await engine({ keySharing: "cross-signed" });
    await e.receiveSync(encryptionState(ROOM, { algorithm: "m.megolm.v1.aes-sha2" }));
    await expect(e.encrypt(ROOM, "m.room.message", { body: "x" })).rejects.toThrow();
    // Still alive and usable.
    e.keySharing = "all";
    await expect(e.encrypt(ROOM, "m.room.message", { body: "y" })).resolves.toMatchObject({
      type: "m.room.encrypted",
    });
  });

  it("refuses unencrypted rooms and unsupported algorithms", async () => {
    const e = await engine();
    await expect(e.encrypt("!plain:example.org", "m.room.message", { body: "x" })).rejects.toThrow(
      /not encrypted/,
    );
    await e.receiveSync(encryptionState("!weird:example.org", { algorithm: "m.megolm.v2.aes-sha2" }));
    await expect(e.encrypt("!weird:example.org", "m.room.message", { body: "x" })).rejects.toThrow(
      /does not support/,
    );
  });
});

/**
 * Errors thrown outside any promise while `fn` runs (and a few turns after): crypto-wasm throws
 * those when an async method runs on a freed OlmMachine, and they fail the whole test run.
 */
async function uncaughtDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onError = (e: unknown): void => void seen.push(e);
  process.on("uncaughtException", onError);
  try {
    await fn();
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  } finally {
    process.off("uncaughtException", onError);
  }
  return seen;
}

/** How a call settled, or "pending" if it had not after a while. */
async function outcome(call: () => Promise<unknown>): Promise<unknown> {
  let p: Promise<unknown>;
  try {
    p = call().then(
      () => "ok",
      (e: unknown) => e,
    );
  } catch (e) {
    return e;
  }
  return Promise.race([p, new Promise((r) => setTimeout(() => r("pending"), 2000))]);
}

describe("close", () => {
  it("a call after close is an error its caller gets, not an uncaught wasm exception", async () => {
    const e = await engine();
    await e.close();
    const results: unknown[] = [];
    const uncaught = await uncaughtDuring(async () => {
      // Not known in memory: asks the crypto store through the OlmMachine.
      results.push(await outcome(() => e.isRoomEncrypted("!unknown:example.org")));
      results.push(await outcome(() => e.machine.getRoomSettings(new RoomId(ROOM))));
    });
    expect(uncaught).toEqual([]);
    expect(results).toEqual([expect.any(CryptoEngineClosedError), expect.any(CryptoEngineClosedError)]);
  });

  it("calls made while closing finish before the machine is freed; later ones are refused", async () => {
    const e = await engine();
    await e.receiveSync(encryptionState(ROOM, { algorithm: "m.megolm.v1.aes-sha2" }));
    const results: Promise<unknown>[] = [];
    const uncaught = await uncaughtDuring(async () => {
      let closed = false;
      const closing = e.close().then(() => (closed = true));
      // A sender still at work during shutdown: one room check per turn of the event loop.
      while (!closed) {
        results.push(outcome(() => e.isRoomEncrypted("!unknown:example.org")));
        await new Promise((r) => setImmediate(r));
      }
      await closing;
      results.push(outcome(() => e.isRoomEncrypted("!unknown:example.org")));
    });
    expect(uncaught).toEqual([]);
    const settled = await Promise.all(results);
    // Each answered (not encrypted) or refused; none left hanging by a freed machine.
    for (const r of settled) expect(r === "ok" || r instanceof CryptoEngineClosedError).toBe(true);
    expect(settled.at(-1)).toBeInstanceOf(CryptoEngineClosedError);
  });
});
