// Helpers for the end-to-end-encryption integration tests: a Tyr-side bot (the lead's TyrClient +
// SyncLoop driving our CryptoEngine, exactly the seam production uses) and a moderator on
// matrix-js-sdk with its Rust crypto (in-memory) — the independent implementation Element runs.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import * as sdk from "matrix-js-sdk";
import { logger as jsSdkLogger } from "matrix-js-sdk/lib/logger.js";
import type { MatrixClient as JsClient, MatrixEvent } from "matrix-js-sdk";

import { TyrClient } from "../../src/matrix/client.ts";
import { startEncryption } from "../../src/matrix/crypto/bootstrap.ts";
import type { SecurityOptions, SecurityResult } from "../../src/matrix/crypto/bootstrap.ts";
import { CryptoEngine } from "../../src/matrix/crypto/engine.ts";
import type {
  DecryptedEvent,
  DecryptionInfo,
  DecryptResult,
  KeySharingPolicy,
} from "../../src/matrix/crypto/engine.ts";
import type { Logger, RawEvent } from "../../src/matrix/crypto/types.ts";
import { SyncLoop } from "../../src/matrix/sync.ts";
import type { SyncResponse } from "../../src/matrix/syncTypes.ts";
import type { Synapse } from "../harness/synapse.ts";

export interface TestUser {
  userId: string;
  accessToken: string;
  deviceId: string;
  password: string;
}

