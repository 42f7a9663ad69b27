// The listener against hostile bytes on the wire (each case found by tests/integration/http-fuzz):
// requests that node:http's parser refuses on a reused connection, framing tricks, slow senders.
import { afterEach, describe, expect, it } from "vitest";
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

async function start(limits: Partial<ListenerLimits> = {}) {
  const l = new HttpListener({
    name: "main",
    bind: "127.0.0.1",
    port: 0,
    routes: [ping],
    limits,
    log: pino({ level: "silent" }),
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
});
