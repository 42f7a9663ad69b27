// The usage example from src/commands/framework/index.ts, run end to end.
import { describe, expect, it } from "vitest";
import {
  CommandRegistry,
  commandsFor,
  interpretMessage,
  types as t,
} from "../../../src/commands/framework/index.ts";
import { helpCommand } from "../../../src/commands/help.ts";
import { code, fmt, paginate, text, threadReply } from "../../../src/format/index.ts";

interface BotContext {
  kicked: string[];
  membersMatching(glob: string): string[];
}

const { command } = commandsFor<BotContext>();
const kickCommands = [
  command({
    name: "kick",
    group: "Moderation",
    summary: "Kick a user (or every user matching a glob)",
    args: [
      { name: "user", type: t.userGlob() },
      { name: "reason", type: t.text(), rest: true, optional: true },
    ],
    flags: { room: { type: t.room(), description: "Only this room (default: all protected rooms)" } },
    confirm: (ctx, a) =>
      a.user.isGlob && ctx.membersMatching(a.user.pattern).length > 3
        ? `kick everyone matching ${a.user.pattern}`
        : null,
    examples: ["kick @spam:evil.org spamming"],
    run: (ctx, a) => {
      ctx.kicked.push(a.user.pattern);
      return fmt`Kicked ${code(a.user.pattern)}${a.reason === undefined ? "" : ` (${a.reason})`}`;
    },
  }),
];

describe("framework usage example", () => {
  const registry = new CommandRegistry<BotContext>();
  registry.register(...kickCommands, helpCommand(registry));
  const bot = { userId: "@tyr:example.org", displayName: "Tyr" };
  const ctx: BotContext = {
    kicked: [],
    membersMatching: () => ["@a:evil.org", "@b:evil.org", "@c:evil.org", "@d:evil.org"],
  };

  it("runs a command and replies in a thread", async () => {
    const outcome = interpretMessage(
      registry,
      { msgtype: "m.text", body: "Tyr: kick @spam:evil.org <b>spam</b>" },
      bot,
      "!tyr",
    );
    if (outcome === null || !outcome.ok) throw new Error("expected a command");
    expect(await outcome.confirmation(ctx)).toBeNull();
    const reply = await outcome.run(ctx);
    const pages = paginate(reply!, { relatesTo: threadReply("$cmd") });
    expect(pages).toHaveLength(1);
    expect(pages[0]!.formatted_body).toBe("Kicked <code>@spam:evil.org</code> (&lt;b&gt;spam&lt;/b&gt;)");
    expect(ctx.kicked).toEqual(["@spam:evil.org"]);
  });

  it("asks before a wide glob kick unless --yes", async () => {
    const wide = interpretMessage(
      registry,
      { msgtype: "m.text", body: "!tyr kick @*:evil.org" },
      bot,
      "!tyr",
    );
    expect(wide?.ok && (await wide.confirmation(ctx))?.text).toBe("kick everyone matching @*:evil.org");
    const yes = interpretMessage(
      registry,
      { msgtype: "m.text", body: "!tyr kick @*:evil.org --yes" },
      bot,
      "!tyr",
    );
    expect(yes?.ok && (await yes.confirmation(ctx))).toBeNull();
  });

  it("errors become one escaped notice", () => {
    const bad = interpretMessage(registry, { msgtype: "m.text", body: "!tyr kick <img src=x>" }, bot, "!tyr");
    if (bad === null || bad.ok) throw new Error("expected an error");
    const [page] = paginate(text(bad.error));
    expect(page!.body).toBe(
      'kick: argument 1 should be a user or user glob, got "<img" — see "!tyr help kick"',
    );
    expect(page!.formatted_body).toBe(
      "kick: argument 1 should be a user or user glob, got &quot;&lt;img&quot; — see &quot;!tyr help kick&quot;",
    );
  });
});
