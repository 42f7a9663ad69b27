// Relays the abuse reports users file with the homeserver into the management room, so moderators
// see them where they act, and lets them triage each report by reacting to its notice. Needs Tyr's
// account to be a server admin of a Synapse (its admin API lists reports); polls it, relays each
// new report once (the last relayed ID per kind is kept in the data directory), oldest first,
// through the consequence queue like every other message. Every relayed report is kept in the
// report store (reportStore.ts) with its state and the triage done on it.
import { join } from "node:path";
import type { BotParts, Feature } from "../feature.ts";
import type { Reporting, StatusLine } from "../feature.ts";
import type { BatchMeta, TimelineEvent } from "../router.ts";
import type { Services } from "../services.ts";
import { contextOnBehalf, parseOnBehalf, type CommandContext } from "../commands/context.ts";
import type { CommandRegistry } from "../commands/framework/index.ts";
import { errorText } from "../consequences/queue.ts";
import { sendToManagementRoom } from "../consequences/housekeeping.ts";
import type { Cause } from "../consequences/types.ts";
import { ProgressMessage } from "../consequences/progress.ts";
import { readJsonFile, writeFileAtomic } from "../store/files.ts";
import { blocks, code, fmt, join as joinFragments, text, type Fragment } from "../format/fragment.ts";
import { editContent, notice, reactionContent, threadReply } from "../format/content.ts";
import { paginate, type Reply } from "../format/paginate.ts";
import { classifyFailure } from "../commands/handler.ts";
import { promptReaction, reactorProblem } from "../commands/prompts.ts";
import { writableUserLists } from "../commands/writableLists.ts";
import { choiceOf, LIST_KEYS, listKeys, type ListChoice } from "../commands/propagationPlan.ts";
import {
  ADMIN_LIST,
  formatReport,
  newReports,
  parseReportedEvent,
  parseReportPage,
  reportKey,
  reportedUser,
  type Report,
  type ReportKind,
} from "./reports.ts";
import {
  actionOfKey,
  actionsFor,
  decideTriage,
  TRIAGE_KEYS,
  triageHistoryLine,
  triageLine,
} from "./triagePlan.ts";
import { ReportStore } from "./reportStore.ts";
import type { ReportEntry, TriageAction, TriageOutcome } from "./store.ts";
import type { ReportDesk, TriageResult } from "./desk.ts";

export const REPORTS_CURSOR_FILE = "reports-cursor.json";
const PAGE = 50;
/** Pages read per poll and kind: a backlog larger than this is relayed over the next polls. */
const MAX_PAGES = 4;
const CAUSE: Cause = { by: "system", what: "abuse reports" };
/** The kinds polled, in this order; event reports first, as before room and user reports existed. */
const POLLED: readonly ReportKind[] = ["event", "user", "room"];
/** Unanswered "which list?" prompts kept; the oldest is forgotten first. */
const MAX_LIST_PROMPTS = 100;

interface ListPrompt {
  readonly report: string;
  readonly keys: ReadonlyMap<string, string>;
}

export class ReportsFeature implements Feature, Reporting, ReportDesk {
  readonly name = "reports";
  readonly store: ReportStore;
  private readonly bot: BotParts;
  private readonly services: Services;
  private readonly registry: CommandRegistry<CommandContext>;
  private readonly pollMs: number;
  private readonly cursorFile: string;
  /** Highest report ID already relayed per kind (or present when relaying began); absent before the first poll. */
  private cursors: Partial<Record<ReportKind, number>>;
  private relayed = 0;
  private problem: string | undefined;
  /** Kinds this homeserver has no admin API for (Synapse lists room reports only from some version on). */
  private readonly unsupported = new Set<ReportKind>();
  private readonly toldOnce = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  /** Reports being triaged: a second reaction meanwhile waits its turn. */
  private readonly busy = new Map<string, Promise<unknown>>();
  private readonly listPrompts = new Map<string, ListPrompt>();
  private readonly running = new Set<Promise<void>>();

  constructor(
    bot: BotParts,
    services: Services,
    registry: CommandRegistry<CommandContext>,
    pollSeconds: number,
  ) {
    this.bot = bot;
    this.services = services;
    this.registry = registry;
    this.pollMs = pollSeconds * 1000;
    this.cursorFile = join(bot.config.dataPath, REPORTS_CURSOR_FILE);
    this.cursors = this.loadCursors();
    this.store = new ReportStore(bot.config.dataPath, bot.log);
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref?.();
    void this.poll();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.polling;
    await Promise.allSettled([...this.running]);
  }

