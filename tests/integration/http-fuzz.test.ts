// Fuzzing Tyr's HTTP listener at the wire against the running bot (antispam backend, policy server,
// /metrics, /healthz, /readyz and the dashboard on one listener) with a real Synapse that loads synapse-http-antispam.
// The routes come from the HttpService itself, so a feature added later (the dashboard) is fuzzed
// as soon as it registers. Seeded (FUZZ_SEED=… replays or explores): wrong methods, auth headers
// (missing, wrong, overlong, duplicated, X-Matrix garbage and real signatures), bodies that are not
// JSON or nest deeply or exceed the limit, wrong content types, NUL/unicode/traversal in paths and
// queries, broken framing (Content-Length + Transfer-Encoding, short/long/duplicate lengths), slow
// and abandoned requests, more connections than allowed. No answer may be a 5xx (except 503 from
// /readyz), no request may hang, and afterwards the bot still works: /healthz, a real antispam
// callback from Synapse, a command in the management room; no secret in any answer or log line.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { DEV_DIR, freePort, type Synapse } from "../harness/synapse.ts";
import { federatedHomeserver } from "../harness/federation.ts";
import { rawRequest, type RawResponse } from "../harness/rawHttp.ts";
import { TestUser, eventually } from "../harness/user.ts";
import { runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";
import type { HttpService } from "../../src/http/service.ts";
import type { Route } from "../../src/http/types.ts";
import type { AntispamFeature } from "../../src/antispam/feature.ts";
import type { PolicyServerFeature } from "../../src/policyserver/feature.ts";
import { parseSigningKeyFile } from "../../src/federation/keyStore.ts";
import { buildXMatrix } from "../../src/federation/xMatrix.ts";
import type { SigningKey } from "../../src/federation/ed25519.ts";

/** Deterministic by default so a failure can be replayed; FUZZ_SEED=… explores other inputs. */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_204);
const CASES = Number(process.env.FUZZ_CASES ?? 500);
const root = join(DEV_DIR, `http-fuzz-${process.pid}`);
/** Small limits so slow requests and the connection cap are reached quickly. */
const HTTP = {
  maxBodyBytes: 65_536,
  requestTimeoutSeconds: 2,
  headersTimeoutSeconds: 1,
  keepAliveTimeoutSeconds: 1,
  maxConnections: 48,
};
/** How long any request may take to be answered or cut: the request timeout plus Node's check interval and slack. */
const ANSWER_WITHIN_MS = HTTP.requestTimeoutSeconds * 1000 + 4_000;

/** One request as bytes on the wire, and the route it was made from (for the failure message). */
interface Case {
  readonly route: string;
  readonly parts: Buffer[];
  readonly shape: string;
}

function describeCase(c: Case, r: RawResponse): string {
  return `${c.route} ${c.shape}: ${r.status} after ${r.ms} ms ${JSON.stringify(r.raw.slice(0, 300))}`;
}

/** Acceptable answer to any request: never a 5xx except 503 from /readyz. */
function acceptable(status: number, path: string): boolean {
  if (status >= 500) return status === 503 && path === "/readyz";
  return status >= 200;
}

