// The listener against hostile bytes on the wire (each case found by tests/integration/http-fuzz):
// requests that node:http's parser refuses on a reused connection, framing tricks, slow senders.
import { afterEach, describe, expect, it } from "vitest";
import { Writable } from "node:stream";
import { connect } from "node:net";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfSignedCert } from "../../harness/tls.ts";
import { pino } from "pino";
import { HttpListener } from "../../../src/http/server.ts";
import { none } from "../../../src/http/auth.ts";
import type { ListenerLimits, Route } from "../../../src/http/types.ts";
import { rawRequest } from "../../harness/rawHttp.ts";

const ping: Route = {
  feature: "test",
  method: "POST",
  path: "/ping",
  auth: none,
  body: "json",
  handler: () => ({ status: 200, body: {} }),
};

let listeners: HttpListener[] = [];
afterEach(async () => {
  await Promise.all(listeners.map((l) => l.stop()));
  listeners = [];
});

/** Log lines at error level and above. */
let errors: string[] = [];

async function start(limits: Partial<ListenerLimits> = {}) {
  errors = [];
  const sink = new Writable({
    write(chunk, _e, cb) {
      for (const l of String(chunk).split("\n"))
        if (l && (JSON.parse(l) as { level: number }).level >= 50) errors.push(l);
      cb();
    },
  });
  const l = new HttpListener({
    name: "main",
    bind: "127.0.0.1",
    port: 0,
    routes: [ping],
    limits,
    log: pino(sink),
  });
  listeners.push(l);
  return (await l.start()).port;
}

const PING =
  "POST /ping HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

describe("HTTP listener on the wire", () => {
  it("answers 400 to garbage that follows a finished request on a keep-alive connection", async () => {
    const port = await start();
    // The first request is answered; its connection stays open with no response pending, and the
    // bytes after it are the next "request". Before the fix, the listener's clientError handler
    // threw a TypeError there (an uncaught exception: the whole bot went down).
    const r = await rawRequest(port, [PING, "\r\nBLAH \x00 nonsense\r\n\r\n"], {
      timeoutMs: 3_000,
      gapMs: 50,
      untilClosed: true,
    });
    expect(r.raw).toMatch(/^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 400 /);
    expect(r.closedByServer).toBe(true);
    expect((await rawRequest(port, [PING], { timeoutMs: 3_000 })).status).toBe(200);
  });

  it("does not fail (or log an error) when the parser already answered the request", async () => {
    const port = await start();
    // One packet: a request node hands to the listener, then bytes that are no HTTP at all.
    // node's parser answers 400 through the pending response while the handler is still
    // deciding; the handler's own answer (415 here) must then be dropped quietly, not thrown.
    const r = await rawRequest(
      port,
      [
        "POST /ping HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}\x00BAD\r\n\r\n",
      ],
      { timeoutMs: 3_000, untilClosed: true },
    );
    expect([400, 415]).toContain(r.status);
    expect(listeners[0]?.counts.failed).toBe(0);
    expect(errors).toEqual([]);
    const shortBody = await rawRequest(
      port,
      [
        "POST /ping HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}x\x00y\r\n\r\n",
      ],
      { timeoutMs: 3_000, untilClosed: true },
    );
    expect(shortBody.status).toBeGreaterThanOrEqual(200);
    expect(listeners[0]?.counts.failed).toBe(0);
    expect(errors).toEqual([]);
  });
});

describe("HTTP listener against a client that never reads", () => {
  it("closes the connection once it stops moving, instead of holding it (and its answers) forever", async () => {
    const big: Route = {
      feature: "test",
      method: "GET",
      path: "/big",
      auth: none,
      body: "none",
      handler: () => ({ status: 200, contentType: "text/plain", body: "x".repeat(256 * 1024) }),
    };
    const l = new HttpListener({
      name: "main",
      bind: "127.0.0.1",
      port: 0,
      routes: [big],
      limits: { requestTimeoutMs: 300, headersTimeoutMs: 300, keepAliveTimeoutMs: 300 },
      log: pino({ level: "silent" }),
    });
    listeners.push(l);
    const { port } = await l.start();
    const sock = connect(port, "127.0.0.1");
    sock.pause(); // never read: the answers pile up in the socket buffers, then in node's
    await new Promise<void>((r) => sock.once("connect", () => r()));
    sock.write("GET /big HTTP/1.1\r\nHost: x\r\n\r\n".repeat(200));
    await new Promise((r) => setTimeout(r, 300));
    expect(l.connectionCount()).toBe(1);
    const deadline = Date.now() + 5_000;
    while (l.connectionCount() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    sock.destroy();
    expect(l.connectionCount()).toBe(0);
  }, 10_000);
});

describe("HTTPS listener against silent and slow clients", () => {
  it("closes a connection that never starts (or never finishes) the TLS handshake within the headers timeout", async () => {
    const { cert, key } = selfSignedCert(mkdtempSync(join(tmpdir(), "tyr-https-")), "127.0.0.1");
    const l = new HttpListener({
      name: "main",
      bind: "127.0.0.1",
      port: 0,
      routes: [ping],
      limits: { requestTimeoutMs: 400, headersTimeoutMs: 300, keepAliveTimeoutMs: 300 },
      log: pino({ level: "silent" }),
      tls: { cert: readFileSync(cert), key: readFileSync(key) },
    });
    listeners.push(l);
    const { port } = await l.start();
    // Before the fix node's TLS default applied: 120 s per connection, so a few hundred idle
    // sockets held every connection slot (maxConnections) for two minutes at a time.
    const [silent, partial] = await Promise.all([
      rawRequest(port, [], { timeoutMs: 5_000, untilClosed: true }),
      rawRequest(port, [Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x01])], {
        timeoutMs: 5_000,
        untilClosed: true,
      }),
    ]);
    expect(silent.closedByServer).toBe(true);
    expect(partial.closedByServer).toBe(true);
    expect(silent.ms).toBeLessThan(3_000);
    expect(partial.ms).toBeLessThan(3_000);
  }, 10_000);
});
