// Tyr's HTTP listener on a real loopback socket: routing, limits, auth, JSON handling, errors,
// logging (rate-limited, never the secret) and a prompt stop.
import { afterEach, describe, expect, it } from "vitest";
import { request as httpRequest, Agent } from "node:http";
import { request as httpsRequest } from "node:https";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfSignedCert } from "../../harness/tls.ts";
import { connect } from "node:net";
import { Writable } from "node:stream";
import { pino } from "pino";
import { HttpListener } from "../../../src/http/server.ts";
import { bearerSecret, none } from "../../../src/http/auth.ts";
import type { ListenerLimits, Route } from "../../../src/http/types.ts";
import { LogLimiter } from "../../../src/http/logLimiter.ts";
import { groupRoutes, HttpService } from "../../../src/http/service.ts";
import { httpSchema } from "../../../src/http/config.ts";
import { trustedProxyList } from "../../../src/http/clientAddress.ts";

const SECRET = "s3cret-value-for-tests-only";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      for (const l of String(chunk).split("\n"))
        if (l) {
          raw.push(l);
          lines.push(JSON.parse(l) as Record<string, unknown>);
        }
      cb();
    },
  });
  return { log: pino({ level: "debug" }, sink), lines, raw };
}

const echo: Route = {
  feature: "test",
  method: "POST",
  path: "/echo",
  auth: bearerSecret(SECRET),
  body: "json",
  handler: (req) => ({ status: 200, body: { got: req.body } }),
};

let listeners: HttpListener[] = [];
afterEach(async () => {
  await Promise.all(listeners.map((l) => l.stop()));
  listeners = [];
});

async function start(routes: Route[], limits: Partial<ListenerLimits> = {}) {
  const c = capture();
  const l = new HttpListener({ name: "main", bind: "127.0.0.1", port: 0, routes, limits, log: c.log });
  listeners.push(l);
  const { port } = await l.start();
  return { ...c, listener: l, base: `http://127.0.0.1:${port}`, port };
}

const auth = { Authorization: `Bearer ${SECRET}` };
const json = { "Content-Type": "application/json" };