describe("HTTP listener fuzz against the running bot", () => {
  let hs: Synapse;
  let bot: RunningBot;
  let tyr: TestUser;
  let mod: TestUser;
  let alice: TestUser;
  let mgmt: string;
  let room: string;
  let port: number;
  let routes: Route[];
  let hsKey: SigningKey;
  const antispamSecret = randomBytes(24).toString("hex");
  const metricsToken = randomBytes(24).toString("hex");
  let secrets: string[] = [];
  const answers: string[] = [];
  const rejections: unknown[] = [];
  const onRejection = (e: unknown) => rejections.push(e);
  /** When the bot was up and the fuzzing began (the wall time is logged, never asserted). */
  let fuzzStarted = 0;

  const http = () => bot.bot.feature("http") as HttpService;
  const openConnections = () =>
    http()
      .addresses()
      .reduce((n, a) => n + a.connections, 0);
  const antispam = () => bot.bot.feature("antispam") as AntispamFeature;
  const send = async (parts: (string | Buffer)[], opts: Parameters<typeof rawRequest>[2]) => {
    const r = await rawRequest(port, parts, opts);
    answers.push(r.raw);
    return r;
  };

  beforeAll(async () => {
    process.on("unhandledRejection", onRejection);
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    port = await freePort();
    hs = await federatedHomeserver(root, "hs1.localhost", {
      antispam: {
        baseUrl: `http://127.0.0.1:${port}/_tyr/antispam`,
        secret: antispamSecret,
        enabledCallbacks: ["check_event_for_spam"],
        // Until Tyr answers (the cast is set up first), messages go through.
        failOpen: { check_event_for_spam: true },
      },
    });
    const user = (name: string) => TestUser.register(hs, name);
    [tyr, mod, alice] = await Promise.all([user("tyr"), user("mod"), user("alice")]);
    mgmt = await mod.createRoom({ invite: [tyr.userId] });
    room = await mod.createRoom({
      preset: "public_chat",
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 100 } },
    });
    await tyr.join(room);
    await alice.join(room);
    await watchAndProtect(tyr, { watchedLists: [], protectedRooms: [room] });
    const secretFile = join(root, "antispam-secret");
    writeFileSync(secretFile, antispamSecret, { mode: 0o600 });
    const tokenFile = join(root, "metrics-token");
    writeFileSync(tokenFile, metricsToken, { mode: 0o600 });
    const dataPath = join(root, "tyr-data");
    bot = await runBot(
      testConfig({
        url: hs.url,
        accessToken: tyr.accessToken,
        managementRoom: mgmt,
        dataPath,
        extra: {
          encryption: { enabled: false },
          http: { port, ...HTTP },
          antispam: { enabled: true, secretFile },
          policyServer: { enabled: true, testOnlyInsecureKeyFetch: true },
          metrics: { enabled: true, auth: "bearer", tokenFile },
          dashboard: { enabled: true },
        },
      }),
    );
    await eventually(
      async () => (bot.bot.feature("policyserver") as PolicyServerFeature).ready,
      30_000,
      "the policy server is ready",
    );
    await eventually(async () => antispam().ready, 30_000, "the antispam backend is ready");
    // Every feature shares the one listener here (no http.listeners), so one port reaches them all.
    const placed = http().routes();
    expect(placed.every((r) => r.port === port)).toBe(true);
    routes = placed.map((r) => r.route);
    const policyKey = readFileSync(join(dataPath, "policy-server.key"), "utf8")
      .trim()
      .split(/\s+/)[2] as string;
    secrets = [antispamSecret, metricsToken, tyr.accessToken, policyKey];
    const parsed = parseSigningKeyFile(readFileSync(join(hs.dir, "signing.key"), "utf8"));
    if (!parsed.ok) throw new Error(parsed.reason);
    hsKey = parsed.key;
    fuzzStarted = Date.now();
  }, 300_000);

  afterAll(async () => {
    if (fuzzStarted > 0) console.log(`http-fuzz: every test after setup took ${Date.now() - fuzzStarted} ms`);
    process.off("unhandledRejection", onRejection);
    await bot?.stop();
    await hs?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it("fuzzes every registered route (antispam, policy server, metrics, dashboard) and more", async () => {
    const features = new Set(routes.map((r) => r.feature));
    expect([...features].sort()).toEqual(
      expect.arrayContaining(["antispam", "dashboard", "metrics", "policyserver"]),
    );
    expect(routes.length).toBeGreaterThanOrEqual(8);
  });

  it(`seeded fuzz (${CASES} requests, twice): every answer is a non-5xx within the time limit, and the heap does not grow`, async () => {
    const cases = fc.sample(caseArbitrary(), { seed: SEED, numRuns: CASES });
    const failures: string[] = [];
    const tally = new Map<string, number>();
    const round = () =>
      pool(cases, 12, async (c) => {
        const r = await send(c.parts, { timeoutMs: ANSWER_WITHIN_MS });
        const key = `${c.route} ${r.status}`;
        tally.set(key, (tally.get(key) ?? 0) + 1);
        if (r.status === 0 && !r.closedByServer) failures.push(`no answer: ${describeCase(c, r)}`);
        else if (r.status !== 0 && !acceptable(r.status, c.route)) failures.push(describeCase(c, r));
      });
    const started = Date.now();
    await round();
    const ms = Date.now() - started;
    const heapAfterFirst = settledHeap();
    await round();
    const heapAfterSecond = settledHeap();
    console.log(
      `http-fuzz: ${CASES} requests (seed ${SEED}) in ${ms} ms; heap ${mb(heapAfterFirst)} → ${mb(heapAfterSecond)} MB`,
      Object.fromEntries([...tally].sort()),
    );
    expect(failures).toEqual([]);
    // The generator reaches the handlers, not only the refusals in front of them.
    expect([...tally].filter(([k]) => / 200$/.test(k)).length).toBeGreaterThanOrEqual(3);
    // The same requests again keep nothing: what one round retains, a long attack multiplies.
    expect(heapAfterSecond - heapAfterFirst).toBeLessThan(16 * 1024 * 1024);
  }, 120_000);

  /** The head of a well-formed request to `r` with the auth it wants (bodies of the shapes below). */
  function head(r: Route, extra: string[], uri = r.path): string {
    const auth =
      r.feature === "antispam"
        ? [`Authorization: Bearer ${antispamSecret}`]
        : r.feature === "metrics"
          ? [`Authorization: Bearer ${metricsToken}`]
          : [];
    return [
      `${r.method} ${uri} HTTP/1.1`,
      "Host: 127.0.0.1",
      // The type the route takes, so the size limit (not the type check) is what answers.
      `Content-Type: ${r.body === "form" ? "application/x-www-form-urlencoded" : "application/json"}`,
      ...auth,
      ...extra,
    ]
      .map((l) => `${l}\r\n`)
      .join("")
      .concat("\r\n");
  }

  it("refuses a streamed body over the limit while it arrives, on every route", async () => {
    const chunk = Buffer.alloc(16 * 1024, "a");
    const body = Array.from({ length: 512 }, () =>
      Buffer.concat([Buffer.from("4000\r\n"), chunk, Buffer.from("\r\n")]),
    );
    const failures: string[] = [];
    await pool(routes, 6, async (r) => {
      // 8 MiB offered, 16 KiB every 2 ms: the answer must come long before the sender is done.
      const res = await send([head(r, ["Transfer-Encoding: chunked"]), ...body], {
        timeoutMs: ANSWER_WITHIN_MS,
        gapMs: 2,
        untilClosed: true,
      });
      const limit = r.maxBodyBytes ?? HTTP.maxBodyBytes;
      if (res.status !== 413 || !res.closedByServer || res.writtenBeforeAnswer > limit + 1024 * 1024)
        failures.push(
          `${r.method} ${r.path}: ${res.status} after ${res.writtenBeforeAnswer} bytes, closed ${res.closedByServer}`,
        );
    });
    expect(failures).toEqual([]);
  }, 60_000);

  it("refuses a declared Content-Length over the limit without waiting for the body", async () => {
    const failures: string[] = [];
    await pool(routes, 6, async (r) => {
      const res = await send([head(r, ["Content-Length: 104857600"])], {
        timeoutMs: ANSWER_WITHIN_MS,
        untilClosed: true,
      });
      // Well under the request timeout: the listener did not wait for 100 MiB that never came.
      if (res.status !== 413 || res.ms >= HTTP.requestTimeoutSeconds * 1000)
        failures.push(`${r.method} ${r.path}: ${res.status} after ${res.ms} ms`);
    });
    expect(failures).toEqual([]);
  });

  it("never reads a smuggled second request out of a body (Content-Length with Transfer-Encoding)", async () => {
    const smuggled = "0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    const shapes = [
      [`Content-Length: ${smuggled.length}`, "Transfer-Encoding: chunked"],
      ["Transfer-Encoding: chunked", `Content-Length: ${smuggled.length}`],
      ["Transfer-Encoding: chunked", "Transfer-Encoding: identity", `Content-Length: ${smuggled.length}`],
      [`Content-Length: ${smuggled.length}`, "Transfer-Encoding:\r\n chunked"],
      [`Content-Length: 0`, `Content-Length: ${smuggled.length}`],
    ];
    for (const r of routes.slice(0, 3))
      for (const shape of shapes) {
        const res = await send([head(r, shape), smuggled], {
          timeoutMs: ANSWER_WITHIN_MS,
          untilClosed: true,
        });
        const statuses = [...res.raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
        expect(statuses, `${r.path} ${shape.join(" | ")}`).toEqual([400]);
      }
  });

  it("cuts slow and silent connections within the configured timeouts", async () => {
    const r = routes.find((x) => x.method === "POST") as Route;
    const cases: [string, (string | Buffer)[]][] = [
      ["silent connection", []],
      ["headers a byte at a time", [...head(r, []).slice(0, -2)]],
      [
        "body a byte at a time, then abandoned",
        [head(r, ["Content-Length: 1000"]), ...'{"a":"'.concat("x".repeat(200))],
      ],
      ["idle keep-alive after an answer", ["GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"]],
    ];
    const results = await Promise.all(
      cases.map(async ([what, parts]) => ({
        what,
        res: await send(parts, { timeoutMs: ANSWER_WITHIN_MS, gapMs: 40, untilClosed: true }),
      })),
    );
    for (const { what, res } of results) {
      expect(res.closedByServer, `${what} still open after ${res.ms} ms`).toBe(true);
      expect(res.ms, what).toBeLessThan(ANSWER_WITHIN_MS);
      expect(res.status === 0 || res.status === 408 || res.status === 200, `${what}: ${res.status}`).toBe(
        true,
      );
    }
  }, 30_000);

  it("cuts a client that never reads its answers (pipelined /metrics, socket paused)", async () => {
    const baseline = openConnections();
    const sock = connect(port, "127.0.0.1");
    sock.on("error", () => {});
    sock.pause();
    await new Promise<void>((r) => sock.once("connect", () => r()));
    sock.write(
      `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${metricsToken}\r\n\r\n`.repeat(300),
    );
    await eventually(async () => openConnections() > baseline, 5_000, "the connection to be open");
    const started = Date.now();
    await eventually(
      async () => openConnections() <= baseline,
      4 * ANSWER_WITHIN_MS,
      "the stuck connection to be cut",
    );
    sock.destroy();
    expect(Date.now() - started).toBeLessThan(4 * ANSWER_WITHIN_MS);
  }, 60_000);

  it("drops connections beyond maxConnections and serves again once they are gone", async () => {
    const extra = 20;
    const held = await Promise.all(
      Array.from({ length: HTTP.maxConnections + extra }, () =>
        send([], { timeoutMs: ANSWER_WITHIN_MS, untilClosed: true }),
      ),
    );
    // The ones over the cap were cut at once; the rest by the headers timeout; none stayed.
    expect(held.filter((h) => h.ms < 500).length).toBeGreaterThanOrEqual(extra);
    expect(held.every((h) => h.closedByServer)).toBe(true);
    const health = await send(["GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"], {
      timeoutMs: ANSWER_WITHIN_MS,
    });
    expect(health.status).toBe(200);
  }, 30_000);

  it("afterwards: healthy, connections drained, a real antispam callback and a command still answered, no secret anywhere", async () => {
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await eventually(
      async () =>
        http()
          .addresses()
          .every((a) => a.connections <= 1),
      ANSWER_WITHIN_MS,
      "the listener's connections to drain",
    );
    // Synapse calls check_event_for_spam for alice's message, and Tyr answers it.
    const calls = () => antispam().handler.stats.calls.get("check_event_for_spam") ?? 0;
    const before = calls();
    await alice.sendText(room, "still here after the fuzz");
    await eventually(async () => calls() > before, 30_000, "Synapse's antispam call answered by Tyr");
    await mod.catchUp();
    const id = await mod.sendText(mgmt, "!tyr status");
    await mod.waitForReply(mgmt, tyr.userId, id, "the reply to status after the fuzz");
    // The bot's sync loop is still running.
    const settled = await Promise.race([
      bot.done.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 100)),
    ]);
    expect(settled).toBe(false);
    expect(rejections).toEqual([]);
    const logText = JSON.stringify(bot.logs);
    // No path, however it climbs, reads a file off the disk.
    expect(answers.some((a) => a.includes("root:x:0:0"))).toBe(false);
    for (const s of secrets) {
      expect(
        answers.some((a) => a.includes(s)),
        "a secret in an HTTP answer",
      ).toBe(false);
      expect(logText.includes(s), "a secret in the log").toBe(false);
    }
    // Every refusal has its reason in the log, rate-limited: a flood of bad requests is a handful of lines.
    const refusalLines = bot.logs.filter((l) =>
      /^HTTPS? (request|connection) refused/.test(String(l["msg"])),
    );
    console.log(`http-fuzz: ${answers.length} requests, ${refusalLines.length} refusal log lines`);
    expect(refusalLines.length).toBeGreaterThan(0);
    expect(refusalLines.length).toBeLessThan(answers.length / 4);
    // Nothing went wrong inside: no handler failure or listener error was logged.
    const errors = bot.logs
      .filter((l) => Number(l["level"]) >= 50)
      .map((l) => JSON.stringify(l).slice(0, 600));
    expect(errors).toEqual([]);
  }, 60_000);

  // ---- the request generator ------------------------------------------------------------------

  function caseArbitrary(): fc.Arbitrary<Case> {
    const routeArb = fc.constantFrom(...routes);
    const method = (r: Route) =>
      fc.oneof(
        { weight: 8, arbitrary: fc.constant(r.method) },
        fc.constantFrom(
          "GET",
          "POST",
          "PUT",
          "DELETE",
          "PATCH",
          "HEAD",
          "OPTIONS",
          "TRACE",
          "get",
          "P\u00d8ST",
          "X".repeat(300),
        ),
      );
    const path = (r: Route) =>
      fc.oneof(
        { weight: 10, arbitrary: fc.constant(r.path) },
        fc.constantFrom(
          `${r.path}/`,
          `${r.path}/x`,
          `${r.path}/../../../metrics`,
          `${r.path}/../../../../../../../../etc/passwd`,
          `${r.path}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd`,
          `${r.path}/..%5c..%5c..%5c..%5cetc%5cpasswd`,
          `${r.path}/..%2f..%2fmetrics`,
          `/%2e%2e/%2e%2e${r.path}`,
          r.path.toUpperCase(),
          r.path.replaceAll("/", "//"),
          `${r.path}%00`,
          `${r.path}\u0000`,
          `${r.path}\u00e9`,
          `${r.path}%C3%A9%ZZ`,
          `/${"a".repeat(10_000)}`,
          "*",
          `http://evil.example${r.path}`,
          "",
        ),
        fc.string({ unit: "grapheme", maxLength: 40 }).map((s) => `${r.path}${s}`),
      );
    const query = fc.oneof(
      { weight: 8, arbitrary: fc.constant("") },
      fc.constantFrom("?a=b", "?%ZZ=%", "?x=\u00e9\u0000", `?${"a=1&".repeat(2_000)}`, "?access_token=x"),
      fc.string({ unit: "binary", maxLength: 30 }).map((s) => `?${encodeURIComponent(s)}`),
    );
    const contentType = fc.oneof(
      { weight: 8, arbitrary: fc.constant("application/json") },
      fc.constantFrom(
        undefined,
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json\u0000",
        "multipart/form-data; boundary=x",
      ),
      fc.string({ maxLength: 40 }),
    );
    // Event-shaped bodies reach the decisions behind the parsers: a sign request is the event
    // itself, check_event_for_spam wraps it in {event}.
    const deep = (d: number, open: string, close: string) => open.repeat(d) + close.repeat(d);
    /** Mostly `valid`, sometimes anything: deep enough to pass the parsers, varied enough to fuzz them. */
    const mostly = <T>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<unknown>) =>
      fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: other });
    const event = fc.record(
      {
        event_id: mostly(
          fc.constant("$fuzz"),
          fc.string({ maxLength: 20 }).map((x) => `$${x}`),
        ),
        type: mostly(fc.constantFrom("m.room.message", "m.room.member", "m.reaction"), fc.string()),
        room_id: mostly(fc.constant(room), fc.oneof(fc.constant("!nope:example.org"), fc.string())),
        sender: mostly(fc.constant(alice.userId), fc.oneof(fc.constant(tyr.userId), fc.string())),
        content: mostly(
          fc.record({
            msgtype: fc.constant("m.text"),
            body: fc.string({ unit: "grapheme", maxLength: 500 }),
          }),
          fc.jsonValue({ maxDepth: 2 }),
        ),
        state_key: fc.string({ maxLength: 20 }),
        origin_server_ts: mostly(fc.nat(), fc.double()),
        depth: fc.integer(),
        auth_events: fc.array(fc.string({ maxLength: 50 }), { maxLength: 3 }),
        prev_events: fc.array(fc.string({ maxLength: 50 }), { maxLength: 3 }),
        hashes: fc.constant({ sha256: "AAAA" }),
      },
      { requiredKeys: ["event_id", "type", "room_id", "sender", "content"] },
    );
    // Nesting as deep as a signature can still cover, inside an event that passes the parsers.
    const deepEvent = fc
      .tuple(event, fc.constantFrom(500, 2_000, 4_000, 8_000))
      .map(
        ([e, d]) =>
          `${JSON.stringify({ ...e, content: { body: "x" } }).slice(0, -2)},"deep":${deep(d, "[", "]")}}}`,
      );
    const body = fc.oneof(
      event.map((e) => JSON.stringify(e)),
      deepEvent,
      deepEvent.map((e) => `{"event":${e}}`),
      event.map((e) => JSON.stringify({ event: e })),
      fc.constant(""),
      fc.constant("{}"),
      fc.json({ maxDepth: 4 }),
      fc
        .dictionary(
          fc.constantFrom(
            "event",
            "room_id",
            "user",
            "inviter",
            "invitee",
            "id",
            "room_version",
            "sender",
            "type",
            "content",
            "state_key",
            "depth",
            "auth_events",
            "prev_events",
            "hashes",
            "signatures",
            "origin_server_ts",
          ),
          fc.jsonValue({ maxDepth: 3 }),
        )
        .map((o) => JSON.stringify(o)),
      fc.string({ maxLength: 200 }),
      fc.constantFrom(
        "null",
        "[]",
        '"x"',
        "1e999",
        '{"a":1,"a":2}',
        '{"__proto__":{"polluted":true}}',
        deep(100, "[", "]"),
        deep(30_000, "[", "]"),
        `${deep(10_000, '{"a":', "}").replace(/}+$/, "")}1${"}".repeat(10_000)}`,
        "x".repeat(70_000),
        "x".repeat(200_000),
        "\u0000\u0000\u0000",
      ),
      fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString("latin1")),
    );
    const extraHeaders = fc.oneof(
      { weight: 6, arbitrary: fc.constant([] as string[]) },
      fc.constantFrom(
        ["Expect: 100-continue"],
        ["Expect: 200-ok"],
        ["Upgrade: websocket", "Connection: Upgrade"],
        ["Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQAAP__"],
        ["Content-Encoding: gzip"],
        ["Transfer-Encoding: gzip, chunked"],
        ["X-Forwarded-For: 1.2.3.4, \u0000"],
        Array.from({ length: 1_000 }, (_, i) => `X-${i}: ${i}`),
        ["Content-Type: application/json", "Content-Type: text/plain"],
        ["Host: evil.example"],
      ),
    );
    const framing = fc.oneof(
      { weight: 12, arbitrary: fc.constant("length") },
      fc.constantFrom(
        "chunked",
        "both",
        "none",
        "short",
        "long",
        "dup-length",
        "bad-length",
        "te-list",
        "te-space",
      ),
    );
    return routeArb.chain((r) =>
      fc
        .record({
          method: method(r),
          path: path(r),
          query,
          auth: authArbitrary(r),
          contentType,
          body,
          framing,
          extraHeaders,
          keepAlive: fc.boolean(),
        })
        .map((c) => {
          const bodyBuf = Buffer.from(c.body, "utf8");
          const headers: [string, string][] = [["Host", "127.0.0.1"]];
          if (!c.keepAlive) headers.push(["Connection", "close"]);
          for (const a of c.auth(c.method, `${c.path}${c.query}`, c.body)) headers.push(["Authorization", a]);
          if (c.contentType !== undefined) headers.push(["Content-Type", c.contentType]);
          for (const h of c.extraHeaders) {
            const i = h.indexOf(":");
            headers.push([h.slice(0, i), h.slice(i + 2)]);
          }
          let payload = bodyBuf;
          const len = String(bodyBuf.length);
          const chunked = () =>
            Buffer.concat([
              Buffer.from(`${bodyBuf.length.toString(16)}\r\n`),
              bodyBuf,
              Buffer.from("\r\n0\r\n\r\n"),
            ]);
          switch (c.framing) {
            case "length":
              headers.push(["Content-Length", len]);
              break;
            case "chunked":
              headers.push(["Transfer-Encoding", "chunked"]);
              payload = chunked();
              break;
            case "both":
              headers.push(["Content-Length", len], ["Transfer-Encoding", "chunked"]);
              payload = chunked();
              break;
            case "short":
              headers.push(["Content-Length", String(Math.max(0, bodyBuf.length - 3))]);
              break;
            case "long":
              headers.push(["Content-Length", String(bodyBuf.length + 10)]);
              break;
            case "dup-length":
              headers.push(["Content-Length", len], ["Content-Length", String(bodyBuf.length + 1)]);
              break;
            case "bad-length":
              headers.push(["Content-Length", "-1"]);
              break;
            case "te-list":
              headers.push(["Transfer-Encoding", "chunked, identity"]);
              payload = chunked();
              break;
            case "te-space":
              headers.push(["Transfer-Encoding", " chunked"], ["Content-Length", len]);
              payload = chunked();
              break;
          }
          const head = `${c.method} ${c.path}${c.query} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;
          return {
            route: r.path,
            shape: `${c.method} ${JSON.stringify(`${c.path}${c.query}`.slice(0, 80))} framing=${c.framing} type=${JSON.stringify(c.contentType)} body=${JSON.stringify(c.body.slice(0, 60))}(${bodyBuf.length} bytes) auth=${c.auth.label} extra=${JSON.stringify(c.extraHeaders.slice(0, 2))}`,
            parts: [Buffer.from(head, "utf8"), payload],
          };
        }),
    );
  }

  /** Authorization header values for a request (several = duplicated header), with a label. */
  type AuthGen = ((method: string, uri: string, body: string) => string[]) & { label: string };
  function authArbitrary(r: Route): fc.Arbitrary<AuthGen> {
    const gen = (label: string, f: (method: string, uri: string, body: string) => string[]): AuthGen =>
      Object.assign(f, { label });
    const fixed = (label: string, ...values: string[]) => gen(label, () => values);
    const signed = gen("x-matrix signed", (method, uri, body) => {
      let content: unknown;
      try {
        content = body === "" ? undefined : JSON.parse(body);
        return [
          buildXMatrix({
            method,
            uri,
            origin: hs.serverName,
            destination: hs.serverName,
            content,
            key: hsKey,
          }),
        ];
      } catch {
        return [`X-Matrix origin="${hs.serverName}",key="${hsKey.keyId}",sig="bm90IGEgc2ln"`];
      }
    });
    // The auth this route wants (by feature; a route of a later feature without a known secret gets none).
    const right =
      r.auth.name === "none"
        ? fixed("none")
        : r.feature === "antispam"
          ? fixed("antispam secret", `Bearer ${antispamSecret}`)
          : r.feature === "metrics"
            ? fixed("metrics token", `Bearer ${metricsToken}`)
            : r.feature === "policyserver"
              ? signed
              : fixed("none");
    return fc.oneof(
      { weight: 20, arbitrary: fc.constant(right) },
      fc.constant(fixed("none")),
      fc.constant(fixed("antispam secret", `Bearer ${antispamSecret}`)),
      fc.constant(fixed("metrics token", `Bearer ${metricsToken}`)),
      fc.constant(fixed("wrong bearer", `Bearer ${antispamSecret.slice(0, -1)}0`)),
      fc.constant(fixed("overlong bearer", `Bearer ${"A".repeat(12_000)}`)),
      fc.constant(fixed("header overflow", `Bearer ${"A".repeat(20_000)}`)),
      fc.constant(fixed("bearer only", "Bearer")),
      fc.constant(fixed("basic", "Basic dXNlcjpwYXNz")),
      fc.constant(fixed("duplicate bearer", "Bearer wrong", `Bearer ${antispamSecret}`)),
      fc.constant(fixed("duplicate bearer 2", `Bearer ${antispamSecret}`, "Bearer wrong")),
      fc.constant(signed),
      fc.constant(
        gen("x-matrix for another server", (method, uri) => [
          buildXMatrix({ method, uri, origin: hs.serverName, destination: "other.example", key: hsKey }),
        ]),
      ),
      fc.constant(fixed("x-matrix foreign", `X-Matrix origin=evil.invalid,key="ed25519:a",sig="AAAA"`)),
      fc.constant(
        fixed(
          "x-matrix own origin bad sig",
          `X-Matrix origin="${hs.serverName}",key="${hsKey.keyId}",sig="AAAA",destination="${hs.serverName}"`,
        ),
      ),
      fc.constant(
        fixed("x-matrix overlong", `X-Matrix origin="${"a".repeat(3_000)}",key="ed25519:a",sig="AAAA"`),
      ),
      fc
        .string({ maxLength: 80 })
        .map((s) => fixed(`x-matrix garbage`, `X-Matrix ${s.replace(/[\r\n]/g, "")}`)),
      fc.string({ maxLength: 80 }).map((s) => fixed(`garbage`, s.replace(/[\r\n]/g, ""))),
    );
  }
});

/** Heap in use after a full garbage collection (the test process is the bot's process). */
function settledHeap(): number {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
  return process.memoryUsage().heapUsed;
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

/** Runs `f` over `items` with at most `n` at a time. */
async function pool<T>(items: readonly T[], n: number, f: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await f(items[next++] as T);
    }),
  );
}
