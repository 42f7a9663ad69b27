// The command shell: takes messages from the management room, checks who is asking, parses with
// the pure framework, asks for confirmation where a command wants it, runs the command, and
// answers with threaded m.notice replies plus a ⏳/✅/❌ reaction on the command.
import type { BotParts, Feature } from "../feature.ts";
import { toTimelineEvent, type BatchMeta, type TimelineEvent } from "../router.ts";
import type { RawEvent } from "../matrix/syncTypes.ts";
import type { Services } from "../services.ts";
import { HOUSEKEEPING, type Consequence } from "../consequences/types.ts";
import {
  interpretMessage,
  misaddressedCommand,
  type BotIdentity,
  type CommandRegistry,
  type ParsedCommand,
  type ParseOutcome,
  UserFacingError,
} from "./framework/index.ts";
import { blocks, bold, code, fmt, join, text, type Fragment } from "../format/fragment.ts";
import { paginate, type Reply } from "../format/paginate.ts";
import {
  editContent,
  normaliseReactionKey,
  notice,
  reactionContent,
  REACTION_DONE,
  REACTION_FAILED,
  REACTION_WORKING,
  threadReply,
} from "../format/content.ts";
import { userLevel } from "../matrix/power.ts";
import { contextOnBehalf, parseOnBehalf, type CommandContext, type Progress } from "./context.ts";
import { errorText } from "../consequences/queue.ts";
import { ProgressMessage } from "../consequences/progress.ts";
import { formatDuration } from "./framework/duration.ts";

/**
 * Why `user` may not command Tyr (chat or dashboard), or undefined: they must be joined to the
 * management room with power level ≥ commands.minPowerLevel. `room` and `verb` word the answer.
 */
export function commandAccessProblem(
  bot: Pick<BotParts, "state" | "managementRoomId" | "config">,
  user: string,
  room: string,
  verb: string,
): string | undefined {
  const state = bot.state.peek(bot.managementRoomId);
  if (!state || state.membership(user) !== "join") return `only members of ${room} can ${verb}`;
  const min = bot.config.commands.minPowerLevel;
  if (userLevel(state, user) < min)
    return `only members with power level ${min} or more in ${room} can ${verb}`;
  return undefined;
}

/** What a command run from the dashboard answered (see `CommandHandler.runForDashboard`). */
export interface DashboardRun {
  readonly ok: boolean;
  /** The reply, as it would have been shown in chat (HTML built by src/format, escaped). */
  readonly replies: Fragment[];
  /** Set when the command asks for confirmation first; nothing was done. */
  readonly preview?: Fragment;
}

/** Decides whether a sender's device may command the bot (the E2EE trust policy plugs in here). */
export type TrustGate = (ev: TimelineEvent) => Promise<string | undefined>;

interface PendingConfirmation {
  parsed: ParsedCommand<CommandContext>;
  command: TimelineEvent;
  sender: string;
  expires: number;
  timer: NodeJS.Timeout;
}

const REFUSAL_INTERVAL_MS = 10 * 60_000;
const WORKING_REACTION_DELAY_MS = 1_000;

export class CommandHandler implements Feature {
  readonly name = "commands";
  private readonly bot: BotParts;
  private readonly services: Services;
  private readonly registry: CommandRegistry<CommandContext>;
  private readonly pending = new Map<string, PendingConfirmation>();
  private readonly refusedAt = new Map<string, number>();
  private readonly running = new Set<Promise<void>>();
  trustGate: TrustGate | undefined;

  constructor(bot: BotParts, services: Services, registry: CommandRegistry<CommandContext>) {
    this.bot = bot;
    this.services = services;
    this.registry = registry;
  }

  onTimeline(ev: TimelineEvent, meta: BatchMeta): Promise<void> {
    return this.handle(ev, meta);
  }

