// The shape shared by per-list on/off commands (autosuspend, autotakedown): resolve the list,
// show the setting without on/off, check Tyr can act before turning it on, store it.
import { types as t } from "./framework/index.ts";
import { code, fmt, type Fragment } from "../format/fragment.ts";
import type { CommandContext } from "./context.ts";
import type { ListSettings } from "../policy/settings.ts";
import { resolveList } from "./lists.ts";

export const LIST_SETTING_ARGS = [
  { name: "list", type: t.word({ placeholder: "list" }), description: "shortcode, room ID or alias" },
  { name: "setting", type: t.choice(["on", "off"] as const), optional: true },
] as const;

export interface ListToggle {
  readonly key: keyof ListSettings;
  /** Why Tyr cannot do what the setting asks (checked only when turning it on), or undefined. */
  cannot(ctx: CommandContext): Promise<Fragment | undefined>;
  /** The answer after switching, given the list's name. */
  switched(ctx: CommandContext, name: Fragment, on: boolean): Fragment;
}

export async function toggleListSetting(
  ctx: CommandContext,
  a: { list: string; setting?: "on" | "off" | undefined },
  toggle: ListToggle,
): Promise<Fragment> {
  const p = ctx.services.policy;
  if (!p) throw new Error("policy lists are not available");
  const list = await resolveList(ctx, a.list);
  const name = code(p.displayList(list));
  if (a.setting === undefined)
    return fmt`${toggle.key} is ${p.settingsOf(list)[toggle.key] ? "on" : "off"} for ${name}.`;
  if (a.setting === "on") {
    const why = await toggle.cannot(ctx);
    if (why) return fmt`Not turning ${toggle.key} on: ${why}`;
  }
  await p.setListSetting(list, { [toggle.key]: a.setting === "on" });
  return toggle.switched(ctx, name, a.setting === "on");
}
