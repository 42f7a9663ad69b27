// Abuse reports from Synapse's admin API: untrusted JSON in, relayable reports and notices out.
import { describe, expect, it } from "vitest";
import {
  formatReport,
  newReports,
  parseReport,
  parseReportedEvent,
  parseReportKey,
  parseReportPage,
  reportKey,
  type Report,
} from "../../../src/reports/reports.ts";
import { MAX_EVENT_BYTES } from "../../../src/format/content.ts";
import { permalink } from "../../../src/format/fragment.ts";
import { types as t } from "../../../src/commands/framework/index.ts";

const good = {
  id: 7,
  received_ts: 1_700_000_000_000,
  room_id: "!room:example.org",
  event_id: "$ev",
  user_id: "@reporter:example.org",
  sender: "@spammer:evil.org",
  reason: "spam",
  score: -100,
  canonical_alias: "#lobby:example.org",
  name: "Lobby",
};

describe("parsing reports", () => {
  it("reads a report as Synapse lists it", () => {
    expect(parseReport(good)).toEqual({
      kind: "event",
      id: 7,
      receivedTs: 1_700_000_000_000,
      roomId: "!room:example.org",
      eventId: "$ev",
      reporter: "@reporter:example.org",
      sender: "@spammer:evil.org",
      reason: "spam",
      score: -100,
      roomName: "#lobby:example.org",
    });
    expect(parseReport({ ...good, canonical_alias: null })?.roomName).toBe("Lobby");
    const partial = parseReport({ ...good, reason: null, score: "x", sender: 3 });
    expect(partial?.reason).toBeUndefined();
    expect(partial).not.toHaveProperty("score");
    expect(partial).not.toHaveProperty("sender");
  });

  it.each([
    ["not an object", "report"],
    ["an array", [good]],
    ["a fractional id", { ...good, id: 1.5 }],
    ["a negative id", { ...good, id: -1 }],
    ["a string id", { ...good, id: "7" }],
    ["no room", { ...good, room_id: undefined }],
    ["a room that is not an ID", { ...good, room_id: "#alias:x" }],
    ["an event that is not an ID", { ...good, event_id: "ev" }],
    ["no reporter", { ...good, user_id: "" }],
    ["a reporter with spaces", { ...good, user_id: "@a b:x" }],
    ["an overlong room ID", { ...good, room_id: `!${"r".repeat(300)}:x` }],
  ])("skips %s", (_what, v) => {
    expect(parseReport(v)).toBeUndefined();
  });

  it("reads a page, counting what it skipped, and the next offset", () => {
    const page = parseReportPage({
      event_reports: [good, { id: "bad" }, null, { ...good, id: 6 }],
      next_token: 2,
    });
    expect(page.reports.map((r) => r.id)).toEqual([7, 6]);
    expect(page.skipped).toBe(2);
    expect(page.next).toBe(2);
    expect(parseReportPage({ event_reports: "nope", next_token: -3 })).toEqual({
      reports: [],
      next: undefined,
      skipped: 0,
    });
    expect(parseReportPage(null)).toEqual({ reports: [], next: undefined, skipped: 0 });
  });

  it("reads the reported event from the details", () => {
    expect(
      parseReportedEvent({ event_json: { type: "m.room.message", content: { body: "buy now" } } }),
    ).toEqual({
      type: "m.room.message",
      body: "buy now",
      encrypted: false,
    });
    expect(
      parseReportedEvent({ event_json: { type: "m.room.encrypted", content: { ciphertext: "x" } } }),
    ).toEqual({
      type: "m.room.encrypted",
      body: undefined,
      encrypted: true,
    });
    expect(parseReportedEvent({ event_json: { content: {} } })).toBeUndefined();
    expect(parseReportedEvent("garbage")).toBeUndefined();
  });
});

describe("which reports to relay", () => {
  const r = (id: number) => parseReport({ ...good, id }) as Report;
  it("takes those after the cursor, oldest first, each once", () => {
    expect(newReports([r(9), r(8), r(5), r(9), r(10)], 7).map((x) => x.id)).toEqual([8, 9, 10]);
    expect(newReports([r(3)], 3)).toEqual([]);
  });
});