/** Accounts on the test Synapse: `register` a new user; `login` opens a second session (device) of one. */
export function accounts(synapse: Synapse): {
  register(name: string): Promise<TestUser>;
  login(user: TestUser): Promise<TestUser>;
} {
  return {
    async register(name) {
      const u = await synapse.register(name);
      return { userId: u.userId, accessToken: u.accessToken, deviceId: u.deviceId, password: u.password };
    },
    async login(user) {
      const res = await fetch(`${synapse.url}/_matrix/client/v3/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          type: "m.login.password",
          identifier: { type: "m.id.user", user: user.userId },
          password: user.password,
        }),
      });
      const body = (await res.json()) as { access_token: string; device_id: string };
      return { ...user, accessToken: body.access_token, deviceId: body.device_id };
    },
  };
}

export const quietLogger: Logger & {
  child(): Logger;
  level: string;
  fatal(): void;
  trace(): void;
  silent(): void;
} = {
  level: "silent",
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  fatal: () => {},
  trace: () => {},
  silent: () => {},
  child: () => quietLogger,
};

/** A logger that records warn/error lines (tests assert on "logged once"). */
export function recordingLogger(): Logger & { lines: { level: string; obj: unknown; msg?: string }[] } {
  const lines: { level: string; obj: unknown; msg?: string }[] = [];
  const rec =
    (level: string) =>
    (obj: unknown, msg?: string): void => {
      if (process.env["TYR_TEST_LOG"])
        console.log(level, typeof obj === "string" ? obj : JSON.stringify(obj), msg ?? "");
      lines.push({ level, obj, msg });
    };
  const debug = (obj: unknown, msg?: string): void => {
    if (process.env["TYR_TEST_LOG"] === "debug") console.log("debug", JSON.stringify(obj), msg ?? "");
  };
  return { lines, debug, info: rec("info"), warn: rec("warn"), error: rec("error") };
}

const tempDirs: string[] = [];

export function tempDir(prefix: string): string {
  const d = mkdtempSync(path.join(tmpdir(), `tyr-${prefix}-`));
  tempDirs.push(d);
  return d;
}

/** Remove the directories made by tempDir (crypto stores, keys) — call from afterAll. */
export function removeTempDirs(): void {
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface BotMessage {
  roomId: string;
  event: DecryptedEvent | RawEvent;
  info?: DecryptionInfo;
  late?: boolean;
}

/** A minimal Tyr: client + sync loop + crypto engine, following the documented call sequence. */
export class TestBot {
  readonly client: TyrClient;
  readonly engine: CryptoEngine;
  readonly user: TestUser;
  readonly messages: BotMessage[] = [];
  readonly failures: { roomId: string; eventId: unknown; result: DecryptResult }[] = [];
  readonly storeDir: string;
  private readonly loop: SyncLoop;
  private running: Promise<void> | undefined;
  private token: string | undefined;
  syncs = 0;

  private constructor(user: TestUser, client: TyrClient, engine: CryptoEngine, storeDir: string) {
    this.user = user;
    this.client = client;
    this.engine = engine;
    this.storeDir = storeDir;
    engine.onLateDecryption((roomId, event, info) => {
      this.messages.push({ roomId, event, info, late: true });
    });
    this.loop = new SyncLoop(client, {
      pollTimeoutMs: 1000,
      loadToken: () => this.token,
      saveToken: (t) => {
        this.token = t;
      },
      onBatch: (body) => this.onBatch(body),
      log: quietLogger as never,
    });
  }

  static async start(
    baseUrl: string,
    user: TestUser,
    opts: {
      storeDir?: string;
      logger?: Logger;
      keySharing?: KeySharingPolicy;
      security?: SecurityOptions | false;
    } = {},
  ): Promise<TestBot & { security?: SecurityResult }> {
    const client = new TyrClient(baseUrl, user.accessToken);
    const storeDir = opts.storeDir ?? tempDir("bot-crypto");
    const engineOpts = {
      userId: user.userId,
      deviceId: user.deviceId,
      request: (m: string, e: string, q?: Record<string, unknown> | null, b?: unknown) =>
        client.doRequest(m, e, q ?? null, b ?? null),
      storeDir,
      logger: opts.logger ?? quietLogger,
      keySharing: opts.keySharing ?? "cross-signed",
    } as const;
    // The same start as `tyr run` (startEncryption), unless the test sets up security itself.
    let bot: TestBot & { security?: SecurityResult };
    if (opts.security === false) {
      bot = new TestBot(user, client, await CryptoEngine.start(engineOpts), storeDir);
    } else {
      const started = await startEncryption(engineOpts, {
        password: user.password,
        ...(opts.security ?? {}),
      });
      bot = new TestBot(user, client, started.engine, storeDir);
      bot.security = started.security;
    }
    bot.running = bot.loop.run().catch(() => undefined);
    return bot;
  }

  private async onBatch(body: SyncResponse): Promise<void> {
    const b = body as unknown as Record<string, unknown>;
    await this.engine.receiveSync(b);
    const rooms = (b["rooms"] as Record<string, unknown> | undefined) ?? {};
    const join = (rooms["join"] as Record<string, { timeline?: { events?: RawEvent[] } }> | undefined) ?? {};
    for (const [roomId, room] of Object.entries(join)) {
      for (const ev of room.timeline?.events ?? []) {
        if (ev.type === "m.room.encrypted") {
          const r = await this.engine.decrypt(roomId, ev);
          if (r.ok) this.messages.push({ roomId, event: r.event, info: r.info });
          else this.failures.push({ roomId, eventId: ev.event_id, result: r });
        } else if (typeof ev.state_key !== "string") {
          this.messages.push({ roomId, event: ev });
        }
      }
    }
    await this.engine.persist();
    this.syncs += 1;
  }

  async join(roomId: string): Promise<void> {
    await this.client.doRequest("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, null, {});
  }

  /** Send (encrypting when the room is encrypted). */
  async send(roomId: string, content: Record<string, unknown>, type = "m.room.message"): Promise<string> {
    let t = type;
    let c = content;
    if (await this.engine.isRoomEncrypted(roomId)) {
      const enc = await this.engine.encrypt(roomId, type, content);
      t = enc.type;
      c = enc.content;
    }
    const txn = `t${Date.now()}${Math.random().toString(36).slice(2)}`;
    const r = (await this.client.doRequest(
      "PUT",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/${encodeURIComponent(t)}/${txn}`,
      null,
      c,
    )) as { event_id: string };
    return r.event_id;
  }

  /** Wait for a message (decrypted or plain) whose body matches. */
  async waitForText(roomId: string, text: string, timeoutMs = 30_000): Promise<BotMessage> {
    return waitFor(
      `bot to receive "${text}"`,
      () =>
        this.messages.find(
          (m) =>
            m.roomId === roomId &&
            (m.event.content as Record<string, unknown> | undefined)?.["body"] === text,
        ),
      timeoutMs,
    );
  }

  /** Wait until the sync loop ran `n` more batches. */
  async waitSyncs(n = 2): Promise<void> {
    const target = this.syncs + n;
    await waitFor("bot syncs", () => this.syncs >= target || undefined, 30_000);
  }

  async stop(): Promise<void> {
    this.loop.stop();
    await this.running;
    await this.engine.close();
  }
}

// matrix-js-sdk logs through a global loglevel logger (children copy its method factory): keep
// the test output readable unless TYR_TEST_LOG is set.
if (!process.env["TYR_TEST_LOG"]) {
  const root = jsSdkLogger as unknown as { methodFactory: unknown; rebuild(): void };
  root.methodFactory = () => () => {};
  root.rebuild();
}

const silentJsLogger = {
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  getChild: () => silentJsLogger,
};

