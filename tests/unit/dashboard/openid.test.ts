// The OpenID verifier against Tyr's OWN homeserver (reached at homeserverUrl) when that server
// misbehaves: a redirect to another host is not followed, a huge answer is cut off, a user of
// another server is refused. Local HTTP servers on loopback play the misbehaving homeserver.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { networkOpenIdVerifier, openIdFailure } from "../../../src/dashboard/openid.ts";
import { HttpStatusError } from "../../../src/federation/keyFetch.ts";

const listen = async (s: Server): Promise<string> => {
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
};

describe("networkOpenIdVerifier, own homeserver", () => {
  let elsewhereHits = 0;
  const elsewhere = createServer((_req, res) => {
    elsewhereHits += 1;
    res.end(JSON.stringify({ sub: "@mod:own.example" }));
  });
  let elsewhereUrl = "";
  const own = createServer((req, res) => {
    const token = new URL(req.url ?? "/", "http://x").searchParams.get("access_token") ?? "";
    if (token.startsWith("redirect")) {
      res.writeHead(302, { Location: `${elsewhereUrl}${req.url}` });
      return res.end();
    }
    if (token.startsWith("huge"))
      return res.end(JSON.stringify({ sub: "@mod:own.example", pad: "x".repeat(5e6) }));
    if (token.startsWith("foreign")) return res.end(JSON.stringify({ sub: "@mod:other.example" }));
    if (token.startsWith("good")) return res.end(JSON.stringify({ sub: "@mod:own.example" }));
    res.writeHead(401).end("{}");
  });
  let verifier: ReturnType<typeof networkOpenIdVerifier>;

  beforeAll(async () => {
    elsewhereUrl = await listen(elsewhere);
    verifier = networkOpenIdVerifier({
      ownServer: "own.example",
      homeserverUrl: await listen(own),
      allowPrivateAddresses: false,
      timeoutMs: 5_000,
    });
  });
  afterAll(() => {
    own.close();
    elsewhere.close();
  });

  it("accepts a user of the server asked, refuses a user of another server", async () => {
    expect(await verifier.verify("good12345", "own.example")).toEqual({ ok: true, user: "@mod:own.example" });
    expect(await verifier.verify("foreign12345", "own.example")).toEqual({
      ok: false,
      error: "the homeserver named a user of another server",
    });
  });

  it("does not follow a redirect to another host", async () => {
    const r = await verifier.verify("redirect12345", "own.example");
    expect(r.ok).toBe(false);
    expect(elsewhereHits).toBe(0);
  });

  it("refuses an answer larger than the bound", async () => {
    expect(await verifier.verify("huge12345", "own.example")).toEqual({
      ok: false,
      error: "the answer of own.example is too large",
    });
  });

  it("does not reach another server at a loopback address unless allowed", async () => {
    for (const name of ["127.0.0.1:8448", "hs.localhost"])
      expect(await verifier.verify("good12345", name)).toEqual({
        ok: false,
        error: `could not reach ${name}: it is on a private or loopback address (allowed only with dashboard.allowPrivateHomeservers)`,
      });
  });

  it("says why, never with the request path (it holds the token)", async () => {
    const r = await verifier.verify("expired12345", "own.example");
    expect(r).toEqual({
      ok: false,
      error: "own.example refused the token (HTTP 401); it may be expired, log in again",
    });
    expect(openIdFailure(new HttpStatusError(500, "x"), "a.example")).not.toContain("/_matrix");
    expect(
      openIdFailure(Object.assign(new Error(), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }), "a.example"),
    ).toBe("could not reach a.example: its TLS certificate is not trusted (DEPTH_ZERO_SELF_SIGNED_CERT)");
  });
});
