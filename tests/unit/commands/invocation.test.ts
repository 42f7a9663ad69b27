import { describe, expect, it } from "vitest";
import {
  commandText,
  detectInvocation,
  htmlToCommandText,
  stripReplyFallback,
} from "../../../src/commands/framework/invocation.ts";
import { interpretMessage, misaddressedCommand } from "../../../src/commands/framework/registry.ts";
import { makeRegistry } from "./fixtures.ts";

const bot = { userId: "@tyr:example.org", displayName: "Tyr Bot" };

describe("detectInvocation", () => {
  it.each<[string, string | null]>([
    ["!tyr ban spam @x:y.z", "ban spam @x:y.z"],
    ["!tyr", ""],
    ["  !tyr   help  ", "help"],
    ["!TYR help", "help"],
    ["!tyr\u00a0help", "help"],
    ["!tyrhelp", null],
    ["!tyr: help", null],
    ["tyr: ban x", "ban x"],
    ["Tyr, ban x", "ban x"],
    ["tyr : ban x", "ban x"],
    ["tyr:", ""],
    ["@tyr:example.org: ban x", "ban x"],
    ["@tyr:example.org ban x", "ban x"],
    ["@tyr:example.org, ban x", "ban x"],
    ["@tyr: ban x", "ban x"],
    ["Tyr Bot: ban x", "ban x"],
    ["tyr bot, ban x", "ban x"],
    ["Tyr Bot ban x", null],
    ["tyr is great", null],
    ["tyr:example.org is a server", null],
    ["@tyr:example.orgx: ban", null],
    ["@tyr:example.org.evil: ban", null],
    ["hello !tyr help", null],
    ["please, tyr: help", null],
    ["", null],
    ["\u200b!tyr help", "help"],
  ])("%j", (body, expected) => {
    expect(detectInvocation(body, bot)).toBe(expected);
  });

  it("uses the configured prefix", () => {
    expect(detectInvocation("!mod ban x", bot, "!mod")).toBe("ban x");
    expect(detectInvocation("!tyr ban x", bot, "!mod")).toBeNull();
    expect(detectInvocation("tyr: ban x", bot, "!mod")).toBe("ban x");
  });

  it("copes with a missing or odd display name", () => {
    expect(detectInvocation("Tyr Bot: x", { userId: "@tyr:example.org" })).toBeNull();
    expect(detectInvocation(": x", { userId: "@tyr:example.org", displayName: "" })).toBeNull();
    expect(detectInvocation("   : x", { userId: "@tyr:example.org", displayName: "   " })).toBeNull();
  });
});

describe("commandText", () => {
  it("plain m.text body", () => {
    expect(commandText({ msgtype: "m.text", body: "!tyr help" })).toBe("!tyr help");
  });

  it.each<[string, unknown]>([
    ["not an object", "!tyr help"],
    ["null", null],
    ["a notice (bots never answer bots)", { msgtype: "m.notice", body: "!tyr help" }],
    ["an emote", { msgtype: "m.emote", body: "!tyr help" }],
    ["a non-string body", { msgtype: "m.text", body: 42 }],
    [
      "an edit",
      {
        msgtype: "m.text",
        body: "* !tyr ban x",
        "m.new_content": { msgtype: "m.text", body: "!tyr ban x" },
        "m.relates_to": { rel_type: "m.replace", event_id: "$e" },
      },
    ],
  ])("ignores %s", (_name, content) => {
    expect(commandText(content)).toBeNull();
  });

  it("uses the HTML when it carries mention pills", () => {
    const content = {
      msgtype: "m.text",
      body: "!tyr ban spam Spammer spamming",
      format: "org.matrix.custom.html",
      formatted_body: '!tyr ban spam <a href="https://matrix.to/#/@spam:evil.org">Spammer</a> spamming',
    };
    expect(commandText(content)).toBe("!tyr ban spam @spam:evil.org spamming");
  });

  it("recognises a pill of the bot itself", () => {
    const content = {
      msgtype: "m.text",
      body: "Tyr Bot: help",
      format: "org.matrix.custom.html",
      formatted_body: '<a href="https://matrix.to/#/@tyr:example.org">Tyr Bot</a>: help',
    };
    expect(detectInvocation(commandText(content)!, bot)).toBe("help");
    // And the plain body alone works too.
    expect(detectInvocation(content.body, bot)).toBe("help");
  });

  it("keeps the plain body when the HTML is only markdown (globs keep their *)", () => {
    const content = {
      msgtype: "m.text",
      body: "!tyr ban spam @*:evil.org *spam*",
      format: "org.matrix.custom.html",
      formatted_body: "!tyr ban spam @<em>:evil.org </em>spam*",
    };
    expect(commandText(content)).toBe("!tyr ban spam @*:evil.org *spam*");
  });

  it("drops reply fallbacks", () => {
    expect(stripReplyFallback("> <@a:b.c> quoted\n> more\n\n!tyr help")).toBe("!tyr help");
    expect(
      commandText({
        msgtype: "m.text",
        body: "> <@a:b.c> hi\n\n!tyr kick @a:b.c",
        format: "org.matrix.custom.html",
        formatted_body:
          '<mx-reply><blockquote><a href="https://matrix.to/#/!r:b.c/$e">In reply to</a> <a href="https://matrix.to/#/@a:b.c">@a:b.c</a><br>hi</blockquote></mx-reply>!tyr kick <a href="https://matrix.to/#/@a:b.c">A</a>',
      }),
    ).toBe("!tyr kick @a:b.c");
  });

  it("htmlToCommandText decodes entities, keeps event links, breaks lines", () => {
    expect(htmlToCommandText("a &amp; b &lt;c&gt; &#65;&#x42; &bogus; &#xD800;")).toBe(
      "a & b <c> AB &bogus; &#xD800;",
    );
    const ev = "$" + "a".repeat(43);
    expect(htmlToCommandText(`redact <a href="https://matrix.to/#/!r:b.c/${ev}">link</a>`)).toBe(
      `redact https://matrix.to/#/!r:b.c/${ev}`,
    );
    expect(htmlToCommandText("<p>one</p><p>two<br/>three</p>")).toBe("one\ntwo\nthree\n");
    expect(htmlToCommandText('<a href="https://example.org">label</a> <b unclosed')).toBe(
      "label <b unclosed",
    );
  });
});