  private async handle(ev: TimelineEvent, meta: BatchMeta): Promise<void> {
    const deliveredAt = Date.now();
    if (meta.stale) return this.answerStale(ev);
    // History from the first sync is not a request to act now; nor is anything we sent.
    if (meta.initial || ev.roomId !== this.bot.managementRoomId || ev.sender === this.bot.session.userId)
      return;
    if (ev.type === "m.reaction") return this.onReaction(ev, deliveredAt);
    const outcome = this.interpret(ev);
    if (outcome === null) return this.hintIfMisaddressed(ev);

    const denied = this.accessProblem(ev.sender);
    if (denied) return this.refuse(ev, denied);
    if (this.trustGate) {
      const untrusted = await this.trustGate(ev);
      if (untrusted) return this.refuse(ev, untrusted, true);
    }
    if (!outcome.ok) {
      await this.send(paginate(text(outcome.error), { relatesTo: threadReply(ev.eventId) }));
      await this.react(ev.eventId, REACTION_FAILED);
      return;
    }
    const command = outcome.invocation.command;
    if (!this.bot.safeMode.allows(command)) {
      await this.send([
        notice(fmt`${this.bot.safeMode.refusal(command)}.`, { relatesTo: threadReply(ev.eventId) }),
      ]);
      await this.react(ev.eventId, REACTION_FAILED);
      return;
    }
    // Commands run beside the sync loop so a long job never delays the next sync.
    const job = this.execute(outcome, ev, deliveredAt).finally(() => this.running.delete(job));
    this.running.add(job);
  }

  /** The command in a management-room message addressed to Tyr, or null for anything else. */
  private interpret(ev: TimelineEvent): ParseOutcome<CommandContext> | null {
    if (ev.type !== "m.room.message") return null;
    const rel = ev.content["m.relates_to"] as { rel_type?: unknown } | undefined;
    // Edits of earlier commands are ignored by design: re-running a ban because of a typo fix
    // surprises people; they send the corrected command again.
    if (rel && typeof rel === "object" && rel.rel_type === "m.replace") return null;
    return interpretMessage(this.registry, ev.content, this.identity(), this.bot.config.commands.prefix);
  }

  /** Who Tyr is in the management room: what moderators may address it as. */
  private identity(): BotIdentity {
    const room = this.bot.state.peek(this.bot.managementRoomId);
    const me = this.bot.session.userId;
    return { userId: me, displayName: room?.displayName(me) ?? me.slice(1, me.indexOf(":")) };
  }

  /**
   * A moderator's message that would be a command had it used a name Tyr answers to ("tyr: status"
   * when the account is @tyrbot, "!tir status") gets a hint instead of silence. Names of other
   * members are not near misses: a message to them is none of Tyr's business.
   */
  private async hintIfMisaddressed(ev: TimelineEvent): Promise<void> {
    if (ev.type !== "m.room.message") return;
    const room = this.bot.state.peek(this.bot.managementRoomId);
    const me = this.bot.session.userId;
    // What people type to address a member: their full ID, @localpart, localpart or display name.
    const namesOf = (m: string) => {
      const colon = m.indexOf(":");
      return [m, m.slice(0, colon), m.slice(1, colon), room?.displayName(m) ?? ""];
    };
    const isOtherMember = (name: string): boolean => {
      const n = name.toLowerCase();
      return (room?.members() ?? []).some((m) => m !== me && namesOf(m).some((x) => x.toLowerCase() === n));
    };
    const miss = misaddressedCommand(
      this.registry,
      ev.content,
      this.identity(),
      this.bot.config.commands.prefix,
      isOtherMember,
    );
    if (miss === null || this.accessProblem(ev.sender) !== undefined) return;
    this.bot.log.debug({ sender: ev.sender, name: miss.name }, "command under a near-miss name: hinting");
    const [first, ...more] = miss.forms.map((f) => code(f));
    await this.send([
      notice(
        fmt`Tyr does not answer to ${code(miss.name)}. To run that, send ${first!}${more.length ? fmt` (or ${join(more, ", ")})` : ""}.`,
        { relatesTo: threadReply(ev.eventId) },
      ),
    ]);
  }

  /**
   * A command whose key arrived long after it was sent is not run (the situation it was meant for
   * may be over), but a moderator who sent it learns why nothing happened.
   */
  private async answerStale(ev: TimelineEvent): Promise<void> {
    if (ev.roomId !== this.bot.managementRoomId || ev.sender === this.bot.session.userId) return;
    if (this.interpret(ev) === null || this.accessProblem(ev.sender) !== undefined) return;
    const age = formatDuration(Math.max(1000, Date.now() - ev.ts));
    this.bot.log.info({ sender: ev.sender, eventId: ev.eventId }, "not running a command decrypted late");
    await this.send([
      notice(
        fmt`Tyr could decrypt this command only now, ${age} after it was sent (its key arrived late), so it did not run it. Send it again if it is still wanted.`,
        { relatesTo: threadReply(ev.eventId) },
      ),
    ]);
  }

