// Policy server bookkeeping: per room and requesting server for the last hour only, refusals
// summarised once and reset, and key fetches allowed only for servers with members in the rooms.
import { describe, expect, it } from "vitest";
import { OTHER_SERVERS, PolicyServerStats } from "../../../src/policyserver/stats.ts";
import { serversOfRooms } from "../../../src/policyserver/feature.ts";

const T = 1_800_000_000_000;
const MIN = 60_000;

describe("PolicyServerStats", () => {
  it("counts requests per room and server for the last hour, most requests first", () => {
    const s = new PolicyServerStats();
    s.request("!a:x", "one.example", false, T);
    s.request("!a:x", "two.example", true, T + MIN);
    s.request("!a:x", "two.example", false, T + 2 * MIN);
    s.request("!b:x", "one.example", false, T);
    expect(s.lastHour("!a:x", T + 2 * MIN)).toEqual({
      requests: 3,
      refused: 1,
      byServer: [
        ["two.example", { requests: 2, refused: 1 }],
        ["one.example", { requests: 1, refused: 0 }],
      ],
    });
    // An hour later the first minute no longer counts.
    expect(s.lastHour("!a:x", T + 60 * MIN).requests).toBe(2);
    expect(s.lastHour("!a:x", T + 63 * MIN).requests).toBe(0);
  });

  it("bounds the servers remembered per room and minute", () => {
    const s = new PolicyServerStats();
    for (let i = 0; i < 250; i++) s.request("!a:x", `s${i}.example`, false, T);
    const h = s.lastHour("!a:x", T);
    expect(h.requests).toBe(250);
    expect(h.byServer.length).toBe(201);
    expect(h.byServer[0]).toEqual([OTHER_SERVERS, { requests: 50, refused: 0 }]);
  });

  it("summarises refusals once, dry-run apart, then resets", () => {
    const s = new PolicyServerStats();
    expect(s.takeSummary("10m", "!tyr log")).toBeNull();
    s.refusal("@spam:x", false);
    s.refusal("@spam:x", false);
    s.refusal("@other:x", true);
    expect(s.takeSummary("10m", "!tyr log")).toBe(
      "Policy server: refused to sign 2 events; would have refused 1 (dry run: signed) in the last 10m. Most refused: @spam:x (2), @other:x (1). Details: !tyr log",
    );
    expect(s.takeSummary("10m", "!tyr log")).toBeNull();
  });

  it("keeps the last error per room", () => {
    const s = new PolicyServerStats();
    s.error("!a:x", "first", T);
    s.error("!a:x", "second", T + 1);
    expect(s.lastError("!a:x")).toEqual({ at: T + 1, text: "second" });
    expect(s.lastError("!b:x")).toBeUndefined();
  });
});

describe("serversOfRooms", () => {
  it("is the servers of joined members and of pre-v12 room IDs, nothing else", () => {
    const members: Record<string, string[]> = {
      "!old:origin.example": ["@a:one.example", "@b:two.example:8448"],
      "!v12roomidwithoutserver": ["@c:three.example"],
    };
    expect(serversOfRooms(Object.keys(members), (r) => members[r] ?? [])).toEqual(
      new Set(["origin.example", "one.example", "two.example:8448", "three.example"]),
    );
  });
});
