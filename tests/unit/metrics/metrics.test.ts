// The metrics' pure parts (sampler, readiness, the registry fed from fake sources) and the three
// routes on a real loopback listener: content type, bearer auth (the token never in a log line),
// health and readiness bodies.
import { afterEach, describe, expect, it } from "vitest";
import { Writable } from "node:stream";
import { pino } from "pino";
import { SampledTimer } from "../../../src/metrics/sampler.ts";
import { readiness, type ReadinessInput } from "../../../src/metrics/readiness.ts";
import { createMetrics, type MetricsSources } from "../../../src/metrics/registry.ts";
import { metricsRoutes } from "../../../src/metrics/routes.ts";
import { HttpListener } from "../../../src/http/server.ts";
import { ConsequenceQueue } from "../../../src/consequences/queue.ts";
import type { Consequence } from "../../../src/consequences/types.ts";
import { validateConfig } from "../../../src/config/load.ts";

const TOKEN = "metrics-token-for-tests-0123456789";

describe("SampledTimer", () => {
  it("counts every call, times one in `every`, and drains the timings once", () => {
    let t = 0;
    const timer = new SampledTimer({ every: 4, capacity: 8, clock: () => t });
    for (let i = 0; i < 12; i++) {
      const s = timer.start();
      t += 2;
      timer.stop(s);
    }
    expect(timer.calls).toBe(12);
    expect(timer.drain()).toEqual([2, 2, 2]);
    expect(timer.drain()).toEqual([]);
  });

  it("keeps only the newest `capacity` timings between drains", () => {
    let t = 0;
    const timer = new SampledTimer({ every: 1, capacity: 3, clock: () => t });
    for (let i = 1; i <= 5; i++) {
      const s = timer.start();
      t += i;
      timer.stop(s);
    }
    expect(timer.drain()).toEqual([3, 4, 5]);
  });
});

describe("readiness", () => {
  const ok: ReadinessInput = {
    now: 100_000,
    lastSyncAt: 99_000,
    syncFailures: 0,
    maxSyncAgeMs: 60_000,
    listsLoaded: true,
    encryption: true,
    cryptoReady: true,
    safeMode: [],
  };
  it("is ready when synced recently, lists loaded and crypto up", () => {
    expect(readiness(ok)).toEqual({ ready: true, notReady: [] });
  });
  it("says what is not ready", () => {
    expect(
      readiness({ ...ok, lastSyncAt: undefined, listsLoaded: false, cryptoReady: false }).notReady,
    ).toEqual([
      "sync: no sync with the homeserver yet",
      "lists: the watched policy lists are not loaded yet",
      "crypto: end-to-end encryption is not ready",
    ]);
    expect(readiness({ ...ok, syncFailures: 2 }).notReady[0]).toMatch(/last 2 sync request\(s\) failed/);
    expect(readiness({ ...ok, lastSyncAt: 30_000 }).notReady).toEqual([
      "sync: the last successful sync was 70 s ago",
    ]);
  });
  it("is not ready in safe mode, and says what failed and what fixes it", () => {
    const r = readiness({
      ...ok,
      safeMode: [{ what: "Tyr cannot join the watched list !l:x (M_FORBIDDEN)", fix: "unwatch !l:x" }],
    });
    expect(r).toEqual({
      ready: false,
      notReady: ["safe mode: Tyr cannot join the watched list !l:x (M_FORBIDDEN); fix: unwatch !l:x"],
    });
  });
  it("ignores crypto when encryption is off", () => {
    expect(readiness({ ...ok, encryption: false, cryptoReady: false }).ready).toBe(true);
  });
});

const silent = pino({ level: "silent" });

function queueWith(execute: (c: Consequence) => Promise<string | void>, dryRun = false) {
  return new ConsequenceQueue(
    { execute },
    {
      concurrency: 1,
      maxRetries: 1,
      retryBaseMs: 1,
      dryRun,
      log: silent,
      actionLog: { append: () => {} } as never,
    },
  );
}

const ban = (cause: Consequence["cause"], user = "@u:x"): Consequence => ({
  kind: "ban",
  room: "!r:x",
  user,
  reason: "spam",
  cause,
});

