import { describe, expect, it } from "vitest";
import { parseAccountModeration, restrictionRequest } from "../../../src/matrix/accountModeration.ts";
import { refusal } from "../../../src/consequences/guard.ts";
import type { AccountRestrictionKind, Consequence } from "../../../src/consequences/types.ts";

const none = { suspend: false, lock: false };
const both = { suspend: true, lock: true };

describe("account moderation requests", () => {
  it("uses the spec's v1 admin endpoints when the capability offers them", () => {
    expect(restrictionRequest(both, "suspend", "@s:hs", true)).toEqual({
      method: "PUT",
      path: "/_matrix/client/v1/admin/suspend/%40s%3Ahs",
      body: { suspended: true },
    });
    expect(restrictionRequest(both, "lock", "@s:hs", false)).toEqual({
      method: "PUT",
      path: "/_matrix/client/v1/admin/lock/%40s%3Ahs",
      body: { locked: false },
    });
  });

  it("falls back to Synapse's admin API per restriction, checking the account exists before a lock", () => {
    expect(restrictionRequest(none, "suspend", "@s:hs", false)).toEqual({
      method: "PUT",
      path: "/_synapse/admin/v1/suspend/%40s%3Ahs",
      body: { suspend: false },
    });
    const lock = restrictionRequest({ suspend: true, lock: false }, "lock", "@s:hs", true);
    expect(lock).toMatchObject({ path: "/_synapse/admin/v2/users/%40s%3Ahs", body: { locked: true } });
    expect(lock.mustExist).toBe(lock.path);
  });

  it("reads the capability, treating anything malformed as not offered", () => {
    expect(parseAccountModeration({ capabilities: { "m.account_moderation": { suspend: true } } })).toEqual({
      suspend: true,
      lock: false,
    });
    for (const bad of [null, {}, { capabilities: null }, { capabilities: { "m.account_moderation": "yes" } }])
      expect(parseAccountModeration(bad)).toEqual(none);
    expect(
      parseAccountModeration({ capabilities: { "m.account_moderation": { suspend: "true", lock: 1 } } }),
    ).toEqual(none);
  });
});

describe("the guard for account restrictions", () => {
  const ctx = { botUserId: "@tyr:hs", ownServer: "hs", moderators: new Set(["@mod:hs"]) };
  const c = (kind: AccountRestrictionKind, user: string): Consequence => ({
    kind,
    user,
    reason: "",
    cause: { by: "moderator", user: "@mod:hs", command: kind },
  });

  it("never suspends or locks Tyr, a moderator or another server's account", () => {
    for (const kind of ["suspend", "lock"] as const) {
      expect(refusal(c(kind, "@spam:hs"), ctx)).toBeUndefined();
      expect(refusal(c(kind, "@tyr:hs"), ctx)).toMatch(/Tyr itself/);
      expect(refusal(c(kind, "@mod:hs"), ctx)).toMatch(/management room/);
      expect(refusal(c(kind, "@spam:evil.org"), ctx)).toMatch(/not an account of Tyr's own homeserver/);
    }
  });

  it("lifts restrictions of any local account, never of a remote one", () => {
    for (const kind of ["unsuspend", "unlock"] as const) {
      expect(refusal(c(kind, "@mod:hs"), ctx)).toBeUndefined();
      expect(refusal(c(kind, "@spam:evil.org"), ctx)).toMatch(/not an account/);
    }
  });
});
