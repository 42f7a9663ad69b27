// The redaction algorithm per room version, and the policy server's signature over the redacted
// event: compared with Synapse's own redact_event_dict and verified by Synapse's own code path
// (VerifyJsonRequest.from_event, as RoomPolicyHandler uses it).
import { describe, expect, it } from "vitest";
import { decodeBase64 } from "../../../src/federation/base64.ts";
import { signingKeyFromSeed, verifyKeyFromBytes } from "../../../src/federation/ed25519.ts";
import {
  SUPPORTED_ROOM_VERSIONS,
  redactEvent,
  redactionRules,
  type RedactionRules,
} from "../../../src/federation/redaction.ts";
import {
  POLICY_SERVER_KEY_ID,
  policySignature,
  verifyPolicySignature,
} from "../../../src/federation/policySignature.ts";
import type { JsonObject } from "../../../src/federation/signedJson.ts";
import { synapsePython } from "../../harness/synapsePython.ts";

const ROOM = "!room:hs.example";

function pdu(version: string, type: string, content: unknown, extra: JsonObject = {}): JsonObject {
  const base: JsonObject = {
    type,
    room_id: ROOM,
    sender: "@alice:hs.example",
    content,
    depth: 12,
    prev_events: ["$prev"],
    auth_events: ["$auth1", "$auth2"],
    origin_server_ts: 1_700_000_000_000,
    hashes: { sha256: "FoYV1w3TW/B2mVT0gX2/BZKpCwrrvGXqXFdUhN9LZYU" },
    signatures: { "hs.example": { "ed25519:a_abc": "c2lnbmF0dXJl" } },
    ...extra,
  };
  // Room versions 1 and 2 carry the event ID inside the event, and reference events as [id, hashes].
  if (version === "1" || version === "2") {
    base["event_id"] = `$${type}-${Object.keys(extra).length}:hs.example`;
    base["prev_events"] = [["$prev:hs.example", { sha256: "abc" }]];
    base["auth_events"] = [["$auth1:hs.example", { sha256: "def" }]];
  }
  return base;
}

/** Events that exercise every rule that differs between room versions. */
function corpus(v: string): JsonObject[] {
  return [
    pdu(v, "m.room.message", {
      msgtype: "m.text",
      body: "hello",
      "m.relates_to": { rel_type: "m.thread", event_id: "$t" },
    }),
    pdu(
      v,
      "m.room.message",
      { body: "x" },
      { origin: "hs.example", membership: "join", prev_state: [], junk: 1, redacts: "$r" },
    ),
    pdu(
      v,
      "m.room.message",
      { body: "x" },
      { unsigned: { age_ts: 5, replaces_state: "$s", age: 9, other: 1 } },
    ),
    pdu(v, "m.room.message", { body: "x" }, { unsigned: "not an object" }),
    pdu(v, "m.room.message", "not an object"),
    pdu(
      v,
      "m.room.member",
      {
        membership: "join",
        displayname: "Alice",
        avatar_url: "mxc://x/y",
        join_authorised_via_users_server: "@mod:hs.example",
        third_party_invite: {
          display_name: "a…",
          signed: { mxid: "@alice:hs.example", token: "t", signatures: {} },
        },
      },
      { state_key: "@alice:hs.example" },
    ),
    pdu(
      v,
      "m.room.member",
      { membership: "invite", third_party_invite: { display_name: "x" } },
      { state_key: "@b:x" },
    ),
    pdu(v, "m.room.member", { membership: "invite", third_party_invite: "x" }, { state_key: "@b:x" }),
    pdu(
      v,
      "m.room.create",
      {
        creator: "@alice:hs.example",
        room_version: v,
        "m.federate": true,
        additional_creators: ["@bob:x"],
        type: "m.space",
      },
      { state_key: "" },
    ),
    pdu(v, "m.room.create", JSON.parse('{"__proto__": {"polluted": true}, "room_version": "11"}'), {
      state_key: "",
    }),
    pdu(
      v,
      "m.room.join_rules",
      { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: "!s:x" }], other: 1 },
      { state_key: "" },
    ),
    pdu(
      v,
      "m.room.power_levels",
      {
        users: { "@alice:hs.example": 100 },
        users_default: 0,
        events: { "m.room.name": 50 },
        events_default: 0,
        state_default: 50,
        ban: 50,
        kick: 50,
        redact: 50,
        invite: 0,
        notifications: { room: 50 },
      },
      { state_key: "" },
    ),
    pdu(v, "m.room.aliases", { aliases: ["#a:hs.example"], other: 1 }, { state_key: "hs.example" }),
    pdu(v, "m.room.history_visibility", { history_visibility: "shared", other: 1 }, { state_key: "" }),
    pdu(v, "m.room.redaction", { redacts: "$victim", reason: "spam" }, { redacts: "$victim" }),
    pdu(v, "m.room.policy", { via: "policy.example", public_keys: { ed25519: "abc" } }, { state_key: "" }),
    pdu(v, "org.example.custom", { anything: [1, 2, 3] }, { state_key: "k" }),
  ];
}

