import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_ANALYSED_CHARS, normaliseEvent, type RoomMessage } from "../../../src/protections/event.ts";
import { edit, html, media, rawMember, rawMessage, ROOM, sticker, text } from "./helpers.ts";

function message(raw: unknown): RoomMessage {
  const r = normaliseEvent(raw);
  if (!r.ok) throw new Error(r.reason);
  if (r.event.kind !== "message") throw new Error("not a message");
  return r.event;
}

describe("normaliseEvent: messages", () => {
  it("reads a plain text message", () => {
    const m = message(text("hello there", { sender: "@bob:example.org", eventId: "$abc" }));
    expect(m).toMatchObject({
      kind: "message",
      room: ROOM,
      sender: "@bob:example.org",
      eventId: "$abc",
      msgtype: "m.text",
      body: "hello there",
      html: null,
      isEdit: false,
      media: [],
      links: [],
      mentioned: [],
      truncated: false,
    });
  });

  it("takes the room from the argument when the event has none (sync timeline)", () => {
    const raw = text("hi");
    delete raw["room_id"];
    expect(normaliseEvent(raw).ok).toBe(false);
    const r = normaliseEvent(raw, "!sync:example.org");
    expect(r.ok && r.event.room).toBe("!sync:example.org");
  });

  it.each([
    ["m.image", ["image"]],
    ["m.video", ["video"]],
    ["m.audio", ["audio"]],
    ["m.file", ["file"]],
    ["m.text", []],
    ["m.notice", []],
  ])("classifies msgtype %s as %j", (msgtype, expected) => {
    expect(message(media(msgtype)).media).toEqual(expected);
  });

  it("marks voice messages as audio and voice", () => {
    expect(message(media("m.audio", {}, { "org.matrix.msc3245.voice": {} })).media).toEqual([
      "audio",
      "voice",
    ]);
  });

  it("treats m.sticker events as stickers", () => {
    const m = message(sticker());
    expect(m.type).toBe("m.sticker");
    expect(m.media).toEqual(["sticker"]);
  });

  it("detects inline images in HTML", () => {
    const m = message(html("look", 'look <img src="mxc://evil.org/x" alt="pic">'));
    expect(m.media).toEqual(["inlineImage"]);
    expect(m.htmlText).toBe("look pic");
  });

  it("analyses m.new_content of an edit and records the target", () => {
    const m = message(edit("$orig", { msgtype: "m.text", body: "now with https://spam.example/x" }));
    expect(m.isEdit).toBe(true);
    expect(m.editOf).toBe("$orig");
    expect(m.body).toBe("now with https://spam.example/x");
    expect(m.links).toEqual(["https://spam.example/x"]);
  });

  it("falls back to the top-level content (without '* ') when m.new_content is garbage", () => {
    const raw = rawMessage({
      msgtype: "m.text",
      body: "* buy now at cheap.xyz",
      "m.new_content": "not an object",
      "m.relates_to": { rel_type: "m.replace", event_id: "$orig" },
    });
    const m = message(raw);
    expect(m.isEdit).toBe(true);
    expect(m.body).toBe("buy now at cheap.xyz");
    expect(m.links).toEqual(["cheap.xyz"]);
  });

  it("an edit whose target is missing is read as a plain message", () => {
    const m = message(
      rawMessage({ msgtype: "m.text", body: "x", "m.relates_to": { rel_type: "m.replace", event_id: 42 } }),
    );
    expect(m.isEdit).toBe(false);
  });

  it("unions m.mentions of the edit and of m.new_content, dropping invalid IDs", () => {
    const m = message(
      rawMessage({
        msgtype: "m.text",
        body: "* hi",
        "m.mentions": { user_ids: ["@a:x.org", "not-a-user", 42, null, "@b:x.org"] },
        "m.new_content": {
          msgtype: "m.text",
          body: "hi",
          "m.mentions": { user_ids: ["@b:x.org", "@c:x.org"] },
        },
        "m.relates_to": { rel_type: "m.replace", event_id: "$orig" },
      }),
    );
    expect([...m.mentionedUserIds].sort()).toEqual(["@a:x.org", "@b:x.org", "@c:x.org"]);
  });

  it.each([
    ["a string", "everyone"],
    ["user_ids as an object", { user_ids: { a: 1 } }],
    ["user_ids with only garbage", { user_ids: [1, {}, [], "", "@nocolon", "@:x", "@a b:x.org"] }],
    ["null", null],
  ])("ignores invalid m.mentions (%s)", (_what, mentions) => {
    const m = message(rawMessage({ msgtype: "m.text", body: "hi", "m.mentions": mentions }));
    expect(m.mentionedUserIds).toEqual([]);
  });

  it("collects pills and user IDs written in text, without counting reply fallbacks", () => {
    const m = message(
      rawMessage({
        msgtype: "m.text",
        body: "> <@quoted:x.org> earlier words\n\nhey @carol:x.org and Dave",
        format: "org.matrix.custom.html",
        formatted_body:
          '<mx-reply><blockquote><a href="https://matrix.to/#/@quoted:x.org">q</a></blockquote></mx-reply>' +
          'hey @carol:x.org and <a href="https://matrix.to/#/%40dave%3Ax.org">Dave</a>',
        "m.relates_to": { "m.in_reply_to": { event_id: "$parent" } },
      }),
    );
    expect(m.replyTo).toBe("$parent");
    expect(m.body).toBe("hey @carol:x.org and Dave");
    expect(m.pills).toEqual(["@dave:x.org"]);
    expect(m.textUserIds).toEqual(["@carol:x.org"]);
    expect([...m.mentioned].sort()).toEqual(["@carol:x.org", "@dave:x.org"]);
  });

  it("counts matrix.to room links as links, user pills as mentions", () => {
    const m = message(
      html(
        "join",
        'join <a href="https://matrix.to/#/#spam:evil.org">here</a> <a href="https://matrix.to/#/@x:y.org">x</a> <a href="mailto:a@b.org">mail</a>',
      ),
    );
    expect(m.links).toEqual(["https://matrix.to/#/#spam:evil.org"]);
    expect(m.pills).toEqual(["@x:y.org"]);
  });

  it("bounds huge bodies and HTML to the analysis limit", () => {
    const huge = "<b>" + "x".repeat(500_000) + "</b>";
    const t0 = performance.now();
    const m = message(html("y".repeat(400_000), huge));
    expect(performance.now() - t0).toBeLessThan(500);
    expect(m.truncated).toBe(true);
    expect(m.body.length).toBe(MAX_ANALYSED_CHARS);
    expect((m.html ?? "").length).toBe(MAX_ANALYSED_CHARS);
  });

  it("keeps only plausible origin_server_ts values", () => {
    for (const [ts, expected] of [
      [1_700_000_000_000, 1_700_000_000_000],
      [-5, null],
      [1e300, null],
      ["1700000000000", null],
      [1.5, null],
      [Number.NaN, null],
    ] as const) {
      expect(message(text("x", { ts })).ts).toBe(expected);
    }
  });
});