async function post(base: string, path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(base + path, { method: "POST", body, headers: { ...json, ...auth, ...headers } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

describe("HTTP listener", () => {
  it("routes by exact path and method: 404 for unknown paths, 405 (with Allow) for other methods", async () => {
    const s = await start([
      echo,
      { ...echo, path: "/pre/", prefix: true, handler: (r) => ({ status: 200, body: { path: r.path } }) },
    ]);
    expect(await post(s.base, "/echo", '{"a":1}')).toMatchObject({ status: 200, body: { got: { a: 1 } } });
    expect(await post(s.base, "/pre/x/y", "{}")).toMatchObject({ status: 200, body: { path: "/pre/x/y" } });
    const missing = await post(s.base, "/nope", "{}");
    expect(missing).toMatchObject({ status: 404, body: { errcode: "M_UNRECOGNIZED" } });
    const get = await fetch(`${s.base}/echo`, { headers: auth });
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect(await get.json()).toMatchObject({ errcode: "M_UNRECOGNIZED" });
  });

  it("refuses a missing or wrong bearer secret with 401, and never logs the secret or the header", async () => {
    const s = await start([echo]);
    const noHeader = await fetch(`${s.base}/echo`, { method: "POST", body: "{}", headers: json });
    expect(noHeader.status).toBe(401);
    expect(await noHeader.json()).toMatchObject({ errcode: "M_UNAUTHORIZED" });
    const wrong = await post(s.base, "/echo", "{}", { Authorization: `Bearer ${SECRET}x` });
    expect(wrong.status).toBe(401);
    const basic = await post(s.base, "/echo", "{}", { Authorization: `Basic ${SECRET}` });
    expect(basic.status).toBe(401);
    expect(s.lines.filter((l) => l.status === 401)).toHaveLength(3);
    expect(s.raw.join("\n")).not.toContain("s3cret");
    expect(s.raw.join("\n")).not.toContain('"headers"');
  });

  it("enforces the body limit from Content-Length and from a streamed body (413)", async () => {
    const s = await start([echo], { maxBodyBytes: 1_024 });
    const big = JSON.stringify({ x: "a".repeat(2_000) });
    expect(await post(s.base, "/echo", big)).toMatchObject({ status: 413, body: { errcode: "M_TOO_LARGE" } });
    // Chunked: no Content-Length, the limit trips while reading.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${s.base}/echo`, { method: "POST", headers: { ...json, ...auth } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      for (let i = 0; i < 4; i++) req.write("a".repeat(600));
      req.end();
    });
    expect(status).toBe(413);
    // A route may raise its own limit.
    const s2 = await start([{ ...echo, maxBodyBytes: 4_096 }], { maxBodyBytes: 1_024 });
    expect((await post(s2.base, "/echo", big)).status).toBe(200);
  });

  it("gives a form route its fields, and refuses other content types with 415", async () => {
    const form: Route = {
      ...echo,
      auth: none,
      body: "form",
      handler: (req) => ({
        status: 200,
        body: { a: (req.body as URLSearchParams).getAll("a"), b: (req.body as URLSearchParams).get("b") },
      }),
    };
    const s = await start([form]);
    const ok = await post(s.base, "/echo", "a=1&a=%3Cx%3E&b=two+words", {
      "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
    });
    expect(ok).toMatchObject({ status: 200, body: { a: ["1", "<x>"], b: "two words" } });
    expect(await post(s.base, "/echo", '{"a":1}')).toMatchObject({ status: 415 });
    expect(await post(s.base, "/echo", "a=1", { "Content-Type": "multipart/form-data" })).toMatchObject({
      status: 415,
    });
  });

  it("answers 415 for a non-JSON content type, 400 for bad JSON or a non-object", async () => {
    const s = await start([echo]);
    expect(await post(s.base, "/echo", "{}", { "Content-Type": "text/plain" })).toMatchObject({
      status: 415,
      body: { errcode: "M_NOT_JSON" },
    });
    expect(await post(s.base, "/echo", "{not json")).toMatchObject({
      status: 400,
      body: { errcode: "M_NOT_JSON" },
    });
    expect(await post(s.base, "/echo", "[1,2]")).toMatchObject({
      status: 400,
      body: { errcode: "M_BAD_JSON" },
    });
    expect(await post(s.base, "/echo", "null")).toMatchObject({
      status: 400,
      body: { errcode: "M_BAD_JSON" },
    });
    expect(
      (await post(s.base, "/echo", '{"ok":true}', { "Content-Type": "application/json; charset=utf-8" }))
        .status,
    ).toBe(200);
  });

  it("turns a throwing handler into a 500 with the reason logged, and keeps serving", async () => {
    let calls = 0;
    const s = await start([
      {
        ...echo,
        handler: () => {
          if (++calls === 1) throw new Error("boom in handler");
          return { status: 200, body: { calls } };
        },
      },
    ]);
    expect(await post(s.base, "/echo", "{}")).toMatchObject({ status: 500, body: { errcode: "M_UNKNOWN" } });
    expect(
      s.lines.some(
        (l) => l.msg === "HTTP handler failed" && JSON.stringify(l.err).includes("boom in handler"),
      ),
    ).toBe(true);
    expect(await post(s.base, "/echo", "{}")).toMatchObject({ status: 200, body: { calls: 2 } });
  });

  it("rate-limits repeated refusal log lines and says how many were suppressed", () => {
    let now = 0;
    const l = new LogLimiter({ burst: 2, windowMs: 1_000 }, () => now);
    expect([l.take("k"), l.take("k"), l.take("k"), l.take("k")].map((r) => r.write)).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(l.take("other").write).toBe(true);
    now = 1_000;
    expect(l.take("k")).toEqual({ write: true, suppressed: 2 });
  });

  it("logs at most a burst of identical refusals", async () => {
    const s = await start([echo]);
    for (let i = 0; i < 20; i++) await post(s.base, "/echo", "{}", { Authorization: "Bearer nope" });
    expect(s.lines.filter((l) => l.status === 401).length).toBeLessThanOrEqual(5);
    expect(s.listener.counts.refused).toBe(20);
  });

  it("answers 408 to a request whose body never finishes", async () => {
    const s = await start([echo], { requestTimeoutMs: 300, headersTimeoutMs: 300 });
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = connect(s.port, "127.0.0.1");
      let data = "";
      sock.on("data", (d) => (data += String(d)));
      sock.on("close", () => resolve(data));
      sock.on("error", reject);
      sock.write(
        `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${SECRET}\r\nContent-Length: 100\r\n\r\n{"a":`,
      );
    });
    expect(reply).toMatch(/^HTTP\/1\.1 408/);
    expect(reply).toContain('"errcode":"M_UNKNOWN"');
  }, 15_000);

  it("answers 503 when an async handler never finishes, and keeps serving", async () => {
    const s = await start([{ ...echo, path: "/hang", handler: () => new Promise(() => {}) }, echo], {
      requestTimeoutMs: 300,
      headersTimeoutMs: 300,
    });
    expect(await post(s.base, "/hang", "{}")).toMatchObject({ status: 503, body: { errcode: "M_UNKNOWN" } });
    expect(s.lines.some((l) => l.msg === "HTTP handler took too long; answered 503")).toBe(true);
    expect((await post(s.base, "/echo", "{}")).status).toBe(200);
  });

  it("answers 400 to a malformed HTTP request without crashing", async () => {
    const s = await start([echo]);
    const reply = await new Promise<string>((resolve) => {
      const sock = connect(s.port, "127.0.0.1");
      let data = "";
      sock.on("data", (d) => (data += String(d)));
      sock.on("close", () => resolve(data));
      sock.write("BLAH \x00\x01 nonsense\r\n\r\n");
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect((await post(s.base, "/echo", "{}")).status).toBe(200);
  });

  // Without closing connections itself, stop() would wait for the 60 s keep-alive timeout or the
  // hanging handler: the test's own timeout (5 s) is what fails then.
  it("stops with an idle keep-alive connection open", async () => {
    const s = await start([echo], { keepAliveTimeoutMs: 60_000 });
    const agent = new Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(
        `${s.base}/echo`,
        { method: "POST", agent, headers: { ...json, ...auth } },
        (res) => {
          res.resume();
          res.on("end", () => resolve());
        },
      );
      req.on("error", reject);
      req.end("{}");
    });
    await s.listener.stop();
    agent.destroy();
    await expect(fetch(`${s.base}/echo`)).rejects.toThrow();
  });

  it("stops even while a handler hangs, cutting its connection after a grace period", async () => {
    const s = await start([{ ...echo, handler: () => new Promise(() => {}) }], {
      requestTimeoutMs: 60_000,
      keepAliveTimeoutMs: 60_000,
    });
    const pending = post(s.base, "/echo", "{}").catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    await s.listener.stop();
    expect(await pending).toBeInstanceOf(Error);
  });

  it("allows unauthenticated routes and GET routes without a body", async () => {
    const s = await start([
      {
        feature: "health",
        method: "GET",
        path: "/healthz",
        auth: none,
        body: "none",
        handler: () => ({ status: 200, body: { ok: true } }),
      },
    ]);
    const res = await fetch(`${s.base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });
});

describe("HTTP listener behind a reverse proxy", () => {
  const whoami: Route = {
    feature: "test",
    method: "GET",
    path: "/whoami",
    auth: none,
    body: "none",
    handler: (req) => ({ status: 200, body: { remote: req.remote } }),
  };
  const remoteOf = async (base: string, xff?: string) =>
    (
      (await (await fetch(`${base}/whoami`, { headers: xff ? { "X-Forwarded-For": xff } : {} })).json()) as {
        remote: string;
      }
    ).remote;

  it("names the client from X-Forwarded-For only when the peer is a trusted proxy", async () => {
    const c = capture();
    const trusting = new HttpListener({
      name: "main",
      bind: "127.0.0.1",
      port: 0,
      routes: [whoami],
      log: c.log,
      trustedProxies: trustedProxyList(["127.0.0.1"]),
    });
    listeners.push(trusting);
    const { port } = await trusting.start();
    expect(await remoteOf(`http://127.0.0.1:${port}`, "6.6.6.6, 198.51.100.7")).toBe("198.51.100.7");
    expect(await remoteOf(`http://127.0.0.1:${port}`)).toMatch(/127\.0\.0\.1$/);
    // Not trusted (the default): the header is whatever the client says, and is ignored.
    const s = await start([whoami]);
    expect(await remoteOf(s.base, "198.51.100.7")).toMatch(/127\.0\.0\.1$/);
  });

  it("refuses a trusted proxy entry that is not an address or range", () => {
    expect(httpSchema.safeParse({ trustedProxies: ["10.0.0.0/8", "::1"] }).success).toBe(true);
    const bad = httpSchema.safeParse({ trustedProxies: ["proxy.local"] });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toContain("IP address or CIDR range");
  });
});

