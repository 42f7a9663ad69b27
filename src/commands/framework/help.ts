// Help text generated from the command definitions, so it can never drift from what the
// parser accepts.
import {
  blocks,
  bold,
  bullets,
  code,
  concat,
  fmt,
  heading,
  italic,
  join,
  text,
  type Fragment,
} from "../../format/fragment.ts";
import type { PagedReply, Reply } from "../../format/paginate.ts";
import type { Command } from "./command.ts";
import { argUsage, usageLine, type CommandRegistry } from "./registry.ts";
import { closest } from "./suggest.ts";
import { quote } from "./text.ts";

function entry<Ctx>(cmd: Command<Ctx>): Fragment {
  return fmt`${code(cmd.name)} — ${cmd.summary}`;
}

/** `help`: every command, grouped, one line each. */
export function helpOverview<Ctx>(registry: CommandRegistry<Ctx>, prefix: string): PagedReply {
  return {
    header: blocks(
      heading(4, "Tyr commands"),
      fmt`Type ${code(`${prefix} help <command>`)} for details on one command.`,
    ),
    sections: registry.groups().map(({ group, commands }) => ({
      title: group,
      items: commands.map((c) => entry(c)),
    })),
  };
}

/** `help <command>`: usage, description, arguments, flags, examples. */
export function helpForCommand<Ctx>(
  cmd: Command<Ctx>,
  prefix: string,
  related: readonly Command<Ctx>[] = [],
): Fragment {
  const args = cmd.args.map((a) => {
    const notes = [a.type.expected];
    if (a.optional === true) notes.push("optional");
    if (a.rest === true) notes.push("the rest of the line");
    if (a.variadic === true) notes.push("one or more");
    const described = a.description === undefined ? "" : ` — ${a.description}`;
    return fmt`${code(argUsage(a))}: ${notes.join(", ")}${described}`;
  });
  const flags = Object.entries(cmd.flags).map(([name, f]) => {
    const form = f.type === "boolean" ? `--${name}` : `--${name} <${f.type.placeholder}>`;
    const short = f.short === undefined ? "" : ` (or -${f.short})`;
    const dflt = f.type !== "boolean" && f.default !== undefined ? ` (default ${String(f.default)})` : "";
    return fmt`${code(form)}${short}: ${f.description}${dflt}`;
  });
  return blocks(
    heading(4, concat("Help: ", cmd.name)),
    fmt`Usage: ${code(usageLine(cmd, prefix))}`,
    text(cmd.summary),
    cmd.description === undefined ? undefined : text(cmd.description),
    cmd.confirm !== undefined && cmd.confirm !== false
      ? italic(
          cmd.confirm === true
            ? "Asks for confirmation (react ✅) before acting; --yes skips the question."
            : "May ask for confirmation (react ✅) when the effect is wide; --yes skips the question.",
        )
      : undefined,
    args.length > 0 ? blocks(bold("Arguments"), bullets(args)) : undefined,
    flags.length > 0 ? blocks(bold("Flags"), bullets(flags)) : undefined,
    cmd.aliases.length > 0 ? fmt`Also available as: ${join(cmd.aliases.map(code))}` : undefined,
    cmd.examples.length > 0
      ? blocks(bold("Examples"), bullets(cmd.examples.map((e) => code(`${prefix} ${e}`))))
      : undefined,
    related.length > 0 ? fmt`See also: ${join(related.map((c) => code(c.name)))}` : undefined,
  );
}

/** `help <anything>`: a command, a multi-word family ("list"), a group name, or suggestions. */
export function helpTopic<Ctx>(registry: CommandRegistry<Ctx>, query: string, prefix: string): Reply {
  let q = query.trim().toLowerCase().split(/\s+/u).join(" ");
  if (q.startsWith(`${prefix.toLowerCase()} `)) q = q.slice(prefix.length + 1);
  const words = q.split(" ");
  const cmd = registry.find(q);
  const family = registry.startingWith(words);
  if (cmd !== undefined) return helpForCommand(cmd, prefix, family);
  if (family.length > 0) {
    return {
      header: heading(4, concat("Commands starting with ", code(q))),
      sections: [{ items: family.map(entry) }],
    };
  }
  const group = registry.groups().find((g) => g.group.toLowerCase() === q);
  if (group !== undefined) {
    return {
      header: heading(4, group.group),
      sections: [{ items: group.commands.map((c) => entry(c)) }],
    };
  }
  const near = [
    ...registry.suggest(words),
    ...closest(
      q,
      registry.groups().map((g) => g.group.toLowerCase()),
    ),
  ].slice(0, 3);
  const suggestion =
    near.length > 0
      ? fmt` Did you mean ${join(
          near.map((n) => code(n)),
          " or ",
        )}?`
      : text("");
  return fmt`There is no command ${quote(q)}.${suggestion} Type ${code(`${prefix} help`)} for the list.`;
}
