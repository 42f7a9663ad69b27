import { describe, expect, it } from "vitest";
import { mentionSpam } from "../../../src/protections/builtin/mention-spam.ts";
import { edit, Harness, html, kinds, rawMessage, text } from "./helpers.ts";

const users = (n: number) => Array.from({ length: n }, (_, i) => `@user${i}:example.org`);
const SPAMMER = "@pinger:evil.org";

describe("mention-spam", () => {
  it.each<[string, unknown, string[]]>([
    [
      "10 m.mentions (at the limit)",
      rawMessage({ msgtype: "m.text", body: "hi", "m.mentions": { user_ids: users(10) } }),
      [],
    ],
    [
      "11 m.mentions",
      rawMessage({ msgtype: "m.text", body: "hi", "m.mentions": { user_ids: users(11) } }),
      ["redact", "warn"],
    ],
    ["11 IDs in the body only", text(users(11).join(" ")), ["redact", "warn"]],
    [
      "11 pills in HTML only",
      html(
        "names",
        users(11)
          .map((u) => `<a href="https://matrix.to/#/${u}">x</a>`)
          .join(" "),
      ),
      ["redact", "warn"],
    ],
    [
      "the same 6 users counted once across m.mentions, pills and text",
      html(
        users(6).join(" "),
        users(6)
          .map((u) => `<a href="https://matrix.to/#/${u}">x</a>`)
          .join(""),
        {},
      ),
      [],
    ],
    [
      "11 mentions added by an edit",
      edit("$o", { msgtype: "m.text", body: users(11).join(" ") }),
      ["redact", "warn"],
    ],
    [
      "5 + 6 different ones across kinds",
      rawMessage({
        msgtype: "m.text",
        body: users(11).slice(5).join(" "),
        "m.mentions": { user_ids: users(5) },
      }),
      ["redact", "warn"],
    ],
    ["normal chat mentioning two people", text("@alice:x.org @bob:x.org lunch?"), []],
    [
      "a thousand garbage m.mentions",
      rawMessage({ msgtype: "m.text", body: "x", "m.mentions": { user_ids: Array(1000).fill("nope") } }),
      [],
    ],
  ])("%s → %j", (_what, raw, expected) => {
    expect(kinds(new Harness(mentionSpam).feed(raw))).toEqual(expected);
  });

  it("bans on a repeat within the window, not after it", () => {
    const h = new Harness(mentionSpam, { repeatWindow: "1h" });
    const spam = () => text(users(20).join(" "), { sender: SPAMMER });
    expect(kinds(h.feed(spam()))).toEqual(["redact", "warn"]);
    h.advance(61 * 60_000);
    expect(kinds(h.feed(spam()))).toEqual(["redact", "warn"]);
    h.advance(60_000);
    expect(kinds(h.feed(spam()))).toEqual(["redact", "ban"]);
  });

  it("warning mentions the sender", () => {
    const out = new Harness(mentionSpam).feed(text(users(11).join(" "), { sender: SPAMMER }));
    expect(out[1]).toMatchObject({
      kind: "warn",
      text: `${SPAMMER}: please don't mention that many people at once.`,
    });
  });
});
