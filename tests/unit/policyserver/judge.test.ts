// The protections judge of the policy server: a redaction of the asked-about event (which has no
// event ID yet) or the removal of its sender means spam; state events and redactions are not judged.
import { describe, expect, it } from "vitest";
import { UNSENT_EVENT_ID, protectionJudge } from "../../../src/policyserver/judge.ts";
import { readPolicyEvent, type PolicyEvent } from "../../../src/federation/policyDecision.ts";
import type { PipelineResult } from "../../../src/protections/pipeline.ts";

const cause = { by: "protection", name: "word-list" } as const;
function ev(over: Record<string, unknown> = {}): PolicyEvent {
  const r = readPolicyEvent({
    type: "m.room.message",
    room_id: "!r:x",
    sender: "@s:x",
    content: { body: "hi" },
    ...over,
  });
  if (!r.ok) throw new Error(r.reason);
  return r.event;
}

describe("protectionJudge", () => {
  it("is spam when the pipeline would redact the event or remove its sender", () => {
    const seen: unknown[] = [];
    const redact = protectionJudge((raw) => {
      seen.push(raw["event_id"]);
      return {
        consequences: [{ kind: "redact", room: "!r:x", event: UNSENT_EVENT_ID, reason: "", cause }],
        errors: [],
      } as unknown as PipelineResult;
    });
    expect(redact(ev())).toMatchObject({ spam: true, protection: "word-list" });
    expect(seen).toEqual([UNSENT_EVENT_ID]);
    const ban = protectionJudge(
      () =>
        ({
          consequences: [{ kind: "ban", room: "!r:x", user: "@s:x", reason: "", cause }],
          errors: [],
        }) as unknown as PipelineResult,
    );
    expect(ban(ev())).toMatchObject({ spam: true });
    // A dry-run decision, or one about someone else, is not a refusal.
    const other = protectionJudge(
      () =>
        ({
          consequences: [
            { kind: "ban", room: "!r:x", user: "@other:x", reason: "", cause },
            {
              kind: "redact",
              room: "!r:x",
              event: UNSENT_EVENT_ID,
              reason: "",
              cause: { ...cause, dryRun: true },
            },
          ],
          errors: [],
        }) as unknown as PipelineResult,
    );
    expect(other(ev())).toEqual({ spam: false });
  });

  it("does not judge state events or redactions", () => {
    let runs = 0;
    const j = protectionJudge(() => {
      runs++;
      return { consequences: [], errors: [] };
    });
    expect(j(ev({ type: "m.room.name", state_key: "", content: { name: "spam" } }))).toEqual({ spam: false });
    expect(j(ev({ type: "m.room.redaction", redacts: "$x" }))).toEqual({ spam: false });
    expect(runs).toBe(0);
  });
});
