import { describe, expect, it } from "vitest";
import type { Consequence } from "../../../src/consequences/types.ts";
import {
  defaultConfig,
  setDryRun,
  setEnabled,
  setOption,
  setSetting,
  type ProtectionsConfig,
} from "../../../src/protections/config.ts";
import { parsePowerLevels } from "../../../src/protections/exemptions.ts";
import { defineProtection, redact, type AnyProtection } from "../../../src/protections/framework.ts";
import { dryRunNotice, ProtectionPipeline } from "../../../src/protections/pipeline.ts";
import { RoomStateCache, toStateEvent } from "../../../src/matrix/roomState.ts";
import { BUILTIN_PROTECTIONS } from "../../../src/protections/registry.ts";
import { media, OTHER_ROOM, rawMember, ROOM, T0, text } from "./helpers.ts";

const BOT = "@tyr:example.org";
const SPAMMER = "@spammer:evil.org";
const R = BUILTIN_PROTECTIONS;

function ok(r: { ok: true; config: ProtectionsConfig } | { ok: false; error: string }): ProtectionsConfig {
  if (!r.ok) throw new Error(r.error);
  return r.config;
}

function configWith(...edits: ((c: ProtectionsConfig) => ProtectionsConfig)[]): ProtectionsConfig {
  return edits.reduce((c, f) => f(c), defaultConfig());
}
const enable = (name: string, room?: string) => (c: ProtectionsConfig) =>
  ok(setEnabled(c, R, name, true, room));
const set = (name: string, key: string, v: unknown, room?: string) => (c: ProtectionsConfig) =>
  ok(setSetting(c, R, name, key, v, room));

const redactedIds = (cs: readonly Consequence[]) => cs.flatMap((c) => (c.kind === "redact" ? [c.event] : []));

describe("pipeline basics", () => {
  it("runs only enabled protections", () => {
    const off = new ProtectionPipeline({ botUserId: BOT, protections: R });
    expect(off.handleRaw(media("m.image"), undefined, {}, T0).consequences).toEqual([]);
    const on = new ProtectionPipeline({
      botUserId: BOT,
      protections: R,
      config: configWith(enable("media-filter")),
    });
    expect(on.handleRaw(media("m.image", { eventId: "$img" }), undefined, {}, T0).consequences).toMatchObject(
      [{ kind: "redact", event: "$img", cause: { by: "protection", name: "media-filter" } }],
    );
  });

  it("skips unusable events with the reason", () => {
    const p = new ProtectionPipeline({
      botUserId: BOT,
      protections: R,
      config: configWith(enable("media-filter")),
    });
    expect(p.handleRaw({ type: "m.room.message" }, ROOM, {}, T0)).toMatchObject({
      consequences: [],
      skipped: "event has no valid sender",
    });
    expect(p.handleRaw(media("m.image"), undefined, {}, Number.NaN).skipped).toBe("invalid clock value");
  });

  it("exempts the bot, management room members and high power levels", () => {
    const p = new ProtectionPipeline({
      botUserId: BOT,
      protections: R,
      config: configWith(enable("media-filter")),
    });
    const info = {
      managementMembers: new Set(["@helper:x.org"]),
      powerLevels: parsePowerLevels({ users: { "@mod:x.org": 50, "@vip:x.org": 40 } }),
    };
    expect(p.handleRaw(media("m.image", { sender: BOT }), undefined, info, T0).skipped).toBe(
      "the bot's own event",
    );
    expect(p.handleRaw(media("m.image", { sender: "@helper:x.org" }), undefined, info, T0).skipped).toBe(
      "exempt",
    );
    expect(p.handleRaw(media("m.image", { sender: "@mod:x.org" }), undefined, info, T0).skipped).toBe(
      "exempt",
    );
    expect(
      p.handleRaw(media("m.image", { sender: "@vip:x.org" }), undefined, info, T0).consequences,
    ).toHaveLength(1);
    p.setConfig(ok(setOption(p.config, "exemptPowerLevel", 40)));
    expect(p.handleRaw(media("m.image", { sender: "@vip:x.org" }), undefined, info, T0).skipped).toBe(
      "exempt",
    );
  });

  it("a throwing or misbehaving protection is reported; the others still run", () => {
    const boom = defineProtection({
      name: "boom",
      description: "throws",
      settings: {},
      createState: () => null,
      onMessage() {
        throw new TypeError("kaput");
      },
    });
    const liar = defineProtection({
      name: "liar",
      description: "returns garbage",
      settings: {},
      createState: () => null,
      onMessage: () => "nope" as unknown as Consequence[],
    });
    const sloppy = defineProtection({
      name: "sloppy",
      description: "returns a list with garbage in it",
      settings: {},
      createState: () => null,
      onMessage: () => [null, { kind: "ban" }] as unknown as Consequence[],
    });
    const good = defineProtection({
      name: "good",
      description: "redacts everything",
      settings: {},
      createState: () => null,
      onMessage: (ev, ctx) => [redact(ctx, ev.eventId, "test")],
    });
    const all: AnyProtection[] = [boom, liar, sloppy, good];
    const config = configWith(
      (c) => ok(setEnabled(c, all, "boom", true)),
      (c) => ok(setEnabled(c, all, "liar", true)),
      (c) => ok(setEnabled(c, all, "sloppy", true)),
      (c) => ok(setEnabled(c, all, "good", true)),
    );
    const p = new ProtectionPipeline({ botUserId: BOT, protections: all, config });
    const r = p.handleRaw(text("hi", { eventId: "$x" }), undefined, {}, T0);
    expect(r.errors).toEqual([
      { protection: "boom", room: ROOM, eventId: "$x", error: "TypeError: kaput" },
      { protection: "liar", room: ROOM, eventId: "$x", error: "handler returned no list of consequences" },
      { protection: "sloppy", room: ROOM, eventId: "$x", error: "handler returned no list of consequences" },
    ]);
    expect(r.consequences).toMatchObject([{ kind: "redact", event: "$x", cause: { name: "good" } }]);
  });
});