describe("normaliseEvent: refusals", () => {
  const good = text("hello");
  it.each<[string, unknown]>([
    ["null", null],
    ["a string", "m.room.message"],
    ["an array", [good]],
    ["no type", { ...good, type: undefined }],
    ["numeric type", { ...good, type: 5 }],
    ["no sender", { ...good, sender: undefined }],
    ["invalid sender", { ...good, sender: "alice" }],
    ["invalid event ID", { ...good, event_id: 12 }],
    ["invalid room", { ...good, room_id: "room" }],
    ["content not an object", { ...good, content: "hi" }],
    ["content array", { ...good, content: ["hi"] }],
    ["redacted message", { ...good, content: {} }],
    ["encrypted", { ...good, type: "m.room.encrypted", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    ["unhandled type", { ...good, type: "m.room.topic", content: { topic: "x" } }],
    ["member without state_key", { ...rawMember("@a:x.org", "join"), state_key: undefined }],
    ["member with bad membership", rawMember("@a:x.org", "dancing")],
    ["reaction without relation", { ...good, type: "m.reaction", content: {} }],
    [
      "reaction to nothing",
      { ...good, type: "m.reaction", content: { "m.relates_to": { rel_type: "m.annotation" } } },
    ],
  ])("refuses %s with a reason", (_what, raw) => {
    const r = normaliseEvent(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
  });

  it("survives objects whose getters throw", () => {
    const evil = Object.defineProperty({}, "type", {
      get() {
        throw new Error("boom");
      },
    });
    expect(normaliseEvent(evil)).toEqual({ ok: false, reason: "unreadable event: boom" });
  });

  it("never throws on arbitrary JSON (property)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (content) => {
        normaliseEvent({ ...text("x"), content });
        normaliseEvent({ ...rawMember("@a:x.org", "join"), content });
        normaliseEvent(content);
      }),
      { numRuns: 500 },
    );
  });

  it("never throws on arbitrary message content fields (property)", () => {
    const anyValue = fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.jsonValue());
    fc.assert(
      fc.property(
        fc.record(
          {
            msgtype: anyValue,
            body: anyValue,
            format: fc.oneof(fc.constant("org.matrix.custom.html"), anyValue),
            formatted_body: fc.oneof(fc.string(), fc.stringMatching(/^[<>a-z"'=/ &;#!-]{0,200}$/)),
            "m.mentions": anyValue,
            "m.relates_to": anyValue,
            "m.new_content": anyValue,
          },
          { requiredKeys: [] },
        ),
        (content) => {
          const r = normaliseEvent(rawMessage(content));
          if (r.ok && r.event.kind === "message") {
            expect(r.event.body.length).toBeLessThanOrEqual(MAX_ANALYSED_CHARS);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("normaliseEvent: membership and reactions", () => {
  it("reads a join with profile and previous content", () => {
    const r = normaliseEvent(
      rawMember("@a:x.org", "join", {
        prev: "invite",
        displayname: "Alice",
        avatar: "mxc://x.org/av",
        prevDisplayname: "Old",
      }),
    );
    expect(r.ok && r.event).toMatchObject({
      kind: "membership",
      user: "@a:x.org",
      membership: "join",
      prevMembership: "invite",
      displayname: "Alice",
      avatarUrl: "mxc://x.org/av",
      prevDisplayname: "Old",
    });
  });

  it("drops wrong-typed profile fields and bounds long names", () => {
    const raw = rawMember("@a:x.org", "join");
    (raw["content"] as Record<string, unknown>)["displayname"] = { evil: true };
    (raw["content"] as Record<string, unknown>)["avatar_url"] = 7;
    const r = normaliseEvent(raw);
    expect(r.ok && r.event.kind === "membership" && [r.event.displayname, r.event.avatarUrl]).toEqual([
      null,
      null,
    ]);
    const long = normaliseEvent(rawMember("@a:x.org", "join", { displayname: "n".repeat(100_000) }));
    expect(long.ok && long.event.kind === "membership" && long.event.displayname?.length).toBe(512);
  });

  it("reads a reaction", () => {
    const raw = {
      ...text("x"),
      type: "m.reaction",
      content: { "m.relates_to": { rel_type: "m.annotation", event_id: "$t", key: "👍" } },
    };
    const r = normaliseEvent(raw);
    expect(r.ok && r.event).toMatchObject({ kind: "reaction", target: "$t", key: "👍" });
  });
});
