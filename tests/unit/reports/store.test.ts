// The report store's pure core: states follow triage, history counts, bounds, and reading a
// hand-edited or damaged file back.
import { describe, expect, it } from "vitest";
import { parseReport, type Report } from "../../../src/reports/reports.ts";
import {
  addReport,
  countReports,
  EMPTY_REPORTS,
  listReports,
  MAX_ENTRIES,
  parseReportsData,
  recordTriage,
  reporterHistory,
  stateAfter,
  type ReportEntry,
  type ReportsData,
} from "../../../src/reports/store.ts";

const eventReport = (id: number, reporter = "@r:example.org"): Report =>
  parseReport({
    id,
    room_id: "!room:x",
    event_id: `$e${id}`,
    user_id: reporter,
    sender: "@s:x",
    reason: "spam",
  })!;
const entry = (r: Report, state: ReportEntry["state"] = "open"): ReportEntry => ({
  key: `${r.kind}-${r.id}`,
  report: r,
  state,
  relayedAt: 1,
  noticeId: `$n${r.id}`,
  actions: [],
});
const rec = (action: "ban" | "handled" | "bad" | "redact", outcome: "done" | "failed" = "done") => ({
  action,
  moderator: "@mod:x",
  at: 2,
  outcome,
  summary: "ok",
});

describe("report states", () => {
  it("a done action or ✅ closes as handled, ⛔ as bad; a failed action changes nothing", () => {
    expect(stateAfter("open", rec("ban"))).toBe("handled");
    expect(stateAfter("open", rec("handled"))).toBe("handled");
    expect(stateAfter("open", rec("bad"))).toBe("bad");
    expect(stateAfter("open", rec("ban", "failed"))).toBe("open");
    expect(stateAfter("bad", rec("redact"))).toBe("handled");
  });

  it("records who did what on the right report, and remembers the list a ban used", () => {
    let d: ReportsData = addReport(EMPTY_REPORTS, entry(eventReport(1)));
    d = addReport(d, entry(eventReport(2)));
    d = recordTriage(d, "event-2", { ...rec("ban"), list: "!list:x" })!;
    expect(d.entries[1]).toMatchObject({
      state: "handled",
      actions: [{ action: "ban", moderator: "@mod:x" }],
    });
    expect(d.entries[0]!.state).toBe("open");
    expect(d.lastList).toBe("!list:x");
    expect(recordTriage(d, "event-9", rec("ban"))).toBeUndefined();
    // A failed ban does not become the remembered list.
    const failed = recordTriage(d, "event-1", { ...rec("ban", "failed"), list: "!other:x" })!;
    expect(failed.lastList).toBe("!list:x");
  });

  it("lists open or all, newest first, and counts", () => {
    let d = EMPTY_REPORTS;
    for (let i = 1; i <= 5; i++) d = addReport(d, entry(eventReport(i), i % 2 ? "open" : "handled"));
    expect(listReports(d, "open", 10).map((e) => e.key)).toEqual(["event-5", "event-3", "event-1"]);
    expect(listReports(d, "all", 2).map((e) => e.key)).toEqual(["event-5", "event-4"]);
    expect(countReports(d)).toEqual({ open: 3, handled: 2, bad: 0 });
  });

  it("adds a report once, and forgets closed reports before open ones past the bound", () => {
    let d = addReport(EMPTY_REPORTS, entry(eventReport(1), "handled"));
    expect(addReport(d, entry(eventReport(1), "open")).entries).toHaveLength(1);
    for (let i = 2; i <= MAX_ENTRIES + 1; i++) d = addReport(d, entry(eventReport(i)));
    expect(d.entries).toHaveLength(MAX_ENTRIES);
    expect(d.entries[0]!.key).toBe("event-2"); // the closed report went first
  });

  it("counts a reporter's reports and the bad ones", () => {
    let d = EMPTY_REPORTS;
    for (let i = 1; i <= 3; i++) d = addReport(d, entry(eventReport(i, "@a:x"), i === 2 ? "bad" : "open"));
    d = addReport(d, entry(eventReport(4, "@b:x")));
    expect(reporterHistory(d, "@a:x")).toEqual({ total: 3, bad: 1 });
    expect(reporterHistory(d, "@c:x")).toEqual({ total: 0, bad: 0 });
  });
});

describe("reading the store back", () => {
  it("round-trips through JSON", () => {
    let d = addReport(EMPTY_REPORTS, {
      ...entry(eventReport(1)),
      event: { type: "m.room.message", body: "hi", encrypted: false },
    });
    d = recordTriage(d, "event-1", { ...rec("ban"), list: "!l:x" })!;
    const back = parseReportsData(JSON.parse(JSON.stringify(d)));
    expect(back).toEqual({ data: d, skipped: 0 });
  });

  it("drops what is not a usable entry and never throws", () => {
    const good = entry(eventReport(1));
    const { data, skipped } = parseReportsData({
      entries: [
        good,
        good, // a duplicate
        null,
        { ...good, key: "x", state: "weird" },
        { ...good, report: { ...good.report, kind: "planet" } },
        { ...good, report: { ...good.report, reporter: 5 } },
        { ...entry(eventReport(2)), actions: [{ action: "nuke" }, rec("bad")] },
      ],
      lastList: 7,
    });
    expect(data.entries.map((e) => e.key)).toEqual(["event-1", "event-2"]);
    expect(data.entries[1]!.actions.map((a) => a.action)).toEqual(["bad"]);
    expect(skipped).toBe(5);
    expect(data.lastList).toBeUndefined();
    for (const junk of [null, 3, "x", [], { entries: "no" }])
      expect(parseReportsData(junk).data).toEqual(EMPTY_REPORTS);
  });
});
