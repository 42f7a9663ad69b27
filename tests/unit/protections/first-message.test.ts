import { describe, expect, it } from "vitest";
import { firstMessage } from "../../../src/protections/builtin/first-message.ts";
import { edit, Harness, html, kinds, media, rawMember, sticker, text } from "./helpers.ts";

const NEWBIE = "@new:evil.org";
const join = (h: Harness, user = NEWBIE) => h.feed(rawMember(user, "join", { prev: null }));

describe("first-message", () => {
  it.each<[string, unknown, string[]]>([
    ["an image", media("m.image", { sender: NEWBIE }), ["redact"]],
    ["a video", media("m.video", { sender: NEWBIE }), ["redact"]],
    ["a file", media("m.file", { sender: NEWBIE }), ["redact"]],
    ["a sticker", sticker({ sender: NEWBIE }), ["redact"]],
    ["an inline image", html("x", '<img src="mxc://e/x">', { sender: NEWBIE }), ["redact"]],
    ["a link", text("free nitro https://disc0rd-gift.com/claim", { sender: NEWBIE }), ["redact"]],
    ["a bare domain", text("check out crypto-x100.xyz", { sender: NEWBIE }), ["redact"]],
    [
      "a room link",
      html("join", '<a href="https://matrix.to/#/#spam:evil.org">join</a>', { sender: NEWBIE }),
      ["redact"],
    ],
    ["plain hello", text("hi everyone! new here", { sender: NEWBIE }), []],
    ["a voice message (not in mediaTypes)", media("m.audio", { sender: NEWBIE }), []],
  ])("a new member's first message being %s → %j", (_what, raw, expected) => {
    const h = new Harness(firstMessage);
    join(h);
    h.advance(5000);
    expect(kinds(h.feed(raw))).toEqual(expected);
  });

  it("only the first message counts", () => {
    const h = new Harness(firstMessage);
    join(h);
    expect(h.feed(text("hello!", { sender: NEWBIE }))).toEqual([]);
    expect(h.feed(media("m.image", { sender: NEWBIE }))).toEqual([]);
  });

  it("ignores members whose join it didn't see, and members past the window", () => {
    const h = new Harness(firstMessage, { window: "10m" });
    expect(h.feed(media("m.image", { sender: "@old:x.org" }))).toEqual([]);
    join(h);
    h.advance(11 * 60_000);
    expect(h.feed(media("m.image", { sender: NEWBIE }))).toEqual([]);
  });

  it("catches an innocent first message edited into a link", () => {
    const h = new Harness(firstMessage);
    join(h);
    expect(h.feed(text("hi", { sender: NEWBIE, eventId: "$first" }))).toEqual([]);
    expect(
      kinds(
        h.feed(edit("$first", { msgtype: "m.text", body: "https://scam.example/x" }, { sender: NEWBIE })),
      ),
    ).toEqual(["redact"]);
    expect(
      h.feed(edit("$other", { msgtype: "m.text", body: "https://fine.example/x" }, { sender: NEWBIE })),
    ).toEqual([]);
  });

  it("a rejoin starts over", () => {
    const h = new Harness(firstMessage);
    join(h);
    h.feed(text("hi", { sender: NEWBIE }));
    h.feed(rawMember(NEWBIE, "leave", { prev: "join" }));
    h.advance(1000);
    join(h);
    expect(kinds(h.feed(media("m.image", { sender: NEWBIE })))).toEqual(["redact"]);
  });

  it("bans too when configured; links can be allowed", () => {
    const h = new Harness(firstMessage, { ban: true, links: false });
    join(h);
    join(h, "@other:evil.org");
    expect(kinds(h.feed(media("m.image", { sender: NEWBIE })))).toEqual(["redact", "ban"]);
    expect(h.feed(text("https://ok.example", { sender: "@other:evil.org" }))).toEqual([]);
  });
});
