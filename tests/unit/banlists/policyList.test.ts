import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import {
  applyRedaction,
  applyStateEvent,
  applyStateEvents,
  diffRevisions,
  emptyRevision,
  fromState,
  isEmptyDiff,
  redactedStateEvent,
  sameRule,
  type PolicyListRevision,
} from "../../../src/banlists/policyList.ts";
import type { Rule } from "../../../src/banlists/rule.ts";

// Property tests run thousands of cases; shared CI machines can be slow.
vi.setConfig({ testTimeout: 60_000 });

const ROOM = "!list:example.org";
let n = 0;
const rule = (
  type: string,
  stateKey: string,
  entity: string | null,
  recommendation = "m.ban",
  reason?: string,
): Record<string, unknown> => ({
  type,
  state_key: stateKey,
  event_id: `$ev${++n}`,
  sender: "@mod:example.org",
  content: entity === null ? {} : { entity, recommendation, ...(reason ? { reason } : {}) },
});

const entities = (rev: PolicyListRevision) => [...rev.rules()].map((r) => r.entity).sort();

describe("fromState", () => {
  it("reads every kind and skips non-policy state", () => {
    const { revision, diff, rejected } = fromState(ROOM, [
      { type: "m.room.create", state_key: "", content: {} },
      { type: "m.room.member", state_key: "@a:b", content: { membership: "join" } },
      rule("m.policy.rule.user", "u1", "@spam:evil.org"),
      rule("m.policy.rule.room", "r1", "#spam:evil.org"),
      rule("m.policy.rule.server", "s1", "evil.org"),
      rule("m.policy.rule.user", "bad", "@x:y", "m.nope"),
    ]);
    expect(revision.size).toBe(3);
    expect(revision.count("user")).toBe(1);
    expect(revision.count("room")).toBe(1);
    expect(revision.count("server")).toBe(1);
    expect(diff.added).toHaveLength(3);
    expect(rejected).toEqual([
      {
        eventType: "m.policy.rule.user",
        stateKey: "bad",
        eventId: expect.any(String),
        reason: expect.stringMatching(/recommendation/),
      },
    ]);
    expect(revision.get("user", "u1")?.entity).toBe("@spam:evil.org");
    expect(revision.get("server", "u1")).toBeUndefined();
    expect(revision.roomId).toBe(ROOM);
  });

  it("rejects events that claim another room", () => {
    const e = { ...rule("m.policy.rule.user", "u1", "@a:b"), room_id: "!other:x" };
    const { revision, rejected } = fromState(ROOM, [e]);
    expect(revision.size).toBe(0);
    expect(rejected[0]?.reason).toMatch(/another room/);
  });
});

describe("type precedence for the same state key", () => {
  const types = ["org.matrix.mjolnir.rule.user", "m.room.rule.user", "m.policy.rule.user"];
  it("the newest type wins whatever the order of arrival", () => {
    const perms = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
    ];
    for (const p of perms) {
      const events = p.map((g) => rule(types[g] as string, "k", `@gen${g}:x`));
      const { revision } = fromState(ROOM, events);
      expect(revision.size).toBe(1);
      expect(revision.get("user", "k")?.entity).toBe("@gen2:x");
      expect(revision.variants("user", "k").map((r) => r.entity)).toEqual(["@gen2:x", "@gen1:x", "@gen0:x"]);
    }
  });

  it("an invalid or removed newer rule falls back to the older valid one", () => {
    let rev = fromState(ROOM, [
      rule(types[0] as string, "k", "@old:x"),
      rule(types[2] as string, "k", "@new:x"),
    ]).revision;
    const r1 = applyStateEvent(rev, rule(types[2] as string, "k", "@x:y", "m.unknown"));
    expect(r1.diff.modified).toHaveLength(1);
    expect(r1.diff.modified[0]?.previous.entity).toBe("@new:x");
    expect(r1.diff.modified[0]?.current.entity).toBe("@old:x");
    rev = r1.revision;
    const r2 = applyStateEvent(rev, rule(types[0] as string, "k", null));
    expect(r2.diff.removed.map((r) => r.entity)).toEqual(["@old:x"]);
    expect(r2.revision.size).toBe(0);
  });

  it("an older type does not override a newer one", () => {
    const rev = fromState(ROOM, [rule(types[2] as string, "k", "@new:x")]).revision;
    const r = applyStateEvent(rev, rule(types[1] as string, "k", "@mid:x"));
    expect(isEmptyDiff(r.diff)).toBe(true);
    expect(r.revision.get("user", "k")?.entity).toBe("@new:x");
    expect(r.revision).not.toBe(rev); // state changed underneath (variant stored)
  });

  it("kinds with the same state key are independent", () => {
    const rev = fromState(ROOM, [
      rule("m.policy.rule.user", "k", "@a:x"),
      rule("m.policy.rule.server", "k", "x"),
    ]).revision;
    expect(rev.size).toBe(2);
  });
});