describe("dry-run", () => {
  it("turns consequences into a notice and does not act", () => {
    const config = configWith(enable("mention-spam"), (c) => ok(setDryRun(c, R, "mention-spam", true)));
    const p = new ProtectionPipeline({ botUserId: BOT, protections: R, config });
    const body = Array.from({ length: 12 }, (_, i) => `@u${i}:x.org`).join(" ");
    const r = p.handleRaw(text(body, { sender: SPAMMER, eventId: "$m" }), undefined, {}, T0);
    expect(r.consequences).toHaveLength(1);
    const [n] = r.consequences;
    expect(n).toMatchObject({
      kind: "notify",
      cause: { by: "protection", name: "mention-spam", dryRun: true },
    });
    expect(n?.kind === "notify" && n.text).toBe(
      `[dry-run] mention-spam would:\n- redact $m in ${ROOM} (mention-spam: 12 users mentioned (limit 10))\n- warn in ${ROOM}: "${SPAMMER}: please don't mention that many people at once."`,
    );
  });

  it("dry-run sanctions open no incident", () => {
    const config = configWith(
      enable("flooding"),
      set("flooding", "maxMessages", 1),
      set("flooding", "maxInfractions", 1),
      (c) => ok(setDryRun(c, R, "flooding", true)),
    );
    const p = new ProtectionPipeline({ botUserId: BOT, protections: R, config });
    for (let i = 0; i < 5; i++) {
      const r = p.handleRaw(text("x", { sender: SPAMMER }), undefined, {}, T0 + i);
      expect(r.consequences.every((c) => c.kind === "notify")).toBe(true);
    }
    expect(p.stats()["incidents"]).toBe(0);
  });

  it("dry-run can be set for one room only", () => {
    const config = configWith(enable("media-filter"), (c) =>
      ok(setDryRun(c, R, "media-filter", true, OTHER_ROOM)),
    );
    const p = new ProtectionPipeline({ botUserId: BOT, protections: R, config });
    expect(p.handleRaw(media("m.image"), undefined, {}, T0).consequences[0]?.kind).toBe("redact");
    expect(p.handleRaw(media("m.image", { room: OTHER_ROOM }), undefined, {}, T0).consequences[0]?.kind).toBe(
      "notify",
    );
  });

  it("dryRunNotice is null for no consequences and one line for one", () => {
    expect(dryRunNotice("x", [])).toBeNull();
    const n = dryRunNotice("x", [
      { kind: "ban", room: ROOM, user: SPAMMER, reason: "r", cause: { by: "protection", name: "x" } },
    ]);
    expect(n).toEqual({
      kind: "notify",
      text: `[dry-run] x would ban ${SPAMMER} in ${ROOM} (r)`,
      cause: { by: "protection", name: "x", dryRun: true },
    });
  });
});