describe("listener placement", () => {
  it("puts every feature on the shared address unless http.listeners gives it its own", () => {
    const c = httpSchema.parse({ port: 8090, listeners: { metrics: { port: 9100 } } });
    const r = (feature: string, path: string): Route => ({ ...echo, feature, path });
    const groups = groupRoutes(c, [r("antispam", "/a"), r("metrics", "/metrics"), r("health", "/healthz")]);
    expect(groups.map((g) => [g.name, g.bind, g.port, g.routes.map((x) => x.path)])).toEqual([
      ["main", "127.0.0.1", 8090, ["/a", "/healthz"]],
      ["metrics", "127.0.0.1", 9100, ["/metrics"]],
    ]);
  });

  it("serves the shared address with http.tls, and a feature's own address only with its own tls", () => {
    const files = { certFile: "/etc/tyr/cert.pem", keyFile: "/etc/tyr/key.pem" };
    const c = httpSchema.parse({
      tls: files,
      listeners: { metrics: { port: 9100 }, policyserver: { port: 8448, tls: files } },
    });
    const r = (feature: string, path: string): Route => ({ ...echo, feature, path });
    const groups = groupRoutes(c, [r("antispam", "/a"), r("metrics", "/m"), r("policyserver", "/p")]);
    expect(groups.map((g) => [g.name, g.tls !== undefined])).toEqual([
      ["main", true],
      ["metrics", false],
      ["policyserver", true],
    ]);
  });

  it("refuses two routes for the same method and path", () => {
    expect(
      () =>
        new HttpListener({ name: "x", bind: "127.0.0.1", port: 0, routes: [echo, echo], log: capture().log }),
    ).toThrow(/two routes/);
  });
});

