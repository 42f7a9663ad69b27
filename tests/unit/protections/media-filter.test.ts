import { describe, expect, it } from "vitest";
import { mediaFilter } from "../../../src/protections/builtin/media-filter.ts";
import { edit, Harness, html, kinds, media, sticker, text } from "./helpers.ts";

describe("media-filter", () => {
  it.each<[string, unknown, string[]]>([
    ["an image", media("m.image"), ["redact"]],
    ["a video", media("m.video"), ["redact"]],
    ["a sticker", sticker(), ["redact"]],
    ["an inline image", html("pic", '<p><img src="mxc://x/y" alt="pic"></p>'), ["redact"]],
    [
      "an edit adding an inline image",
      edit("$o", {
        msgtype: "m.text",
        body: "x",
        format: "org.matrix.custom.html",
        formatted_body: "<img src=x>",
      }),
      ["redact"],
    ],
    ["audio (allowed by default)", media("m.audio"), []],
    ["a file (allowed by default)", media("m.file"), []],
    ["text", text("look at this"), []],
    ["HTML without images", html("bold", "<b>bold</b>"), []],
  ])("default settings: %s → %j", (_what, raw, expected) => {
    expect(kinds(new Harness(mediaFilter).feed(raw))).toEqual(expected);
  });

  it("blocks voice only, leaving other audio", () => {
    const h = new Harness(mediaFilter, { blocked: ["voice"] });
    expect(h.feed(media("m.audio"))).toEqual([]);
    expect(kinds(h.feed(media("m.audio", {}, { "org.matrix.msc3245.voice": {} })))).toEqual(["redact"]);
    expect(h.feed(media("m.image"))).toEqual([]);
  });

  it("warns with the configured text", () => {
    const h = new Harness(mediaFilter, { blocked: "file", warn: true });
    const out = h.feed(media("m.file", { sender: "@bob:x.org" }));
    expect(out[1]).toMatchObject({
      kind: "warn",
      text: "@bob:x.org: file messages are not allowed in this room.",
    });
  });
});