function rulesOf(v: string): RedactionRules {
  const r = redactionRules(v);
  if (r === undefined) throw new Error(`no rules for ${v}`);
  return r;
}

describe("redaction per room version", () => {
  it("knows rooms v1–v12 and nothing else", () => {
    expect(SUPPORTED_ROOM_VERSIONS).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]);
    expect(redactionRules("13")).toBeUndefined();
    expect(redactionRules("org.matrix.hydra.11")).toBeUndefined();
    expect(redactionRules("__proto__")).toBeUndefined();
  });

  for (const v of SUPPORTED_ROOM_VERSIONS) {
    it(`v${v}: keeps exactly what the version's rules keep`, () => {
      const n = Number(v);
      const r = rulesOf(v);
      const [message, withExtras, , , , member, , , create, , joinRules, power, aliases, history, redaction] =
        corpus(v).map((e) => redactEvent(e, r)) as JsonObject[];
      expect(message?.["content"]).toEqual({});
      expect(Object.hasOwn(withExtras as JsonObject, "origin")).toBe(n <= 10);
      expect(Object.hasOwn(withExtras as JsonObject, "membership")).toBe(n <= 10);
      expect(Object.hasOwn(withExtras as JsonObject, "prev_state")).toBe(n <= 10);
      expect(withExtras).not.toHaveProperty("junk");
      expect(withExtras).not.toHaveProperty("redacts");
      expect(Object.keys(member?.["content"] as JsonObject).sort()).toEqual(
        [
          "membership",
          ...(n >= 9 ? ["join_authorised_via_users_server"] : []),
          ...(n >= 11 ? ["third_party_invite"] : []),
        ].sort(),
      );
      expect(create?.["content"]).toEqual(
        n >= 11
          ? {
              creator: "@alice:hs.example",
              room_version: v,
              "m.federate": true,
              additional_creators: ["@bob:x"],
              type: "m.space",
            }
          : { creator: "@alice:hs.example" },
      );
      expect(Object.hasOwn(create as JsonObject, "room_id")).toBe(n <= 11);
      expect(Object.hasOwn(joinRules?.["content"] as JsonObject, "allow")).toBe(n >= 8);
      expect(Object.hasOwn(power?.["content"] as JsonObject, "invite")).toBe(n >= 11);
      expect(power?.["content"]).not.toHaveProperty("notifications");
      expect(aliases?.["content"]).toEqual(n <= 5 ? { aliases: ["#a:hs.example"] } : {});
      expect(history?.["content"]).toEqual({ history_visibility: "shared" });
      expect(redaction?.["content"]).toEqual(n >= 11 ? { redacts: "$victim" } : {});
      expect(Object.hasOwn(message as JsonObject, "event_id")).toBe(n <= 2);
    });
  }

  it("keeps a __proto__ content key as a key (v11 create), without touching prototypes", () => {
    const out = redactEvent(corpus("11")[9] as JsonObject, rulesOf("11"));
    const content = out["content"] as JsonObject;
    expect(Object.hasOwn(content, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(content)).toBe(Object.prototype);
    expect(({} as JsonObject)["polluted"]).toBeUndefined();
  });

  it("refuses events without a type or content", () => {
    expect(() => redactEvent({ content: {} }, rulesOf("10"))).toThrow(/type/);
    expect(() => redactEvent({ type: "m.room.message" }, rulesOf("10"))).toThrow(/content/);
  });

  it("equals Synapse's redact_event_dict for every event and room version", () => {
    const input = SUPPORTED_ROOM_VERSIONS.map((v) => ({ v, events: corpus(v) }));
    const theirs = synapsePython(
      `from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.synapse_rust.events import redact_event_dict
print(json.dumps([[redact_event_dict(KNOWN_ROOM_VERSIONS[g["v"]], e) for e in g["events"]] for g in DATA]))`,
      input,
    );
    expect(theirs).toEqual(input.map((g) => g.events.map((e) => redactEvent(e, rulesOf(g.v)))));
  });
});

