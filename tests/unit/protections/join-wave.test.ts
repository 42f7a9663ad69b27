import { describe, expect, it } from "vitest";
import { joinWave } from "../../../src/protections/builtin/join-wave.ts";
import { Harness, kinds, rawMember } from "./helpers.ts";

const joinN = (h: Harness, n: number, gapMs = 1000, prefix = "u") => {
  const out = [];
  for (let i = 0; i < n; i++) {
    h.advance(gapMs);
    out.push(...h.feed(rawMember(`@${prefix}${i}:evil.org`, "join", { prev: null })));
  }
  return out;
};

describe("join-wave", () => {
  it("normal growth (one join a minute) is fine", () => {
    const h = new Harness(joinWave);
    expect(joinN(h, 100, 60_000)).toEqual([]);
  });

  it("profile changes, leaves and invites don't count", () => {
    const h = new Harness(joinWave, { maxJoins: 2 });
    for (let i = 0; i < 10; i++) {
      h.feed(rawMember("@a:x.org", "join", { prev: "join", displayname: `A${i}` }));
      h.feed(rawMember(`@b${i}:x.org`, "leave", { prev: "join" }));
      h.feed(rawMember(`@c${i}:x.org`, "invite", { sender: "@mod:x.org" }));
    }
    expect(h.feed(rawMember("@d:x.org", "join"))).toEqual([]);
  });

  it("a raid closes the room, tells moderators once, and reopens it after the cool-down", () => {
    const h = new Harness(
      joinWave,
      { maxJoins: 5, window: "1m", restoreAfter: "10m" },
      { joinRule: "public" },
    );
    const out = joinN(h, 20, 500);
    expect(kinds(out)).toEqual(["setJoinRule", "notify"]);
    expect(out[0]).toMatchObject({ kind: "setJoinRule", joinRule: "invite" });
    expect(out[1]).toMatchObject({ kind: "notify" });
    expect((out[1] as { text: string }).text).toContain("reopened (public) in 10m");
    h.advance(5 * 60_000);
    expect(h.tick()).toEqual([]);
    h.advance(6 * 60_000);
    const restored = h.tick();
    expect(restored[0]).toMatchObject({ kind: "setJoinRule", joinRule: "public" });
    expect(h.tick()).toEqual([]); // only once
  });

  it("restores knock rooms to knock, and leaves restricted rooms to moderators", () => {
    const knock = new Harness(joinWave, { maxJoins: 1 }, { joinRule: "knock" });
    joinN(knock, 3);
    knock.advance(31 * 60_000);
    expect(knock.tick()[0]).toMatchObject({ joinRule: "knock" });

    const restricted = new Harness(joinWave, { maxJoins: 1 }, { joinRule: "restricted" });
    const out = joinN(restricted, 3);
    expect((out[1] as { text: string }).text).toContain("reopen it by hand");
    restricted.advance(86_400_000);
    expect(restricted.tick()).toEqual([]);
  });

  it("restoreAfter 0 never reopens, but the protection re-arms after the window", () => {
    const h = new Harness(joinWave, { maxJoins: 2, window: "1m", restoreAfter: "0" });
    expect(kinds(joinN(h, 3))).toEqual(["setJoinRule", "notify"]);
    h.advance(2 * 60_000);
    expect(h.tick()).toEqual([]);
    expect(kinds(joinN(h, 3, 1000, "v"))).toEqual(["setJoinRule", "notify"]);
  });
});