/** A moderator on matrix-js-sdk with Rust crypto, cross-signing bootstrapped. */
export async function startModerator(
  baseUrl: string,
  user: TestUser,
  opts: { crossSign?: boolean; cryptoCallbacks?: sdk.ICreateClientOpts["cryptoCallbacks"] } = {},
): Promise<JsClient> {
  const client = sdk.createClient({
    baseUrl,
    accessToken: user.accessToken,
    userId: user.userId,
    deviceId: user.deviceId,
    logger: silentJsLogger as never,
    ...(opts.cryptoCallbacks ? { cryptoCallbacks: opts.cryptoCallbacks } : {}),
  });
  await client.initRustCrypto({ useIndexedDB: false });
  await client.startClient({ initialSyncLimit: 20 });
  await waitFor("js-sdk initial sync", () => (client.isInitialSyncComplete() ? true : undefined));
  if (opts.crossSign ?? true) {
    await client.getCrypto()!.bootstrapCrossSigning({
      authUploadDeviceSigningKeys: async (makeRequest) => {
        await makeRequest({
          type: "m.login.password",
          identifier: { type: "m.id.user", user: user.userId },
          password: user.password,
        } as never);
      },
    });
  }
  return client;
}

export async function createEncryptedRoom(client: JsClient, invite: string[]): Promise<string> {
  const { room_id } = await client.createRoom({
    invite,
    initial_state: [
      { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
    ],
  });
  return room_id;
}

/** The decrypted events the js-sdk client has in a room's live timeline. */
export function jsTimeline(client: JsClient, roomId: string): MatrixEvent[] {
  return client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? [];
}

export async function waitForJsText(
  client: JsClient,
  roomId: string,
  text: string,
  timeoutMs = 30_000,
): Promise<MatrixEvent> {
  return waitFor(
    `js-sdk client to decrypt "${text}"`,
    () =>
      jsTimeline(client, roomId).find(
        (e) => e.getType() === "m.room.message" && e.getContent()["body"] === text,
      ),
    timeoutMs,
  );
}

export async function waitForJoin(client: JsClient, roomId: string, userId: string): Promise<void> {
  await waitFor(`${userId} to join ${roomId}`, () =>
    client.getRoom(roomId)?.getMember(userId)?.membership === "join" ? true : undefined,
  );
}

/** The body of a message (decrypted if it was encrypted). */
export const bodyOf = (e: MatrixEvent): string => String(e.getContent()["body"] ?? "");

/** The event a message replies to (`m.in_reply_to`, kept in the clear in encrypted events). */
export function inReplyTo(e: MatrixEvent): string | undefined {
  const rel = (e.getContent()["m.relates_to"] ?? e.getWireContent()["m.relates_to"]) as
    { "m.in_reply_to"?: { event_id?: string } } | undefined;
  return rel?.["m.in_reply_to"]?.event_id;
}

/** A message from `sender` in the room that `client` decrypted and `pred` accepts. */
export function waitForJsMessage(
  client: JsClient,
  roomId: string,
  sender: string,
  what: string,
  pred: (e: MatrixEvent) => boolean,
  timeoutMs = 30_000,
): Promise<MatrixEvent> {
  return waitFor(
    what,
    () =>
      jsTimeline(client, roomId).find(
        (e) =>
          e.getSender() === sender && e.getType() === "m.room.message" && !e.isDecryptionFailure() && pred(e),
      ),
    timeoutMs,
  );
}

/** Types of the events `sender` sent into the room that should be encrypted but are not (newest first). */
export async function unencryptedFrom(
  baseUrl: string,
  reader: TestUser,
  roomId: string,
  sender: string,
): Promise<{ sent: number; plaintext: string[] }> {
  const res = await fetch(
    `${baseUrl}/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=500`,
    { headers: { authorization: `Bearer ${reader.accessToken}` } },
  );
  const { chunk } = (await res.json()) as { chunk: { type: string; sender: string; state_key?: string }[] };
  // Redactions cannot be encrypted (the server must read them); everything else can.
  const mine = chunk.filter(
    (e) => e.sender === sender && e.state_key === undefined && e.type !== "m.room.redaction",
  );
  return {
    sent: mine.length,
    plaintext: mine.filter((e) => e.type !== "m.room.encrypted").map((e) => e.type),
  };
}

/** Wait until the js-sdk client knows (has downloaded the keys of) another user's device. */
export async function waitForKnownDevice(client: JsClient, userId: string, deviceId: string): Promise<void> {
  await waitFor(
    `the client to know ${userId}'s device ${deviceId}`,
    async () =>
      (await client.getCrypto()!.getUserDeviceInfo([userId], true)).get(userId)?.has(deviceId) || undefined,
  );
}
