import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  allEventTypesFor,
  canonicalSha256,
  eventTypeFor,
  MAX_ENTITY_LENGTH,
  MAX_REASON_LENGTH,
  parsePolicyEvent,
  policyType,
  TYR_EXCEPTION,
} from "../../../src/banlists/parse.ts";

const LIST = "!list:example.org";
const ev = (type: string, content: unknown, extra: Record<string, unknown> = {}) => ({
  type,
  state_key: "rule:1",
  content,
  event_id: "$e1",
  sender: "@mod:example.org",
  ...extra,
});

describe("policy event types", () => {
  const kinds = ["user", "room", "server"] as const;
  const prefixes = [
    ["m.policy.rule.", 2],
    ["m.room.rule.", 1],
    ["org.matrix.mjolnir.rule.", 0],
  ] as const;
  for (const kind of kinds) {
    for (const [prefix, generation] of prefixes) {
      it(`${prefix}${kind} is a ${kind} rule of generation ${generation}`, () => {
        expect(policyType(`${prefix}${kind}`)).toEqual({ kind, generation });
      });
    }
  }
  it("rejects other types", () => {
    for (const t of [
      "m.policy.rule",
      "m.policy.rule.users",
      "m.policy.rule.",
      "m.room.member",
      "",
      5,
      null,
      undefined,
    ]) {
      expect(policyType(t)).toBeNull();
    }
  });
  it("names the types for writing and clearing", () => {
    expect(eventTypeFor("user")).toBe("m.policy.rule.user");
    expect(allEventTypesFor("server")).toEqual([
      "m.policy.rule.server",
      "m.room.rule.server",
      "org.matrix.mjolnir.rule.server",
    ]);
  });
});

describe("recommendations", () => {
  const table: [string, "ban" | "takedown" | "exception" | null][] = [
    ["m.ban", "ban"],
    ["org.matrix.mjolnir.ban", "ban"],
    ["m.takedown", "takedown"],
    ["org.matrix.msc4204.takedown", "takedown"],
    [TYR_EXCEPTION, "exception"],
    ["m.allow", null],
    ["org.matrix.msc4150.allow", null],
    ["org.matrix.mjolnir.allow", null],
    ["M.BAN", null],
    ["m.ban ", null],
    ["ban", null],
    ["", null],
  ];
  for (const type of ["m.policy.rule.user", "m.room.rule.user", "org.matrix.mjolnir.rule.user"]) {
    for (const [recommendation, expected] of table) {
      it(`${type} ${JSON.stringify(recommendation)} → ${expected ?? "ignored"}`, () => {
        const r = parsePolicyEvent(
          LIST,
          ev(type, { entity: "@spam:evil.org", recommendation, reason: "spam" }),
        );
        if (expected === null) {
          expect(r.rule).toBeNull();
          expect(r.reason).toMatch(/recommendation/);
        } else {
          expect(r.rule).toEqual({
            list: LIST,
            kind: "user",
            entity: "@spam:evil.org",
            recommendation: expected,
            reason: "spam",
            eventType: type,
            stateKey: "rule:1",
            eventId: "$e1",
            sender: "@mod:example.org",
          });
          expect(Object.isFrozen(r.rule)).toBe(true);
        }
      });
    }
  }
  it("says why allow-list recommendations are ignored", () => {
    const r = parsePolicyEvent(LIST, ev("m.policy.rule.user", { entity: "@a:b", recommendation: "m.allow" }));
    expect(r.reason).toMatch(/allow-list/);
  });
});

