import { describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import { buildUrl, HttpTransport, retryDelayMs, TransportClosedError } from "../../../src/matrix/http.ts";

describe("retry delay", () => {
  it("prefers the Retry-After header (seconds or date), then retry_after_ms", () => {
    expect(retryDelayMs("3", { retry_after_ms: 10 })).toBe(3000);
    expect(retryDelayMs("0.5", null)).toBe(500);
    expect(retryDelayMs(new Date(61_000).toUTCString(), null, 1_000)).toBe(60_000);
    expect(retryDelayMs(null, { retry_after_ms: 1234 })).toBe(1234);
    expect(retryDelayMs("garbage", { retry_after_ms: "soon" })).toBeUndefined();
    expect(retryDelayMs(null, { retry_after_ms: -5 })).toBeUndefined();
  });
});

describe("buildUrl", () => {
  it("repeats arrays and skips empty values", () => {
    expect(buildUrl("http://h/", "/_matrix/x", { a: ["1", "2"], b: undefined, c: 3 })).toBe(
      "http://h/_matrix/x?a=1&a=2&c=3",
    );
  });
});

describe("HttpTransport against a local HTTP server", () => {
  async function serve(
    handler: (n: number) => { status: number; headers?: Record<string, string>; body: unknown },
  ) {
    let n = 0;
    const srv: Server = createServer((_req, res) => {
      const r = handler(++n);
      res.writeHead(r.status, { "Content-Type": "application/json", ...r.headers });
      res.end(JSON.stringify(r.body));
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const port = (srv.address() as { port: number }).port;
    return { url: `http://127.0.0.1:${port}`, close: () => srv.close(), count: () => n };
  }

  it("waits out 429s as told and then succeeds", async () => {
    const s = await serve((n) =>
      n <= 2
        ? {
            status: 429,
            headers: (n === 1 ? { "Retry-After": "0.05" } : {}) as Record<string, string>,
            body: { errcode: "M_LIMIT_EXCEEDED", retry_after_ms: 30 },
          }
        : { status: 200, body: { ok: true } },
    );
    const t = new HttpTransport({ baseUrl: s.url });
    const started = Date.now();
    expect(await t.request("GET", "/x")).toEqual({ ok: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    expect(t.stats.rateLimited).toBe(2);
    s.close();
  });

  it("gives up after the configured number of 429s with the delay attached", async () => {
    const s = await serve(() => ({ status: 429, body: { errcode: "M_LIMIT_EXCEEDED", retry_after_ms: 1 } }));
    const t = new HttpTransport({ baseUrl: s.url, maxRateLimitRetries: 2 });
    await expect(t.request("GET", "/x")).rejects.toMatchObject({
      errcode: "M_LIMIT_EXCEEDED",
      statusCode: 429,
    });
    expect(s.count()).toBe(3);
    s.close();
  });

  it("turns errors into MatrixError with errcode, and non-Matrix errors into HTTP_<status>", async () => {
    const s = await serve((n) =>
      n === 1
        ? { status: 403, body: { errcode: "M_FORBIDDEN", error: "nope" } }
        : { status: 502, body: "bad gateway" },
    );
    const t = new HttpTransport({ baseUrl: s.url });
    await expect(t.request("GET", "/x")).rejects.toMatchObject({ errcode: "M_FORBIDDEN", statusCode: 403 });
    await expect(t.request("GET", "/x")).rejects.toMatchObject({ errcode: "HTTP_502", statusCode: 502 });
    s.close();
  });

  it("close() abandons a request the server never answers, a 429 wait, and every later request", async () => {
    // One request hangs (the server holds it), the other waits out a minute-long 429.
    const held: import("node:http").ServerResponse[] = [];
    const srv: Server = createServer((req, res) => {
      if (req.url === "/hang") return void held.push(res);
      res.writeHead(429, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ errcode: "M_LIMIT_EXCEEDED", retry_after_ms: 60_000 }));
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    const t = new HttpTransport({ baseUrl: url });
    const hanging = t.request("GET", "/hang");
    const limited = t.request("GET", "/limited", { ignorePause: true });
    while (held.length === 0 || t.stats.rateLimited === 0) await new Promise((r) => setTimeout(r, 5));
    const closedAt = Date.now();
    t.close();
    await expect(hanging).rejects.toBeInstanceOf(TransportClosedError);
    await expect(limited).rejects.toBeInstanceOf(TransportClosedError);
    expect(Date.now() - closedAt).toBeLessThan(5_000);
    await expect(t.request("GET", "/later")).rejects.toBeInstanceOf(TransportClosedError);
    for (const res of held) res.destroy();
    srv.close();
  });
});