  statusLines(): StatusLine[] {
    const n = this.store.counts();
    const missing = [...this.unsupported].map((k) => `${k} reports not offered by the homeserver`);
    return [
      {
        label: "Abuse reports",
        value:
          this.problem ??
          [
            `relayed ${this.relayed} since start; ${n.open} open, ${n.handled} handled, ${n.bad} bad`,
            ...missing,
          ].join("; "),
      },
    ];
  }

  // ---- the desk (command and dashboard API) -------------------------------------------------

  list(filter: "open" | "all", limit: number): ReportEntry[] {
    return this.store.list(filter, limit);
  }

  get(key: string): ReportEntry | undefined {
    return this.store.get(key);
  }

  counts(): { open: number; handled: number; bad: number } {
    return this.store.counts();
  }

  /** One triage per report at a time: two moderators reacting at once act one after the other. */
  act(
    key: string,
    action: TriageAction,
    moderator: string,
    opts: { list?: string; via?: string } = {},
  ): Promise<TriageResult> {
    const before = this.busy.get(key) ?? Promise.resolve();
    const job = before.then(() => this.actNow(key, action, moderator, opts));
    const settled = job.catch(() => undefined);
    this.busy.set(key, settled);
    void settled.then(() => {
      if (this.busy.get(key) === settled) this.busy.delete(key);
    });
    return job;
  }

  private async actNow(
    key: string,
    action: TriageAction,
    moderator: string,
    opts: { list?: string; via?: string },
  ): Promise<TriageResult> {
    const entry = this.store.get(key);
    if (!entry) return { kind: "refused", why: `there is no report ${key}` };
    const spared = new Set([...this.bot.moderators(), this.bot.session.userId]);
    let list = opts.list;
    let decision = decideTriage(entry, action, { spared, ...(list !== undefined ? { list } : {}) });
    if (decision.kind === "needs-list") {
      const lists = this.listsToOffer();
      if (lists.length === 0)
        return {
          kind: "refused",
          why: "Tyr can write to no watched list; watch one where it may send policy rules",
        };
      if (lists.length > 1) return { kind: "choose-list", lists };
      list = lists[0]!.list;
      decision = decideTriage(entry, action, { spared, list });
    }
    if (decision.kind === "refuse") return { kind: "refused", why: decision.why };
    if (decision.kind === "needs-list") return { kind: "refused", why: "no list was chosen" };
    let outcome: TriageOutcome = "done";
    let summary: string;
    if (decision.kind === "dismiss") {
      summary = decision.state === "bad" ? "Dismissed as a bad report." : "Marked as handled.";
    } else {
      const r = await this.runCommand(entry, decision.text, moderator, opts.via);
      outcome = r.outcome;
      summary = r.summary;
    }
    const recorded = this.store.record(key, {
      action,
      moderator,
      at: Date.now(),
      outcome,
      summary,
      ...(list !== undefined ? { list } : {}),
    });
    if (!recorded) return { kind: "refused", why: `there is no report ${key}` };
    await this.editNotice(recorded);
    return { kind: "recorded", outcome, summary, entry: recorded };
  }

  /** Writable lists, the one chosen last first. */
  private listsToOffer(): ListChoice[] {
    const lists = writableUserLists(this.bot, this.services);
    const last = this.store.lastList;
    const i = lists.findIndex((l) => l.list === last);
    return i > 0 ? [lists[i]!, ...lists.slice(0, i), ...lists.slice(i + 1)] : lists;
  }

