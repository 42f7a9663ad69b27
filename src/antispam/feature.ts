// Tyr as the backend of Synapse's synapse-http-antispam module: the shell around handler.ts.
// It supplies the knowledge decisions read (policy matcher, protected rooms, protection
// incidents, room bans), runs a protected room's messages through the protections enforced at
// the server (a pipeline of its own, so live traffic is not counted twice), and turns refusals
// into action-log records, consequences and a rate-limited summary for the moderators.
import type { BotParts, Feature } from "../feature.ts";
import type { Consequence } from "../consequences/types.ts";
import type { HttpService } from "../http/service.ts";
import { LogLimiter } from "../http/logLimiter.ts";
import type { PolicyFeature } from "../policy/feature.ts";
import { banReason } from "../policy/plan.ts";
import type { ProtectionsFeature } from "../protections/feature.ts";
import { ServerJudge } from "../protections/serverJudge.ts";
import type { BatchMeta, TimelineEvent } from "../router.ts";
import type { Reporting, StatusLine } from "../feature.ts";
import { serverHost } from "../banlists/entities.ts";
import { formatAgo } from "../commands/framework/duration.ts";
import { formatDuration } from "../protections/settings.ts";
import type { ActionRecord } from "../store/actionLog.ts";
import { ruleKey } from "../store/actionLog.ts";
import type { AntispamConfig } from "./config.ts";
import { bearerSecret } from "../http/auth.ts";
import { describeWhy, followUpsOfRefusedEvent, type Knowledge } from "./decide.ts";
import { AntispamHandler, type Refusal } from "./handler.ts";
import { AntispamStats, labelOf } from "./stats.ts";

export class AntispamFeature implements Feature, Reporting {
  readonly name = "antispam";
  readonly handler: AntispamHandler;
  private readonly bot: BotParts;
  private readonly policy: PolicyFeature;
  private readonly protections: ProtectionsFeature;
  private readonly http: HttpService;
  private readonly config: AntispamConfig;
  /** Protections enforced at the server keep their own state (see the header comment). */
  private readonly serverJudge: ServerJudge;
  private readonly repeats = new LogLimiter({ burst: 1, windowMs: 60_000, maxKeys: 10_000 });
  private summaryTimer: NodeJS.Timeout | undefined;

  /** `handler` was created and its routes started before login finished (see src/main.ts). */
  constructor(
    bot: BotParts,
    deps: {
      policy: PolicyFeature;
      protections: ProtectionsFeature;
      http: HttpService;
      handler: AntispamHandler;
    },
  ) {
    this.bot = bot;
    this.policy = deps.policy;
    this.protections = deps.protections;
    this.http = deps.http;
    this.config = bot.config.antispam;
    this.serverJudge = new ServerJudge(bot, deps.protections, {
      isProtected: (room) => deps.policy.protectedRooms.has(room),
    });
    const ownServer = serverHost(bot.serverName);
    const matcher = deps.policy.matcher;
    const knowledge: Knowledge = {
      botUserId: bot.session.userId,
      ownServer,
      get moderators() {
        return bot.moderators();
      },
      isProtected: (room) => deps.policy.protectedRooms.has(room),
      decideUser: (u) => matcher.decideUser(u),
      decideServer: (s) => matcher.decideServer(s),
      decideRoom: (r) => matcher.decideRoom(r),
      flaggedBy: (room, user) => deps.protections.pipeline.incidentOf(room, user, Date.now()),
      ...(this.config.refuseInvitesFromRoomBans ? { roomBanOf: (u: string) => this.roomBanOf(u) } : {}),
    };
    this.handler = deps.handler;
    this.handler.botUserId = bot.session.userId;
    this.handler.attach({
      ready: () => this.ready,
      knowledge: () => knowledge,
      judgeEvent: (ev, now) => this.serverJudge.judge(ev.raw, ev.roomId, now),
      onRefusal: (r) => setImmediate(() => this.recordRefusal(r)),
    });
  }

  get ready(): boolean {
    return this.policy.loaded && this.protections.settingsLoaded;
  }

  start(): void {
    const ms = this.config.summaryIntervalSeconds * 1000;
    this.summaryTimer = setInterval(() => this.summarise(), ms);
    this.summaryTimer.unref();
  }

  stop(): void {
    if (this.summaryTimer) clearInterval(this.summaryTimer);
  }

  // ---- join times for the server pipeline (first-message and similar need them) ------------

  onTimeline(ev: TimelineEvent, meta: BatchMeta): void {
    this.serverJudge.onTimeline(ev, meta);
  }

  onLeave(roomId: string): void {
    this.serverJudge.onLeave(roomId);
  }

  // ---- refusals --------------------------------------------------------------------------

  private roomBanOf(user: string): string | undefined {
    for (const room of this.policy.protectedRooms)
      if (this.bot.state.peek(room)?.membership(user) === "ban") return room;
    return undefined;
  }

