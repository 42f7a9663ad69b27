// "Log in with Matrix" from ANOTHER homeserver than Tyr's own: Tyr runs on hs1, a moderator's
// account lives on hs2, and the two federate over TLS. Tyr verifies hs2's certificate against a CA
// file (`homeserverCaFile`: the test certificates are their own CA) and reaches hs2 by server-name
// resolution: hs2 is named `hs2.localhost` and delegates to its federation port by .well-known. Refusals: a token presented for the wrong server, a non-moderator of hs2, garbage
// and expired tokens, a name that does not resolve, a certificate no trusted CA vouches for, and a
// hostile "homeserver" that vouches for a user of another server, redirects elsewhere, answers
// too much or never answers. No refusal crashes Tyr, each comes within bounded time, and no token
// is ever logged.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer, type Server } from "node:https";
import { request } from "node:http";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { DEV_DIR, freePort, type Synapse } from "../harness/synapse.ts";
import { delegatedHomeserver, federatedHomeserver } from "../harness/federation.ts";
import { selfSignedCert } from "../harness/tls.ts";
import { TestUser, eventually } from "../harness/user.ts";
import { runBot, testConfig, type RunningBot } from "../harness/bot.ts";

const root = join(DEV_DIR, `dashboard-openid-remote-${process.pid}`);
const USERINFO = "/_matrix/federation/v1/openid/userinfo";

type Answer = { status: number; location?: string; setCookie?: string; body: string; ms: number };

