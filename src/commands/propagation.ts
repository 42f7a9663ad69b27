// Ban propagation, the shell: when a moderator bans someone in a protected room from their own
// client, Tyr asks in the management room whether to put that ban into a policy list, with one
// reaction per list Tyr can write to. A moderator's reaction writes the rule (same reason), and
// the policy sync then bans the user in every protected room. Prompts live in memory: after a
// restart, older prompts are no longer answered (the ban itself stays as it was).
import type { BotParts, Feature } from "../feature.ts";
import type { BatchMeta, TimelineEvent } from "../router.ts";
import type { StateEvent } from "../matrix/roomState.ts";
import type { Services } from "../services.ts";
import { errorText } from "../consequences/queue.ts";
import { sendToManagementRoom } from "../consequences/housekeeping.ts";
import { editContent, notice, reactionContent } from "../format/content.ts";
import { code, fmt, type Fragment } from "../format/fragment.ts";
import { promptReaction, reactorProblem } from "./prompts.ts";
import { ruleWrite } from "./lists.ts";
import { listLabelOf, writableUserLists } from "./writableLists.ts";
import {
  choiceOf,
  handBan,
  propagationPrompt,
  type Choice,
  type HandBan,
  type ListChoice,
} from "./propagationPlan.ts";

/** Unanswered prompts kept; the oldest is forgotten first. */
const MAX_PENDING = 200;
/** A prompt older than this is no longer answered. */
const PROMPT_TTL_MS = 24 * 3_600_000;

interface PendingPrompt {
  readonly ban: HandBan;
  readonly keys: ReadonlyMap<string, string>;
  readonly roomLabel: string;
  readonly at: number;
}

export class BanPropagation implements Feature {
  readonly name = "ban-propagation";
  private readonly bot: BotParts;
  private readonly services: Services;
  private readonly pending = new Map<string, PendingPrompt>();
  /** Prompts being answered: a second reaction arriving meanwhile changes nothing. */
  private readonly answering = new Set<string>();
  /** Users whose prompt is being posted (not yet in `pending`). */
  private readonly asking = new Set<string>();
  private readonly running = new Set<Promise<void>>();

  constructor(bot: BotParts, services: Services) {
    this.bot = bot;
    this.services = services;
  }

  onState(roomId: string, ev: StateEvent, prev: StateEvent | undefined, meta: BatchMeta): void {
    if (meta.initial || ev.type !== "m.room.member") return;
    const policy = this.services.policy;
    if (!policy) return;
    const me = this.bot.session.userId;
    const state = this.bot.state.peek(roomId);
    const previous = ev.prevMembership ?? (prev?.content.membership as string | undefined);
    const ban = handBan(
      roomId,
      {
        stateKey: ev.stateKey,
        sender: ev.sender,
        content: ev.content,
        ts: ev.ts,
        ...(previous ? { previous } : {}),
      },
      {
        me,
        isProtected: policy.protectedRooms.has(roomId),
        // A join Tyr saw only as a profile change leaves its start unknown: its event time bounds it.
        joinedAt:
          state?.membership(me) === "join"
            ? (state.joinedAt(me) ?? state.get("m.room.member", me)?.ts)
            : undefined,
        coveredByRule: (u) => policy.decideMember(u).action !== "none",
      },
    );
    if (!ban) return;
    // One prompt per banned user at a time: a moderator banning in three rooms gets one question.
    if (this.asking.has(ban.target)) return;
    for (const p of this.pending.values()) if (p.ban.target === ban.target) return;
    this.asking.add(ban.target);
    this.track(
      this.ask(ban)
        .catch((e) =>
          this.bot.log.warn(
            { error: errorText(e), target: ban.target },
            "could not post a ban-propagation prompt",
          ),
        )
        .finally(() => this.asking.delete(ban.target)),
    );
  }

