// The report store, shell: the pure store (store.ts) kept in one JSON file in the data directory,
// written atomically after every change, so report states and triage history survive restarts.
// This is the API the `reports` command and the dashboard read (the feature adds `act`).
import { join } from "node:path";
import { renameSync } from "node:fs";
import { readJsonFile, writeFileAtomic } from "../store/files.ts";
import type { Logger } from "../logging.ts";
import { errorText } from "../consequences/queue.ts";
import type { Report, ReportedEvent, ReporterHistory } from "./reports.ts";
import {
  addReport,
  countReports,
  EMPTY_REPORTS,
  listReports,
  parseReportsData,
  recordTriage,
  reporterHistory,
  type ReportEntry,
  type ReportsData,
  type ReportState,
  type TriageRecord,
} from "./store.ts";
import { reportKey } from "./reports.ts";

export const REPORTS_STORE_FILE = "reports.json";

export class ReportStore {
  private readonly path: string;
  private readonly log: Logger;
  private data: ReportsData;

  constructor(dataPath: string, log: Logger) {
    this.path = join(dataPath, REPORTS_STORE_FILE);
    this.log = log;
    this.data = this.load();
  }

  /** Newest first: `open` reports only, or `all`. */
  list(filter: "open" | "all", limit: number): ReportEntry[] {
    return listReports(this.data, filter, limit);
  }

  get(key: string): ReportEntry | undefined {
    return this.data.entries.find((e) => e.key === key);
  }

  /** The report whose management-room notice is `eventId`. */
  byNotice(eventId: string): ReportEntry | undefined {
    return this.data.entries.find((e) => e.noticeId === eventId);
  }

  counts(): Record<ReportState, number> {
    return countReports(this.data);
  }

  history(reporter: string): ReporterHistory {
    return reporterHistory(this.data, reporter);
  }

  get lastList(): string | undefined {
    return this.data.lastList;
  }

  add(
    report: Report,
    event: ReportedEvent | undefined,
    noticeId: string | undefined,
    at = Date.now(),
  ): ReportEntry {
    this.save(
      addReport(this.data, {
        key: reportKey(report),
        report,
        state: "open",
        relayedAt: at,
        ...(noticeId !== undefined ? { noticeId } : {}),
        ...(event !== undefined ? { event } : {}),
        actions: [],
      }),
    );
    return this.get(reportKey(report))!;
  }

  /** Records a triage action; undefined when the report is unknown. */
  record(key: string, rec: TriageRecord): ReportEntry | undefined {
    const next = recordTriage(this.data, key, rec);
    if (next === undefined) return undefined;
    this.save(next);
    return this.get(key);
  }

  private save(next: ReportsData): void {
    this.data = next;
    writeFileAtomic(this.path, JSON.stringify({ version: 1, ...next }));
  }

  private load(): ReportsData {
    let json: unknown;
    try {
      json = readJsonFile(this.path);
    } catch (e) {
      // Kept aside rather than overwritten by the next save: an admin may want it back.
      const aside = `${this.path}.unreadable-${Date.now()}`;
      try {
        renameSync(this.path, aside);
      } catch {
        // Unreadable and unmovable: the next save replaces it.
      }
      this.log.warn(
        { error: errorText(e), file: this.path, keptAs: aside },
        "abuse reports: unreadable report store, starting empty",
      );
      return EMPTY_REPORTS;
    }
    const { data, skipped } = parseReportsData(json);
    if (skipped > 0)
      this.log.warn({ skipped }, "abuse reports: ignored unusable entries in the report store");
    return data;
  }
}