  /**
   * More commands arrived than one sync carries (a busy management room, or Tyr was away): page
   * back through the gap (from the batch's start to the previous sync position) and handle the
   * skipped commands, oldest first.
   */
  onGap(roomId: string, gap: { from: string | undefined; to: string | undefined }): void {
    const { from, to } = gap;
    if (roomId !== this.bot.managementRoomId || !from || !to) return;
    this.gapFill = this.gapFill
      .then(() => this.fillGap(from, to))
      .catch((e) =>
        this.bot.log.warn({ error: errorText(e) }, "could not fetch the commands a sync gap skipped"),
      );
  }

  private gapFill: Promise<void> = Promise.resolve();

  private async fillGap(from: string, to: string): Promise<void> {
    const room = this.bot.managementRoomId;
    const missed: RawEvent[] = [];
    let token: string | undefined = from;
    // Bounded: at most 5 pages of 100 events; commands older than that are not worth running late.
    for (let page = 0; page < 5 && token; page++) {
      const res = (await this.bot.client.doRequest(
        "GET",
        `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/messages`,
        { dir: "b", from: token, to, limit: 100 },
      )) as { chunk?: RawEvent[]; end?: string };
      const chunk = res.chunk ?? [];
      missed.push(...chunk);
      if (chunk.length === 0 || !res.end) break;
      token = res.end;
    }
    if (missed.length === 0) return;
    this.bot.log.info({ events: missed.length }, "handling management-room events a sync gap skipped");
    for (const raw0 of missed.reverse()) {
      let raw = raw0;
      let info: unknown;
      if (raw.type === "m.room.encrypted" && this.bot.router.decryptor) {
        const clear = await this.bot.router.decryptor(room, raw);
        if (clear === "drop" || !clear) continue;
        ({ event: raw, info } = clear);
      }
      const ev = toTimelineEvent(room, raw);
      if (!ev) continue;
      if (raw !== raw0) {
        ev.decrypted = true;
        ev.decryption = info;
      }
      await this.handle(ev, { initial: false });
    }
  }

  async stop(): Promise<void> {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    await Promise.allSettled([...this.running]);
  }

  /** Why `sender` may not command the bot, or undefined. */
  private accessProblem(sender: string): string | undefined {
    return commandAccessProblem(this.bot, sender, "this room", "command Tyr");
  }

  /** One polite refusal per sender per interval; their text is never echoed back. */
  private async refuse(ev: TimelineEvent, why: string, always = false): Promise<void> {
    const last = this.refusedAt.get(ev.sender) ?? 0;
    if (!always && Date.now() - last < REFUSAL_INTERVAL_MS) return;
    this.refusedAt.set(ev.sender, Date.now());
    this.bot.log.info({ sender: ev.sender, why }, "command refused");
    await this.send([notice(fmt`Sorry, ${why}.`, { relatesTo: threadReply(ev.eventId) })]);
  }

  private async execute(
    parsed: ParsedCommand<CommandContext>,
    ev: TimelineEvent,
    deliveredAt: number,
  ): Promise<void> {
    const ctx = this.context(ev, parsed.invocation.command, deliveredAt);
    let preview: Fragment | null;
    try {
      preview = await parsed.confirmation(ctx);
    } catch (e) {
      return this.fail(ev, parsed, e);
    }
    if (preview) return this.askConfirmation(parsed, ev, preview);
    return this.runNow(parsed, ev, ctx);
  }

  private async runNow(
    parsed: ParsedCommand<CommandContext>,
    ev: TimelineEvent,
    ctx: CommandContext,
  ): Promise<void> {
    let working: Promise<string | undefined> | undefined;
    const timer = setTimeout(
      () => (working = this.react(ev.eventId, REACTION_WORKING)),
      WORKING_REACTION_DELAY_MS,
    );
    let ok = true;
    try {
      const reply = await parsed.run(ctx);
      if (reply) await ctx.reply(reply);
    } catch (e) {
      ok = false;
      await this.fail(ev, parsed, e, false);
    } finally {
      clearTimeout(timer);
    }
    const workingId = await working;
    if (workingId) await this.redact(workingId);
    await this.react(ev.eventId, ok ? REACTION_DONE : REACTION_FAILED);
  }