describe("per-room overrides", () => {
  it("change behaviour in one room only", () => {
    const config = configWith(enable("flooding"), set("flooding", "maxMessages", 3, ROOM));
    const p = new ProtectionPipeline({ botUserId: BOT, protections: R, config });
    const counts: Record<string, number> = {};
    for (const room of [ROOM, OTHER_ROOM]) {
      let n = 0;
      for (let i = 0; i < 5; i++) {
        n += p.handleRaw(text("x", { room, sender: SPAMMER }), undefined, {}, T0 + i).consequences.length;
      }
      counts[room] = n;
    }
    expect(counts).toEqual({ [ROOM]: 2, [OTHER_ROOM]: 0 }); // messages 4 and 5 redacted
  });

  it("a protection disabled in one room doesn't run there", () => {
    const config = configWith(enable("media-filter"), (c) =>
      ok(setEnabled(c, R, "media-filter", false, ROOM)),
    );
    const p = new ProtectionPipeline({ botUserId: BOT, protections: R, config });
    expect(p.handleRaw(media("m.image"), undefined, {}, T0).consequences).toEqual([]);
    expect(p.handleRaw(media("m.image", { room: OTHER_ROOM }), undefined, {}, T0).consequences).toHaveLength(
      1,
    );
  });

  it("setConfig takes effect immediately", () => {
    const p = new ProtectionPipeline({
      botUserId: BOT,
      protections: R,
      config: configWith(enable("media-filter")),
    });
    expect(p.handleRaw(media("m.image"), undefined, {}, T0).consequences).toHaveLength(1);
    p.setConfig(ok(setEnabled(p.config, R, "media-filter", false)));
    expect(p.handleRaw(media("m.image"), undefined, {}, T0).consequences).toHaveLength(0);
  });
});

