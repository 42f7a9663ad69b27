// Commands for homeserver admins whose Tyr is a server admin of its homeserver: deactivate a spam
// account of their own server (the end of the road after an abuse report), suspend or lock one
// (reversible), and let a policy list suspend the local accounts it bans. Acting on an account
// always shows what it will do and waits for the moderator's ✅; lifting a restriction does not.
import { commandsFor, types as t, UserFacingError } from "./framework/index.ts";
import { blocks, code, fmt, heading, text, type Fragment } from "../format/fragment.ts";
import type { CommandContext } from "./context.ts";
import { refusal, serverOf } from "../consequences/guard.ts";
import type { AccountRestrictionKind, Consequence } from "../consequences/types.ts";
import type { Result } from "../consequences/queue.ts";
import { AccountModeration, type Restriction } from "../matrix/accountModeration.ts";
import { LIST_SETTING_ARGS, toggleListSetting } from "./listSetting.ts";

const { command } = commandsFor<CommandContext>();

/** Why Tyr will not act on the account (the queue's guard would refuse it too), or undefined. */
function problem(ctx: CommandContext, c: Consequence): string | undefined {
  return refusal(c, {
    botUserId: ctx.bot.session.userId,
    ownServer: ctx.bot.serverName,
    moderators: ctx.bot.moderators(),
  });
}

const ACTING: Partial<Record<Consequence["kind"], string>> = {
  deactivate: "deactivating",
  suspend: "suspending",
  unsuspend: "unsuspending",
  lock: "locking",
  unlock: "unlocking",
};

/** The answer to a refused account action: remote accounts get the way that does work for them. */
function refused(ctx: CommandContext, c: Consequence & { user: string }, why: string): Fragment {
  const remote = serverOf(c.user) !== serverOf(ctx.bot.session.userId);
  return remote
    ? fmt`${code(c.user)} is not an account of ${code(ctx.bot.serverName)}: Tyr can only ${c.kind} its own server's accounts. Ban it with ${code(`${ctx.bot.config.commands.prefix} ban <list> ${c.user}`)} instead.`
    : text(`Not ${ACTING[c.kind] ?? c.kind}: ${why}.`);
}

/** Turns a failed admin call into an error that says what to do. */
function adminFailure(ctx: CommandContext, user: string, r: Result | undefined): Error {
  const err = r?.error ?? "unknown error";
  if (/M_FORBIDDEN|HTTP_403/.test(err))
    return new UserFacingError(
      `the homeserver refused: ${ctx.bot.session.userId} is not a server admin of ${ctx.bot.serverName}, or ${user} is an admin the server protects (${err}). Make Tyr's account a server admin, then try again`,
    );
  if (/M_NOT_FOUND|HTTP_404/.test(err))
    return new UserFacingError(
      `${ctx.bot.serverName} has no account ${user} (or no admin API for this) (${err})`,
    );
  return new UserFacingError(err);
}

/** Submits one account action; undefined when it was done, else the reply or a thrown failure. */
async function act(ctx: CommandContext, c: Consequence & { user: string }): Promise<Fragment | undefined> {
  const why = problem(ctx, c);
  if (why !== undefined) return refused(ctx, c, why);
  const [r] = await ctx.act([c]);
  if (r?.outcome === "dry-run") return fmt`Dry run: ${code(c.user)} would have been affected (${c.kind}).`;
  if (r?.outcome === "skipped") return refused(ctx, c, r.error ?? "refused");
  if (r?.outcome !== "done") throw adminFailure(ctx, c.user, r);
  return undefined;
}

const deactivate = command({
  name: "deactivate",
  group: "Server admin",
  summary: "Deactivate an account of Tyr's own homeserver (Tyr must be a Synapse server admin)",
  description:
    "Irreversible: the account is logged out everywhere, leaves every room and can never log in again; its user ID cannot be registered again. With --erase the server also hides its messages from people who join rooms later. Tyr always asks for a ✅ first, and never deactivates itself, a moderator, or an account of another server (ban those with a list instead). To stop an account reversibly, use suspend or lock.",
  args: [
    { name: "user", type: t.user() },
    { name: "reason", type: t.text(), optional: true, rest: true },
  ],
  flags: {
    erase: { type: "boolean", description: "Also mark the account's messages as erased (GDPR erasure)" },
  },
  examples: ["deactivate @spammer:example.org spam account", "deactivate @bot123:example.org --erase"],
  confirm: (ctx, a) => {
    const c = deactivation(ctx, a.user, a.erase, a.reason);
    if (problem(ctx, c) !== undefined) return null; // run answers why
    return blocks(
      heading(4, fmt`Deactivate ${code(a.user)}${a.erase ? " and erase its messages" : ""}?`),
      text(
        "This cannot be undone: the account is logged out everywhere, leaves every room and can never log in or be registered again.",
      ),
      a.reason ? fmt`Reason (kept in Tyr's action log): ${a.reason}` : false,
    );
  },
  run: async (ctx, a) => {
    const answer = await act(ctx, deactivation(ctx, a.user, a.erase, a.reason));
    if (answer) return answer;
    return fmt`Deactivated ${code(a.user)}${a.erase ? " and erased its messages" : ""}: it is logged out everywhere and has left every room.`;
  },
});

function deactivation(
  ctx: CommandContext,
  user: string,
  erase: boolean,
  reason: string | undefined,
): Consequence & { user: string } {
  return { kind: "deactivate", user, erase, reason: reason ?? "", cause: ctx.cause };
}

// ---- suspend / lock ---------------------------------------------------------------------------

interface RestrictionText {
  readonly lift: AccountRestrictionKind;
  readonly done: string;
  readonly lifted: string;
  /** What the account can still do, and what not. */
  readonly effect: string;
}