  /**
   * Runs the command a triage action stands for, as the moderator, exactly as if they had typed
   * it (same parsing, checks and consequences); effects carry the report in their cause, so the
   * action log links them to it. Its answer becomes the notice's triage line.
   */
  private async runCommand(
    entry: ReportEntry,
    commandText: string,
    moderator: string,
    /** Where the triage was asked for when not by reaction ("dashboard"): the action log says so. */
    via?: string,
  ): Promise<{ outcome: TriageOutcome; summary: string }> {
    const asked = parseOnBehalf(this.bot, this.registry, commandText);
    if (!asked.ok) return { outcome: "failed", summary: asked.error };
    const { parsed } = asked;
    const name = parsed.invocation.command;
    const replies: Reply[] = [];
    const thread = entry.noticeId !== undefined ? { relatesTo: threadReply(entry.noticeId) } : {};
    const ctx = contextOnBehalf(this.bot, this.services, this.registry, {
      sender: moderator,
      command: name,
      ...(entry.noticeId !== undefined ? { eventId: entry.noticeId } : {}),
      report: entry.key,
      ...(via !== undefined ? { via } : {}),
      reply: (r) => {
        replies.push(r);
        return Promise.resolve([]);
      },
      progress: () => new ProgressMessage(this.bot.queue, this.bot.managementRoomId, thread),
    });
    try {
      const reply = await parsed.run(ctx);
      if (reply) replies.push(reply);
      const said = replies.map((r) => paginate(r)[0]?.body ?? "").filter((s) => s !== "");
      return { outcome: this.bot.config.dryRun ? "dry-run" : "done", summary: said.join(" ") || "Done." };
    } catch (e) {
      const { expected, reason } = classifyFailure(e);
      if (!expected) this.bot.log.error({ err: e, command: name, report: entry.key }, "report triage failed");
      return { outcome: "failed", summary: `${name} failed: ${reason}.` };
    }
  }

  // ---- reactions on relayed notices ---------------------------------------------------------

  async onTimeline(ev: TimelineEvent, meta: BatchMeta): Promise<void> {
    const rel = promptReaction(this.bot, ev, meta);
    if (!rel) return;
    const prompt = this.listPrompts.get(rel.promptId);
    const choice = prompt ? choiceOf(rel.key, prompt.keys) : undefined;
    const entry = prompt ? undefined : this.store.byNotice(rel.promptId);
    const action = entry ? actionOfKey(rel.key) : undefined;
    if (!(prompt && choice?.kind === "list") && !(entry && action)) return;
    const denied = await reactorProblem(this.bot, this.services, ev);
    if (denied) {
      this.bot.log.info({ sender: ev.sender, why: denied }, "ignored a reaction on a report");
      return;
    }
    if (prompt && choice?.kind === "list") {
      this.listPrompts.delete(rel.promptId);
      this.track(this.answer(prompt.report, "ban", ev.sender, { list: choice.list }, rel.promptId));
    } else if (entry && action) {
      this.track(this.answer(entry.key, action, ev.sender, {}));
    }
  }

  /** Work beside the sync loop: a ban queued behind a ban wave must not hold up syncing. */
  private track(job: Promise<void>): void {
    const done = job
      .catch((e) => this.bot.log.warn({ error: errorText(e) }, "abuse reports: could not triage a report"))
      .finally(() => this.running.delete(done));
    this.running.add(done);
  }

  private async answer(
    key: string,
    action: TriageAction,
    moderator: string,
    opts: { list?: string },
    promptId?: string,
  ): Promise<void> {
    const r = await this.act(key, action, moderator, opts);
    const entry = this.store.get(key);
    if (r.kind === "choose-list") return this.askForList(key, r.lists, moderator);
    if (r.kind === "refused") {
      this.bot.log.info({ report: key, action, why: r.why }, "report triage refused");
      await this.say(
        fmt`${TRIAGE_KEYS[action]} on report ${code(key)} by ${code(moderator)}: not done, ${r.why}.`,
        entry,
      );
    }
    if (promptId !== undefined)
      await this.send("m.room.message", {
        ...editContent(
          promptId,
          fmt`${code(moderator)} chose a list for report ${code(key)}: see the report.`,
        ),
      });
  }

  private async askForList(key: string, lists: readonly ListChoice[], moderator: string): Promise<void> {
    const entry = this.store.get(key);
    if (!entry) return;
    const offered = lists.slice(0, LIST_KEYS.length);
    const keys = listKeys(offered);
    const who = reportedUser(entry.report) ?? "";
    const options = offered.map(
      (l, i) =>
        fmt`${LIST_KEYS[i]!} ${code(l.label)}${i === 0 && l.list === this.store.lastList ? " (chosen last time)" : ""}`,
    );
    const id = await this.say(
      fmt`${code(moderator)} asked to ban ${code(who)} for report ${code(key)}. Through which list? React ${joinFragments(options, " · ")}.`,
      entry,
    );
    if (!id) return;
    this.listPrompts.set(id, { report: key, keys });
    while (this.listPrompts.size > MAX_LIST_PROMPTS)
      this.listPrompts.delete(this.listPrompts.keys().next().value!);
    for (let i = 0; i < offered.length; i++)
      await this.send("m.reaction", { ...reactionContent(id, LIST_KEYS[i]!) });
  }