  private async fail(
    ev: TimelineEvent,
    parsed: ParsedCommand<CommandContext>,
    e: unknown,
    react = true,
  ): Promise<void> {
    const name = parsed.invocation.command;
    const { expected, reason } = classifyFailure(e);
    if (expected) this.bot.log.info({ command: name, reason }, "command did not complete");
    else this.bot.log.error({ err: e, command: name }, "command failed");
    const next = expected ? "" : " Check the log for details, or try again.";
    await this.send([notice(fmt`${name} failed: ${reason}.${next}`, { relatesTo: threadReply(ev.eventId) })]);
    if (react) await this.react(ev.eventId, REACTION_FAILED);
  }

  private async askConfirmation(
    parsed: ParsedCommand<CommandContext>,
    ev: TimelineEvent,
    preview: Fragment,
  ): Promise<void> {
    const timeoutS = this.bot.config.commands.confirmTimeoutSeconds;
    const prompt = blocks(
      preview,
      fmt`${bold("React with ✅ to this message")} within ${formatMinutes(timeoutS)} to go ahead (only ${ev.sender} can confirm), or send the command again with ${"--yes"}.`,
    );
    const [previewId] = await this.send(paginate(prompt, { relatesTo: threadReply(ev.eventId) }));
    if (!previewId) return;
    const timer = setTimeout(() => {
      if (!this.pending.delete(previewId)) return;
      void this.sendRaw(
        "m.room.message",
        editContent(previewId, fmt`Cancelled: no confirmation within ${formatMinutes(timeoutS)}.`),
      );
    }, timeoutS * 1000);
    timer.unref?.();
    this.pending.set(previewId, {
      parsed,
      command: ev,
      sender: ev.sender,
      expires: Date.now() + timeoutS * 1000,
      timer,
    });
  }

  private async onReaction(ev: TimelineEvent, deliveredAt: number): Promise<void> {
    const rel = ev.content["m.relates_to"] as
      { rel_type?: unknown; event_id?: unknown; key?: unknown } | undefined;
    if (
      !rel ||
      rel.rel_type !== "m.annotation" ||
      typeof rel.event_id !== "string" ||
      typeof rel.key !== "string"
    )
      return;
    const p = this.pending.get(rel.event_id);
    if (!p || normaliseReactionKey(rel.key) !== REACTION_DONE) return;
    if (ev.sender !== p.sender) return; // only the moderator who asked can confirm
    if (this.accessProblem(ev.sender)) return;
    this.pending.delete(rel.event_id);
    clearTimeout(p.timer);
    const ctx = this.context(p.command, p.parsed.invocation.command, deliveredAt);
    const job = this.runNow(p.parsed, p.command, ctx).finally(() => this.running.delete(job));
    this.running.add(job);
  }

  private context(ev: TimelineEvent, command: string, deliveredAt: number): CommandContext {
    const cause = { by: "moderator" as const, user: ev.sender, command };
    return {
      bot: this.bot,
      services: this.services,
      registry: this.registry,
      sender: ev.sender,
      roomId: ev.roomId,
      eventId: ev.eventId,
      sentAt: ev.ts > 0 ? ev.ts : Date.now(),
      deliveredAt,
      cause,
      reply: (r: Reply) => this.send(paginate(r, { relatesTo: threadReply(ev.eventId) })),
      progress: () => this.progress(ev),
      act: (cs: readonly Consequence[], onProgress) => this.bot.queue.submitAll(cs, onProgress),
    };
  }