describe("revisions and diffs", () => {
  it("add, modify, remove; old revisions never change", () => {
    const r0 = emptyRevision(ROOM);
    const a = applyStateEvent(r0, rule("m.policy.rule.user", "k", "@a:x"));
    expect(a.diff.added.map((r) => r.entity)).toEqual(["@a:x"]);
    const b = applyStateEvent(
      a.revision,
      rule("m.policy.rule.user", "k", "@b:x", "m.ban", "now with reason"),
    );
    expect(b.diff.modified).toHaveLength(1);
    expect(b.diff.modified[0]?.current.reason).toBe("now with reason");
    const c = applyStateEvent(b.revision, rule("m.policy.rule.user", "k", null));
    expect(c.diff.removed.map((r) => r.entity)).toEqual(["@b:x"]);
    expect(entities(r0)).toEqual([]);
    expect(entities(a.revision)).toEqual(["@a:x"]);
    expect(entities(b.revision)).toEqual(["@b:x"]);
    expect(entities(c.revision)).toEqual([]);
    expect([a.revision.revisionId, b.revision.revisionId, c.revision.revisionId]).toEqual([1, 2, 3]);
  });

  it("removing an absent rule or a non-policy event changes nothing", () => {
    const r0 = emptyRevision(ROOM);
    const r = applyStateEvent(r0, rule("m.policy.rule.user", "nothing", null));
    expect(r.revision).toBe(r0);
    expect(isEmptyDiff(r.diff)).toBe(true);
    expect(
      applyStateEvent(r0, { type: "m.room.topic", state_key: "", content: { topic: "x" } }).revision,
    ).toBe(r0);
  });

  it("a batch reports the net diff", () => {
    const base = fromState(ROOM, [
      rule("m.policy.rule.user", "keep", "@keep:x"),
      rule("m.policy.rule.user", "gone", "@gone:x"),
    ]).revision;
    const r = applyStateEvents(base, [
      rule("m.policy.rule.user", "tmp", "@tmp:x"),
      rule("m.policy.rule.user", "tmp", null),
      rule("m.policy.rule.user", "gone", null),
      rule("m.policy.rule.user", "new", "@new:x"),
      rule("m.policy.rule.user", "keep", "@keep2:x"),
      rule("m.policy.rule.user", "keep", "@keep3:x"),
    ]);
    expect(r.diff.added.map((x) => x.entity)).toEqual(["@new:x"]);
    expect(r.diff.removed.map((x) => x.entity)).toEqual(["@gone:x"]);
    expect(r.diff.modified.map((m) => [m.previous.entity, m.current.entity])).toEqual([
      ["@keep:x", "@keep3:x"],
    ]);
  });

  it("floods of thousands of changes are cheap and share structure", () => {
    let rev = fromState(
      ROOM,
      Array.from({ length: 50_000 }, (_, i) => rule("m.policy.rule.user", `k${i}`, `@u${i}:x`)),
    ).revision;
    expect(rev.size).toBe(50_000);
    const t0 = performance.now();
    const kept: PolicyListRevision[] = [];
    for (let i = 0; i < 5_000; i++) {
      const r = applyStateEvent(
        rev,
        rule("m.policy.rule.user", `k${i * 7}`, i % 2 ? null : `@changed${i}:x`),
      );
      rev = r.revision;
      if (i % 1000 === 0) kept.push(rev);
    }
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(1_500); // ~0.3 ms per event even on a slow machine; a full copy would be ~5 s
    expect(rev.size).toBe(50_000 - 2_500);
    expect(kept[0]?.size).toBe(50_000);
    expect(kept[0]?.get("user", "k0")?.entity).toBe("@changed0:x");
  });
});