/** One sample's value from the text format, or undefined when absent. */
function sample(text: string, name: string, labels = ""): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("createMetrics", () => {
  it("counts actions by kind, outcome and cause at the queue, and protection hits", async () => {
    let fail = true;
    const q = queueWith(async () => {
      if (fail) {
        fail = false;
        throw Object.assign(new Error("boom"), { statusCode: 502 });
      }
      return "$ev";
    });
    const reg = createMetrics({ queue: q });
    await q.submit(ban({ by: "moderator", user: "@m:x", command: "ban" }));
    await q.submit(ban({ by: "protection", name: "flood" }));
    await q.submit(ban({ by: "policy", rule: {} as never }, "@v:x"));
    await q.idle();
    const text = await reg.metrics();
    expect(sample(text, "tyr_actions_total", '{kind="ban",outcome="done",cause="moderator"}')).toBe(1);
    expect(sample(text, "tyr_actions_total", '{kind="ban",outcome="done",cause="protection"}')).toBe(1);
    expect(sample(text, "tyr_actions_total", '{kind="ban",outcome="done",cause="policy"}')).toBe(1);
    expect(sample(text, "tyr_protection_hits_total", '{protection="flood"}')).toBe(1);
    expect(sample(text, "tyr_action_retries_total")).toBe(1);
    expect(sample(text, "tyr_queue_depth")).toBe(0);
    expect(sample(text, "tyr_queue_oldest_age_seconds")).toBe(0);
    // prom-client's process metrics, on this registry only
    expect(sample(text, "tyr_process_resident_memory_bytes")).toBeGreaterThan(0);
  });

  it("reports the queue's depth and the age of its oldest item while it waits", async () => {
    let release!: () => void;
    const q = queueWith(() => new Promise<void>((r) => (release = r)));
    let now = Date.now();
    const reg = createMetrics({ queue: q, now: () => now });
    const p = q.submit(ban({ by: "moderator", user: "@m:x", command: "ban" }));
    void q.submit(ban({ by: "moderator", user: "@m:x", command: "ban" }, "@w:x"));
    now += 5_000;
    const text = await reg.metrics();
    expect(sample(text, "tyr_queue_depth")).toBe(2);
    expect(sample(text, "tyr_queue_oldest_age_seconds")).toBeGreaterThanOrEqual(4.9);
    release();
    await p;
  });

  it("mirrors the parts' counters and state at scrape time, monotonically", async () => {
    const transport = { stats: { requests: 10, rateLimited: 2 } };
    const router = { stats: { timelineEvents: 7, decrypted: 3, undecryptable: 1 } };
    const timer = new SampledTimer({ every: 1 });
    const src: MetricsSources = {
      queue: queueWith(async () => {}),
      transport,
      router,
      sync: () => ({ lastSyncAt: 1_000_000, consecutiveFailures: 0, batches: 4, failures: 1 }),
      policy: {
        lists: ["!list:x"],
        revision: () => ({ size: 42 }),
        protectedRooms: new Set(["!a:x", "!b:x"]),
        members: { size: 300 },
        decisionTimer: timer,
      },
      aclBytes: () => [["!a:x", 123]],
      antispam: {
        calls: new Map([["user_may_invite", 5]]),
        refusals: new Map([["user_may_invite", 2]]),
        authFailures: 0,
      },
      safeMode: { list: () => [{ what: "x", fix: "y" }] },
      now: () => 1_010_000,
    };
    timer.stop(timer.start());
    const reg = createMetrics(src);
    let text = await reg.metrics();
    expect(sample(text, "tyr_safe_mode_reasons")).toBe(1);
    expect(sample(text, "tyr_homeserver_requests_total")).toBe(10);
    expect(sample(text, "tyr_homeserver_rate_limited_total")).toBe(2);
    expect(sample(text, "tyr_events_total")).toBe(7);
    expect(sample(text, "tyr_events_decrypted_total")).toBe(3);
    expect(sample(text, "tyr_events_undecryptable_total")).toBe(1);
    expect(sample(text, "tyr_sync_lag_seconds")).toBe(10);
    expect(sample(text, "tyr_sync_last_success_timestamp_seconds")).toBe(1000);
    expect(sample(text, "tyr_sync_batches_total")).toBe(4);
    expect(sample(text, "tyr_policy_rules", '{list="!list:x"}')).toBe(42);
    expect(sample(text, "tyr_protected_rooms")).toBe(2);
    expect(sample(text, "tyr_members_tracked")).toBe(300);
    expect(sample(text, "tyr_acl_size_bytes", '{room="!a:x"}')).toBe(123);
    expect(sample(text, "tyr_matcher_decision_seconds_count")).toBe(1);
    expect(sample(text, "tyr_matcher_decisions_total")).toBe(1);
    expect(sample(text, "tyr_antispam_requests_total", '{callback="user_may_invite"}')).toBe(5);
    expect(sample(text, "tyr_antispam_refusals_total", '{callback="user_may_invite"}')).toBe(2);
    // a second scrape adds only what was gained since
    transport.stats.rateLimited = 3;
    text = await reg.metrics();
    expect(sample(text, "tyr_homeserver_rate_limited_total")).toBe(3);
    expect(sample(text, "tyr_matcher_decision_seconds_count")).toBe(1);
  });

  it("gives every bot its own registry", async () => {
    const a = createMetrics({ queue: queueWith(async () => {}) });
    const b = createMetrics({ queue: queueWith(async () => {}) });
    expect(a).not.toBe(b);
    expect(await b.metrics()).toContain("tyr_actions_total");
  });
});

