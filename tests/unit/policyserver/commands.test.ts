// `policyserver enable|disable|status` through the command shell, over an in-memory bot: what
// the moderator is told when the feature is off or the room is not protected, the preview before
// the ✅, and the per-room status.
import { describe, expect, it } from "vitest";
import { policyServerCommands } from "../../../src/commands/policyserver.ts";
import { signingKeyFromSeed } from "../../../src/federation/ed25519.ts";
import type { PolicyServerFeature } from "../../../src/policyserver/feature.ts";
import { PolicyServerStats } from "../../../src/policyserver/stats.ts";
import type { PolicyFeature } from "../../../src/policy/feature.ts";
import type { Services } from "../../../src/services.ts";
import { MGMT, handlerHarness } from "../commands/handlerHarness.ts";

const key = signingKeyFromSeed(new Uint8Array(32).fill(3), "policy_server");

function withFeature(
  protectedRooms: string[],
  stats = new PolicyServerStats(),
  serverName = "example.org",
): Partial<Services> {
  const feature = {
    serverName,
    key,
    stats,
    namesTyr: () => false,
  } as unknown as PolicyServerFeature;
  const policy = { protectedRooms: new Set(protectedRooms) } as unknown as PolicyFeature;
  return { policyServer: feature, policy };
}

describe("policyserver commands", () => {
  it("say how to turn the feature on when it is off", async () => {
    const h = handlerHarness({ commands: policyServerCommands });
    await h.say("!tyr policyserver status");
    expect(h.replies.join("\n")).toMatch(/policy server is off: set policyServer\.enabled: true/);
  });

  it("refuse a room that is not protected, saying how to protect it", async () => {
    const h = handlerHarness({ commands: policyServerCommands, services: withFeature([]) });
    await h.say("!tyr policyserver enable !elsewhere:example.org");
    expect(h.replies.join("\n")).toMatch(/is not a protected room: protect it first/);
  });

  it("preview what enable sends and wait for the ✅", async () => {
    const h = handlerHarness({ commands: policyServerCommands, services: withFeature([MGMT]) });
    await h.say(`!tyr policyserver enable ${MGMT}`);
    const text = h.replies.join("\n");
    expect(text).toMatch(/Make Tyr the policy server of/);
    expect(text).toContain(`"via":"example.org","public_keys":{"ed25519":"${key.publicKeyBase64}"}`);
    expect(text).toMatch(/nobody can post until Tyr is back or the policy server is removed/);
    expect(text).toMatch(/React with ✅/);
    expect(text).not.toMatch(/no member of/); // Tyr (@tyr:example.org) is joined
    // A `via` with nobody in the room: Synapse would ignore it, so the preview warns.
    const other = handlerHarness({
      commands: policyServerCommands,
      services: withFeature([MGMT], new PolicyServerStats(), "elsewhere.example"),
    });
    await other.say(`!tyr policyserver enable ${MGMT}`);
    expect(other.replies.join("\n")).toMatch(/no member of `elsewhere\.example` is joined/);
  });

  it("say which power Tyr lacks to send m.room.policy, and send nothing", async () => {
    const h = handlerHarness({
      commands: policyServerCommands,
      services: withFeature([MGMT]),
      powerLevels: { users: { "@mod:example.org": 100, "@tyr:example.org": 50 }, state_default: 100 },
    });
    await h.say(`!tyr policyserver enable ${MGMT}`);
    expect(h.replies.join("\n")).toMatch(
      /Tyr cannot send `m\.room\.policy` in .*: it needs power level 100 and has 50\. Raise Tyr's power level/,
    );
    expect(h.replies.join("\n")).not.toMatch(/React with ✅/);
  });

  it("status shows per room the state, requests by server, refusals and the last error", async () => {
    const stats = new PolicyServerStats();
    const now = Date.now();
    stats.request(MGMT, "remote.example", false, now);
    stats.request(MGMT, "remote.example", true, now);
    stats.error(MGMT, "400 to remote.example: unsupported room version", now);
    const h = handlerHarness({ commands: policyServerCommands, services: withFeature([MGMT], stats) });
    await h.say("!tyr policyserver status");
    const text = h.replies.join("\n");
    expect(text).toMatch(/m\.room\.policy not set · 2 sign requests in the last hour, 1 refused/);
    expect(text).toMatch(/remote\.example 2 \(1 refused\)/);
    expect(text).toMatch(/Last error .*unsupported room version/);
  });
});
