// Fuzzes the antispam endpoints through the real HTTP listener: thousands of malformed bodies
// (broken JSON, wrong types, huge values, wrong content types, missing or wrong secrets) for every
// callback. Nothing crashes, every answer is a 4xx or an allow, and legitimate requests sent in
// between are answered exactly as without the garbage.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Writable } from "node:stream";
import { Agent, request } from "node:http";
import { pino } from "pino";
import { HttpListener } from "../../../src/http/server.ts";
import { CALLBACKS } from "../../../src/antispam/wire.ts";
import { mulberry32 } from "../../harness/prng.ts";
import { ROOM, SECRET, message, rule, world, type World } from "./fixture.ts";

const SPAMMER = "@spammer:evil.org";
const ALICE = "@alice:example.org";

let w: World;
let listener: HttpListener;
let port: number;
const agent = new Agent({ keepAlive: true, maxSockets: 8 });
const logLines: string[] = [];

beforeAll(async () => {
  w = world({ rules: [rule("user", SPAMMER)] });
  const sink = new Writable({
    write(c, _e, cb) {
      logLines.push(String(c));
      cb();
    },
  });
  listener = new HttpListener({
    name: "main",
    bind: "127.0.0.1",
    port: 0,
    routes: w.handler.routes(),
    limits: { maxBodyBytes: 8_192 },
    log: pino({ level: "debug" }, sink),
  });
  port = (await listener.start()).port;
});

afterAll(async () => {
  agent.destroy();
  await listener.stop();
});

function post(
  path: string,
  body: string | Buffer,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: "POST", agent, headers }, (res) => {
      let data = "";
      res.on("data", (d) => (data += String(d)));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const good = { "Content-Type": "application/json", Authorization: `Bearer ${SECRET}` };

/** One malformed request: a body, headers and the path, chosen by the seeded PRNG. */
function malformed(rand: () => number): {
  path: string;
  body: string | Buffer;
  headers: Record<string, string>;
} {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const cb = pick(CALLBACKS);
  const weird: unknown[] = [
    null,
    42,
    -1e308,
    "",
    "x".repeat(300),
    [],
    [1, 2],
    {},
    { "@": 1 },
    true,
    "@spammer:evil.org",
    "!room",
    "$ev",
    "\u0000\uffff",
    { event: null },
    { $ne: 1 },
    "__proto__",
  ];
  const fields = [
    "inviter",
    "invitee",
    "room_id",
    "user",
    "room",
    "is_invited",
    "event",
    "user_id",
    "id",
    "__proto__",
    "constructor",
  ];
  const obj: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 5); i > 0; i--) obj[pick(fields)] = pick(weird);
  if (rand() < 0.3)
    obj.event = {
      type: pick(weird),
      sender: pick(weird),
      room_id: pick(weird),
      event_id: pick(weird),
      content: pick(weird),
      state_key: pick(weird),
    };
  let body: string | Buffer = JSON.stringify(obj);
  const mode = rand();
  if (mode < 0.15)
    body = body.slice(0, Math.floor(rand() * body.length)); // truncated JSON
  else if (mode < 0.2) body = Buffer.from(Array.from({ length: 64 }, () => Math.floor(rand() * 256)));
  else if (mode < 0.25) body = JSON.stringify(pick(weird));
  else if (mode < 0.27) body = "[".repeat(5_000);
  else if (mode < 0.29) body = JSON.stringify({ inviter: "@a:b", pad: "x".repeat(9_000) }); // over the limit
  const headers = { ...good };
  const h = rand();
  if (h < 0.05) headers["Content-Type"] = "text/plain";
  else if (h < 0.1) headers.Authorization = "Bearer wrong";
  else if (h < 0.12) delete (headers as Record<string, string>).Authorization;
  const path = rand() < 0.05 ? `/_tyr/antispam/${cb}x` : `/_tyr/antispam/${cb}`;
  return { path, body, headers };
}

describe("antispam endpoint fuzzing", () => {
  it("survives 1,500 malformed requests; legitimate requests in between get their normal answers", async () => {
    const rand = mulberry32(0x7e5);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 1_500; i++) {
      const m = malformed(rand);
      const r = await post(m.path, m.body, m.headers);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      // Garbage gets a client error or, when it happens to be a valid allow, 200; never a 5xx.
      expect(r.status, `request ${i}: ${String(m.body).slice(0, 120)}`).toBeLessThan(500);
      if (r.status >= 400) expect(() => JSON.parse(r.body)).not.toThrow();
      if (i % 100 === 0) {
        const legit = await post(
          "/_tyr/antispam/check_event_for_spam",
          JSON.stringify(message(ALICE, "hello there")),
          good,
        );
        expect(legit.status).toBe(200);
        const invite = await post(
          "/_tyr/antispam/user_may_invite",
          JSON.stringify({ inviter: ALICE, invitee: "@b:example.org", room_id: ROOM }),
          good,
        );
        expect(invite.status).toBe(200);
      }
    }
    // Every kind of refusal was exercised.
    for (const s of [400, 401, 404, 413, 415]) expect(statuses.get(s) ?? 0, `status ${s}`).toBeGreaterThan(0);
    // Afterwards: a refusal is still a refusal and an allow an allow.
    expect(
      (
        await post(
          "/_tyr/antispam/user_may_invite",
          JSON.stringify({ inviter: SPAMMER, invitee: ALICE, room_id: ROOM }),
          good,
        )
      ).status,
    ).toBe(403);
    expect(
      (await post("/_tyr/antispam/check_event_for_spam", JSON.stringify(message(ALICE, "buy crypto")), good))
        .status,
    ).toBe(403);
    expect((await post("/_tyr/antispam/ping", JSON.stringify({ id: "x1" }), good)).body).toBe(
      '{"id":"x1","status":"ok"}',
    );
    expect(logLines.join("")).not.toContain(SECRET);
    expect(logLines.join("")).not.toContain("HTTP handler failed");
  }, 120_000);
});
