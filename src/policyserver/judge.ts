// The protections' opinion of one event a server asks the policy server about: the pipeline of
// protections enforced at the server (`enforceAtServer`), read the way the homeserver antispam
// backend reads it (src/antispam/decide.ts `refusingProtection`: a redaction of the event or the
// removal of its sender means spam). State events and redactions pass, as they do there.
import { refusingProtection } from "../antispam/decide.ts";
import type { ProtectionJudge } from "../federation/policyDecision.ts";
import type { PipelineResult } from "../protections/pipeline.ts";

/** The event ID the pipeline sees for an event that has none yet (room versions 3+ derive it later). */
export const UNSENT_EVENT_ID = "$policy-server-check";

export function protectionJudge(
  run: (raw: Record<string, unknown>, roomId: string, now: number) => PipelineResult,
  now: () => number = Date.now,
): ProtectionJudge {
  return (ev) => {
    if (ev.stateKey !== undefined || ev.type === "m.room.redaction") return { spam: false };
    const own = ev.pdu["event_id"];
    const eventId = typeof own === "string" ? own : UNSENT_EVENT_ID;
    const raw = typeof own === "string" ? ev.pdu : { ...ev.pdu, event_id: eventId };
    const result = run(raw, ev.roomId, now());
    const name = refusingProtection(
      { eventId, roomId: ev.roomId, sender: ev.sender, type: ev.type, isState: false },
      result,
    );
    return name === undefined
      ? { spam: false }
      : { spam: true, protection: name, reason: "it would redact the event or remove its sender" };
  };
}
