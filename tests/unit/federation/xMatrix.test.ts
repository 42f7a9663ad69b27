// X-Matrix request authentication: headers Synapse builds verify with Tyr, headers Tyr builds parse
// and verify with Synapse's own code, and no malformed header makes the parser throw.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decodeBase64, encodeUnpaddedBase64 } from "../../../src/federation/base64.ts";
import { signingKeyFromSeed, verifyKeyFromBytes } from "../../../src/federation/ed25519.ts";
import { isValidServerName } from "../../../src/federation/serverName.ts";
import {
  MAX_AUTH_HEADER_LENGTH,
  buildXMatrix,
  parseXMatrix,
  verifyXMatrix,
  type XMatrixAuth,
} from "../../../src/federation/xMatrix.ts";
import { synapsePython } from "../../harness/synapsePython.ts";

const seed = new Uint8Array(32).map((_, i) => 255 - i);
const remoteKey = signingKeyFromSeed(seed, "a_Rem0te");
const remoteVerify = verifyKeyFromBytes(decodeBase64(remoteKey.publicKeyBase64) as Uint8Array);
if (remoteVerify === undefined) throw new Error("test key did not load");
const URI = "/_matrix/policy/v1/sign";

function parsed(header: string): XMatrixAuth {
  const r = parseXMatrix(header);
  if (!r.ok) throw new Error(r.reason);
  return r.auth;
}

describe("server names", () => {
  it("accepts the spec's forms and refuses the rest", () => {
    for (const ok of [
      "matrix.org",
      "hs1.localhost:8481",
      "1.2.3.4",
      "1.2.3.4:8448",
      "[::1]",
      "[1234:5678::abcd]:443",
      "localhost",
    ])
      expect(isValidServerName(ok), ok).toBe(true);
    for (const bad of [
      "",
      "a..b",
      "a_b.org",
      "ex ample.org",
      "[::1",
      "[::1]x",
      "[zz::1]",
      "a.org:",
      "a.org:0",
      "a.org:65536",
      "a.org:123456",
      "é.org",
      "a/b",
      `${"a".repeat(256)}`,
    ])
      expect(isValidServerName(bad), bad).toBe(false);
  });
});

