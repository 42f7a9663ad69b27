import { describe, expect, it } from "vitest";
import type { Fragment } from "../../../src/format/fragment.ts";
import { paginate, type PagedReply, type Reply } from "../../../src/format/paginate.ts";
import { makeCtx, makeRegistry } from "./fixtures.ts";

const registry = makeRegistry();

async function help(input: string, prefix = "!tyr"): Promise<Reply> {
  const r = registry.parse(input, { prefix });
  if (!r.ok) throw new Error(r.error);
  const reply = await r.run(makeCtx());
  if (reply === undefined) throw new Error("help returned nothing");
  return reply;
}

const asFragment = (r: Reply): Fragment => {
  if (!("text" in r)) throw new Error("expected a single fragment");
  return r;
};

describe("help", () => {
  it("lists every command, grouped, with its summary", async () => {
    const r = (await help("help")) as PagedReply;
    expect(r.sections.map((s) => s.title)).toEqual([
      "Policy lists",
      "Server ACL",
      "Protections",
      "Moderation",
      "Rooms",
      "General",
    ]);
    const all = r.sections.flatMap((s) => s.items.map((i) => i.text));
    expect(all).toHaveLength(registry.commands.length);
    expect(all).toContain("`rules matching` — Show the rules that match an entity");
    expect(r.header?.text).toBe("Tyr commands\nType `!tyr help <command>` for details on one command.");
    const [page] = paginate(r);
    expect(page?.formatted_body).toContain(
      "<h4>Policy lists</h4><ul><li><code>ban</code> — Ban an entity on a policy list</li>",
    );
  });

  it("explains one command from its definition", async () => {
    const f = asFragment(await help("help kick"));
    expect(f.text).toBe(
      [
        "Help: kick",
        "Usage: `!tyr kick <user> [reason…] [--room <room>] [--yes]`",
        "Kick a user, or every user matching a glob",
        "May ask for confirmation (react ✅) when the effect is wide; --yes skips the question.",
        "Arguments",
        "• `<user>`: a user or user glob — who to kick",
        "• `[reason…]`: text, optional, the rest of the line",
        "Flags",
        "• `--room <room>` (or -r): Only in this room",
        "• `--yes` (or -y): Do it without asking for confirmation",
      ].join("\n"),
    );
    expect(f.html).toContain("<h4>Help: kick</h4>");
    expect(f.html).toContain(
      "Usage: <code>!tyr kick &lt;user&gt; [reason…] [--room &lt;room&gt;] [--yes]</code>",
    );
  });

  it("shows examples, aliases, defaults and related commands, with the prefix in use", async () => {
    const ban = asFragment(await help("help ban", "!mod"));
    expect(ban.text).toContain("• `!mod ban spam @bad:evil.org spamming`");
    const mute = asFragment(await help("help silence"));
    expect(mute.text).toContain("Help: mute");
    expect(mute.text).toContain("Also available as: `silence`");
    const redact = asFragment(await help("help redact"));
    expect(redact.text).toContain("• `--limit <number>`: How many messages (default 50)");
    const rules = asFragment(await help("help rules"));
    expect(rules.text).toContain("See also: `rules matching`");
    const multi = asFragment(await help("help RULES   matching"));
    expect(multi.text.split("\n")[0]).toBe("Help: rules matching");
  });

  it("help for a family, a group, and unknown topics", async () => {
    const family = (await help("help list")) as PagedReply;
    expect(family.sections[0]?.items.map((i) => i.text)).toEqual([
      "`list create` — Create a new policy list",
    ]);
    const group = (await help("help moderation")) as PagedReply;
    expect(group.header?.text).toBe("Moderation");
    expect(group.sections[0]?.items).toHaveLength(3);
    const unknown = asFragment(await help("help bna"));
    expect(unknown.text).toBe(
      'There is no command "bna". Did you mean `ban`? Type `!tyr help` for the list.',
    );
    const weird = asFragment(await help("help <img src=x onerror=alert(1)>"));
    expect(weird.html).not.toContain("<img");
    expect(weird.html).toContain("&lt;img src=x onerror=alert(1)&gt;");
  });

  it("the help text of every command fits in one event", async () => {
    for (const c of registry.commands) {
      const pages = paginate(await help(`help ${c.name}`));
      expect(pages).toHaveLength(1);
    }
  });
});
