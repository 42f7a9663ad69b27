// The policy server key file: generated once (0600, Synapse's format), reloaded as the same key,
// readable by signedjson, and refused with a clear reason — never leaked — when damaged.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateSigningKey, parseSigningKeyFile } from "../../../src/federation/keyStore.ts";
import { synapsePython } from "../../harness/synapsePython.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tyr-keystore-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("policy server signing key file", () => {
  it("is generated once with mode 0600 and reloads as the same key", () => {
    const path = join(dir, "sub", "policy-server.signing.key");
    const first = loadOrCreateSigningKey(path);
    expect(first.created).toBe(true);
    expect(first.key.keyId).toBe("ed25519:policy_server");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8")).toMatch(/^ed25519 policy_server [A-Za-z0-9+/]{43}\n$/);
    const again = loadOrCreateSigningKey(path);
    expect(again).toMatchObject({ created: false });
    expect(again.warning).toBeUndefined();
    expect(again.key.publicKeyBase64).toBe(first.key.publicKeyBase64);
  });

  it("is read by signedjson as the same key (and a Synapse key file is read by Tyr)", () => {
    const path = join(dir, "k");
    const ours = loadOrCreateSigningKey(path).key;
    const theirs = synapsePython(
      `from signedjson.key import read_signing_keys, encode_verify_key_base64, get_verify_key, generate_signing_key, write_signing_keys
import io
k = read_signing_keys(open(DATA["path"]))[0]
buf = io.StringIO(); fresh = generate_signing_key("a_XyZ9"); write_signing_keys(buf, [fresh])
print(json.dumps({"version": k.version, "public": encode_verify_key_base64(get_verify_key(k)),
                  "file": buf.getvalue(), "freshPublic": encode_verify_key_base64(get_verify_key(fresh))}))`,
      { path },
    ) as { version: string; public: string; file: string; freshPublic: string };
    expect(theirs.version).toBe("policy_server");
    expect(theirs.public).toBe(ours.publicKeyBase64);
    const parsed = parseSigningKeyFile(theirs.file);
    expect(parsed.ok && parsed.key.publicKeyBase64).toBe(theirs.freshPublic);
    expect(parsed.ok && parsed.key.keyId).toBe("ed25519:a_XyZ9");
  });

  it("warns when others can read it", () => {
    const path = join(dir, "k");
    loadOrCreateSigningKey(path);
    chmodSync(path, 0o644);
    expect(loadOrCreateSigningKey(path).warning).toMatch(/chmod 600/);
  });

  it("refuses a damaged file with a reason that never contains the key", () => {
    const seed = "A".repeat(43);
    const cases: [string, RegExp][] = [
      ["", /empty/],
      ["\n\n", /empty/],
      [`ed25519 policy_server`, /2 fields/],
      [`rsa v ${seed}`, /unsupported algorithm/],
      [`ed25519 bad:v ${seed}`, /version/],
      [`ed25519 v ${seed}!`, /not valid base64/],
      [`ed25519 v ${"A".repeat(42)}`, /bytes/],
    ];
    for (const [text, reason] of cases) {
      const r = parseSigningKeyFile(text);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.reason).toMatch(reason);
        expect(r.reason).not.toContain("AAAA");
      }
    }
    const path = join(dir, "k");
    writeFileSync(path, `ed25519 v ${"B".repeat(40)}\n`, { mode: 0o600 });
    expect(() => loadOrCreateSigningKey(path)).toThrow(
      /policy server signing key .*unusable.*bytes.*re-enable/,
    );
    try {
      loadOrCreateSigningKey(path);
    } catch (e) {
      expect((e as Error).message).not.toContain("BBBB");
    }
    // The damaged file is left alone: a new key would silently invalidate the published one.
    expect(readFileSync(path, "utf8")).toContain("BBBB");
  });

  it("uses the first key of a multi-key file and skips blank lines, as Synapse does", () => {
    const path = join(dir, "k");
    const a = loadOrCreateSigningKey(path).key;
    const text = readFileSync(path, "utf8");
    const r = parseSigningKeyFile(`\n${text}ed25519 other ${"C".repeat(43)}\n`);
    expect(r.ok && r.key.publicKeyBase64).toBe(a.publicKeyBase64);
  });
});
