// Malformed report data from the homeserver (or a damaged store file) never crashes Tyr: every
// parser takes any JSON, every notice it leads to fits an event, and every command a triage
// reaction stands for parses as the command it claims to be.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  formatReport,
  parseReportedEvent,
  parseReportPage,
  REPORT_KINDS,
} from "../../../src/reports/reports.ts";
import { parseReportsData } from "../../../src/reports/store.ts";
import { actionsFor, decideTriage, triageLine } from "../../../src/reports/triagePlan.ts";
import { notice, contentBytes, MAX_EVENT_BYTES } from "../../../src/format/content.ts";
import { CommandRegistry } from "../../../src/commands/framework/index.ts";
import type { CommandContext } from "../../../src/commands/context.ts";
import { listCommands } from "../../../src/commands/lists.ts";
import { moderationCommands } from "../../../src/commands/moderation.ts";

const registry = new CommandRegistry<CommandContext>().register(...listCommands, ...moderationCommands);

/** Strings that look like Matrix IDs, and some that only nearly do. */
const idLike = fc.oneof(
  fc.string(),
  fc
    .tuple(fc.constantFrom("@", "!", "$", "#", ""), fc.string(), fc.constantFrom(":example.org", ":x", ""))
    .map(([a, b, c]) => a + b + c),
  fc.string({ unit: "grapheme", maxLength: 400 }).map((s) => `@${s}:evil.org`),
);
const value = fc.oneof(idLike, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.object());
const report = fc.record(
  {
    id: fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.string()),
    received_ts: value,
    room_id: idLike,
    event_id: idLike,
    user_id: idLike,
    sender: idLike,
    target_user_id: idLike,
    reason: fc.oneof(fc.string({ maxLength: 5000 }), value),
    score: value,
    canonical_alias: value,
    name: value,
  },
  { requiredKeys: [] },
);
/** Reports that are nearly right: real-looking IDs with odd characters, huge or marked-up reasons. */
const local = fc.oneof(
  fc.stringMatching(/^[a-z0-9._=\-/+]{1,30}$/),
  fc.string({ unit: "grapheme", maxLength: 40 }),
);
const plausible = fc.record({
  id: fc.nat(),
  received_ts: fc.nat(),
  room_id: local.map((l) => `!${l}:example.org`),
  event_id: local.map((l) => `$${l}`),
  user_id: local.map((l) => `@${l}:example.org`),
  sender: local.map((l) => `@${l}:evil.org`),
  target_user_id: local.map((l) => `@${l}:example.org`),
  reason: fc.oneof(fc.string({ maxLength: 5000 }), fc.constant('<b>x</b> "--yes" `code`')),
  score: fc.integer(),
});
const page = fc.record(
  {
    event_reports: fc.oneof(fc.array(fc.oneof(report, plausible, value)), value),
    room_reports: fc.oneof(fc.array(fc.oneof(report, plausible, value)), value),
    user_reports: fc.oneof(fc.array(fc.oneof(report, plausible, value)), value),
    next_token: value,
    total: value,
  },
  { requiredKeys: [] },
);

describe("malformed report data", () => {
  it("every page parses, every report's notice fits, every triage command parses", () => {
    let commands = 0;
    fc.assert(
      fc.property(
        fc.oneof(page, value),
        fc.constantFrom(...REPORT_KINDS),
        fc.anything(),
        (body, kind, details) => {
          const p = parseReportPage(body, kind);
          const event = parseReportedEvent(details);
          for (const r of p.reports) {
            const f = formatReport(r, event, {
              protectedRoom: true,
              prefix: "!tyr",
              history: { total: 2, bad: 1 },
              triage: triageLine(r),
            });
            expect(contentBytes(notice(f))).toBeLessThan(MAX_EVENT_BYTES);
            for (const action of actionsFor(r)) {
              const d = decideTriage({ report: r, actions: [] }, action, { list: "!list:example.org" });
              if (d.kind !== "command") continue;
              commands++;
              const parsed = registry.parse(d.text);
              expect(parsed.ok, d.text).toBe(true);
              if (parsed.ok) expect(parsed.invocation.command).toBe(action);
            }
          }
        },
      ),
      { numRuns: 500 },
    );
    // The generator reaches the interesting case: reports valid enough to act on.
    expect(commands).toBeGreaterThan(20);
  });

  it("a damaged store file reads as some valid store", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.anything(), fc.record({ entries: fc.array(fc.anything()), lastList: value })),
        (json) => {
          const { data } = parseReportsData(json);
          expect(Array.isArray(data.entries)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
