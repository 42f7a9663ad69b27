// `protections …`: list, switch on and off, dry-run, show and tune the spam protections, for all
// protected rooms or (with --room) for one. Every change is saved to the bot's account data and
// takes effect at once; errors name the setting and what it expects.
import {
  addListItem,
  describeProtection,
  effectiveConfig,
  findProtection,
  removeListItem,
  resetProtection,
  TYR_PROTECTIONS_KEY,
  setDryRun,
  setEnabled,
  setSetting,
  type EditResult,
  type ProtectionsConfig,
} from "../protections/config.ts";
import type { AnyProtection } from "../protections/framework.ts";
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
  keyValue,
  table,
  text,
  type Fragment,
} from "../format/fragment.ts";
import { commandsFor, types as t, UserFacingError, type Command, type RoomRef } from "./framework/index.ts";
import type { CommandContext } from "./context.ts";

/** What the commands need from the protections feature. */
export interface ProtectionsControl {
  readonly protections: readonly AnyProtection[];
  readonly config: ProtectionsConfig;
  edit(fn: (config: ProtectionsConfig) => EditResult): Promise<EditResult>;
  whenLoaded(): Promise<void>;
  /** Clears Tyr's protection settings in account data (`protections reset` with no name). */
  clearAll(): Promise<void>;
  isProtected(roomId: string): boolean;
}

const { command } = commandsFor<CommandContext>();
const GROUP = "Protections";

const nameArg = {
  name: "protection",
  type: t.word({ placeholder: "protection", expected: "a protection name", maxLength: 100 }),
} as const;
const settingArg = {
  name: "setting",
  type: t.word({ placeholder: "setting", expected: "a setting name", maxLength: 100 }),
} as const;
const roomFlag = {
  room: {
    type: t.room(),
    description: "Only this room (a per-room override); default: every protected room",
  },
} as const;

/** A failed command: a reply that says what is wrong (the command still "ran"). */
function problem(msg: string): Fragment {
  return fmt`✗ ${msg}`;
}

