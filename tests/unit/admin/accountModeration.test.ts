import { describe, expect, it } from "vitest";
import {
  AccountModeration,
  parseAccountModeration,
  restrictionRequest,
} from "../../../src/matrix/accountModeration.ts";
import type { TyrClient } from "../../../src/matrix/client.ts";
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

/** A client that records requests and answers from a table (a thrown value for errors). */
function fakeClient(answers: Record<string, unknown>): { client: TyrClient; calls: string[] } {
  const calls: string[] = [];
  const client = {
    doRequest: async (method: string, path: string, _qs: unknown, body: unknown) => {
      calls.push(`${method} ${path}${body ? ` ${JSON.stringify(body)}` : ""}`);
      const a = answers[`${method} ${path}`];
      if (a instanceof Error) throw a;
      return a ?? {};
    },
  } as unknown as TyrClient;
  return { client, calls };
}

describe("AccountModeration", () => {
  const caps = (c: object) => ({ "GET /_matrix/client/v3/capabilities": { capabilities: c } });

  it("asks the capability once, then uses the spec endpoint", async () => {
    const { client, calls } = fakeClient(caps({ "m.account_moderation": { suspend: true, lock: true } }));
    const m = new AccountModeration(client);
    await m.set("suspend", "@s:hs", true);
    await m.set("lock", "@s:hs", false);
    expect(calls).toEqual([
      "GET /_matrix/client/v3/capabilities",
      'PUT /_matrix/client/v1/admin/suspend/%40s%3Ahs {"suspended":true}',
      'PUT /_matrix/client/v1/admin/lock/%40s%3Ahs {"locked":false}',
    ]);
  });

  it("never creates an account by locking a name nobody has", async () => {
    const missing = Object.assign(new Error("not found"), { errcode: "M_NOT_FOUND" });
    const { client, calls } = fakeClient({ ...caps({}), "GET /_synapse/admin/v2/users/%40x%3Ahs": missing });
    await expect(new AccountModeration(client).set("lock", "@x:hs", true)).rejects.toMatchObject({
      errcode: "M_NOT_FOUND",
    });
    expect(calls.filter((c) => c.startsWith("PUT"))).toEqual([]);
  });

  it("tells whether Tyr may suspend: by capability, else by Synapse's admin flag", async () => {
    const me = "GET /_synapse/admin/v1/users/%40tyr%3Ahs/admin";
    const forbidden = Object.assign(new Error("no"), { errcode: "M_FORBIDDEN" });
    const can = (answers: Record<string, unknown>) =>
      new AccountModeration(fakeClient(answers).client).canSuspend("@tyr:hs");
    expect(await can(caps({ "m.account_moderation": { suspend: true } }))).toBe(true);
    expect(await can({ ...caps({}), [me]: { admin: true } })).toBe(true);
    expect(await can({ ...caps({}), [me]: { admin: false } })).toBe(false);
    expect(await can({ ...caps({}), [me]: forbidden })).toBe(false);
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