describe("the metrics config", () => {
  const base = {
    homeserverUrl: "https://hs.example",
    accessToken: "t",
    dataPath: "/tmp/x",
    managementRoom: "!m:x",
  };
  const load = (metrics: unknown, env: Record<string, string> = {}) =>
    validateConfig({ ...base, metrics }, { file: "c.yaml", env });
  it("is off by default", () => {
    expect(load(undefined).config.metrics).toEqual({ enabled: false, auth: "none", maxSyncAgeSeconds: 120 });
  });
  it("wants a token of at least 16 characters for bearer auth", () => {
    expect(() => load({ enabled: true, auth: "bearer" })).toThrow(
      /metrics.auth is bearer but there is no token/,
    );
    expect(() => load({ enabled: true, auth: "bearer" }, { TYR_METRICS_TOKEN: "short" })).toThrow(
      /shorter than 16/,
    );
    expect(load({ enabled: true, auth: "bearer" }, { TYR_METRICS_TOKEN: TOKEN }).metricsToken).toBe(TOKEN);
  });
});

describe("the routes", () => {
  let listener: HttpListener | undefined;
  afterEach(async () => {
    await listener?.stop();
    listener = undefined;
  });

  async function start(opts: { token?: string; ready?: boolean } = {}) {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _e, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const registry = createMetrics({ queue: queueWith(async () => {}) });
    const routes = metricsRoutes({
      registry,
      ...(opts.token !== undefined ? { token: opts.token } : {}),
      startedAt: Date.now() - 5_000,
      readiness: () =>
        opts.ready === false
          ? { ready: false, notReady: ["sync: no sync with the homeserver yet"] }
          : { ready: true, notReady: [] },
    });
    listener = new HttpListener({
      name: "metrics",
      bind: "127.0.0.1",
      port: 0,
      routes,
      log: pino({ level: "debug" }, sink),
    });
    const { port } = await listener.start();
    return { base: `http://127.0.0.1:${port}`, lines };
  }

  it("serves /metrics in the Prometheus text format", async () => {
    const { base } = await start();
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    expect(text).toContain("# TYPE tyr_actions_total counter");
    expect(text).toContain("# TYPE tyr_queue_depth gauge");
  });

  it("wants the bearer token when one is set, and never logs it", async () => {
    const { base, lines } = await start({ token: TOKEN });
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const wrong = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}x` } });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(right.status).toBe(200);
    // the health endpoints stay open for orchestrators
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(lines.join("")).not.toContain(TOKEN);
  });

  it("answers /healthz while alive, and /readyz 200 or 503 with what is not ready", async () => {
    const { base } = await start({ ready: false });
    const h = await fetch(`${base}/healthz`);
    expect(h.status).toBe(200);
    expect(await h.json()).toMatchObject({ status: "alive", uptimeSeconds: 5 });
    const r = await fetch(`${base}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({
      status: "not ready",
      notReady: ["sync: no sync with the homeserver yet"],
    });
    await listener?.stop();
    const ok = await start({ ready: true });
    const r2 = await fetch(`${ok.base}/readyz`);
    expect(r2.status).toBe(200);
    expect(await r2.json()).toEqual({ status: "ready" });
  });
});
