import { describe, expect, it } from "vitest";
import {
  parseEventId,
  parseMatrixLink,
  parseRoomAlias,
  parseRoomId,
  parseServerName,
  parseUserId,
} from "../../../src/commands/framework/matrix-ids.ts";

const V12_ROOM = "!" + "A".repeat(20) + "b-_9" + "c".repeat(19); // 43 url-safe base64 chars
const V4_EVENT = "$" + "Ab-_".repeat(10) + "xyz";
const V3_EVENT = "$" + "Ab+/".repeat(10) + "xyz";

describe("server names", () => {
  it.each([
    "example.org",
    "matrix.example.org:8448",
    "localhost",
    "localhost:8008",
    "127.0.0.1",
    "127.0.0.1:8448",
    "[::1]",
    "[2001:db8::1]:8448",
    "xn--bcher-kva.example",
    "a-b.c-d.example",
  ])("accepts %s", (s) => {
    expect(parseServerName(s)).toEqual({ ok: true, value: s });
  });

  it.each<[string, string]>([
    ["", "the server name is empty"],
    ["exa mple.org", "the server name contains a space (U+0020), which is not allowed"],
    [
      "exаmple.org",
      'the server name contains "а" (U+0430), which is not allowed (internationalised names must be written in their xn-- form)',
    ],
    [
      "bücher.example",
      'the server name contains "ü" (U+00FC), which is not allowed (internationalised names must be written in their xn-- form)',
    ],
    ["example.org:", "the port after ':' is empty"],
    ["example.org:0", "the port 0 is outside 1–65535"],
    ["example.org:65536", "the port 65536 is outside 1–65535"],
    ["example.org:123456", 'the port "123456" is not a number'],
    ["example.org:8a", 'the port "8a" is not a number'],
    ["2001:db8::1", "it has more than one ':' (write IPv6 addresses in brackets, like [2001:db8::1]:8448)"],
    ["[::1", "the IPv6 address has no closing ]"],
    ["[zz::1]", 'the IPv6 address contains "z" (U+007A), which is not allowed'],
    ["[::1]x", 'unexpected "x" after the IPv6 address'],
    ["example..org", "the server name has an empty label"],
    [".example.org", "the server name has an empty label"],
    [":8448", "the host name is empty"],
    ["a".repeat(256), "the host name is longer than 255 characters"],
  ])("rejects %j", (s, detail) => {
    const r = parseServerName(s);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.detail).toBe(detail);
  });
});

describe("user IDs", () => {
  it.each([
    "@alice:example.org",
    "@a.b_c-d=e/f+g:example.org",
    "@Historical!Chars~{}:example.org", // historical localparts: any printable ASCII but ':'
    "@bob:[2001:db8::1]:8448",
    "@bob:localhost:8008",
    "@1234:example.org",
  ])("accepts %s", (s) => {
    expect(parseUserId(s)).toEqual({ ok: true, value: s });
  });

  it.each<[string, string | undefined]>([
    ["bob:example.org", 'user IDs start with @ — did you mean "@bob:example.org"?'],
    ["bob", undefined],
    ["@bob", "it has no server part (expected @name:server)"],
    ["@:example.org", "the name before ':' is empty"],
    ["@аdmin:example.org", 'the name part contains "а" (U+0430), which is not allowed'],
    ["@a\u202eb:example.org", "the name part contains an invisible character (U+202E), which is not allowed"],
    ["@bob:exa mple", "the server name contains a space (U+0020), which is not allowed"],
    ["@" + "a".repeat(250) + ":example.org", "it is longer than 255 bytes"],
  ])("rejects %j", (s, detail) => {
    const r = parseUserId(s);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.detail).toBe(detail);
  });
});

describe("room IDs, aliases, event IDs", () => {
  it.each(["!abc:example.org", "!OpaQue123:matrix.org:8448", V12_ROOM])("room ID %s", (s) => {
    expect(parseRoomId(s)).toEqual({ ok: true, value: s });
  });
  it.each<[string, string]>([
    ["!short", 'a room ID without a server part must have 43 characters after "!" (it has 5)'],
    ["!" + "a".repeat(42) + "+", 'the room ID contains "+" (U+002B), which is not allowed'],
    ["!:example.org", "the part before ':' is empty"],
    ["!abc:", "the server name is empty"],
  ])("bad room ID %j", (s, detail) => {
    const r = parseRoomId(s);
    expect(!r.ok && r.detail).toBe(detail);
  });
  it.each(["#room:example.org", "#ünïcode-alias:example.org", "#a:localhost:8008"])("alias %s", (s) => {
    expect(parseRoomAlias(s)).toEqual({ ok: true, value: s });
  });
  it.each<[string, string]>([
    ["#room", "it has no server part (expected #name:server)"],
    ["#:example.org", "the name before ':' is empty"],
    ["#a\u0000b:example.org", "the alias contains an invisible character (U+0000), which is not allowed"],
  ])("bad alias %j", (s, detail) => {
    const r = parseRoomAlias(s);
    expect(!r.ok && r.detail).toBe(detail);
  });
  it.each([V4_EVENT, V3_EVENT, "$old:example.org"])("event ID %s", (s) => {
    expect(parseEventId(s)).toEqual({ ok: true, value: s });
  });
  it("bad event ID", () => {
    const r = parseEventId("$abc");
    expect(!r.ok && r.detail).toBe('an event ID must have 43 characters after "$" (it has 3)');
  });
});