describe("incidents", () => {
  const floodConfig = () =>
    configWith(enable("flooding"), set("flooding", "maxMessages", 3), set("flooding", "maxInfractions", 2));

  it("a sanction cleans up recent messages and redacts later ones, each event once", () => {
    const p = new ProtectionPipeline({ botUserId: BOT, protections: R, config: floodConfig() });
    const all: Consequence[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const id = `$s${i}`;
      ids.push(id);
      all.push(
        ...p.handleRaw(text(`spam ${i}`, { sender: SPAMMER, eventId: id }), undefined, {}, T0 + i * 100)
          .consequences,
      );
    }
    const redacted = redactedIds(all);
    expect([...redacted].sort()).toEqual([...ids].sort()); // everything, including the first 3
    expect(new Set(redacted).size).toBe(redacted.length); // never twice
    expect(all.filter((c) => c.kind === "mute")).toHaveLength(1); // in-flight messages don't re-mute
    // A duplicate delivery of an already-redacted event is not redacted again.
    const again = p.handleRaw(
      text("spam 11", { sender: SPAMMER, eventId: "$s11" }),
      undefined,
      {},
      T0 + 2000,
    );
    expect(redactedIds(again.consequences)).toEqual([]);
  });

  it("other users' messages are untouched, and the incident expires", () => {
    const config = ok(setOption(floodConfig(), "incidentDurationMs", "5m"));
    const p = new ProtectionPipeline({ botUserId: BOT, protections: R, config });
    for (let i = 0; i < 6; i++) p.handleRaw(text("spam", { sender: SPAMMER }), undefined, {}, T0 + i);
    expect(p.handleRaw(text("hello", { sender: "@bob:x.org" }), undefined, {}, T0 + 10).consequences).toEqual(
      [],
    );
    expect(
      p.handleRaw(text("still here", { sender: SPAMMER, eventId: "$late" }), undefined, {}, T0 + 2 * 60_000)
        .consequences,
    ).toMatchObject([
      { kind: "redact", event: "$late", reason: "flooding: message sent during an active incident" },
    ]);
    // once the window has passed and the incident expired, a normal message stands
    expect(
      p.handleRaw(text("sorry", { sender: SPAMMER }), undefined, {}, T0 + 10 * 60_000).consequences,
    ).toEqual([]);
  });

  it("reactions during an incident are redacted too", () => {
    const p = new ProtectionPipeline({ botUserId: BOT, protections: R, config: floodConfig() });
    for (let i = 0; i < 6; i++) p.handleRaw(text("spam", { sender: SPAMMER }), undefined, {}, T0 + i);
    const reaction = {
      ...text("x", { sender: SPAMMER, eventId: "$react" }),
      type: "m.reaction",
      content: { "m.relates_to": { rel_type: "m.annotation", event_id: "$t", key: "🤑" } },
    };
    expect(redactedIds(p.handleRaw(reaction, undefined, {}, T0 + 10).consequences)).toEqual(["$react"]);
  });

  it("incidents are per room", () => {
    const p = new ProtectionPipeline({ botUserId: BOT, protections: R, config: floodConfig() });
    for (let i = 0; i < 6; i++) p.handleRaw(text("spam", { sender: SPAMMER }), undefined, {}, T0 + i);
    expect(
      p.handleRaw(text("hi", { sender: SPAMMER, room: OTHER_ROOM }), undefined, {}, T0 + 10).consequences,
    ).toEqual([]);
  });

  it("with incidentOn=sanction a mere redaction opens no incident; with any it does", () => {
    const base = configWith(enable("media-filter"));
    const p1 = new ProtectionPipeline({ botUserId: BOT, protections: R, config: base });
    p1.handleRaw(media("m.image", { sender: SPAMMER }), undefined, {}, T0);
    expect(p1.handleRaw(text("ok", { sender: SPAMMER }), undefined, {}, T0 + 1).consequences).toEqual([]);

    const p2 = new ProtectionPipeline({
      botUserId: BOT,
      protections: R,
      config: ok(setOption(base, "incidentOn", "any")),
    });
    p2.handleRaw(text("earlier", { sender: SPAMMER, eventId: "$earlier" }), undefined, {}, T0);
    const r = p2.handleRaw(media("m.image", { sender: SPAMMER, eventId: "$img" }), undefined, {}, T0 + 1);
    expect(redactedIds(r.consequences).sort()).toEqual(["$earlier", "$img"]);
    expect(
      redactedIds(
        p2.handleRaw(text("later", { sender: SPAMMER, eventId: "$later" }), undefined, {}, T0 + 2)
          .consequences,
      ),
    ).toEqual(["$later"]);
  });

  it("a ban from a membership protection redacts the user's in-flight messages", () => {
    const config = configWith(
      enable("bad-names"),
      set("bad-names", "action", "ban"),
      set("bad-names", "namePatterns", ["spam"]),
    );
    const p = new ProtectionPipeline({ botUserId: BOT, protections: R, config });
    p.handleRaw(rawMember(SPAMMER, "join", { displayname: "ok" }), undefined, {}, T0);
    p.handleRaw(text("hello", { sender: SPAMMER, eventId: "$before" }), undefined, {}, T0 + 1);
    const r = p.handleRaw(
      rawMember(SPAMMER, "join", { prev: "join", displayname: "spam king", prevDisplayname: "ok" }),
      undefined,
      {},
      T0 + 2,
    );
    expect(r.consequences.map((c) => c.kind).sort()).toEqual(["ban", "redact"]);
    expect(
      redactedIds(
        p.handleRaw(text("x", { sender: SPAMMER, eventId: "$after" }), undefined, {}, T0 + 3).consequences,
      ),
    ).toEqual(["$after"]);
  });

  it("20 spammers × 25 messages at Synapse's default rate are cleaned up completely", () => {
    const p = new ProtectionPipeline({
      botUserId: BOT,
      protections: R,
      config: configWith(enable("flooding")),
    });
    const sent = new Set<string>();
    const redacted: string[] = [];
    // Synapse rc_message default: burst 10, then one message per 5 s.
    const schedule: { t: number; user: string; id: string }[] = [];
    for (let s = 0; s < 20; s++) {
      for (let m = 0; m < 25; m++) {
        const t = T0 + s * 37 + (m < 10 ? m * 50 : 500 + (m - 9) * 5000);
        schedule.push({ t, user: `@spammer${s}:evil.org`, id: `$sp${s}_${m}` });
      }
    }
    schedule.sort((a, b) => a.t - b.t);
    for (const e of schedule) {
      sent.add(e.id);
      redacted.push(
        ...redactedIds(
          p.handleRaw(text("JOIN t.me/scam", { sender: e.user, eventId: e.id }), undefined, {}, e.t)
            .consequences,
        ),
      );
    }
    expect(new Set(redacted).size).toBe(redacted.length);
    expect(new Set(redacted)).toEqual(sent);
  });
});

