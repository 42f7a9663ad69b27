// Relays the abuse reports users file with the homeserver into the management room, so moderators
// see them where they act. Needs Tyr's account to be a server admin of a Synapse (its admin API
// lists reports); polls it, relays each new report once (the last relayed ID is kept in the data
// directory), oldest first, through the consequence queue like every other message.
import { join } from "node:path";
import type { BotParts, Feature } from "../feature.ts";
import type { PolicyFeature } from "../policy/feature.ts";
import type { Reporting, StatusLine } from "../feature.ts";
import { errorText } from "../consequences/queue.ts";
import type { Cause } from "../consequences/types.ts";
import { readJsonFile, writeFileAtomic } from "../store/files.ts";
import { code, fmt, type Fragment } from "../format/fragment.ts";
import {
  formatReport,
  newReports,
  parseReportPage,
  parseReportedEvent,
  type EventReport,
} from "./reports.ts";

export const REPORTS_CURSOR_FILE = "reports-cursor.json";
const ADMIN_REPORTS = "/_synapse/admin/v1/event_reports";
const PAGE = 50;
/** Pages read per poll: a backlog larger than this is relayed over the next polls. */
const MAX_PAGES = 4;
const CAUSE: Cause = { by: "system", what: "abuse reports" };

export class ReportsFeature implements Feature, Reporting {
  readonly name = "reports";
  private readonly bot: BotParts;
  private readonly policy: PolicyFeature;
  private readonly pollMs: number;
  private readonly cursorFile: string;
  /** Highest report ID already relayed (or present when relaying began); undefined before the first poll. */
  private cursor: number | undefined;
  private relayed = 0;
  private problem: string | undefined;
  private readonly toldOnce = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(bot: BotParts, policy: PolicyFeature, pollSeconds: number) {
    this.bot = bot;
    this.policy = policy;
    this.pollMs = pollSeconds * 1000;
    this.cursorFile = join(bot.config.dataPath, REPORTS_CURSOR_FILE);
    this.cursor = this.loadCursor();
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
  }

  statusLines(): StatusLine[] {
    return [
      {
        label: "Abuse reports",
        value: this.problem ?? `relayed ${this.relayed} since start (last report #${this.cursor ?? "–"})`,
      },
    ];
  }

  /** One poll at a time; a poll that is still running when the timer fires is not doubled. */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce()
      .catch((e) => this.bot.log.warn({ error: errorText(e) }, "abuse reports: poll failed"))
      .finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    const reports = await this.fetchNewest();
    if (reports === undefined) return;
    this.problem = undefined;
    if (this.cursor === undefined) {
      // First run: reports filed before Tyr relayed any are the admins' backlog, not news.
      this.saveCursor(reports.reduce((m, r) => Math.max(m, r.id), 0));
      this.bot.log.info(
        { existing: reports.length, from: this.cursor },
        "abuse reports: relaying new reports",
      );
      return;
    }
    for (const r of newReports(reports, this.cursor)) {
      const details = await this.details(r);
      const notice = formatReport(r, parseReportedEvent(details), {
        protectedRoom: this.policy.protectedRooms.has(r.roomId),
        prefix: this.bot.config.commands.prefix,
      });
      const result = await this.bot.queue.submit({
        kind: "notify",
        text: notice.text,
        html: notice.html,
        cause: CAUSE,
      });
      if (result.outcome !== "done" && result.outcome !== "dry-run") {
        // Try again next poll rather than lose the report.
        this.bot.log.warn({ report: r.id, error: result.error }, "abuse reports: could not relay a report");
        return;
      }
      this.relayed++;
      this.saveCursor(r.id);
    }
  }

  /** Reports newer than the cursor (newest first, up to MAX_PAGES pages); undefined when the API refuses. */
  private async fetchNewest(): Promise<EventReport[] | undefined> {
    const out: EventReport[] = [];
    let from: number | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      let body: unknown;
      try {
        body = await this.bot.client.doRequest("GET", ADMIN_REPORTS, {
          dir: "b",
          limit: String(PAGE),
          ...(from !== undefined ? { from: String(from) } : {}),
        });
      } catch (e) {
        this.refused(e);
        return undefined;
      }
      const p = parseReportPage(body);
      if (p.skipped > 0)
        this.bot.log.warn({ skipped: p.skipped }, "abuse reports: ignored malformed entries");
      out.push(...p.reports);
      const oldest = p.reports.reduce((m, r) => Math.min(m, r.id), Infinity);
      // Stop at the cursor: everything older was relayed already.
      if (p.next === undefined || this.cursor === undefined || oldest <= this.cursor) break;
      from = p.next;
    }
    return out;
  }

  private async details(r: EventReport): Promise<unknown> {
    try {
      return await this.bot.client.doRequest("GET", `${ADMIN_REPORTS}/${r.id}`);
    } catch (e) {
      this.bot.log.info(
        { report: r.id, error: errorText(e) },
        "abuse reports: could not read the reported event",
      );
      return undefined;
    }
  }

  /** The admin API said no: say why once, keep polling (Tyr may be made an admin later). */
  private refused(e: unknown): void {
    const status = (e as { statusCode?: number }).statusCode;
    const errcode = (e as { errcode?: string }).errcode;
    let f: Fragment;
    if (status === 403 || errcode === "M_FORBIDDEN") {
      this.problem = "not relayed: Tyr is not a server admin";
      f = fmt`Tyr cannot relay abuse reports: ${code(this.bot.session.userId)} is not a server admin of its homeserver. Make it one (Synapse admin API), or set ${code("reports.enabled: false")}.`;
    } else if (status === 404 || errcode === "M_UNRECOGNIZED") {
      this.problem = "not relayed: no Synapse admin API";
      f = fmt`Tyr cannot relay abuse reports: the homeserver does not answer Synapse's admin API (${code(ADMIN_REPORTS)}). It may not be Synapse, or a reverse proxy may hide ${code("/_synapse/admin")} from Tyr. Set ${code("reports.enabled: false")} if this is intended.`;
    } else {
      this.bot.log.warn({ error: errorText(e) }, "abuse reports: listing reports failed");
      return;
    }
    if (this.toldOnce.has(this.problem)) return;
    this.toldOnce.add(this.problem);
    this.bot.log.warn(f.text);
    void this.bot.queue.submit({ kind: "notify", text: f.text, html: f.html, cause: CAUSE });
  }

  private loadCursor(): number | undefined {
    try {
      const v = (readJsonFile(this.cursorFile) as { lastId?: unknown } | undefined)?.lastId;
      return Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : undefined;
    } catch (e) {
      this.bot.log.warn({ error: errorText(e) }, "abuse reports: unreadable cursor file, starting from now");
      return undefined;
    }
  }

  private saveCursor(id: number): void {
    this.cursor = id;
    writeFileAtomic(this.cursorFile, JSON.stringify({ lastId: id, savedAt: Date.now() }));
  }
}
