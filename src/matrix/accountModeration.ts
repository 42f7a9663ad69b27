// Suspending and locking accounts of Tyr's own homeserver. Spec v1.18 (MSC4323) has admin
// endpoints for both, advertised by the `m.account_moderation` capability; servers without them
// (Synapse up to at least 1.163) offer their own admin API instead. Which request to make is a
// pure choice (`restrictionRequest`); `AccountModeration` asks the server once what it offers.
import type { TyrClient } from "./client.ts";

export type Restriction = "suspend" | "lock";

/** What `GET /capabilities` says about account moderation (absent = not offered). */
export interface AccountModerationCapability {
  readonly suspend: boolean;
  readonly lock: boolean;
}

export interface AdminRequest {
  readonly method: "GET" | "PUT";
  readonly path: string;
  readonly body?: Record<string, unknown>;
  /** Synapse's user-update endpoint creates missing accounts: check the account exists first. */
  readonly mustExist?: string;
}

const enc = encodeURIComponent;

/** Reads `m.account_moderation` from a capabilities response; anything malformed means "no". */
export function parseAccountModeration(caps: unknown): AccountModerationCapability {
  const c = (caps as { capabilities?: Record<string, unknown> } | null)?.capabilities?.[
    "m.account_moderation"
  ];
  const o = c && typeof c === "object" ? (c as Record<string, unknown>) : {};
  return { suspend: o.suspend === true, lock: o.lock === true };
}

/** The request that sets `restriction` on `user` to `on`. */
export function restrictionRequest(
  caps: AccountModerationCapability,
  restriction: Restriction,
  user: string,
  on: boolean,
): AdminRequest {
  if (caps[restriction]) {
    const field = restriction === "suspend" ? "suspended" : "locked";
    return {
      method: "PUT",
      path: `/_matrix/client/v1/admin/${restriction}/${enc(user)}`,
      body: { [field]: on },
    };
  }
  if (restriction === "suspend")
    return { method: "PUT", path: `/_synapse/admin/v1/suspend/${enc(user)}`, body: { suspend: on } };
  const path = `/_synapse/admin/v2/users/${enc(user)}`;
  return { method: "PUT", path, body: { locked: on }, mustExist: path };
}

export class AccountModeration {
  private readonly client: TyrClient;
  private caps: Promise<AccountModerationCapability> | undefined;

  constructor(client: TyrClient) {
    this.client = client;
  }

  /** Asked once per run; a failed request is asked again next time. */
  capability(): Promise<AccountModerationCapability> {
    this.caps ??= this.client
      .doRequest("GET", "/_matrix/client/v3/capabilities")
      .then(parseAccountModeration)
      .catch((e: unknown) => {
        this.caps = undefined;
        throw e;
      });
    return this.caps;
  }

  /** Whether `me` may suspend accounts: the capability says so, or Synapse calls it an admin. */
  async canSuspend(me: string): Promise<boolean> {
    try {
      if ((await this.capability()).suspend) return true;
      const res = (await this.client.doRequest("GET", `/_synapse/admin/v1/users/${enc(me)}/admin`)) as {
        admin?: unknown;
      };
      return res.admin === true;
    } catch {
      return false; // not an admin (403), or no Synapse admin API (404)
    }
  }

  async set(restriction: Restriction, user: string, on: boolean): Promise<void> {
    const req = restrictionRequest(await this.capability(), restriction, user, on);
    // A 404 here (M_NOT_FOUND) is the answer: no such account; nothing is created.
    if (req.mustExist !== undefined) await this.client.doRequest("GET", req.mustExist);
    await this.client.doRequest(req.method, req.path, null, req.body);
  }
}
