// Fetching a remote server's keys over the network: a real HTTPS server on loopback with a
// self-signed certificate. Loopback and self-signed are refused unless the test-only settings allow
// them; answers that are too large or too slow fail with a reason; the key cache works end to end.
import { createServer, type Server } from "node:https";
import { readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signingKeyFromSeed } from "../../../src/federation/ed25519.ts";
import {
  httpsGetJson,
  isPrivateAddress,
  networkKeyFetcher,
  networkLookups,
} from "../../../src/federation/keyFetch.ts";
import { ServerKeyCache } from "../../../src/federation/keyCache.ts";
import { signJson } from "../../../src/federation/signedJson.ts";
import { selfSignedCert } from "../../harness/tls.ts";

const key = signingKeyFromSeed(new Uint8Array(32).fill(7), "k1");
let server: Server;
let port = 0;
let serverName = "";
const noLookups = {
  fetchWellKnown: () => Promise.reject(new Error("no well-known in this test")),
  resolveSrv: () => Promise.resolve([]),
};
const TEST_ONLY = {
  timeoutMs: 2_000,
  maxBytes: 64 * 1024,
  allowPrivateAddresses: true,
  acceptSelfSigned: true,
};

beforeAll(async () => {
  const { cert, key: tlsKey } = selfSignedCert(mkdtempSync(join(tmpdir(), "tyr-keyfetch-")), "127.0.0.1");
  server = createServer({ cert: readFileSync(cert), key: readFileSync(tlsKey) }, (req, res) => {
    if (req.url === "/_matrix/key/v2/server") {
      const body = signJson(
        {
          server_name: serverName,
          valid_until_ts: Date.now() + 3_600_000,
          verify_keys: { [key.keyId]: { key: key.publicKeyBase64 } },
        },
        serverName,
        key,
      );
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(body));
    } else if (req.url === "/huge") res.end(JSON.stringify({ x: "y".repeat(200_000) }));
    else if (req.url === "/slow") setTimeout(() => res.end("{}"), 5_000).unref();
    else {
      res.statusCode = 404;
      res.end("{}");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as { port: number }).port;
  serverName = `127.0.0.1:${port}`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const target = () => ({ host: "127.0.0.1", port, hostHeader: serverName, tlsName: "127.0.0.1" });

describe("isPrivateAddress", () => {
  it("refuses loopback, private, link-local, CGNAT and unspecified addresses, v4 and v6", () => {
    for (const ip of ["127.0.0.1", "10.1.2.3", "172.20.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1"])
      expect(isPrivateAddress(ip), ip).toBe(true);
    for (const ip of [
      "0.0.0.0",
      "::1",
      "::",
      "fd00::1",
      "fe80::1",
      "::ffff:127.0.0.1",
      "::ffff:10.0.0.1",
      "nonsense",
    ])
      expect(isPrivateAddress(ip), ip).toBe(true);
    for (const ip of ["1.1.1.1", "93.184.216.34", "2001:4860:4860::8888", "::ffff:8.8.8.8"])
      expect(isPrivateAddress(ip), ip).toBe(false);
  });
});

describe("httpsGetJson", () => {
  it("refuses a loopback server unless the test-only setting allows it", async () => {
    await expect(
      httpsGetJson(target(), "/_matrix/key/v2/server", { ...TEST_ONLY, allowPrivateAddresses: false }),
    ).rejects.toThrow(/private or loopback/);
    // A name that resolves to loopback is refused at the lookup too.
    await expect(
      httpsGetJson({ ...target(), host: "localhost" }, "/_matrix/key/v2/server", {
        ...TEST_ONLY,
        allowPrivateAddresses: false,
      }),
    ).rejects.toThrow(/private or loopback/);
  });

  it("resolves names under .localhost to loopback (RFC 6761), still refused without the test-only setting", async () => {
    const local = { ...target(), host: "hs9.localhost" };
    await expect(httpsGetJson(local, "/_matrix/key/v2/server", TEST_ONLY)).resolves.toMatchObject({
      server_name: serverName,
    });
    await expect(
      httpsGetJson(local, "/_matrix/key/v2/server", { ...TEST_ONLY, allowPrivateAddresses: false }),
    ).rejects.toThrow(/private or loopback/);
  });

  it("refuses a self-signed certificate unless the test-only setting allows it", async () => {
    await expect(
      httpsGetJson(target(), "/_matrix/key/v2/server", { ...TEST_ONLY, acceptSelfSigned: false }),
    ).rejects.toThrow(/self.signed|certificate/i);
  });

  it("caps the answer's size, times out, and refuses non-200 answers", async () => {
    await expect(httpsGetJson(target(), "/huge", TEST_ONLY)).rejects.toThrow(/larger than 65536 bytes/);
    await expect(httpsGetJson(target(), "/slow", { ...TEST_ONLY, timeoutMs: 200 })).rejects.toThrow(
      /within 200 ms/,
    );
    await expect(httpsGetJson(target(), "/nothing", TEST_ONLY)).rejects.toThrow(/HTTP 404/);
  });
});

describe("networkKeyFetcher with the key cache", () => {
  it("resolves the server name, fetches and verifies its keys over HTTPS", async () => {
    const cache = new ServerKeyCache({ fetchKeys: networkKeyFetcher(TEST_ONLY, noLookups) });
    const r = await cache.verifyKey(serverName, key.keyId);
    expect(r.ok).toBe(true);
    expect(cache.fetches).toBe(1);
    expect((await cache.verifyKey(serverName, key.keyId)).ok).toBe(true);
    expect(cache.fetches).toBe(1);
  });

  it("never contacts a server mayFetch refuses", async () => {
    const cache = new ServerKeyCache({
      fetchKeys: networkKeyFetcher(TEST_ONLY, noLookups),
      mayFetch: () => false,
    });
    const r = await cache.verifyKey(serverName, key.keyId);
    expect(r).toEqual({ ok: false, reason: `${serverName} is not a server Tyr accepts requests from` });
    expect(cache.fetches).toBe(0);
  });
});

describe("networkLookups", () => {
  it("asks a host's well-known once per cache period, failures included", async () => {
    let now = 1_000_000;
    const asked: string[] = [];
    const lookups = networkLookups({ ...TEST_ONLY, wellKnownCacheMs: 60_000, now: () => now }, async (t) => {
      asked.push(t.host);
      if (t.host === "down.example") throw new Error("unreachable");
      return { "m.server": "matrix.example:443" };
    });
    for (let i = 0; i < 3; i++) {
      expect(await lookups.fetchWellKnown("up.example")).toEqual({ "m.server": "matrix.example:443" });
      expect(await lookups.fetchWellKnown("down.example")).toBeUndefined();
    }
    expect(asked).toEqual(["up.example", "down.example"]);
    now += 60_000;
    await lookups.fetchWellKnown("up.example");
    expect(asked).toEqual(["up.example", "down.example", "up.example"]);
  });
});