describe("X-Matrix header parsing", () => {
  it("reads the layout Synapse sends", () => {
    expect(
      parsed('X-Matrix origin="hs1.example",key="ed25519:a_Rem0te",sig="c2ln",destination="tyr.example"'),
    ).toEqual({
      origin: "hs1.example",
      key: "ed25519:a_Rem0te",
      sig: "c2ln",
      destination: "tyr.example",
    });
  });

  it("follows the grammar: any case, spaces and tabs around commas, tokens, escapes, unknown params", () => {
    const auth = parsed(
      'x-matrix   ORIGIN=hs1.example:8448 ,\tKey="ed25519:k1" , sig=ab/c+d= ,extra="x\\"y",destination="t\\.example"',
    );
    expect(auth).toEqual({
      origin: "hs1.example:8448",
      key: "ed25519:k1",
      sig: "ab/c+d=",
      destination: "t.example",
    });
    // destination is optional for servers older than spec v1.3.
    expect(parsed('X-Matrix origin=a.org,key="ed25519:k",sig="s"')).toEqual({
      origin: "a.org",
      key: "ed25519:k",
      sig: "s",
    });
  });

  it("refuses malformed headers with a reason", () => {
    const cases: [string, RegExp][] = [
      ["Bearer abc", /not of the X-Matrix scheme/],
      ["X-Matrix", /not of the X-Matrix scheme/],
      ['X-Matrixorigin="a"', /not of the X-Matrix scheme/],
      ["X-Matrix ", /expected a parameter name/],
      ['X-Matrix origin="a.org",key="ed25519:k"', /no sig/],
      ['X-Matrix key="ed25519:k",sig="s"', /no origin/],
      ['X-Matrix origin="a.org",sig="s"', /no key/],
      ['X-Matrix origin="a.org",origin="b.org",key="ed25519:k",sig="s"', /appears twice/],
      ['X-Matrix origin="a.org,key="ed25519:k",sig="s"', /position|unexpected|unterminated/],
      ['X-Matrix origin="a.org', /unterminated/],
      ['X-Matrix origin="bad host",key="ed25519:k",sig="s"', /origin is not a valid server name/],
      ['X-Matrix origin="a.org",destination="x y",key="ed25519:k",sig="s"', /destination is not a valid/],
      ['X-Matrix origin="a.org",key="rsa:k",sig="s"', /not an ed25519 key ID/],
      ['X-Matrix origin="a.org",key="ed25519:",sig="s"', /not an ed25519 key ID/],
      ['X-Matrix origin="a.org" key="ed25519:k",sig="s"', /unexpected character/],
      ["X-Matrix origin=,key=k", /empty value/],
      ['X-Matrix origin="a\u0000.org",key="ed25519:k",sig="s"', /control character/],
      ["X-Matrix =x", /expected a parameter name/],
      ["X-Matrix origin", /no value/],
      [`X-Matrix origin="${"a".repeat(MAX_AUTH_HEADER_LENGTH)}"`, /longer than/],
    ];
    for (const [header, reason] of cases) {
      const r = parseXMatrix(header);
      expect(r.ok, header).toBe(false);
      if (!r.ok) expect(r.reason, header).toMatch(reason);
    }
  });

  it("never throws on 3,000 malformed headers, and anything it accepts is well-formed", () => {
    const valid = buildXMatrix({
      method: "POST",
      uri: URI,
      origin: "hs1.example",
      destination: "tyr.example",
      content: { a: 1 },
      key: remoteKey,
    });
    const mutated = fc
      .tuple(fc.nat(valid.length), fc.nat(8), fc.string({ unit: "binary", maxLength: 6 }))
      .map(([at, cut, insert]) => valid.slice(0, at) + insert + valid.slice(at + cut));
    const headers = fc.oneof(
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.string({ maxLength: 200 }).map((s) => `X-Matrix ${s}`),
      fc
        .array(
          fc.constantFrom(
            "X-Matrix ",
            "origin",
            "key",
            "sig",
            "destination",
            "=",
            '"',
            "\\",
            ",",
            " ",
            "\t",
            "a.org",
            "ed25519:k",
            ":",
          ),
          { maxLength: 30 },
        )
        .map((parts) => parts.join("")),
      mutated,
    );
    let accepted = 0;
    fc.assert(
      fc.property(headers, (h) => {
        const r = parseXMatrix(h);
        if (r.ok) {
          accepted++;
          expect(isValidServerName(r.auth.origin)).toBe(true);
          expect(r.auth.key).toMatch(/^ed25519:[A-Za-z0-9_]+$/);
          // Whatever was accepted must still be checked by the signature.
          const v = verifyXMatrix(
            r.auth,
            { method: "POST", uri: URI, content: { a: 1 } },
            "tyr.example",
            remoteVerify,
          );
          if (h === valid) expect(v).toEqual({ ok: true });
        } else expect(r.reason.length).toBeGreaterThan(0);
      }),
      { numRuns: 3000, seed: 7 },
    );
    expect(accepted).toBeGreaterThan(0);
  });
});