describe("interpretMessage", () => {
  const registry = makeRegistry();
  it("stays fast on bodies built to make regular expressions backtrack", () => {
    const bodies = [
      `!tyr a${" ".repeat(60_000)}x`,
      `${" ".repeat(60_000)}x`,
      `tyr:${" \u3000".repeat(30_000)}x`,
      `!tyr ban spam @a:b.c ${"\t".repeat(9_000)}x`,
      `!tyr ${"--".repeat(4_000)}=`,
    ];
    for (const body of bodies) {
      const t0 = performance.now();
      interpretMessage(registry, { msgtype: "m.text", body }, bot);
      interpretMessage(
        registry,
        {
          msgtype: "m.text",
          body,
          format: "org.matrix.custom.html",
          formatted_body: `<a href="https://matrix.to/#/@a:b.c">x</a>${body}`,
        },
        bot,
      );
      expect(performance.now() - t0).toBeLessThan(250);
    }
  });

  it("returns null for messages not addressed to the bot", () => {
    expect(interpretMessage(registry, { msgtype: "m.text", body: "hello" }, bot)).toBeNull();
    expect(interpretMessage(registry, { msgtype: "m.notice", body: "!tyr help" }, bot)).toBeNull();
  });
  it("parses addressed messages", () => {
    const r = interpretMessage(registry, { msgtype: "m.text", body: "tyr: kick @a:b.c" }, bot);
    expect(r?.ok && r.command.name).toBe("kick");
  });
  it("answers an empty address with a hint", () => {
    const r = interpretMessage(registry, { msgtype: "m.text", body: "!tyr" }, bot, "!tyr");
    expect(r).toEqual({ ok: false, error: 'No command given. Type "!tyr help" to see what I can do.' });
  });
});

describe("misaddressedCommand: a command for Tyr under a name it does not answer to", () => {
  const registry = makeRegistry();
  const tyrbot = { userId: "@tyrbot:example.org", displayName: "Tyr Bot" };
  const msg = (body: string) => ({ msgtype: "m.text", body });
  const guess = (body: string, prefix = "!tyr", others: readonly string[] = []) =>
    misaddressedCommand(registry, msg(body), tyrbot, prefix, (name) => others.includes(name.toLowerCase()));

  it.each<[string, string]>([
    ["tyr: help", "tyr"], // the name the docs used to promise, for an account called @tyrbot
    ["Tyr, kick @x:y.z spam", "Tyr"],
    ["tyrbto: ban spam @x:y.z", "tyrbto"],
    ["Tyr Bto: help", "Tyr Bto"],
    ["!tir help", "!tir"],
    ["!tyrbot kick @x:y.z", "!tyrbot"],
    ["  !Tyrr   ban spam @x:y.z", "!Tyrr"],
  ])("%j is recognised (name used: %j)", (body, name) => {
    expect(guess(body)).toMatchObject({ name });
  });

  it.each<string>([
    "tyr: what do you think about this?", // a near-miss name, but no command word
    "tyr is great", // no ":" or ","
    "tyrbot status", // no separator: could be talk about the bot
    "alice: help me with this", // not a near-miss name
    "!ban spam @x:y.z", // another bot's prefix, not near "!tyr"
    "!tyrhelp", // no space after the would-be prefix
    "hello tyr: help", // the name is not at the start
    "tyrbot: help", // addressed correctly: handled as a command, not as a near miss
    "!tyr help",
  ])("%j is not", (body) => {
    expect(guess(body)).toBeNull();
  });

  it("stays silent when the name belongs to another member of the room", () => {
    expect(guess("Tyra: help", "!tyr", ["tyra"])).toBeNull();
    expect(guess("tyra: help")).not.toBeNull();
  });

  it("follows the configured prefix", () => {
    expect(guess("!mdo help", "!mod")).toMatchObject({ name: "!mdo" });
    expect(guess("!tir help", "!mod")).toMatchObject({ name: "!tir" }); // near "!tyr", the bot's name
  });

  it("offers the exact forms Tyr answers to, with what was typed", () => {
    expect(guess("tyr: kick @x:y.z spam")?.forms).toEqual([
      "!tyr kick @x:y.z spam",
      "tyrbot: kick @x:y.z spam",
      "Tyr Bot: kick @x:y.z spam",
      "@tyrbot:example.org: kick @x:y.z spam",
    ]);
  });
});