describe("dashboard: log in with Matrix from another homeserver", () => {
  let hs1: Synapse;
  let hs2: Synapse;
  let wellKnown: Server | undefined;
  let wellKnownAsked: { synapse: number; other: number };
  let bot: RunningBot;
  let tyr: TestUser;
  let mod: TestUser;
  let remoteMod: TestUser;
  let remoteMember: TestUser;
  let mgmt: string;
  let base: string;
  /** A TLS server the CA vouches for that plays a hostile homeserver (its behaviour by token). */
  let evil: Server;
  let evilName: string;
  /** Where evil redirects to; counts the connections it gets. */
  let elsewhere: Server;
  let elsewhereConnections = 0;
  /** A TLS server whose certificate no trusted CA vouches for. */
  let rogue: Server;
  let rogueName: string;
  const tokens: string[] = [];
  let source = 1;

  /**
   * POSTs the "log in with Matrix" form as the login page's script does. Each attempt comes from
   * its own loopback address, so the login rate limit (10 a minute per address) stays out of the way.
   */
  function login(openidToken: string, serverName: string): Promise<Answer> {
    const started = Date.now();
    const body = new URLSearchParams({ openid_token: openidToken, server_name: serverName }).toString();
    source += 1;
    return new Promise((resolve, reject) => {
      const req = request(
        `${base}/dashboard/login/matrix`,
        {
          method: "POST",
          localAddress: `127.0.0.${source}`,
          headers: { "Content-Type": "application/x-www-form-urlencoded", "Content-Length": body.length },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (text += c));
          res.on("end", () => {
            const cookie = res.headers["set-cookie"]?.[0];
            resolve({
              status: res.statusCode ?? 0,
              ...(res.headers.location === undefined ? {} : { location: res.headers.location }),
              ...(cookie === undefined ? {} : { setCookie: cookie }),
              body: text,
              ms: Date.now() - started,
            });
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  /** A fresh OpenID token of `u` from its own homeserver's client API. */
  async function openIdToken(u: TestUser): Promise<{ access_token: string; matrix_server_name: string }> {
    const t = await u.api<{ access_token: string; matrix_server_name: string }>(
      "POST",
      `/_matrix/client/v3/user/${encodeURIComponent(u.userId)}/openid/request_token`,
      {},
    );
    tokens.push(t.access_token);
    return t;
  }

  /** The flash message of a refused login page. */
  const flash = (a: Answer) => /class="flash error"[^>]*>([^<]*)</.exec(a.body)?.[1] ?? a.body.slice(0, 300);

  function expectRefused(a: Answer, why: RegExp): void {
    expect(a.status, a.body.slice(0, 300)).toBe(403);
    expect(a.setCookie).toBeUndefined();
    expect(flash(a)).toMatch(why);
  }

  const listen = async (server: Server): Promise<number> => {
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    return port;
  };

  beforeAll(async () => {
    rmSync(root, { recursive: true, force: true });
    // hs2 is named `hs2.localhost` without a port: found through its .well-known delegation.
    let delegated: Awaited<ReturnType<typeof delegatedHomeserver>>;
    [hs1, delegated] = await Promise.all([
      federatedHomeserver(root, "hs1.localhost"),
      delegatedHomeserver(root, "hs2.localhost"),
    ]);
    hs2 = delegated.synapse;
    wellKnown = delegated.wellKnown;
    wellKnownAsked = delegated.asked;
    const user = (hs: Synapse, name: string, admin = false) => TestUser.register(hs, name, { admin });
    [tyr, mod, remoteMod, remoteMember] = await Promise.all([
      user(hs1, "tyr", true),
      user(hs1, "mod"),
      user(hs2, "remotemod"),
      user(hs2, "remotemember"),
    ]);

    // The hostile servers, on names under .localhost (loopback).
    const evilCert = selfSignedCert(join(root, "certs"), "evil.localhost");
    const rogueCert = selfSignedCert(join(root, "certs"), "rogue.localhost");
    const elsewhereCert = selfSignedCert(join(root, "certs"), "elsewhere.localhost");
    elsewhere = createHttpsServer(
      { cert: readFileSync(elsewhereCert.cert), key: readFileSync(elsewhereCert.key) },
      (_req, res) => res.end(JSON.stringify({ sub: remoteMod.userId })),
    );
    elsewhere.on("connection", () => (elsewhereConnections += 1));
    const elsewherePort = await listen(elsewhere);
    evil = createHttpsServer(
      { cert: readFileSync(evilCert.cert), key: readFileSync(evilCert.key) },
      (req, res) => {
        const token = new URL(req.url ?? "/", "https://x").searchParams.get("access_token") ?? "";
        if (token.startsWith("foreign")) return res.end(JSON.stringify({ sub: remoteMod.userId }));
        if (token.startsWith("redirect")) {
          res.writeHead(302, {
            Location: `https://elsewhere.localhost:${elsewherePort}${USERINFO}?access_token=${token}`,
          });
          return res.end();
        }
        if (token.startsWith("huge"))
          return res.end(JSON.stringify({ sub: `@huge:${evilName}`, pad: "x".repeat(2_000_000) }));
        if (token.startsWith("silent")) return; // never answers
        res.writeHead(401).end(JSON.stringify({ errcode: "M_UNKNOWN_TOKEN" }));
      },
    );
    evilName = `evil.localhost:${await listen(evil)}`;
    rogue = createHttpsServer(
      { cert: readFileSync(rogueCert.cert), key: readFileSync(rogueCert.key) },
      (_req, res) => res.end(JSON.stringify({ sub: `@mod:${rogueName}` })),
    );
    rogueName = `rogue.localhost:${await listen(rogue)}`;

    // Tyr trusts hs2's and evil's certificates (each is its own CA), not hs1's federation one, nor rogue's.
    const caFile = join(root, "ca.pem");
    writeFileSync(
      caFile,
      [join(root, "certs", "hs2.localhost.crt"), evilCert.cert].map((f) => readFileSync(f, "utf8")).join(""),
    );

    // The management room on hs1, with a moderator of hs2 (power 50) and a plain member of hs2.
    mgmt = await mod.createRoom({ invite: [tyr.userId, remoteMod.userId, remoteMember.userId] });
    await tyr.join(mgmt);
    const joined = (u: TestUser) =>
      u.join(mgmt).then(
        () => true,
        () => false,
      );
    await eventually(
      async () => (await joined(remoteMod)) && (await joined(remoteMember)),
      60_000,
      "hs2's users join the management room over federation",
    );
    await mod.setPowerLevel(mgmt, remoteMod.userId, 50);

    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    bot = await runBot(
      testConfig({
        url: hs1.url,
        accessToken: tyr.accessToken,
        managementRoom: mgmt,
        extra: {
          homeserverCaFile: caFile,
          http: { port },
          dashboard: { enabled: true, publicBaseUrl: base, allowPrivateHomeservers: true },
        },
      }),
    );
    await eventually(
      async () => {
        const s = bot.bot.state.peek(mgmt);
        return s?.membership(remoteMod.userId) === "join" && s.membership(remoteMember.userId) === "join";
      },
      60_000,
      "Tyr sees hs2's users in the management room",
    );
  }, 240_000);

  afterAll(async () => {
    await bot?.stop();
    for (const s of [evil, elsewhere, rogue, wellKnown]) s?.closeAllConnections();
    for (const s of [evil, elsewhere, rogue, wellKnown]) s?.close();
    await Promise.all([hs1?.stop(), hs2?.stop()]);
    rmSync(root, { recursive: true, force: true });
  });

  it("logs in a moderator of hs2 with an OpenID token from hs2, verified over TLS", async () => {
    const t = await openIdToken(remoteMod);
    expect(t.matrix_server_name).toBe(hs2.serverName);
    const asked = wellKnownAsked.other;
    const a = await login(t.access_token, t.matrix_server_name);
    expect(a.status, flash(a)).toBe(303);
    expect(a.location).toBe("/dashboard");
    // Tyr found hs2 through its .well-known (a bare server name: no port to connect to directly),
    // where this machine let the harness serve it on port 443 (see delegatedHomeserver).
    if (wellKnown !== undefined) expect(wellKnownAsked.other).toBeGreaterThan(asked);
    expect(a.setCookie).toMatch(/^tyr_dashboard=[^;]+; Path=\/dashboard; HttpOnly; SameSite=Strict/);
    const cookie = a.setCookie!.split(";")[0]!;
    const page = await fetch(`${base}/dashboard/log`, { headers: { Cookie: cookie }, redirect: "manual" });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("<h1>Action log</h1>");
    expect(html).toContain(remoteMod.userId);
    // The login is logged as hs2's moderator.
    expect(bot.logs).toContainEqual(
      expect.objectContaining({ msg: "dashboard login", user: remoteMod.userId, method: "matrix" }),
    );
  });

  it("refuses a token presented for another server than the one that issued it", async () => {
    const remote = await openIdToken(remoteMod);
    expectRefused(await login(remote.access_token, hs1.serverName), /refused the token/);
    const local = await openIdToken(mod);
    expectRefused(await login(local.access_token, hs2.serverName), /refused the token/);
  });

  it("refuses a member of hs2 without the power to command Tyr", async () => {
    const t = await openIdToken(remoteMember);
    expectRefused(await login(t.access_token, t.matrix_server_name), /may not use the dashboard/);
  });

  it("refuses garbage and expired tokens", async () => {
    expectRefused(await login("garbagegarbage", hs2.serverName), /refused the token/);
    expectRefused(await login("<script>", hs2.serverName), /not an OpenID token/);
    // An expired token: hs2 issued it, then its validity ended (set in hs2's own database).
    const t = await openIdToken(remoteMod);
    const db = new DatabaseSync(join(root, "hs2.localhost", "homeserver.db"));
    try {
      db.prepare("UPDATE open_id_tokens SET ts_valid_until_ms = 0 WHERE token = ?").run(t.access_token);
    } finally {
      db.close();
    }
    expectRefused(await login(t.access_token, t.matrix_server_name), /refused the token/);
  });

  it("refuses a name that does not resolve and a certificate no trusted CA vouches for", async () => {
    const nowhere = await login("sometoken1234", "nowhere.invalid");
    expectRefused(nowhere, /could not reach nowhere\.invalid: its name does not resolve/);
    expect(nowhere.ms).toBeLessThan(30_000);
    const untrusted = await login("sometoken1234", rogueName);
    expectRefused(untrusted, /could not reach rogue\.localhost:\d+: its TLS certificate is not trusted/);
  });

  it("refuses a server that vouches for a user of another server", async () => {
    // evil is reachable and trusted, and names hs2's moderator: a server speaks only for its own users.
    expectRefused(await login("foreign12345", evilName), /user of another server/);
  });

  it("does not follow a redirect to another host, bounds the answer's size and the wait", async () => {
    expectRefused(await login("redirect1234", evilName), /HTTP 302, redirects are not followed/);
    expect(elsewhereConnections).toBe(0);
    expectRefused(await login("huge12345678", evilName), /answer of evil\.localhost:\d+ is too large/);
    const silent = await login("silent123456", evilName);
    expectRefused(silent, /did not answer in time/);
    expect(silent.ms).toBeLessThan(30_000);
  }, 60_000);

  it("never logged a token, and Tyr still answers", async () => {
    const logged = JSON.stringify(bot.logs);
    expect(tokens.length).toBeGreaterThan(4);
    for (const t of tokens) expect(logged).not.toContain(t);
    expect((await fetch(`${base}/dashboard/login`)).status).toBe(200);
  });
});
