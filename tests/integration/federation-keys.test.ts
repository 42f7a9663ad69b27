// Tyr's key fetcher against a real Synapse: the keys Synapse publishes at /_matrix/key/v2/server
// verify as self-signed, match its signing key file, and authenticate a federation request whose
// X-Matrix header Synapse's own client code signed with that key.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { DEV_DIR, type Synapse } from "../harness/synapse.ts";
import { synapsePython } from "../harness/synapsePython.ts";
import { federatedHomeserver } from "../harness/federation.ts";
import { ServerKeyCache } from "../../src/federation/keyCache.ts";
import { parseSigningKeyFile } from "../../src/federation/keyStore.ts";
import { parseXMatrix, verifyXMatrix } from "../../src/federation/xMatrix.ts";

const root = join(DEV_DIR, `federation-keys-${process.pid}`);

/** GET over TLS without checking the test server's self-signed certificate. */
function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(url, { rejectUnauthorized: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.end();
  });
}

describe("server keys from a real Synapse", () => {
  let hs: Synapse;
  let fedPort: string;

  beforeAll(async () => {
    hs = await federatedHomeserver(root, "keys.localhost");
    fedPort = hs.serverName.split(":")[1] as string;
  });
  afterAll(async () => {
    await hs?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  /** Every server name resolves to this one Synapse: what a name is asked for is what is checked. */
  const fetchKeys = () => getJson(`https://127.0.0.1:${fedPort}/_matrix/key/v2/server`);

  it("verifies Synapse's published key, and it is the key in Synapse's signing key file", async () => {
    const file = parseSigningKeyFile(readFileSync(join(hs.dir, "signing.key"), "utf8"));
    if (!file.ok) throw new Error(file.reason);
    const cache = new ServerKeyCache({ fetchKeys });
    const found = await cache.verifyKey(hs.serverName, file.key.keyId);
    expect(found).toMatchObject({ ok: true });
    if (!found.ok) return;
    expect(found.key.export({ format: "der", type: "spki" }).subarray(-32)).toEqual(
      file.key.publicKey.export({ format: "der", type: "spki" }).subarray(-32),
    );
    // The same response offered as another server's is refused.
    expect(await cache.verifyKey("impostor.localhost", file.key.keyId)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not impostor\.localhost/),
    });
    expect(await cache.verifyKey(hs.serverName, "ed25519:not_there")).toMatchObject({
      ok: false,
      reason: /publishes no key/,
    });
  });

  it("authenticates a request Synapse's federation client signed with its real key", async () => {
    const uri = "/_matrix/policy/v1/sign";
    const content = {
      type: "m.room.message",
      room_id: "!r:x",
      sender: `@a:${hs.serverName}`,
      content: { body: "hi" },
    };
    const [header] = synapsePython(
      `from types import SimpleNamespace
from signedjson.key import read_signing_keys
from synapse.http.matrixfederationclient import MatrixFederationHttpClient
me = SimpleNamespace(server_name=DATA["origin"], signing_key=read_signing_keys(open(DATA["keyFile"]))[0])
print(json.dumps([h.decode() for h in MatrixFederationHttpClient.build_auth_headers(me, b"tyr.example", b"POST", DATA["uri"].encode(), DATA["content"])]))`,
      { origin: hs.serverName, keyFile: join(hs.dir, "signing.key"), uri, content },
    ) as string[];
    const parsed = parseXMatrix(header as string);
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(parsed.auth.origin).toBe(hs.serverName);
    const cache = new ServerKeyCache({ fetchKeys });
    const key = await cache.verifyKey(parsed.auth.origin, parsed.auth.key);
    if (!key.ok) throw new Error(key.reason);
    expect(verifyXMatrix(parsed.auth, { method: "POST", uri, content }, "tyr.example", key.key)).toEqual({
      ok: true,
    });
    expect(
      verifyXMatrix(
        parsed.auth,
        { method: "POST", uri, content: { ...content, sender: "@b:x" } },
        "tyr.example",
        key.key,
      ).ok,
    ).toBe(false);
  });
});