describe("removals and garbage", () => {
  it("{} is a removal without complaint", () => {
    const r = parsePolicyEvent(LIST, ev("m.policy.rule.user", {}));
    expect(r).toEqual({ rule: null, removal: true, type: { kind: "user", generation: 2 } });
  });

  const garbage: [string, unknown, RegExp][] = [
    ["content null", null, /content/],
    ["content number", 5, /content/],
    ["content array", [1, 2], /content/],
    ["content string", "m.ban", /content/],
    ["no recommendation", { entity: "@a:b" }, /recommendation/],
    ["numeric recommendation", { entity: "@a:b", recommendation: 1 }, /recommendation/],
    ["object recommendation", { entity: "@a:b", recommendation: { x: "m.ban" } }, /recommendation/],
    ["no entity", { recommendation: "m.ban" }, /entity is missing/],
    ["null entity", { entity: null, recommendation: "m.ban" }, /not a string/],
    ["numeric entity", { entity: 42, recommendation: "m.ban" }, /not a string/],
    ["array entity", { entity: ["@a:b"], recommendation: "m.ban" }, /not a string/],
    ["nested entity", { entity: { entity: "@a:b" }, recommendation: "m.ban" }, /not a string/],
    ["empty entity", { entity: "", recommendation: "m.ban" }, /empty/],
    ["huge entity", { entity: "@" + "a".repeat(10_000) + ":b", recommendation: "m.ban" }, /limit/],
    ["whitespace entity", { entity: "@a b:c", recommendation: "m.ban" }, /whitespace/],
    ["newline entity", { entity: "@a:c\n", recommendation: "m.ban" }, /whitespace/],
    ["no sigil", { entity: "spammer:evil.org", recommendation: "m.ban" }, /start with @/],
    ["no server", { entity: "@spammer", recommendation: "m.ban" }, /server part/],
    ["hashes not object", { recommendation: "m.ban", "org.matrix.msc4205.hashes": "abc" }, /not an object/],
    ["hash not string", { recommendation: "m.ban", "org.matrix.msc4205.hashes": { sha256: 5 } }, /sha256/],
    [
      "hash wrong length",
      { recommendation: "m.ban", "org.matrix.msc4205.hashes": { sha256: "abc" } },
      /digest/,
    ],
  ];
  for (const [name, content, reason] of garbage) {
    it(`${name}: no rule, with a reason`, () => {
      const r = parsePolicyEvent(LIST, ev("m.policy.rule.user", content));
      expect(r.rule).toBeNull();
      expect(r.removal).toBeUndefined();
      expect(r.reason).toMatch(reason);
    });
  }

  it("entities up to the limit are accepted", () => {
    const entity = "@" + "a".repeat(MAX_ENTITY_LENGTH - 3) + ":b";
    expect(entity.length).toBe(MAX_ENTITY_LENGTH);
    expect(
      parsePolicyEvent(LIST, ev("m.policy.rule.user", { entity, recommendation: "m.ban" })).rule?.entity,
    ).toBe(entity);
  });

  it("rejects malformed events", () => {
    expect(parsePolicyEvent(LIST, null).reason).toMatch(/not an object/);
    expect(parsePolicyEvent(LIST, [1]).reason).toMatch(/not an object/);
    expect(parsePolicyEvent(LIST, { type: "m.room.message", content: {} }).type).toBeNull();
    const noKey = { type: "m.policy.rule.user", content: { entity: "@a:b", recommendation: "m.ban" } };
    expect(parsePolicyEvent(LIST, noKey).reason).toMatch(/state_key/);
    expect(parsePolicyEvent(LIST, { ...noKey, state_key: 7 }).reason).toMatch(/state_key/);
    expect(parsePolicyEvent(LIST, { ...noKey, state_key: "é".repeat(128) }).reason).toMatch(/255 bytes/);
    expect(parsePolicyEvent(LIST, { ...noKey, state_key: "é".repeat(127) }).rule).not.toBeNull();
  });

  it("drops non-string reasons, event IDs and senders, and cuts long reasons", () => {
    for (const reason of [5, null, ["x"], { a: 1 }, true]) {
      const r = parsePolicyEvent(
        LIST,
        ev(
          "m.policy.rule.user",
          { entity: "@a:b", recommendation: "m.ban", reason },
          {
            event_id: 5,
            sender: null,
          },
        ),
      );
      expect(r.rule).not.toBeNull();
      expect(r.rule).not.toHaveProperty("reason");
      expect(r.rule).not.toHaveProperty("eventId");
      expect(r.rule).not.toHaveProperty("sender");
    }
    const long = parsePolicyEvent(
      LIST,
      ev("m.policy.rule.user", { entity: "@a:b", recommendation: "m.ban", reason: "x".repeat(100_000) }),
    );
    expect(long.rule?.reason?.length).toBe(MAX_REASON_LENGTH);
    expect(long.rule?.reason?.endsWith("…")).toBe(true);
  });

  it("ignores unknown extra fields", () => {
    const r = parsePolicyEvent(
      LIST,
      ev("m.policy.rule.user", {
        entity: "@a:b",
        recommendation: "m.ban",
        extra: { deep: [1, { x: null }] },
      }),
    );
    expect(r.rule?.entity).toBe("@a:b");
  });
});