async function resolveRoom(ctx: CommandContext, ref: RoomRef | undefined): Promise<string | undefined> {
  if (ref === undefined) return undefined;
  if (ref.kind === "id") return ref.roomId;
  try {
    return await ctx.bot.client.resolveRoom(ref.alias);
  } catch (e) {
    throw new UserFacingError(`cannot resolve ${ref.alias}: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
}

function where(room: string | undefined): Fragment {
  return room === undefined ? text("in every protected room") : fmt`in ${code(room)} only`;
}

function notProtectedNote(control: ProtectionsControl, room: string | undefined): Fragment | undefined {
  return room !== undefined && !control.isProtected(room)
    ? fmt`Note: ${code(room)} is not a protected room, so this has no effect until it is.`
    : undefined;
}

function lookup(control: ProtectionsControl, name: string): AnyProtection | string {
  return (
    findProtection(control.protections, name) ??
    `unknown protection ${JSON.stringify(name.slice(0, 60))}; known: ${control.protections.map((p) => p.name).join(", ")}`
  );
}

export function listReply(control: ProtectionsControl, prefix: string): Fragment {
  const config = control.config;
  const rows = control.protections.map((p) => {
    const eff = effectiveConfig(config, p);
    const rooms = Object.keys(config.protections[p.name]?.rooms ?? {});
    const enabledIn = rooms.filter((r) => config.protections[p.name]?.rooms[r]?.enabled === true).length;
    const disabledIn = rooms.filter((r) => config.protections[p.name]?.rooms[r]?.enabled === false).length;
    const cells: (string | Fragment)[] = [code(p.name), eff.enabled ? bold("on") : "off"];
    cells.push(eff.dryRun ? bold("dry-run") : "live");
    const notes: string[] = [];
    if (enabledIn > 0) notes.push(`on in ${enabledIn}`);
    if (disabledIn > 0) notes.push(`off in ${disabledIn}`);
    const other = rooms.length - enabledIn - disabledIn;
    if (other > 0) notes.push(`tuned in ${other}`);
    cells.push(
      rooms.length === 0
        ? "none"
        : `${rooms.length} room${rooms.length === 1 ? "" : "s"} (${notes.join(", ")})`,
    );
    return cells;
  });
  return blocks(
    heading(4, "Protections"),
    table(["name", "state", "mode", "room overrides"], rows),
    fmt`Details: ${code(`${prefix} protections show <name>`)} · switch: ${code(`${prefix} protections enable <name> [--room <room>]`)}`,
  );
}

export function showReply(control: ProtectionsControl, p: AnyProtection, room: string | undefined): Fragment {
  const d = describeProtection(control.config, p, room);
  const state = concat(
    d.enabled ? bold("enabled") : "disabled",
    d.dryRun ? concat(", ", bold("dry-run"), " (decisions are reported, not carried out)") : "",
    " ",
    where(room),
  );
  const settings = d.settings.map((s) => {
    const source = s.source === "room" ? " (this room)" : s.source === "global" ? " (set)" : "";
    return concat(
      code(s.name),
      " = ",
      code(s.value),
      source,
      s.value !== s.default ? fmt` — default ${code(s.default)}` : "",
      text("\n"),
      italic(`${s.description}; ${s.type}`),
    );
  });
  return blocks(
    heading(4, fmt`Protection ${code(d.name)}`),
    text(d.description),
    keyValue([
      ["State", state],
      [
        "Room overrides",
        d.overriddenRooms.length === 0 ? "none" : join(d.overriddenRooms.map((r) => code(r))),
      ],
    ]),
    settings.length > 0 ? bold("Settings") : undefined,
    settings.length > 0 ? bullets(settings) : text("No settings."),
  );
}

async function change(
  ctx: CommandContext,
  control: ProtectionsControl,
  roomRef: RoomRef | undefined,
  fn: (config: ProtectionsConfig, room: string | undefined) => EditResult,
  done: (room: string | undefined, before: ProtectionsConfig) => Fragment,
): Promise<Fragment> {
  const room = await resolveRoom(ctx, roomRef);
  await control.whenLoaded();
  let before: ProtectionsConfig | undefined;
  const r = await control.edit((c) => {
    before = c;
    return fn(c, room);
  });
  if (!r.ok) return problem(r.error);
  ctx.bot.log.info({ by: ctx.sender, command: ctx.cause.command, room }, "protection settings changed");
  return blocks(done(room, before ?? r.config), notProtectedNote(control, room));
}

function currentValue(
  config: ProtectionsConfig,
  p: AnyProtection,
  setting: string,
  room: string | undefined,
): string {
  const s = describeProtection(config, p, room).settings.find(
    (x) => x.name.toLowerCase() === setting.toLowerCase(),
  );
  return s?.value ?? "?";
}

function canonicalSetting(p: AnyProtection, setting: string): string {
  return (
    Object.keys(p.settings as object).find((k) => k.toLowerCase() === setting.trim().toLowerCase()) ?? setting
  );
}

export function protectionsCommands(control: ProtectionsControl): Command<CommandContext>[] {
  return [
    command({
      name: "protections",
      group: GROUP,
      summary: "List the protections: on or off, dry-run, per-room overrides",
      examples: ["protections"],
      run: async (ctx) => {
        await control.whenLoaded();
        return listReply(control, ctx.bot.config.commands.prefix);
      },
    }),
    command({
      name: "protections show",
      group: GROUP,
      summary: "Describe a protection: its settings with current values and defaults",
      args: [nameArg],
      flags: roomFlag,
      examples: ["protections show flooding", "protections show word-list --room !abc:example.org"],
      run: async (ctx, a) => {
        const p = lookup(control, a.protection);
        if (typeof p === "string") return problem(p);
        const room = await resolveRoom(ctx, a.room);
        await control.whenLoaded();
        return showReply(control, p, room);
      },
    }),
    ...(["enable", "disable"] as const).map((verb) =>
      command({
        name: `protections ${verb}`,
        group: GROUP,
        summary:
          verb === "enable"
            ? "Switch a protection on (everywhere, or in one room)"
            : "Switch a protection off (everywhere, or in one room)",
        args: [nameArg],
        flags: roomFlag,
        examples: [
          `protections ${verb} flooding`,
          `protections ${verb} media-filter --room #lobby:example.org`,
        ],
        run: (ctx, a) =>
          change(
            ctx,
            control,
            a.room,
            (c, room) => setEnabled(c, control.protections, a.protection, verb === "enable", room),
            (room) => {
              const p = findProtection(control.protections, a.protection);
              return fmt`${code(p?.name ?? a.protection)} is now ${verb === "enable" ? bold("on") : bold("off")} ${where(room)}.`;
            },
          ),
      }),
    ),
    command({
      name: "protections dryrun",
      aliases: ["protections dry-run"],
      group: GROUP,
      summary: "Dry-run a protection: report what it would do instead of doing it",
      args: [nameArg, { name: "mode", type: t.choice(["on", "off"] as const) }],
      flags: roomFlag,
      examples: [
        "protections dryrun word-list on",
        "protections dryrun flooding off --room !abc:example.org",
      ],
      run: (ctx, a) =>
        change(
          ctx,
          control,
          a.room,
          (c, room) => setDryRun(c, control.protections, a.protection, a.mode === "on", room),
          (room) => {
            const p = findProtection(control.protections, a.protection);
            return a.mode === "on"
              ? fmt`${code(p?.name ?? a.protection)} is in ${bold("dry-run")} ${where(room)}: its decisions are reported here, not carried out.`
              : fmt`${code(p?.name ?? a.protection)} now ${bold("acts")} ${where(room)} (dry-run off).`;
          },
        ),
    }),
    command({
      name: "protections set",
      group: GROUP,
      summary: "Change a setting of a protection",
      args: [nameArg, settingArg, { name: "value", type: t.text({ placeholder: "value" }), rest: true }],
      flags: roomFlag,
      examples: [
        "protections set flooding maxMessages 5",
        "protections set flooding window 30s --room !abc:example.org",
        "protections set media-filter blocked image, video",
      ],
      run: (ctx, a) =>
        change(
          ctx,
          control,
          a.room,
          (c, room) => setSetting(c, control.protections, a.protection, a.setting, a.value, room),
          (room, before) => {
            const p = findProtection(control.protections, a.protection) as AnyProtection;
            const key = canonicalSetting(p, a.setting);
            const was = currentValue(before, p, key, room);
            const now = currentValue(control.config, p, key, room);
            return fmt`${code(`${p.name}.${key}`)} = ${code(now)} ${where(room)} (was ${code(was)}).`;
          },
        ),
    }),
    ...(["add", "remove"] as const).map((verb) =>
      command({
        name: `protections ${verb}`,
        group: GROUP,
        summary: verb === "add" ? "Add an item to a list setting" : "Remove an item from a list setting",
        args: [
          nameArg,
          settingArg,
          { name: "item", type: t.text({ placeholder: "item", maxLength: 1000 }), rest: true },
        ],
        flags: roomFlag,
        examples:
          verb === "add"
            ? [
                "protections add word-list patterns buy crypto now",
                "protections add word-list patterns /free\\s+nitro/i",
              ]
            : ["protections remove word-list patterns buy crypto now"],
        run: (ctx, a) =>
          change(
            ctx,
            control,
            a.room,
            (c, room) =>
              (verb === "add" ? addListItem : removeListItem)(
                c,
                control.protections,
                a.protection,
                a.setting,
                a.item,
                room,
              ),
            (room) => {
              const p = findProtection(control.protections, a.protection) as AnyProtection;
              const key = canonicalSetting(p, a.setting);
              const count =
                (effectiveConfig(control.config, p, room).stored[key] as readonly string[] | undefined)
                  ?.length ?? 0;
              return verb === "add"
                ? fmt`Added ${code(a.item)} to ${code(`${p.name}.${key}`)} ${where(room)} (${count} item${count === 1 ? "" : "s"}).`
                : fmt`Removed ${code(a.item)} from ${code(`${p.name}.${key}`)} ${where(room)} (${count} left).`;
            },
          ),
      }),
    ),
    command({
      name: "protections reset",
      group: GROUP,
      summary:
        "Settings back to defaults (with --room: drop that room's override; with no name: clear all of Tyr's protection settings)",
      args: [{ ...nameArg, optional: true }],
      flags: roomFlag,
      examples: [
        "protections reset flooding",
        "protections reset flooding --room !abc:example.org",
        "protections reset",
      ],
      confirm: (_ctx, a) =>
        a.protection === undefined
          ? fmt`About to clear all of Tyr's protection settings (account data ${code(TYR_PROTECTIONS_KEY)}): every protection goes back to its defaults.`
          : null,
      run: async (ctx, a) => {
        const name = a.protection;
        if (name === undefined) {
          if (a.room !== undefined) return problem("--room needs a protection name");
          await control.clearAll();
          return fmt`Tyr's protection settings are cleared: every protection is back to its defaults.`;
        }
        return change(
          ctx,
          control,
          a.room,
          (c, room) => resetProtection(c, control.protections, name, room),
          (room) => {
            const p = findProtection(control.protections, name) as AnyProtection;
            return room === undefined
              ? fmt`${code(p.name)}: every setting is back to its default (on/off, dry-run and room overrides unchanged).`
              : fmt`${code(p.name)}: the override for ${code(room)} is gone; the room follows the global settings.`;
          },
        );
      },
    }),
  ];
}
