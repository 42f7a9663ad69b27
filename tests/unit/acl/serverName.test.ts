import { describe, expect, it } from "vitest";
import {
  MAX_SERVER_NAME_LENGTH,
  firstControlChar,
  normaliseDenyEntity,
  parseOwnServer,
  parseServerEntity,
} from "../../../src/acl/serverName.ts";

describe("parseServerEntity", () => {
  it.each([
    ["example.org", "example.org", false, false],
    ["Example.ORG", "example.org", false, false],
    ["example.org:8448", "example.org", false, false],
    ["EXAMPLE.org:*", "example.org", false, false],
    ["*.Evil.org", "*.evil.org", true, false],
    ["**.evil.org", "*.evil.org", true, false],
    ["*?*.evil.org", "?*.evil.org", true, false],
    ["ev?l.org", "ev?l.org", true, false],
    ["1.2.3.4", "1.2.3.4", false, true],
    ["1.2.3.4:8448", "1.2.3.4", false, true],
    ["999.2.3.4", "999.2.3.4", false, false], // not an IPv4 address, but a valid DNS-name shape
    ["1.2.3.*", "1.2.3.*", true, false],
    ["[::1]", "[::1]", false, true],
    ["[::1]:8448", "[::1]", false, true],
    ["[2001:DB8::1]", "[2001:db8::1]", false, true],
    ["[2001:db8::*]", "[2001:db8::*]", true, true],
    ["localhost", "localhost", false, false],
    ["a".repeat(MAX_SERVER_NAME_LENGTH), "a".repeat(MAX_SERVER_NAME_LENGTH), false, false],
    [`${"a".repeat(MAX_SERVER_NAME_LENGTH)}:65535`, "a".repeat(MAX_SERVER_NAME_LENGTH), false, false],
  ])("%j → %j", (raw, value, glob, ipLiteral) => {
    expect(parseServerEntity(raw)).toEqual({ ok: true, value, glob, ipLiteral });
  });

  it.each([
    ["", "empty"],
    [":8448", "empty"],
    [" example.org", "whitespace"],
    ["example.org ", "whitespace"],
    ["exa mple.org", "whitespace"],
    ["example.org\n", "whitespace"],
    ["example.org\u00a0", "whitespace"],
    ["exam\u0000ple.org", "control-char"],
    ["exam\u001bple.org", "control-char"],
    ["exam\u007fple.org", "control-char"],
    ["exam\u0085ple.org", "control-char"], // NEL: a C1 control, not JS whitespace
    ["exam\u2028ple.org", "whitespace"],
    ["exam\u009bple.org", "control-char"],
    ["evil_server.org", "invalid-char"],
    ["evil/server.org", "invalid-char"],
    ["@user:evil.org", "invalid-char"],
    ["évil.org", "invalid-char"],
    ["example.org:", "invalid-port"],
    ["example.org:123456", "invalid-port"],
    ["example.org:http", "invalid-port"],
    ["::1", "invalid-ip"],
    ["2001:db8::1", "invalid-ip"],
    ["[::1", "invalid-ip"],
    ["[::1]x", "invalid-ip"],
    ["[::g]", "invalid-ip"],
    ["[]", "invalid-ip"],
    ["a".repeat(MAX_SERVER_NAME_LENGTH + 1), "too-long"],
    ["a".repeat(10_000), "too-long"],
    [`${"a".repeat(MAX_SERVER_NAME_LENGTH + 1)}:1`, "too-long"],
  ])("rejects %j (%s)", (raw, code) => {
    const r = parseServerEntity(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe(code);
      expect(r.reason.length).toBeGreaterThan(0);
      // Reasons end up in chat: they must not carry raw control characters.
      expect(firstControlChar(r.reason)).toBeUndefined();
    }
  });

  it("rejects non-strings", () => {
    expect(parseServerEntity(42).ok).toBe(false);
    expect(parseServerEntity(undefined).ok).toBe(false);
  });
});

describe("normaliseDenyEntity", () => {
  const own = parseOwnServer("Tyr.Example.org:8448");

  it.each([
    ["*", "deny-all"],
    ["**", "deny-all"],
    ["*.org", "own-server"],
    ["*.example.org", "own-server"],
    ["tyr.example.org", "own-server"],
    ["TYR.example.org:443", "own-server"],
    ["t?r.example.org", "own-server"],
    ["?*", "own-server"],
    ["*example*", "own-server"],
    ["1.2.3.4", "ip-literal-blocked"],
    ["[::1]:8448", "ip-literal-blocked"],
  ])("refuses %j (%s)", (raw, code) => {
    const r = normaliseDenyEntity(raw, own, false);
    expect(r).toMatchObject({ ok: false, code });
  });

  it("keeps IP literals when they are allowed", () => {
    expect(normaliseDenyEntity("1.2.3.4", own, true)).toMatchObject({ ok: true, value: "1.2.3.4" });
    expect(normaliseDenyEntity("[::1]:1", own, true)).toMatchObject({ ok: true, value: "[::1]" });
  });

  it.each(["example.org", "*.evil.org", "exa?ple.org", "tyr.example.org.evil", "*.tyr.example.org"])(
    "accepts %j",
    (raw) => {
      expect(normaliseDenyEntity(raw, own, false).ok).toBe(true);
    },
  );
});

describe("parseOwnServer", () => {
  it("strips the port and lower-cases", () => {
    expect(parseOwnServer("Example.org:8448")).toEqual({ host: "example.org", ipLiteral: false });
    expect(parseOwnServer("[::1]:8448")).toEqual({ host: "[::1]", ipLiteral: true });
    expect(parseOwnServer("127.0.0.1:8008")).toEqual({ host: "127.0.0.1", ipLiteral: true });
  });

  it("throws on invalid names and globs", () => {
    expect(() => parseOwnServer("")).toThrow(TypeError);
    expect(() => parseOwnServer("a b")).toThrow(TypeError);
    expect(() => parseOwnServer("*.org")).toThrow(/wildcard/);
  });
});