describe("auth that needs the body (the shape of federation X-Matrix signatures)", () => {
  it("runs after the body is parsed, may be async, and hands the principal to the handler", async () => {
    const signed: Route = {
      feature: "fed",
      method: "PUT",
      path: "/signed",
      body: "json",
      auth: {
        name: "test-signature",
        needsBody: true,
        check: async ({ body, method, uri }) => {
          await new Promise((r) => setTimeout(r, 1));
          const b = body as { sig?: string };
          return b.sig === `${method} ${uri}`
            ? { ok: true, principal: "server.example" }
            : { ok: false, status: 401, errcode: "M_UNAUTHORIZED", error: "bad signature" };
        },
      },
      handler: (req) => ({ status: 200, body: { from: req.principal } }),
    };
    const s = await start([signed]);
    const put = (sig: string) =>
      fetch(`${s.base}/signed?x=1`, { method: "PUT", headers: json, body: JSON.stringify({ sig }) });
    const good = await put("PUT /signed?x=1");
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ from: "server.example" });
    expect((await put("forged")).status).toBe(401);
  });
});

describe("HttpService", () => {
  it("places routes registered after the first start on the running listener", async () => {
    const { HttpService } = await import("../../../src/http/service.ts");
    const c = capture();
    const svc = new HttpService(httpSchema.parse({ port: 0 }), c.log);
    const route = (path: string): Route => ({
      ...echo,
      auth: none,
      path,
      handler: () => ({ status: 200, body: { path } }),
    });
    svc.register(route("/early"));
    await svc.start();
    svc.register(route("/late"));
    await svc.start();
    const [addr] = svc.addresses();
    expect(svc.addresses()).toHaveLength(1);
    for (const p of ["/early", "/late"]) {
      const res = await fetch(`http://127.0.0.1:${addr!.port}${p}`, {
        method: "POST",
        headers: json,
        body: "{}",
      });
      expect(await res.json()).toEqual({ path: p });
    }
    await svc.stop();
  });

  it("says which setting to change when the port is taken", async () => {
    const { HttpService } = await import("../../../src/http/service.ts");
    const taken = await start([echo]);
    const svc = new HttpService(httpSchema.parse({ port: taken.port }), capture().log);
    svc.register(echo);
    await expect(svc.start()).rejects.toThrow(
      /cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\): change http\.bind\/http\.port/,
    );
  });
});

describe("HTTPS", () => {
  it("serves the same routes over TLS with the configured certificate, and refuses plain HTTP", async () => {
    const { cert, key } = selfSignedCert(mkdtempSync(join(tmpdir(), "tyr-https-")), "127.0.0.1");
    const c = capture();
    const l = new HttpListener({
      name: "main",
      bind: "127.0.0.1",
      port: 0,
      routes: [echo],
      log: c.log,
      tls: { cert: readFileSync(cert), key: readFileSync(key) },
    });
    listeners.push(l);
    const { port } = await l.start();
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port,
          path: "/echo",
          method: "POST",
          ca: readFileSync(cert),
          headers: { ...json, ...auth },
        },
        (res) => {
          let body = "";
          res.on("data", (d: Buffer) => (body += d.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
      req.end(JSON.stringify({ a: 1 }));
    });
    expect(answer).toEqual({ status: 200, body: JSON.stringify({ got: { a: 1 } }) });
    // A client speaking plain HTTP to the TLS port gets no HTTP answer.
    await expect(fetch(`http://127.0.0.1:${port}/echo`, { method: "POST", body: "{}" })).rejects.toThrow();
  });

  it("stops the start with the config key when a certificate file is missing", async () => {
    const service = new HttpService(
      httpSchema.parse({
        port: 0,
        tls: { certFile: "/nonexistent/cert.pem", keyFile: "/nonexistent/key.pem" },
      }),
      capture().log,
    );
    service.register(echo);
    await expect(service.start()).rejects.toThrow(
      /^http\.tls\.certFile: cannot read "\/nonexistent\/cert\.pem" \(ENOENT\)/,
    );
  });
});