  /**
   * Runs a command for the web dashboard (src/dashboard/): the same parse, safe-mode check,
   * confirmation and run as in chat, with effects caused "via dashboard" by `sender` (who the
   * dashboard already checked may command Tyr). A `change` is announced in the management room
   * and its reply is posted there under the announcement, as a chat command's would be; every
   * reply also comes back for the browser. A command that wants confirmation returns its preview
   * and does nothing unless `confirmed`.
   */
  async runForDashboard(
    sender: string,
    input: string,
    opts: { change: boolean; confirmed?: boolean },
  ): Promise<DashboardRun> {
    const asked = parseOnBehalf(this.bot, this.registry, input);
    if (!asked.ok) return { ok: false, replies: [text(asked.error)] };
    const { parsed } = asked;
    const command = parsed.invocation.command;
    const replies: Fragment[] = [];
    let threadRoot: string | undefined;
    const reply = async (r: Reply): Promise<string[]> => {
      const pages = paginate(r);
      for (const p of pages) replies.push({ text: p.body, html: p.formatted_body ?? p.body });
      return threadRoot !== undefined ? this.send(paginate(r, { relatesTo: threadReply(threadRoot) })) : [];
    };
    const collect: Progress = {
      update: async () => {},
      finish: async (f) => void (await reply(typeof f === "string" ? text(f) : f)),
    };
    const ctx = contextOnBehalf(this.bot, this.services, this.registry, {
      sender,
      command,
      via: "dashboard",
      reply,
      progress: () => collect,
    });
    try {
      const preview = opts.confirmed ? null : await parsed.confirmation(ctx);
      if (preview) return { ok: true, replies: [], preview };
      if (opts.change) {
        [threadRoot] = await this.send([notice(fmt`Via the dashboard, ${sender} ran: ${code(input)}`)]);
        this.bot.log.info({ sender, command }, "command from the dashboard");
      }
      const r = await parsed.run(ctx);
      if (r) await reply(r);
      // Commands answer a change they refuse (a value that does not validate) with "✗ why".
      const refused = replies[0]?.text.startsWith("✗") === true;
      if (opts.change)
        this.recordDashboardChange(
          sender,
          input,
          refused ? "failed" : "done",
          refused ? replies[0]?.text : undefined,
        );
      return { ok: !refused, replies };
    } catch (e) {
      const { expected, reason } = classifyFailure(e);
      if (expected) this.bot.log.info({ command, reason }, "dashboard command did not complete");
      else this.bot.log.error({ err: e, command }, "dashboard command failed");
      await reply(
        fmt`${command} failed: ${reason}.${expected ? "" : " Check the log for details, or try again."}`,
      );
      if (opts.change) this.recordDashboardChange(sender, input, "failed", reason);
      return { ok: false, replies };
    }
  }

  /** Every change made in the dashboard is in the action log, "via dashboard by" its moderator
   *  (its effects are there too, each with its own cause). */
  recordDashboardChange(sender: string, input: string, outcome: "done" | "failed", detail?: string): void {
    this.bot.actionLog.append({
      ts: Date.now(),
      kind: "command",
      actor: sender,
      via: "dashboard",
      reason: input.slice(0, 1_000),
      outcome,
      ...(detail !== undefined ? { detail: detail.slice(0, 500) } : {}),
    });
  }

  private progress(ev: TimelineEvent): Progress {
    return new ProgressMessage(this.bot.queue, this.bot.managementRoomId, {
      relatesTo: threadReply(ev.eventId),
    });
  }

  private async send(pages: readonly object[]): Promise<string[]> {
    const ids: string[] = [];
    for (const page of pages) {
      const id = await this.sendRaw("m.room.message", page as Record<string, unknown>);
      if (id) ids.push(id);
    }
    return ids;
  }

  /** Replies jump the queue: a moderator waiting for an answer must not wait behind a ban wave. */
  private async sendRaw(eventType: string, content: object): Promise<string | undefined> {
    const r = await this.bot.queue.submit(
      {
        kind: "send",
        room: this.bot.managementRoomId,
        eventType,
        content: content as Record<string, unknown>,
        cause: HOUSEKEEPING,
      },
      { front: true },
    );
    if (r.outcome !== "done") this.bot.log.warn({ error: r.error }, "could not send to the management room");
    return r.detail;
  }

  private react(eventId: string, key: string): Promise<string | undefined> {
    return this.sendRaw("m.reaction", reactionContent(eventId, key));
  }

  private async redact(eventId: string): Promise<void> {
    await this.bot.queue.submit(
      {
        kind: "redact",
        room: this.bot.managementRoomId,
        event: eventId,
        reason: "command finished",
        cause: HOUSEKEEPING,
      },
      { front: true },
    );
  }
}

/**
 * Whether a command's failure is an expected condition (a UserFacingError, or the homeserver
 * refusing the request with a 4xx: no permission, no such room) or a fault in Tyr or the server.
 * Expected conditions are the moderator's to act on and are not logged as errors.
 */
export function classifyFailure(e: unknown): { expected: boolean; reason: string } {
  const status = (e as { statusCode?: unknown } | null)?.statusCode;
  const refused =
    typeof (e as { errcode?: unknown } | null)?.errcode === "string" &&
    typeof status === "number" &&
    status >= 400 &&
    status < 500 &&
    status !== 429;
  return { expected: e instanceof UserFacingError || refused, reason: errorText(e) };
}

function formatMinutes(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60} minute${seconds === 60 ? "" : "s"}` : `${seconds} seconds`;
}