  /** A reply in the report notice's thread (or plain when the notice is unknown). */
  private say(f: Fragment, entry: ReportEntry | undefined): Promise<string | undefined> {
    const opts = entry?.noticeId !== undefined ? { relatesTo: threadReply(entry.noticeId) } : {};
    return this.send("m.room.message", { ...notice(f, opts) });
  }

  /** The notice, re-rendered with who did what (through the Messenger: encrypted when the room is). */
  private async editNotice(entry: ReportEntry): Promise<void> {
    if (entry.noticeId === undefined) return;
    await this.send("m.room.message", { ...editContent(entry.noticeId, this.render(entry)) });
  }

  private render(entry: ReportEntry): Fragment {
    const r = entry.report;
    const state =
      entry.state === "open"
        ? false
        : entry.state === "bad"
          ? text("Closed: a bad report.")
          : text("Closed: handled.");
    return blocks(
      formatReport(r, entry.event, {
        protectedRoom:
          r.roomId !== undefined && (this.services.policy?.protectedRooms.has(r.roomId) ?? false),
        prefix: this.bot.config.commands.prefix,
        history: this.store.history(r.reporter),
        triage: triageLine(r),
      }),
      ...entry.actions.map((a) => triageHistoryLine(a)),
      state,
    );
  }

  /** Housekeeping sends to the management room, through the queue and the Messenger. */
  private send(eventType: string, content: Record<string, unknown>): Promise<string | undefined> {
    return sendToManagementRoom(this.bot, eventType, content, { front: true });
  }

  // ---- polling the homeserver --------------------------------------------------------------