const RESTRICTIONS: Record<Restriction, RestrictionText> = {
  suspend: {
    lift: "unsuspend",
    done: "Suspended",
    lifted: "Unsuspended",
    effect:
      "The account stays logged in and can read, leave rooms and redact its own messages, but cannot send messages, join rooms or change its profile (the server answers M_USER_SUSPENDED).",
  },
  lock: {
    lift: "unlock",
    done: "Locked",
    lifted: "Unlocked",
    effect:
      "Every request of the account is refused (M_USER_LOCKED) until it is unlocked; nothing is deleted and it keeps its rooms.",
  },
};

const restriction = (ctx: CommandContext, kind: AccountRestrictionKind, user: string, reason?: string) =>
  ({ kind, user, reason: reason ?? "", cause: ctx.cause }) satisfies Consequence;

function restrictCommand(r: Restriction) {
  const words = RESTRICTIONS[r];
  return command({
    name: r,
    group: "Server admin",
    summary: `${r === "suspend" ? "Suspend" : "Lock"} an account of Tyr's own homeserver (reversible; Tyr must be a server admin)`,
    description: `${words.effect} Undo with ${words.lift}. Tyr asks for a ✅ first and never ${r}s itself, a moderator, or another server's account. It uses the spec's admin endpoint when the server offers it (m.account_moderation), Synapse's admin API otherwise.`,
    args: [
      { name: "user", type: t.user() },
      { name: "reason", type: t.text(), optional: true, rest: true },
    ],
    examples: [`${r} @spammer:example.org spam wave`],
    confirm: (ctx, a) => {
      if (problem(ctx, restriction(ctx, r, a.user)) !== undefined) return null; // run answers why
      return blocks(
        heading(4, fmt`${r === "suspend" ? "Suspend" : "Lock"} ${code(a.user)}?`),
        text(words.effect),
        a.reason ? fmt`Reason (kept in Tyr's action log): ${a.reason}` : false,
      );
    },
    run: async (ctx, a) => {
      const answer = await act(ctx, restriction(ctx, r, a.user, a.reason));
      if (answer) return answer;
      return fmt`${words.done} ${code(a.user)}. ${words.effect} Undo with ${code(`${ctx.bot.config.commands.prefix} ${words.lift} ${a.user}`)}.`;
    },
  });
}

/** Lists with autoSuspend whose rules ban `user` now: lifting by hand would not last. */
function suspendingLists(ctx: CommandContext, user: string): string[] {
  const p = ctx.services.policy;
  if (!p) return [];
  const d = p.decideMember(user);
  if (d.action === "none") return [];
  const auto = p.autoSuspendLists();
  return [...new Set(d.rules.filter((x) => auto.has(x.list)).map((x) => p.displayList(x.list)))];
}

function liftCommand(r: Restriction) {
  const words = RESTRICTIONS[r];
  const kind = words.lift;
  return command({
    name: kind,
    group: "Server admin",
    summary: `Lift ${r === "suspend" ? "the suspension of" : "the lock on"} an account of Tyr's own homeserver`,
    args: [{ name: "user", type: t.user() }],
    examples: [`${kind} @someone:example.org`],
    run: async (ctx, a) => {
      const lists = r === "suspend" ? suspendingLists(ctx, a.user) : [];
      if (lists.length > 0)
        return fmt`Not unsuspending ${code(a.user)}: ${lists.join(", ")} ban${lists.length === 1 ? "s" : ""} it and suspend${lists.length === 1 ? "s" : ""} local accounts automatically, so Tyr would suspend it again. Remove the rule (${code(`${ctx.bot.config.commands.prefix} rules matching ${a.user}`)}) or turn autoSuspend off for the list first.`;
      const before = r === "suspend" ? ctx.bot.actionLog.suspensionOf(a.user) : undefined;
      const answer = await act(ctx, restriction(ctx, kind, a.user, `lifted by ${ctx.sender}`));
      if (answer) return answer;
      const by = before ? ` (suspended by ${before.actor}${before.reason ? `: ${before.reason}` : ""})` : "";
      return fmt`${words.lifted} ${code(a.user)}${by}.`;
    },
  });
}

// ---- per-list auto-suspension ----------------------------------------------------------------

const autosuspend = command({
  name: "autosuspend",
  group: "Server admin",
  summary: "Whether a watched list's bans also suspend the local accounts they hit",
  description:
    "With autoSuspend on, an account of Tyr's own homeserver that the list bans (ban, takedown or hashed rule) is suspended too, and unsuspended when no such rule is left — unless a moderator suspended it by hand, which only the unsuspend command lifts. Tyr must be a server admin. Without on/off, shows the setting.",
  args: LIST_SETTING_ARGS,
  examples: ["autosuspend spam on", "autosuspend spam"],
  run: (ctx, a) =>
    toggleListSetting(ctx, a, {
      key: "autoSuspend",
      cannot: async (ctx) =>
        (await new AccountModeration(ctx.bot.client).canSuspend(ctx.bot.session.userId))
          ? undefined
          : fmt`${code(ctx.bot.session.userId)} cannot suspend accounts on ${code(ctx.bot.serverName)} (it is not a server admin, or the server offers no suspension API). Make Tyr's account a server admin first.`,
      switched: (_ctx, name, on) =>
        on
          ? fmt`autoSuspend is on for ${name}: local accounts it bans are being suspended; they are unsuspended when the rule goes.`
          : fmt`autoSuspend is off for ${name}: accounts it suspended are being unsuspended (suspensions made by hand stay).`,
    }),
});

export const adminCommands = [
  deactivate,
  restrictCommand("suspend"),
  liftCommand("suspend"),
  restrictCommand("lock"),
  liftCommand("lock"),
  autosuspend,
];
