import { describe, expect, it } from "vitest";
import { flooding } from "../../../src/protections/builtin/flooding.ts";
import { Harness, kinds, text } from "./helpers.ts";

const SPAMMER = "@spammer:evil.org";

describe("flooding", () => {
  it("lets a lively conversation through: 3 users, a message every 3 seconds", () => {
    const h = new Harness(flooding);
    const users = ["@a:x.org", "@b:x.org", "@c:x.org"];
    for (let i = 0; i < 90; i++) {
      h.advance(3000);
      expect(h.feed(text(`message ${i}`, { sender: users[i % 3] ?? "" }))).toEqual([]);
    }
  });

  it("a burst of exactly maxMessages is fine", () => {
    const h = new Harness(flooding);
    for (let i = 0; i < 10; i++) expect(h.feed(text("hi", { sender: SPAMMER }))).toEqual([]);
  });

  it("redacts every message over the limit and mutes after 3 infractions, once", () => {
    const h = new Harness(flooding);
    const out = [];
    for (let i = 0; i < 20; i++) {
      h.advance(100);
      out.push(kinds(h.feed(text(`BUY NOW ${i}`, { sender: SPAMMER, eventId: `$f${i}` }))));
    }
    expect(out.slice(0, 10)).toEqual(Array(10).fill([]));
    expect(out[10]).toEqual(["redact"]);
    expect(out[11]).toEqual(["redact"]);
    expect(out[12]).toEqual(["redact", "mute"]);
    expect(out.slice(13)).toEqual(Array(7).fill(["redact"]));
  });

  it("the mute carries the configured duration and a reason", () => {
    const h = new Harness(flooding, { maxMessages: 2, maxInfractions: 1, muteDuration: "30m" });
    h.feed(text("a", { sender: SPAMMER }));
    h.feed(text("b", { sender: SPAMMER }));
    const c = h.feed(text("c", { sender: SPAMMER, eventId: "$third" }));
    expect(c).toEqual([
      {
        kind: "redact",
        room: "!room:example.org",
        event: "$third",
        reason: "flooding: more than 2 messages in 1m",
        cause: h.cause,
      },
      {
        kind: "mute",
        room: "!room:example.org",
        user: SPAMMER,
        durationMs: 1_800_000,
        reason: "flooding: more than 2 messages in 1m, 1 times",
        cause: h.cause,
      },
    ]);
  });

  it("bans instead when configured, and can skip redaction", () => {
    const h = new Harness(flooding, {
      maxMessages: 1,
      maxInfractions: 1,
      sanction: "ban",
      redactExcess: false,
    });
    h.feed(text("a", { sender: SPAMMER }));
    expect(kinds(h.feed(text("b", { sender: SPAMMER })))).toEqual(["ban"]);
  });

  it("sanction none only redacts", () => {
    const h = new Harness(flooding, { maxMessages: 1, maxInfractions: 1, sanction: "none" });
    h.feed(text("a", { sender: SPAMMER }));
    expect(kinds(h.feed(text("b", { sender: SPAMMER })))).toEqual(["redact"]);
  });

  it("the window slides: the same rate spread out is fine", () => {
    const h = new Harness(flooding, { maxMessages: 3, window: "10s" });
    for (let i = 0; i < 20; i++) {
      h.advance(3400);
      expect(h.feed(text("steady", { sender: SPAMMER }))).toEqual([]);
    }
  });

  it("counts edits as messages", () => {
    const h = new Harness(flooding, { maxMessages: 2 });
    h.feed(text("a", { sender: SPAMMER, eventId: "$a" }));
    h.feed(text("b", { sender: SPAMMER }));
    const edit = {
      ...text("* c", { sender: SPAMMER }),
      content: {
        msgtype: "m.text",
        body: "* c",
        "m.new_content": { msgtype: "m.text", body: "c" },
        "m.relates_to": { rel_type: "m.replace", event_id: "$a" },
      },
    };
    expect(kinds(h.feed(edit))).toEqual(["redact"]);
  });

  it("uses the pipeline clock, not forged origin_server_ts", () => {
    const h = new Harness(flooding, { maxMessages: 3 });
    const out = [];
    for (let i = 0; i < 5; i++)
      out.push(h.feed(text("x", { sender: SPAMMER, ts: 1_000_000 + i * 3_600_000 })));
    expect(out.flat().length).toBeGreaterThan(0);
  });

  it("keeps per-user state bounded during a wave of many spammers", () => {
    const h = new Harness(flooding);
    for (let i = 0; i < 30_000; i++) h.feed(text("x", { sender: `@s${i}:evil.org` }));
    expect((h.state as { size: number }).size).toBeLessThanOrEqual(10_000);
  });
});
