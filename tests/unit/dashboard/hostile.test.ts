// Every page rendered with attacker-controlled Matrix data (rule entities and reasons, report
// texts, room names, display names, user agents) in every field: no markup of theirs survives, and
// no link of theirs points anywhere but the dashboard or an http(s)/matrix: URL.
import { describe, expect, it } from "vitest";
import type { Rule } from "../../../src/banlists/rule.ts";
import type { StoredRecord } from "../../../src/store/actionLog.ts";
import type { ReportEntry } from "../../../src/reports/store.ts";
import { blocks, code, fmt, link, text } from "../../../src/format/index.ts";
import type { Viewer } from "../../../src/dashboard/layout.ts";
import { listsPage } from "../../../src/dashboard/pages/lists.ts";
import { logPage, parseLogQuery } from "../../../src/dashboard/pages/log.ts";
import { reportsPage } from "../../../src/dashboard/pages/reports.ts";
import { sessionsPage } from "../../../src/dashboard/pages/sessions.ts";
import { loginPage } from "../../../src/dashboard/pages/login.ts";
import { protectionsPage } from "../../../src/dashboard/pages/protections.ts";
import { roomsPage } from "../../../src/dashboard/pages/rooms.ts";
import { overviewPage } from "../../../src/dashboard/pages/overview.ts";
import { encryptionPage } from "../../../src/dashboard/pages/encryption.ts";
import { Sessions } from "../../../src/dashboard/secrets.ts";

const EVIL = `"><script>alert(1)</script><img src=x onerror=alert(2)><svg onload=alert(3)>' onmouseover='x`;
const JS_URL = "javascript:alert(document.cookie)";
const DATA_URL = "data:text/html,<script>alert(4)</script>";
const v: Viewer = { user: `@mod${EVIL}:x`, csrf: "c".repeat(43), path: "/dashboard", prefix: "!tyr" };

/** Markup an attacker may not get onto a page: every real tag is one the templates wrote. */
function expectNoInjection(page: string): void {
  const tags = [...page.matchAll(/<([a-z][a-z0-9-]*)\b([^>]*)>/gi)];
  for (const [tag, name, attrs] of tags) {
    expect(
      ["script", "img", "iframe", "object", "embed", "base", "meta"].includes(name!.toLowerCase()) &&
        tag !== '<script src="/dashboard/static/app.js" defer>' &&
        !tag.startsWith("<meta charset") &&
        !tag.startsWith('<meta name="viewport"'),
      tag,
    ).toBe(false);
    // Attribute values are double-quoted by the templates: an attacker's quote would end one early.
    expect(attrs, tag).toMatch(/^(\s+[a-z0-9:-]+(="[^"]*")?)*\s*$/i);
    for (const [, attr, value] of attrs!.matchAll(/\s([a-z0-9:-]+)(?:="([^"]*)")?/gi)) {
      expect(attr, tag).not.toMatch(/^on/i);
      if (/^(href|src|action|xlink:href|formaction)$/i.test(attr!))
        expect(value, tag).toMatch(/^(\/dashboard|https?:\/\/|matrix:|#)/);
    }
  }
}

const rules: Rule[] = [EVIL, JS_URL, DATA_URL].map((x, i) => ({
  list: `!list${x}:x`,
  kind: "user",
  entity: x,
  recommendation: "ban",
  reason: x,
  eventType: "m.policy.rule.user",
  stateKey: `${x}${i}`,
  sender: x,
  eventId: x,
}));

describe("pages with hostile Matrix data", () => {
  it("lists: rule entities, reasons, list names and the search term stay text", () => {
    const lists = [{ id: `!list${EVIL}:x`, label: EVIL, rules: 3, writable: true }];
    for (const r of rules)
      expectNoInjection(listsPage(v, { lists, q: EVIL, found: rules, more: false, detail: r }));
  });

  it("action log: targets, rooms, reasons, actors and details stay text, filters too", () => {
    const records: StoredRecord[] = [EVIL, JS_URL].map((x, i) => ({
      id: i + 1,
      ts: 0,
      kind: "ban",
      target: x,
      room: x,
      reason: x,
      actor: x,
      via: x,
      outcome: "failed",
      detail: x,
      report: x,
    })) as unknown as StoredRecord[];
    const q = new URLSearchParams({ text: EVIL, entity: JS_URL, kind: EVIL, before: EVIL });
    expectNoInjection(
      logPage(v, { query: parseLogQuery(q, [EVIL]), records, matches: 2, cap: 10_000, kinds: [EVIL] }),
    );
  });

  it("reports: reasons, event bodies, room names and senders stay text", () => {
    const entries = (["user", "room", "event"] as const).map((kind) => ({
      key: `${kind}-1`,
      report: {
        kind,
        receivedTs: 0,
        reporter: EVIL,
        reason: EVIL,
        targetUser: EVIL,
        roomId: JS_URL,
        roomName: EVIL,
        sender: EVIL,
      },
      state: "open",
      relayedAt: 0,
      event: { encrypted: false, body: EVIL },
      actions: [{ action: "kick", moderator: EVIL, outcome: "done", summary: EVIL }],
    })) as unknown as ReportEntry[];
    expectNoInjection(
      reportsPage(v, {
        which: "all",
        entries,
        counts: { open: 3, handled: 0, bad: 0 },
        choose: { key: "user-1", lists: [{ list: EVIL, label: EVIL }] as never },
        flash: { text: EVIL, error: true },
      }),
    );
  });

  it("sessions, login, protections, rooms, overview, encryption", () => {
    const sessions = new Sessions(60_000);
    sessions.create(v.user, EVIL, EVIL);
    expectNoInjection(sessionsPage(v, { sessions: sessions.of(v.user), current: "x" }));
    expectNoInjection(loginPage({ prefix: EVIL, flash: { text: EVIL }, link: { token: EVIL, user: EVIL } }));
    // Chat replies built by src/format: a room name, an alias shown as a link.
    const reply = blocks(fmt`Room ${EVIL} ${code(EVIL)}`, link(JS_URL, text(EVIL)), link(DATA_URL));
    expectNoInjection(
      protectionsPage(v, {
        names: [EVIL],
        overview: reply,
        shown: { name: EVIL, reply },
        rooms: [EVIL],
        flash: { text: EVIL },
      }),
    );
    expectNoInjection(
      roomsPage(v, { rooms: reply, acl: reply, protectedRooms: [EVIL], audit: { room: EVIL, reply } }),
    );
    expectNoInjection(overviewPage(v, { status: reply, since: 0, rows: [], logSize: 1 }));
    expectNoInjection(encryptionPage(v, reply));
  });
});