  /** Work beside the sync loop: a rule write queued behind a ban wave must not hold up syncing. */
  private track(job: Promise<void>): void {
    const done = job.finally(() => this.running.delete(done));
    this.running.add(done);
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  async onTimeline(ev: TimelineEvent, meta: BatchMeta): Promise<void> {
    const rel = promptReaction(this.bot, ev, meta);
    if (!rel) return;
    const promptId = rel.promptId;
    const p = this.pending.get(promptId);
    if (!p || this.answering.has(promptId)) return;
    if (Date.now() - p.at > PROMPT_TTL_MS) {
      this.pending.delete(promptId);
      return;
    }
    const choice = choiceOf(rel.key, p.keys);
    if (!choice) return;
    const denied = await reactorProblem(this.bot, this.services, ev);
    if (denied) {
      this.bot.log.info({ sender: ev.sender, why: denied }, "ignored a reaction on a ban-propagation prompt");
      return;
    }
    this.answering.add(promptId);
    this.track(this.answer(promptId, p, choice, ev.sender));
  }

  private async answer(promptId: string, p: PendingPrompt, choice: Choice, moderator: string): Promise<void> {
    try {
      const outcome =
        this.bot.state.peek(p.ban.room)?.membership(p.ban.target) !== "ban"
          ? fmt`${code(p.ban.target)} is no longer banned in ${code(p.roomLabel)}, so Tyr added nothing to a list (${code(moderator)} reacted after the unban).`
          : choice.kind === "dismiss"
            ? fmt`${code(p.ban.by)} banned ${code(p.ban.target)} in ${code(p.roomLabel)}: kept as a ban in that room only (${code(moderator)} chose ❌).`
            : await this.propagate(p, choice.list, moderator);
      this.pending.delete(promptId);
      await this.edit(promptId, outcome);
    } catch (e) {
      this.bot.log.warn({ error: errorText(e), promptId }, "could not answer a ban-propagation prompt");
    } finally {
      this.answering.delete(promptId);
    }
  }

  /** Writes the rule; the policy sync applies it everywhere. Returns the prompt's new text. */
  private async propagate(p: PendingPrompt, list: string, moderator: string): Promise<Fragment> {
    const label = this.listLabel(list);
    const reason = p.ban.reason || `banned by ${p.ban.by} in ${p.roomLabel}`;
    const write = ruleWrite(list, "user", p.ban.target, "ban", reason, {
      by: "moderator",
      user: moderator,
      command: "ban propagation",
    });
    const r = await this.bot.queue.submit(write);
    if (r.outcome === "dry-run")
      return fmt`Dry run: ${code(p.ban.target)} would have been added to ${code(label)} (chosen by ${code(moderator)}).`;
    if (r.outcome !== "done")
      return fmt`Could not add ${code(p.ban.target)} to ${code(label)}: ${r.error ?? "unknown error"}. Try ${code(`${this.bot.config.commands.prefix} ban ${label} ${p.ban.target} ${reason}`)}.`;
    return fmt`${code(p.ban.by)} banned ${code(p.ban.target)} in ${code(p.roomLabel)}. ${code(moderator)} added the ban to ${code(label)}: it now applies in every protected room and to everyone watching the list.`;
  }

  private async ask(ban: HandBan): Promise<void> {
    const roomLabel = this.label(ban.room);
    const prompt = propagationPrompt(ban, roomLabel, this.writableLists(), this.bot.config.commands.prefix);
    if (!prompt) {
      this.bot.log.info({ target: ban.target }, "a ban made by hand, but no watched list Tyr can write to");
      return;
    }
    const id = await this.send("m.room.message", { ...notice(prompt.body) });
    if (!id) return;
    this.pending.set(id, { ban, keys: prompt.keys, roomLabel, at: Date.now() });
    while (this.pending.size > MAX_PENDING) this.pending.delete(this.pending.keys().next().value!);
    for (const key of prompt.reactions) await this.send("m.reaction", { ...reactionContent(id, key) });
  }

  private writableLists(): ListChoice[] {
    return writableUserLists(this.bot, this.services);
  }

  private listLabel(list: string): string {
    return listLabelOf(this.bot, this.services, list);
  }

  private label(roomId: string): string {
    return this.services.policy?.displayList(roomId) ?? roomId;
  }

  private edit(eventId: string, f: Fragment): Promise<string | undefined> {
    return this.send("m.room.message", { ...editContent(eventId, f) });
  }

  /** Through the queue and the Messenger: encrypted whenever the management room is. */
  private send(eventType: string, content: Record<string, unknown>): Promise<string | undefined> {
    return sendToManagementRoom(this.bot, eventType, content);
  }
}