  /** One poll at a time; a poll that is still running when the timer fires is not doubled. */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce()
      .catch((e) => this.bot.log.warn({ error: errorText(e) }, "abuse reports: poll failed"))
      .finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    for (const kind of POLLED) {
      if (this.unsupported.has(kind)) continue;
      const reports = await this.fetchNewest(kind);
      if (reports === "refused") return;
      if (reports === "unsupported") continue;
      if (kind === "event") this.problem = undefined;
      const cursor = this.cursors[kind];
      if (cursor === undefined) {
        // First run: reports filed before Tyr relayed any are the admins' backlog, not news.
        this.saveCursor(
          kind,
          reports.reduce((m, r) => Math.max(m, r.id), 0),
        );
        this.bot.log.info(
          { kind, existing: reports.length, from: this.cursors[kind] },
          "abuse reports: relaying new reports",
        );
        continue;
      }
      for (const r of newReports(reports, cursor)) {
        if (!(await this.relay(r))) return; // try again next poll rather than lose the report
        this.relayed++;
        this.saveCursor(kind, r.id);
      }
    }
  }

  private async relay(r: Report): Promise<boolean> {
    const event = r.kind === "event" ? parseReportedEvent(await this.details(r)) : undefined;
    const past = this.store.history(r.reporter);
    const f = formatReport(r, event, {
      protectedRoom: r.roomId !== undefined && (this.services.policy?.protectedRooms.has(r.roomId) ?? false),
      prefix: this.bot.config.commands.prefix,
      history: { total: past.total + 1, bad: past.bad },
      triage: triageLine(r),
    });
    const result = await this.bot.queue.submit({ kind: "notify", text: f.text, html: f.html, cause: CAUSE });
    if (result.outcome !== "done" && result.outcome !== "dry-run") {
      this.bot.log.warn(
        { report: reportKey(r), error: result.error },
        "abuse reports: could not relay a report",
      );
      return false;
    }
    const noticeId = result.detail || undefined;
    this.store.add(r, event, noticeId);
    // The reactions this report takes, so a moderator only has to click.
    if (noticeId !== undefined)
      for (const a of actionsFor(r))
        await this.send("m.reaction", { ...reactionContent(noticeId, TRIAGE_KEYS[a]) });
    return true;
  }

  /** Reports of one kind newer than its cursor (newest first, up to MAX_PAGES pages). */
  private async fetchNewest(kind: ReportKind): Promise<Report[] | "refused" | "unsupported"> {
    const out: Report[] = [];
    let from: number | undefined;
    const cursor = this.cursors[kind];
    for (let page = 0; page < MAX_PAGES; page++) {
      let body: unknown;
      try {
        body = await this.bot.client.doRequest("GET", ADMIN_LIST[kind].path, {
          dir: "b",
          limit: String(PAGE),
          ...(from !== undefined ? { from: String(from) } : {}),
        });
      } catch (e) {
        return this.refused(kind, e);
      }
      const p = parseReportPage(body, kind);
      if (p.skipped > 0)
        this.bot.log.warn({ kind, skipped: p.skipped }, "abuse reports: ignored malformed entries");
      out.push(...p.reports);
      const oldest = p.reports.reduce((m, r) => Math.min(m, r.id), Infinity);
      // Stop at the cursor: everything older was relayed already.
      if (p.next === undefined || cursor === undefined || oldest <= cursor) break;
      from = p.next;
    }
    return out;
  }

  private async details(r: Report): Promise<unknown> {
    try {
      return await this.bot.client.doRequest("GET", `${ADMIN_LIST.event.path}/${r.id}`);
    } catch (e) {
      this.bot.log.info(
        { report: reportKey(r), error: errorText(e) },
        "abuse reports: could not read the reported event",
      );
      return undefined;
    }
  }

  /**
   * The admin API said no. Not an admin: say why once, keep polling (Tyr may be made an admin
   * later). A kind the homeserver has no API for (room reports before Synapse offered one): say so
   * once and stop asking for that kind until restart.
   */
  private refused(kind: ReportKind, e: unknown): "refused" | "unsupported" {
    const status = (e as { statusCode?: number }).statusCode;
    const errcode = (e as { errcode?: string }).errcode;
    const path = ADMIN_LIST[kind].path;
    let f: Fragment;
    if (status === 403 || errcode === "M_FORBIDDEN") {
      this.problem = "not relayed: Tyr is not a server admin";
      f = fmt`Tyr cannot relay abuse reports: ${code(this.bot.session.userId)} is not a server admin of its homeserver. Make it one (Synapse admin API), or set ${code("reports.enabled: false")}.`;
    } else if ((status === 404 || errcode === "M_UNRECOGNIZED") && kind !== "event") {
      this.unsupported.add(kind);
      this.bot.log.info(
        { kind, path },
        "abuse reports: the homeserver has no admin API for this kind of report",
      );
      return "unsupported";
    } else if (status === 404 || errcode === "M_UNRECOGNIZED") {
      this.problem = "not relayed: no Synapse admin API";
      f = fmt`Tyr cannot relay abuse reports: the homeserver does not answer Synapse's admin API (${code(path)}). It may not be Synapse, or a reverse proxy may hide ${code("/_synapse/admin")} from Tyr. Set ${code("reports.enabled: false")} if this is intended.`;
    } else {
      this.bot.log.warn({ kind, error: errorText(e) }, "abuse reports: listing reports failed");
      return "refused";
    }
    if (!this.toldOnce.has(this.problem)) {
      this.toldOnce.add(this.problem);
      this.bot.log.warn(f.text);
      void this.bot.queue.submit({ kind: "notify", text: f.text, html: f.html, cause: CAUSE });
    }
    return "refused";
  }

  /** `{lastId}` (event reports, the older format) plus `{cursors: {user, room}}`. */
  private loadCursors(): Partial<Record<ReportKind, number>> {
    const valid = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
    try {
      const f = readJsonFile(this.cursorFile) as
        { lastId?: unknown; cursors?: Record<string, unknown> } | undefined;
      const out: Partial<Record<ReportKind, number>> = {};
      if (valid(f?.lastId)) out.event = f.lastId;
      for (const k of POLLED) {
        const v = f?.cursors?.[k];
        if (valid(v)) out[k] = v;
      }
      return out;
    } catch (e) {
      this.bot.log.warn({ error: errorText(e) }, "abuse reports: unreadable cursor file, starting from now");
      return {};
    }
  }

  private saveCursor(kind: ReportKind, id: number): void {
    this.cursors = { ...this.cursors, [kind]: id };
    writeFileAtomic(
      this.cursorFile,
      JSON.stringify({ lastId: this.cursors.event, cursors: this.cursors, savedAt: Date.now() }),
    );
  }
}
