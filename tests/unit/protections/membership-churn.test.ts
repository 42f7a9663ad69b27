import { describe, expect, it } from "vitest";
import { membershipChurn } from "../../../src/protections/builtin/membership-churn.ts";
import { Harness, kinds, rawMember } from "./helpers.ts";

const U = "@churner:evil.org";
const cycle = (h: Harness, user = U) => {
  h.advance(5000);
  const out = h.feed(rawMember(user, "join", { prev: "leave" }));
  h.advance(5000);
  h.feed(rawMember(user, "leave", { prev: "join" }));
  return out;
};

describe("membership-churn", () => {
  it("a few rejoins are fine", () => {
    const h = new Harness(membershipChurn);
    expect([cycle(h), cycle(h), cycle(h)].flat()).toEqual([]);
  });

  it("kicks on the 4th join within 10 minutes, then bans when it happens again", () => {
    const h = new Harness(membershipChurn);
    const first = [cycle(h), cycle(h), cycle(h), cycle(h)];
    expect(first.map(kinds)).toEqual([[], [], [], ["kick"]]);
    const second = [cycle(h), cycle(h), cycle(h), cycle(h)];
    expect(second.map(kinds)).toEqual([[], [], [], ["ban"]]);
  });

  it("after repeatWindow a kick is forgotten", () => {
    const h = new Harness(membershipChurn, { repeatWindow: "1h" });
    for (let i = 0; i < 4; i++) cycle(h);
    h.advance(2 * 3_600_000);
    const again = [cycle(h), cycle(h), cycle(h), cycle(h)];
    expect(kinds(again.flat())).toEqual(["kick"]);
  });

  it("joins slower than the window never add up", () => {
    const h = new Harness(membershipChurn, { window: "10m" });
    for (let i = 0; i < 20; i++) {
      h.advance(4 * 60_000);
      expect(cycle(h)).toEqual([]);
    }
  });

  it("ignores membership changes made by others (invites, kicks) and profile changes", () => {
    const h = new Harness(membershipChurn, { maxJoins: 1 });
    for (let i = 0; i < 5; i++) {
      h.feed(rawMember(U, "invite", { sender: "@mod:x.org" }));
      h.feed(rawMember(U, "join", { prev: "join", displayname: `n${i}` }));
      h.feed(rawMember(U, "leave", { prev: "join", sender: "@mod:x.org" }));
    }
    expect(h.feed(rawMember(U, "join", { prev: "leave" }))).toEqual([]);
  });
});