describe("entities by kind", () => {
  const table: [kind: string, entity: string, ok: boolean][] = [
    ["user", "@spam:evil.org", true],
    ["user", "@*:evil.org", true],
    ["user", "*spam*", true],
    ["user", "?spam*", true],
    ["user", "@spam*", true],
    ["user", "#room:evil.org", false],
    ["room", "!abc:evil.org", true],
    ["room", "!abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", true], // room v12: no server part
    ["room", "#spam:evil.org", true],
    ["room", "#*:evil.org", true],
    ["room", "*", true],
    ["room", "@user:evil.org", false],
    ["server", "evil.org", true],
    ["server", "*.evil.org", true],
    ["server", "evil.org:8448", true],
    ["server", "[::1]", true],
    ["server", "1.2.3.4", true],
    ["server", "*", true],
    ["server", "@evil.org", false],
    ["server", "evil.org/path", false],
    ["server", "évil.org", false],
  ];
  for (const [kind, entity, ok] of table) {
    it(`${kind} ${entity} → ${ok ? "accepted" : "rejected"}`, () => {
      const r = parsePolicyEvent(LIST, ev(`m.policy.rule.${kind}`, { entity, recommendation: "m.ban" }));
      if (ok) expect(r.rule?.entity).toBe(entity);
      else {
        expect(r.rule).toBeNull();
        expect(r.reason).toBeTruthy();
      }
    });
  }
});

describe("hashed entities (MSC4205)", () => {
  const digest = createHash("sha256").update("@yarrgh:example.com").digest("base64");
  const unpadded = digest.replace(/=+$/, "");

  it("reads org.matrix.msc4205.hashes with no entity, padded or not", () => {
    for (const sha256 of [digest, unpadded]) {
      const r = parsePolicyEvent(
        LIST,
        ev("m.policy.rule.user", { recommendation: "m.takedown", "org.matrix.msc4205.hashes": { sha256 } }),
      );
      expect(r.rule).toMatchObject({ kind: "user", sha256: unpadded, recommendation: "takedown" });
      expect(r.rule).not.toHaveProperty("entity");
    }
  });

  it("reads the stable `hashes` field, and an empty entity next to the hashes", () => {
    const a = parsePolicyEvent(
      LIST,
      ev("m.policy.rule.user", { recommendation: "m.ban", hashes: { sha256: digest } }),
    );
    expect(a.rule?.sha256).toBe(unpadded);
    const b = parsePolicyEvent(
      LIST,
      ev("m.policy.rule.user", {
        entity: "",
        recommendation: "m.ban",
        "org.matrix.msc4205.hashes": { sha256: digest },
      }),
    );
    expect(b.rule?.sha256).toBe(unpadded);
  });

  it("prefers a real entity over hashes", () => {
    const r = parsePolicyEvent(
      LIST,
      ev("m.policy.rule.user", { entity: "@a:b", recommendation: "m.ban", hashes: { sha256: digest } }),
    );
    expect(r.rule?.entity).toBe("@a:b");
    expect(r.rule).not.toHaveProperty("sha256");
  });

  it("canonicalises base64 variants", () => {
    expect(canonicalSha256(digest)).toBe(unpadded);
    const urlSafe = unpadded.replaceAll("+", "-").replaceAll("/", "_");
    expect(canonicalSha256(urlSafe)).toBe(unpadded);
    expect(canonicalSha256("abc")).toBeNull();
    expect(canonicalSha256(unpadded + "A")).toBeNull();
    expect(canonicalSha256("!".repeat(43))).toBeNull();
  });
});
