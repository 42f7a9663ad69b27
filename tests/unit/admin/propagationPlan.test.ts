import { describe, expect, it } from "vitest";
import {
  DISMISS_KEY,
  LIST_KEYS,
  choiceOf,
  handBan,
  propagationPrompt,
  type MembershipChange,
} from "../../../src/commands/propagationPlan.ts";

const facts = {
  me: "@tyr:hs",
  isProtected: true,
  joinedAt: 1_000,
  coveredByRule: (u: string) => u === "@listed:hs",
};
const ban = (over: Partial<MembershipChange> = {}): MembershipChange => ({
  stateKey: "@spam:evil.org",
  sender: "@mod:hs",
  content: { membership: "ban", reason: " spam links " },
  previous: "join",
  ts: 2_000,
  ...over,
});

describe("hand bans worth a prompt", () => {
  it("takes a new ban by someone else in a protected room, with its reason", () => {
    expect(handBan("!r", ban(), facts)).toEqual({
      room: "!r",
      target: "@spam:evil.org",
      by: "@mod:hs",
      reason: "spam links",
    });
    expect(handBan("!r", ban({ content: { membership: "ban" } }), facts)?.reason).toBe("");
  });

  it("ignores Tyr's own bans, covered users, unprotected rooms, repeats and other memberships", () => {
    expect(handBan("!r", ban({ sender: "@tyr:hs" }), facts)).toBeUndefined();
    expect(handBan("!r", ban({ stateKey: "@listed:hs" }), facts)).toBeUndefined();
    expect(handBan("!r", ban(), { ...facts, isProtected: false })).toBeUndefined();
    expect(handBan("!r", ban({ previous: "ban" }), facts)).toBeUndefined();
    expect(handBan("!r", ban({ content: { membership: "leave" } }), facts)).toBeUndefined();
    expect(handBan("!r", ban({ stateKey: "@tyr:hs" }), facts)).toBeUndefined();
  });

  it("ignores bans from before Tyr joined (the state of a room just protected), or when not joined", () => {
    expect(handBan("!r", ban({ ts: 1_000 }), facts)).toBeUndefined();
    expect(handBan("!r", ban({ ts: 999 }), facts)).toBeUndefined();
    expect(handBan("!r", ban(), { ...facts, joinedAt: undefined })).toBeUndefined();
  });
});

describe("the prompt", () => {
  const b = { room: "!r", target: "@spam:evil.org", by: "@mod:hs", reason: "spam" };
  const lists = Array.from({ length: 11 }, (_, i) => ({ list: `!l${i}`, label: `list${i}` }));

  it("offers one keycap per writable list (at most nine) plus ❌, and maps reactions back", () => {
    const p = propagationPrompt(b, "#room:hs", lists, "!tyr")!;
    expect(p.reactions).toEqual([...LIST_KEYS, DISMISS_KEY]);
    expect(p.body.text).toContain("`@mod:hs` banned `@spam:evil.org` in `#room:hs` (spam). Add to a list?");
    expect(p.body.text).toContain("!tyr ban list0 @spam:evil.org spam");
    expect(choiceOf("2️⃣", p.keys)).toEqual({ kind: "list", list: "!l1" });
    expect(choiceOf("2\u20E3", p.keys)).toEqual({ kind: "list", list: "!l1" }); // without U+FE0F
    expect(choiceOf("❌", p.keys)).toEqual({ kind: "dismiss" });
    expect(choiceOf("👍", p.keys)).toBeUndefined();
  });

  it("names the list when there is one, and has nothing to ask without a list", () => {
    expect(propagationPrompt(b, "!r", lists.slice(0, 1), "!tyr")!.body.text).toContain("Add to `list0`?");
    expect(propagationPrompt(b, "!r", [], "!tyr")).toBeUndefined();
  });

  it("escapes what users wrote in the HTML", () => {
    const p = propagationPrompt({ ...b, reason: "<b>x</b>" }, "!r", lists.slice(0, 1), "!tyr")!;
    expect(p.body.html).not.toContain("<b>x</b>");
  });
});