describe("timers and bounds", () => {
  it("tick lets join-wave restore the room", () => {
    const config = configWith(
      enable("join-wave"),
      set("join-wave", "maxJoins", 2),
      set("join-wave", "restoreAfter", "5m"),
    );
    const p = new ProtectionPipeline({ botUserId: BOT, protections: R, config });
    const out: Consequence[] = [];
    for (let i = 0; i < 3; i++)
      out.push(
        ...p.handleRaw(rawMember(`@j${i}:evil.org`, "join"), undefined, { joinRule: "public" }, T0 + i)
          .consequences,
      );
    expect(out.map((c) => c.kind)).toEqual(["setJoinRule", "notify"]);
    expect(p.tick(T0 + 60_000).consequences).toEqual([]);
    expect(p.tick(T0 + 6 * 60_000).consequences).toMatchObject([
      { kind: "setJoinRule", joinRule: "public" },
      { kind: "notify" },
    ]);
  });

  /** Room state as the sync router keeps it: member events with their join times. */
  function stateWith(...members: [user: string, membership: string, ts: number, prev?: string][]) {
    const cache = new RoomStateCache();
    for (const [user, membership, ts, prev] of members) {
      const ev = toStateEvent({ ...rawMember(user, membership, prev ? { prev } : {}), origin_server_ts: ts });
      cache.room(ROOM).set(ev!);
    }
    return cache;
  }

  it("a membership event without prev_content is not mistaken for a new join", () => {
    const config = configWith(enable("first-message"));
    const memberState = stateWith(["@old:x.org", "join", T0 - 86_400_000]);
    const p = new ProtectionPipeline({ botUserId: BOT, protections: R, config, memberState });
    const rename = rawMember("@old:x.org", "join", { displayname: "new name" });
    memberState.room(ROOM).set(toStateEvent(rename)!); // the router applies state before the timeline
    p.handleRaw(rename, undefined, {}, T0);
    expect(
      p.handleRaw(media("m.image", { sender: "@old:x.org" }), undefined, {}, T0 + 1).consequences,
    ).toEqual([]);
  });

  it("a new join without prev_content still counts as a join (join-wave)", () => {
    const config = configWith(enable("join-wave"), set("join-wave", "maxJoins", 2));
    const memberState = new RoomStateCache();
    const p = new ProtectionPipeline({ botUserId: BOT, protections: R, config, memberState });
    const kinds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const join = { ...rawMember(`@new${i}:x.org`, "join"), origin_server_ts: T0 + i };
      memberState.room(ROOM).set(toStateEvent(join)!);
      kinds.push(...p.handleRaw(join, undefined, {}, T0 + i).consequences.map((c) => c.kind));
    }
    expect(kinds).toContain("notify");
  });

  it("knows every member's join time from room state, however many members there are", () => {
    // The join-time store is bounded (here 2): members it never saw join live, or forgot, are
    // looked up in the room state, so a recent joiner is never taken for an old member.
    const config = configWith(enable("first-message"));
    const memberState = stateWith(
      ["@recent:x.org", "join", T0 - 60_000],
      ["@a:x.org", "join", T0 - 86_400_000],
      ["@b:x.org", "join", T0 - 86_400_000],
      ["@old:x.org", "join", T0 - 86_400_000],
    );
    const p = new ProtectionPipeline({
      botUserId: BOT,
      protections: R,
      config,
      memberState,
      limits: { members: 2 },
    });
    for (const u of ["@a:x.org", "@b:x.org"]) {
      const rejoin = { ...rawMember(u, "join", { prev: "leave" }), origin_server_ts: T0 - 1 };
      p.handleRaw(rejoin, undefined, {}, T0 - 1);
    }
    expect(p.stats().members).toBe(2);
    const redacted = (sender: string) =>
      redactedIds(p.handleRaw(media("m.image", { sender }), undefined, {}, T0).consequences).length;
    expect(redacted("@recent:x.org")).toBe(1);
    expect(redacted("@old:x.org")).toBe(0);
  });

  it("memory stays bounded under a wave of distinct users and rooms", () => {
    const config = configWith(...R.map((x) => enable(x.name)));
    const p = new ProtectionPipeline({
      botUserId: BOT,
      protections: R,
      config,
      limits: { rooms: 50, members: 1000, incidents: 100, redacted: 500, recentUsers: 200 },
    });
    for (let i = 0; i < 20_000; i++) {
      const room = `!r${i % 300}:x.org`;
      const user = `@u${i}:evil.org`;
      p.handleRaw(rawMember(user, "join", { room }), undefined, {}, T0 + i);
      p.handleRaw(media("m.image", { room, sender: user }), undefined, {}, T0 + i);
    }
    const s = p.stats();
    expect(s["rooms"]).toBeLessThanOrEqual(50);
    expect(s["members"]).toBeLessThanOrEqual(1000);
    expect(s["incidents"]).toBeLessThanOrEqual(100);
    expect(s["redacted"]).toBeLessThanOrEqual(500);
    expect(s["recent"]).toBeLessThanOrEqual(200);
  });
});