  private recordRefusal(r: Refusal): void {
    const v = r.verdict;
    const why = v.why;
    for (const c of this.followUps(r)) void this.bot.queue.submit(c);
    // A spammer retrying the same thing hundreds of times gets one record a minute (the summary
    // still counts every refusal): the bounded action log must keep the moderators' history.
    const key = `${r.callback}|${v.subject}|${v.room ?? ""}|${describeWhy(why)}`;
    const { write, suppressed } = this.repeats.take(key);
    if (!write) return;
    const rec: ActionRecord = {
      ts: Date.now(),
      kind: "refuse",
      target: v.subject,
      actor:
        why.kind === "rule"
          ? `policy ${why.rule.list}`
          : why.kind === "protection"
            ? `protection ${why.name}`
            : "tyr (antispam)",
      reason: `${labelOf(r.callback)} refused via the homeserver: ${describeWhy(why)}${suppressed > 0 ? ` (${suppressed} identical refusals since the previous record, not recorded one by one)` : ""}`,
      outcome: r.dryRun ? "dry-run" : "done",
      ...(v.room !== undefined ? { room: v.room } : {}),
      ...(why.kind === "rule" ? { list: why.rule.list, ruleKey: ruleKey(why.rule) } : {}),
    };
    try {
      this.bot.actionLog.append(rec);
    } catch (e) {
      this.bot.log.error({ err: e }, "cannot write a refusal to the action log");
    }
    this.bot.log.info(
      { callback: r.callback, subject: v.subject, room: v.room, why: describeWhy(why), dryRun: r.dryRun },
      "homeserver request refused",
    );
  }

  /**
   * What else a refusal calls for. A join refused by a list rule in a protected room: the ban, as
   * the policy sync would apply it (for the record, and in case the user gets in another way). An
   * event refused by a protection: its other decisions (a ban, a mute), not the redaction of the
   * event that now never exists.
   */
  private followUps(r: Refusal): Consequence[] {
    const v = r.verdict;
    if (r.callback === "user_may_join_room" && v.why.kind === "rule" && v.room !== undefined) {
      if (!this.policy.protectedRooms.has(v.room)) return [];
      if (this.bot.state.peek(v.room)?.membership(v.subject) === "ban") return [];
      return [
        {
          kind: "ban",
          room: v.room,
          user: v.subject,
          reason: banReason(v.why.rule),
          cause: { by: "policy", rule: v.why.rule },
        },
      ];
    }
    if (r.callback === "check_event_for_spam" && r.result !== undefined && r.event !== undefined) {
      return followUpsOfRefusedEvent(r.event.eventId, r.result.consequences);
    }
    return [];
  }

  private summarise(): void {
    const period = formatDuration(this.config.summaryIntervalSeconds * 1000);
    const text = this.handler.stats.takeSummary(period, `${this.bot.config.commands.prefix} log`);
    if (text !== null)
      void this.bot.queue.submit({ kind: "notify", text, cause: { by: "system", what: "antispam" } });
  }

  // ---- status ----------------------------------------------------------------------------

  statusLines(): StatusLine[] {
    const s = this.handler.stats;
    const where = this.http.addresses().find((a) => a.name === "main" || a.name === "antispam");
    const url = where ? `http://${where.host}:${where.port}${this.config.pathPrefix}` : "not listening";
    const lines: StatusLine[] = [
      {
        label: "Homeserver antispam",
        value:
          `${url} · ${this.ready ? `ready (while starting it answers: ${this.config.whenNotReady})` : `NOT READY (answering ${this.config.whenNotReady} until the lists are loaded)`}` +
          ` · last call from the module: ${s.lastCallAt === undefined ? "never since start" : formatAgo(s.lastCallAt)}` +
          (this.bot.config.dryRun ? " · DRY RUN (refusals only recorded)" : ""),
      },
      { label: "Antispam calls", value: AntispamStats.describe(s.calls) },
      {
        label: "Antispam refusals",
        value:
          `${s.totalRefusals}${s.totalRefusals > 0 ? ` (${AntispamStats.describe(s.refusals)})` : ""}` +
          (s.authFailures > 0 ? ` · ${s.authFailures} requests with a wrong or missing secret` : "") +
          (s.badRequests > 0 ? ` · ${s.badRequests} malformed requests` : ""),
      },
    ];
    if (s.lastCallAt === undefined)
      lines.push({
        label: "Antispam warning",
        value:
          "the homeserver's module has not called Tyr since start: check base_url and authorization of synapse_http_antispam.HTTPAntispam in homeserver.yaml (README: Homeserver integration)",
      });
    lines.push({
      label: "Antispam fail-open",
      value:
        "the module does not report its fail_open setting to Tyr. Unless homeserver.yaml says otherwise, check_event_for_spam fails OPEN (messages pass while Tyr is unreachable) and every other callback fails CLOSED (invites and joins are refused). Check fail_open under the module's config",
    });
    return lines;
  }
}

/**
 * The antispam routes, created right after login so they answer while Tyr joins its rooms (its
 * own joins pass; everyone else gets `whenNotReady` until the feature attaches).
 */
export function createAntispamHandler(
  config: AntispamConfig,
  opts: { dryRun: boolean; secret: string },
): AntispamHandler {
  return new AntispamHandler({
    pathPrefix: config.pathPrefix,
    whenNotReady: config.whenNotReady,
    dryRun: opts.dryRun,
    auth: bearerSecret(opts.secret, { principal: "homeserver" }),
    now: () => Date.now(),
  });
}
