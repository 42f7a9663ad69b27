// Action-log lines for `log`: every field comes from the log and is shown as text.
import { describe, expect, it } from "vitest";
import { describeRecord } from "../../../src/commands/info.ts";

describe("describeRecord", () => {
  it("shows time, action, target, room, actor and outcome", () => {
    const f = describeRecord(
      {
        ts: Date.UTC(2025, 0, 2, 3, 4, 5),
        kind: "kick",
        room: "!r:x.org",
        target: "@spam:evil.org",
        actor: "@mod:x.org",
        outcome: "done",
        reason: "spamming",
      },
      (id) => (id === "!r:x.org" ? "#lobby:x.org" : id),
    );
    expect(f.text).toBe(
      "2025-01-02 03:04:05 UTC kick `@spam:evil.org` in `#lobby:x.org` by @mod:x.org: done — “spamming”",
    );
  });

  it("escapes markup in reasons and details, and shortens them", () => {
    const f = describeRecord({
      ts: 0,
      kind: "redact",
      room: "!r:x.org",
      target: "$e",
      actor: "protection <b>x</b>",
      outcome: "failed",
      detail: "<img src=x onerror=alert(1)>",
      reason: `<script>${"a".repeat(400)}</script>`,
    });
    expect(f.html).not.toMatch(/<(script|img|b)\b/);
    expect(f.html).toContain("&lt;img");
    expect(f.text).toContain("FAILED (<img src=x onerror=alert(1)>)");
    expect(f.text.length).toBeLessThan(500);
  });
});