describe("redaction", () => {
  it("redacting the current event removes the rule; a superseded event does nothing", () => {
    const first = rule("m.policy.rule.user", "k", "@a:x");
    const second = rule("m.policy.rule.user", "k", "@b:x");
    const rev = fromState(ROOM, [first, second]).revision;
    const stale = applyRedaction(rev, first["event_id"] as string);
    expect(stale.revision).toBe(rev);
    expect(isEmptyDiff(stale.diff)).toBe(true);
    const r = applyRedaction(rev, second["event_id"] as string);
    expect(r.diff.removed.map((x) => x.entity)).toEqual(["@b:x"]);
    expect(r.revision.ruleForEvent(second["event_id"] as string)).toBeUndefined();
    expect(applyRedaction(rev, "$unknown").revision).toBe(rev);
  });

  it("redactedStateEvent empties the content and keeps the rest", () => {
    const e = rule("m.policy.rule.user", "k", "@a:x");
    const red = redactedStateEvent(e);
    expect(red.content).toEqual({});
    expect(red["state_key"]).toBe("k");
    expect(applyStateEvent(fromState(ROOM, [e]).revision, red).diff.removed).toHaveLength(1);
  });

  it("redacting a newer type reveals the older type", () => {
    const old = rule("m.room.rule.user", "k", "@old:x");
    const neu = rule("m.policy.rule.user", "k", "@new:x");
    const rev = fromState(ROOM, [old, neu]).revision;
    const r = applyRedaction(rev, neu["event_id"] as string);
    expect(r.diff.modified[0]?.current.entity).toBe("@old:x");
  });
});

describe("diffRevisions", () => {
  it("matches the diff of applying the same events, and is empty for a reload", () => {
    const events = [rule("m.policy.rule.user", "a", "@a:x"), rule("m.policy.rule.user", "b", "@b:x")];
    const before = fromState(ROOM, events).revision;
    const reload = fromState(ROOM, events).revision;
    expect(isEmptyDiff(diffRevisions(before, reload))).toBe(true);
    const after = fromState(ROOM, [
      events[0],
      rule("m.policy.rule.user", "c", "@c:x"),
      rule("m.policy.rule.user", "b", "@b2:x"),
    ]).revision;
    const d = diffRevisions(before, after);
    expect(d.added.map((r) => r.entity)).toEqual(["@c:x"]);
    expect(d.modified.map((m) => m.current.entity)).toEqual(["@b2:x"]);
    expect(d.removed).toEqual([]);
    const back = diffRevisions(after, before);
    expect(back.removed.map((r) => r.entity)).toEqual(["@c:x"]);
  });
});

describe("property: a revision equals a fold over a plain Map", () => {
  const types = [
    "org.matrix.mjolnir.rule.user",
    "m.room.rule.user",
    "m.policy.rule.user",
    "m.policy.rule.server",
  ];
  const eventArb = fc.record({
    type: fc.integer({ min: 0, max: 3 }),
    key: fc.integer({ min: 0, max: 15 }),
    value: fc.option(fc.integer({ min: 0, max: 5 }), { nil: null }),
  });
  it("random event sequences", () => {
    fc.assert(
      fc.property(fc.array(fc.array(eventArb, { maxLength: 8 }), { maxLength: 30 }), (batches) => {
        // Reference: latest content per (type, key); effective = newest type with content.
        const state = new Map<string, number | null>();
        let rev = emptyRevision(ROOM);
        const live = new Map<string, Rule>();
        for (const batch of batches) {
          const events = batch.map((e) => {
            const type = types[e.type] as string;
            const kind = type.endsWith("server") ? "server" : "user";
            const entity = kind === "user" ? `@v${e.value}:x` : `v${e.value}.x`;
            state.set(`${e.type}|${e.key}`, e.value);
            return rule(type, `k${e.key}`, e.value === null ? null : entity);
          });
          const r = applyStateEvents(rev, events);
          for (const x of r.diff.removed) expect(live.delete(`${x.kind}|${x.stateKey}`)).toBe(true);
          for (const m of r.diff.modified) {
            expect(live.get(`${m.previous.kind}|${m.previous.stateKey}`)).toBe(m.previous);
            live.set(`${m.current.kind}|${m.current.stateKey}`, m.current);
          }
          for (const x of r.diff.added) {
            expect(live.has(`${x.kind}|${x.stateKey}`)).toBe(false);
            live.set(`${x.kind}|${x.stateKey}`, x);
          }
          rev = r.revision;
        }
        const expected = new Map<string, string>();
        for (let key = 0; key < 16; key++) {
          for (const g of [2, 1, 0]) {
            const v = state.get(`${g}|${key}`);
            if (v !== undefined && v !== null) {
              expected.set(`user|k${key}`, `@v${v}:x`);
              break;
            }
          }
          const s = state.get(`3|${key}`);
          if (s !== undefined && s !== null) expected.set(`server|k${key}`, `v${s}.x`);
        }
        const actual = new Map([...rev.rules()].map((r) => [`${r.kind}|${r.stateKey}`, r.entity as string]));
        expect(actual).toEqual(expected);
        expect(new Map([...live].map(([k, r]) => [k, r.entity]))).toEqual(expected);
        expect(rev.size).toBe(expected.size);
        for (const r of rev.rules()) expect(sameRule(r, rev.get(r.kind, r.stateKey) as Rule)).toBe(true);
      }),
      { numRuns: 1_000 },
    );
  });
});