describe("policy server signature", () => {
  const key = signingKeyFromSeed(new Uint8Array(32).fill(3), "policy_server");
  const verifyKey = verifyKeyFromBytes(decodeBase64(key.publicKeyBase64) as Uint8Array);
  if (verifyKey === undefined) throw new Error("test key did not load");
  /** The corpus as Synapse accepts events: object content and unsigned; no room_id on a v12 create. */
  const wellFormed = (v: string): JsonObject[] =>
    corpus(v)
      .filter(
        (e) => typeof e["content"] === "object" && !("unsigned" in e && typeof e["unsigned"] !== "object"),
      )
      .map((e) => {
        if (v !== "12" || e["type"] !== "m.room.create") return e;
        const { room_id: _dropped, ...rest } = e;
        return rest;
      });

  it("is what Synapse's RoomPolicyHandler accepts, in every room version", () => {
    const input = SUPPORTED_ROOM_VERSIONS.map((v) => ({
      v,
      events: wellFormed(v).map((e) => {
        const signed = policySignature(e, v, "policy.example", key);
        if (!signed.ok) throw new Error(signed.reason);
        const sigs = { ...(e["signatures"] as JsonObject), ...signed.signatures };
        // Sent with its full content and unsigned data: the signature must cover only the redacted form.
        return { ...e, signatures: sigs, unsigned: { age: 3 } };
      }),
    }));
    const results = synapsePython(
      `from synapse.api.room_versions import KNOWN_ROOM_VERSIONS
from synapse.crypto.keyring import VerifyJsonRequest
from synapse.events import make_event_from_dict
from synapse.handlers.room_policy import POLICY_SERVER_KEY_ID
from signedjson.key import decode_verify_key_bytes
from signedjson.sign import verify_signed_json
from unpaddedbase64 import decode_base64
vk = decode_verify_key_bytes(POLICY_SERVER_KEY_ID, decode_base64(DATA["key"]))
out = []
for g in DATA["groups"]:
    for e in g["events"]:
        ev = make_event_from_dict(e, KNOWN_ROOM_VERSIONS[g["v"]])
        try:
            verify_signed_json(VerifyJsonRequest.from_event("policy.example", ev, 0).get_json_object(), "policy.example", vk)
            out.append("ok")
        except Exception as ex:
            out.append(g["v"] + " " + e["type"] + ": " + str(ex))
print(json.dumps(out))`,
      { key: key.publicKeyBase64, groups: input },
    ) as string[];
    expect(results.length).toBeGreaterThan(100);
    expect(results.filter((r) => r !== "ok")).toEqual([]);
    expect(POLICY_SERVER_KEY_ID).toBe("ed25519:policy_server");
  });

  it("survives redaction, breaks when a kept field changes, and verifies with Tyr's own checker", () => {
    const e = corpus("12")[0] as JsonObject;
    const signed = policySignature(e, "12", "policy.example", key);
    if (!signed.ok) throw new Error(signed.reason);
    const withSig = { ...e, signatures: { ...(e["signatures"] as JsonObject), ...signed.signatures } };
    expect(verifyPolicySignature(withSig, "12", "policy.example", verifyKey)).toEqual({ ok: true });
    expect(
      verifyPolicySignature({ ...withSig, content: { body: "edited" } }, "12", "policy.example", verifyKey),
    ).toEqual({
      ok: true,
    });
    expect(
      verifyPolicySignature({ ...withSig, sender: "@mallory:x" }, "12", "policy.example", verifyKey).ok,
    ).toBe(false);
    expect(verifyPolicySignature(withSig, "99", "policy.example", verifyKey)).toEqual({
      ok: false,
      reason: 'unsupported room version "99"',
    });
  });

  it("answers a reason instead of throwing for events it cannot sign", () => {
    expect(
      policySignature({ type: "m.room.message", content: {}, depth: 1.5 }, "10", "p", key),
    ).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/cannot sign/),
    });
    expect(policySignature({ content: {} }, "10", "p", key)).toMatchObject({ ok: false });
    expect(policySignature({ type: "m", content: {} }, "x", "p", key)).toMatchObject({
      ok: false,
      reason: /unsupported/,
    });
  });
});