describe("the notice", () => {
  const report = parseReport(good) as Report;
  it("names reporter, sender, room, reason and the commands to act", () => {
    const f = formatReport(
      report,
      { type: "m.room.message", body: "buy <b>now</b>", encrypted: false },
      {
        protectedRoom: true,
        prefix: "!tyr",
      },
    );
    expect(f.text).toContain(
      "Report event-7 by `@reporter:example.org` about `@spammer:evil.org`'s message in `#lobby:example.org` (protected)",
    );
    expect(f.text).toContain("Reason: spam · score -100");
    expect(f.text).toContain("Message: “buy <b>now</b>”");
    expect(f.text).toContain(`!tyr redact ${permalink("!room:example.org", "$ev")}`);
    expect(f.text).toContain("!tyr kick @spammer:evil.org --room !room:example.org");
    expect(f.html).not.toContain("<b>now</b>"); // the sender's markup is shown, never rendered
    expect(f.html).toContain("&lt;b&gt;now&lt;/b&gt;");
  });

  it("suggests a redact command whose link the command parser accepts", () => {
    const eventId = "$bNUFCwGzWca1meCGkjp-zwslF-GfVcXukvRLI1_FaVY";
    const f = formatReport({ ...report, eventId }, undefined, { protectedRoom: false, prefix: "!tyr" });
    const link = /!tyr redact (\S+)`/.exec(f.text)?.[1] ?? "";
    expect(t.eventLink().parse(link)).toMatchObject({
      ok: true,
      value: { eventId, room: { kind: "id", roomId: "!room:example.org" } },
    });
  });

  it("says when the message is encrypted or unreadable", () => {
    const opts = { protectedRoom: false, prefix: "!tyr" };
    expect(
      formatReport(report, { type: "m.room.encrypted", body: undefined, encrypted: true }, opts).text,
    ).toContain("encrypted");
    expect(formatReport(report, undefined, opts).text).toContain("could not be read");
  });

  it("stays far below the event size limit whatever the reason and body", () => {
    const huge = parseReport({ ...good, reason: "r".repeat(100_000) }) as Report;
    const f = formatReport(
      huge,
      { type: "m.room.message", body: "😀".repeat(50_000), encrypted: false },
      {
        protectedRoom: false,
        prefix: "!tyr",
      },
    );
    expect(Buffer.byteLength(f.text) + Buffer.byteLength(f.html)).toBeLessThan(MAX_EVENT_BYTES / 4);
  });
});

describe("room and user reports", () => {
  it("reads a user report (Synapse's user_reports) and a room report (room_reports)", () => {
    const page = parseReportPage(
      {
        user_reports: [
          {
            id: 3,
            received_ts: 5,
            target_user_id: "@bad:example.org",
            user_id: "@r:example.org",
            reason: "abuse",
          },
          { id: 4, user_id: "@r:example.org", reason: "no target" },
        ],
        total: 2,
      },
      "user",
    );
    expect(page.reports).toEqual([
      {
        kind: "user",
        id: 3,
        receivedTs: 5,
        reporter: "@r:example.org",
        reason: "abuse",
        targetUser: "@bad:example.org",
      },
    ]);
    expect(page.skipped).toBe(1);
    const room = parseReport(
      { id: 2, room_id: "!r:example.org", user_id: "@r:example.org", reason: "nsfw", name: "Den" },
      "room",
    );
    expect(room).toMatchObject({ kind: "room", roomId: "!r:example.org", roomName: "Den" });
    expect(parseReport({ id: 2, user_id: "@r:example.org" }, "room")).toBeUndefined();
    // A page of another kind's key is not read as this kind.
    expect(parseReportPage({ event_reports: [good] }, "user").reports).toEqual([]);
  });

  it("keys reports by kind, and reads keys back", () => {
    expect(reportKey({ kind: "user", id: 3 })).toBe("user-3");
    expect(parseReportKey("Event-12")).toEqual({ kind: "event", id: 12 });
    expect(parseReportKey("12")).toBeUndefined();
    expect(parseReportKey("spam-1")).toBeUndefined();
  });

  it("notices name the reporter's history, the target, and the reactions", () => {
    const user = parseReport(
      { id: 3, target_user_id: "@bad:example.org", user_id: "@r:example.org", reason: "abuse" },
      "user",
    )!;
    const f = formatReport(user, undefined, {
      protectedRoom: false,
      prefix: "!tyr",
      history: { total: 4, bad: 1 },
    });
    expect(f.text).toContain(
      "Report user-3 by `@r:example.org` (4 reports from them, 1 dismissed as bad) about the user `@bad:example.org`.",
    );
    const room = parseReport({ id: 2, room_id: "!r:example.org", user_id: "@r:example.org" }, "room")!;
    expect(
      formatReport(room, undefined, { protectedRoom: true, prefix: "!tyr", history: { total: 1, bad: 0 } })
        .text,
    ).toContain("(their first report) about the room `!r:example.org` (protected)");
  });
});
