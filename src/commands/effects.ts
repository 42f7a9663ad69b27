// What commands that act on many users share: where they act (`--room R` or every protected
// room), submitting the effects through the queue with one progress message for big jobs, and the
// summary of what happened (done, dry-run, refused by the guard, failed).
import { roomRefToString, types as t, UserFacingError, type RoomRef } from "./framework/index.ts";
import { blocks, code, fmt, join, progress, text, type Fragment } from "../format/fragment.ts";
import type { CommandContext, Progress } from "./context.ts";
import type { Consequence } from "../consequences/types.ts";
import type { Result } from "../consequences/queue.ts";

/** Jobs with at least this many effects show one progress message, edited as they go. */
export const PROGRESS_FROM = 10;

export type Got<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reply: Fragment };
export const got = <T>(value: T): Got<T> => ({ ok: true, value });
export const say = <T>(reply: Fragment): Got<T> => ({ ok: false, reply });

export const roomFlag = {
  room: { type: t.room(), description: "Only this room (default: every protected room)" },
} as const;

/** A room ID for a reference; an unknown alias is answered, not thrown. */
export async function resolveRoomRef(ctx: CommandContext, r: RoomRef): Promise<Got<string>> {
  if (r.kind === "id") return got(r.roomId);
  try {
    return got(await ctx.bot.client.resolveRoom(r.alias));
  } catch (e) {
    if ((e as { errcode?: string }).errcode === "M_NOT_FOUND")
      return say(fmt`No room has the alias ${code(r.alias)}.`);
    throw e;
  }
}

/** A short, readable name for a room: its canonical alias when it has one. */
export function roomLabel(ctx: CommandContext, roomId: string): string {
  const alias = ctx.bot.state.peek(roomId)?.get("m.room.canonical_alias")?.content.alias;
  return typeof alias === "string" ? alias : roomId;
}

export interface Scope {
  readonly rooms: string[];
  /** "!abc:x" or "3 protected rooms". */
  readonly label: string;
  readonly explicit: boolean;
}

/** `--room R` (a room Tyr is in), or every protected room. */
export async function scopeOf(ctx: CommandContext, flag: RoomRef | undefined): Promise<Got<Scope>> {
  const prefix = ctx.bot.config.commands.prefix;
  if (flag !== undefined) {
    const id = await resolveRoomRef(ctx, flag);
    if (!id.ok) return id;
    if (!ctx.bot.state.peek(id.value)?.createEvent)
      return say(
        fmt`Tyr is not in ${code(roomRefToString(flag))}. Invite it, or protect the room with ${code(`${prefix} rooms add ${roomRefToString(flag)}`)}.`,
      );
    return got({ rooms: [id.value], label: roomLabel(ctx, id.value), explicit: true });
  }
  const rooms = [...(ctx.services.policy?.protectedRooms ?? [])];
  if (rooms.length === 0)
    return say(
      fmt`There are no protected rooms. Name a room with ${code("--room")}, or protect one with ${code(`${prefix} rooms add <room>`)}.`,
    );
  return got({
    rooms,
    label: `${rooms.length} protected room${rooms.length === 1 ? "" : "s"}`,
    explicit: false,
  });
}

export const plural = (n: number, one: string, many = `${one}s`): string =>
  `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;

export interface Tally {
  readonly done: number;
  readonly dryRun: number;
  readonly failed: string[];
  readonly refused: string[];
}

export function tally(results: readonly Result[]): Tally {
  const failed: string[] = [];
  const refused: string[] = [];
  let done = 0;
  let dryRun = 0;
  for (const r of results) {
    if (r.outcome === "done") done++;
    else if (r.outcome === "dry-run") dryRun++;
    else if (r.outcome === "skipped") refused.push(r.error ?? "refused");
    else failed.push(r.error ?? "failed");
  }
  return { done, dryRun, failed, refused };
}

/** Lines about what did not happen (failures, refusals, dry-run), or nothing. */
export function problems(tl: Tally): Fragment | false {
  const lines: Fragment[] = [];
  if (tl.dryRun) lines.push(text(`Dry run: ${plural(tl.dryRun, "action")} only simulated, nothing changed.`));
  if (tl.refused.length)
    lines.push(
      text(
        `${plural(tl.refused.length, "action")} refused: ${[...new Set(tl.refused)].slice(0, 3).join("; ")}.`,
      ),
    );
  if (tl.failed.length)
    lines.push(
      text(
        `${plural(tl.failed.length, "action")} failed: ${[...new Set(tl.failed)].slice(0, 3).join("; ")}.`,
      ),
    );
  return lines.length ? blocks(...lines) : false;
}

/** Submits the effects; a job of PROGRESS_FROM or more shows and edits one progress message. */
export async function actWithProgress(
  ctx: CommandContext,
  label: string,
  cs: readonly Consequence[],
): Promise<{ results: Result[]; shown: Progress | undefined }> {
  if (cs.length < PROGRESS_FROM) return { results: await ctx.act(cs), shown: undefined };
  const p = ctx.progress();
  await p.update(progress(label, 0, cs.length));
  const results = await ctx.act(cs, (done, total) => {
    p.update(progress(label, done, total)).catch(() => undefined);
  });
  return { results, shown: p };
}

/** The final answer: into the progress message when there is one, else as the reply. */
export async function conclude(shown: Progress | undefined, f: Fragment): Promise<Fragment | undefined> {
  if (!shown) return f;
  await shown.finish(f);
  return undefined;
}

/** Raises when nothing was done and something failed, so the command shows ❌ (the queue has
 *  logged each failed action already). */
export function failIfNothingDone(tl: Tally, what: string): void {
  if (tl.done === 0 && tl.dryRun === 0 && tl.failed.length > 0)
    throw new UserFacingError(`could not ${what}: ${[...new Set(tl.failed)].slice(0, 3).join("; ")}`);
}

export function listSome(items: readonly string[], max = 15): Fragment {
  const shown = join(items.slice(0, max).map((i) => code(i)));
  return items.length > max ? fmt`${shown} and ${String(items.length - max)} more` : shown;
}