describe("permalinks", () => {
  it.each<[string, unknown]>([
    ["https://matrix.to/#/@alice:example.org", { kind: "user", userId: "@alice:example.org" }],
    ["https://matrix.to/#/%40alice%3Aexample.org", { kind: "user", userId: "@alice:example.org" }],
    [
      "https://matrix.to/#/#room:example.org",
      { kind: "room", room: { kind: "alias", alias: "#room:example.org", via: [] } },
    ],
    [
      "https://matrix.to/#/%23room%3Aexample.org",
      { kind: "room", room: { kind: "alias", alias: "#room:example.org", via: [] } },
    ],
    [
      "https://matrix.to/#/!abc:example.org?via=example.org&via=other.org:8448",
      {
        kind: "room",
        room: { kind: "id", roomId: "!abc:example.org", via: ["example.org", "other.org:8448"] },
      },
    ],
    [
      `https://matrix.to/#/${V12_ROOM}?via=example.org`,
      { kind: "room", room: { kind: "id", roomId: V12_ROOM, via: ["example.org"] } },
    ],
    [
      `https://matrix.to/#/!abc:example.org/${V4_EVENT}?via=example.org`,
      {
        kind: "room",
        room: { kind: "id", roomId: "!abc:example.org", via: ["example.org"] },
        eventId: V4_EVENT,
      },
    ],
    [
      `https://matrix.to/#/${encodeURIComponent(V12_ROOM)}/${encodeURIComponent(V3_EVENT)}`,
      { kind: "room", room: { kind: "id", roomId: V12_ROOM, via: [] }, eventId: V3_EVENT },
    ],
    ["<https://matrix.to/#/@alice:example.org>", { kind: "user", userId: "@alice:example.org" }],
    [
      "https://app.element.io/#/room/#room:example.org",
      { kind: "room", room: { kind: "alias", alias: "#room:example.org", via: [] } },
    ],
    ["https://chat.example.org/#/user/@bob:example.org", { kind: "user", userId: "@bob:example.org" }],
    ["matrix:u/alice:example.org", { kind: "user", userId: "@alice:example.org" }],
    [
      "matrix:r/room:example.org?action=join",
      { kind: "room", room: { kind: "alias", alias: "#room:example.org", via: [] } },
    ],
    [
      `matrix:roomid/abc:example.org/e/${V4_EVENT.slice(1)}?via=example.org`,
      {
        kind: "room",
        room: { kind: "id", roomId: "!abc:example.org", via: ["example.org"] },
        eventId: V4_EVENT,
      },
    ],
  ])("%s", (link, expected) => {
    expect(parseMatrixLink(link)).toEqual({ ok: true, value: expected });
  });

  it.each<[string, string]>([
    ["https://matrix.to/#/%E0%A4%A", "it has a broken %-escape"],
    ["https://matrix.to/#/", "it names no user or room"],
    ["https://matrix.to/#/@bob", "it has no server part (expected @name:server)"],
    [
      "https://matrix.to/#/!abc:example.org?via=bad%20server",
      'via="bad server" is not a server name (the server name contains a space (U+0020), which is not allowed)',
    ],
    [`https://matrix.to/#/@a:b.c/${V4_EVENT}`, "a user link cannot point at an event"],
    ["matrix:x/foo", "expected matrix:u/…, matrix:r/… or matrix:roomid/…"],
  ])("rejects %s", (link, detail) => {
    const r = parseMatrixLink(link);
    expect(!r.ok && r.detail).toBe(detail);
  });

  it("rejects non-Matrix links without a detail", () => {
    const r = parseMatrixLink("https://example.org/page");
    expect(r).toEqual({
      ok: false,
      error: 'expected a matrix.to or matrix: link, got "https://example.org/page"',
    });
  });
});