describe("X-Matrix verification", () => {
  const content = { type: "m.room.message", content: { body: "héllo \u{1F600}" }, depth: 3 };

  it("accepts a header Synapse's federation client builds", () => {
    const headers = synapsePython(
      `from types import SimpleNamespace
from signedjson.key import decode_signing_key_base64
from synapse.http.matrixfederationclient import MatrixFederationHttpClient
me = SimpleNamespace(server_name="hs1.example", signing_key=decode_signing_key_base64("ed25519", "a_Rem0te", DATA["seed"]))
hs = MatrixFederationHttpClient.build_auth_headers(me, b"tyr.example", b"POST", DATA["uri"].encode(), DATA["content"])
print(json.dumps([h.decode() for h in hs]))`,
      { seed: encodeUnpaddedBase64(seed), uri: `${URI}?x=1`, content },
    ) as string[];
    expect(headers).toHaveLength(1);
    const auth = parsed(headers[0] as string);
    expect(
      verifyXMatrix(auth, { method: "POST", uri: `${URI}?x=1`, content }, "tyr.example", remoteVerify),
    ).toEqual({ ok: true });
    // Anything signed that differs is refused.
    expect(
      verifyXMatrix(auth, { method: "PUT", uri: `${URI}?x=1`, content }, "tyr.example", remoteVerify).ok,
    ).toBe(false);
    expect(verifyXMatrix(auth, { method: "POST", uri: URI, content }, "tyr.example", remoteVerify).ok).toBe(
      false,
    );
    expect(
      verifyXMatrix(
        auth,
        { method: "POST", uri: `${URI}?x=1`, content: { ...content, depth: 4 } },
        "tyr.example",
        remoteVerify,
      ).ok,
    ).toBe(false);
    expect(verifyXMatrix(auth, { method: "POST", uri: `${URI}?x=1` }, "tyr.example", remoteVerify).ok).toBe(
      false,
    );
    expect(
      verifyXMatrix(auth, { method: "POST", uri: `${URI}?x=1`, content }, "other.example", remoteVerify),
    ).toEqual({
      ok: false,
      reason: "the request is for tyr.example, not other.example",
    });
    // A header without destination is checked against Tyr's own name (as Synapse does).
    const { destination: _d, ...noDest } = auth;
    expect(
      verifyXMatrix(noDest, { method: "POST", uri: `${URI}?x=1`, content }, "tyr.example", remoteVerify),
    ).toEqual({ ok: true });
    expect(
      verifyXMatrix(noDest, { method: "POST", uri: `${URI}?x=1`, content }, "other.example", remoteVerify).ok,
    ).toBe(false);
  });

  it("builds a header Synapse's federation server parses and verifies", () => {
    const header = buildXMatrix({
      method: "POST",
      uri: URI,
      origin: "hs1.example",
      destination: "tyr.example",
      content,
      key: remoteKey,
    });
    const result = synapsePython(
      `from signedjson.key import decode_verify_key_bytes
from signedjson.sign import verify_signed_json
from unpaddedbase64 import decode_base64
from synapse.federation.transport.server._base import _parse_auth_header
origin, key, sig, destination = _parse_auth_header(DATA["header"].encode())
req = {"method": "POST", "uri": DATA["uri"], "destination": "tyr.example", "origin": origin, "content": DATA["content"], "signatures": {origin: {key: sig}}}
verify_signed_json(req, origin, decode_verify_key_bytes(key, decode_base64(DATA["public"])))
print(json.dumps([origin, key, destination]))`,
      { header, uri: URI, content, public: remoteKey.publicKeyBase64 },
    );
    expect(result).toEqual(["hs1.example", "ed25519:a_Rem0te", "tyr.example"]);
  });

  it("round-trips random requests, and a wrong key never verifies", () => {
    const otherVerify = verifyKeyFromBytes(
      decodeBase64(signingKeyFromSeed(new Uint8Array(32).fill(9), "x").publicKeyBase64) as Uint8Array,
    );
    if (otherVerify === undefined) throw new Error("key did not load");
    fc.assert(
      fc.property(
        fc.constantFrom("GET", "POST", "PUT"),
        fc.string({ unit: "binary", maxLength: 30 }).map((s) => `/_matrix/x/${encodeURIComponent(s)}`),
        fc.option(
          fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ unit: "binary", maxLength: 10 }), {
            maxKeys: 3,
          }),
          { nil: undefined },
        ),
        (method, uri, body) => {
          const h = buildXMatrix({
            method,
            uri,
            origin: "hs1.example",
            destination: "tyr.example",
            content: body,
            key: remoteKey,
          });
          const auth = parsed(h);
          expect(verifyXMatrix(auth, { method, uri, content: body }, "tyr.example", remoteVerify)).toEqual({
            ok: true,
          });
          expect(verifyXMatrix(auth, { method, uri, content: body }, "tyr.example", otherVerify).ok).toBe(
            false,
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});
