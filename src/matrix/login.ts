// Getting a working access token: the configured one, or a password login whose token (and
// device ID, which end-to-end encryption needs to stay stable) is cached 0600 in the data folder.
import { join } from "node:path";
import type { Credentials } from "../config/load.ts";
import type { Logger } from "../logging.ts";
import { readJsonFile, writeFileAtomic } from "../store/files.ts";
import { HttpTransport } from "./http.ts";
import { describeError } from "./sync.ts";

export interface Session {
  userId: string;
  deviceId: string;
  accessToken: string;
}

export class LoginError extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function transientNetworkError(e: unknown): boolean {
  const err = e as { statusCode?: number; name?: string };
  return err.statusCode === undefined || err.statusCode >= 500 || err.name === "TimeoutError";
}

/** Retries while the homeserver is unreachable (backoff up to 30 s); fails fast on auth errors. */
async function withStartupRetry<T>(
  what: string,
  log: Logger,
  fn: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!transientNetworkError(e) || signal?.aborted) throw e;
      const delay = Math.min(30_000, 1_000 * 2 ** Math.min(attempt - 1, 5));
      log.warn(
        { attempt, retryInMs: delay, error: describeError(e) },
        `${what}: homeserver not reachable, retrying`,
      );
      await sleep(delay);
    }
  }
}

export async function establishSession(opts: {
  homeserverUrl: string;
  credentials: Credentials;
  dataPath: string;
  log: Logger;
  signal?: AbortSignal;
  /** Device to log in as when nothing is cached (the crypto store's device keeps its identity). */
  preferredDeviceId?: string;
}): Promise<Session> {
  const { log } = opts;
  const http = new HttpTransport({ baseUrl: opts.homeserverUrl, log });
  const cacheFile = join(opts.dataPath, "session.json");

  const whoami = async (token: string) =>
    (await http.request("GET", "/_matrix/client/v3/account/whoami", { accessToken: token })) as {
      user_id: string;
      device_id?: string;
    };

  const check = async (token: string): Promise<Session | undefined> => {
    try {
      const me = await withStartupRetry("checking the access token", log, () => whoami(token), opts.signal);
      return { userId: me.user_id, deviceId: me.device_id ?? "", accessToken: token };
    } catch (e) {
      if ((e as { errcode?: string }).errcode === "M_UNKNOWN_TOKEN") return undefined;
      throw e;
    }
  };

  if (opts.credentials.kind === "token") {
    const s = await check(opts.credentials.accessToken);
    if (!s)
      throw new LoginError(
        "the homeserver rejected the access token (M_UNKNOWN_TOKEN): create a new one and update accessToken",
      );
    return s;
  }

  const { username, password } = opts.credentials;
  let cached: Partial<Session> | undefined;
  try {
    cached = readJsonFile(cacheFile) as Partial<Session> | undefined;
  } catch {
    cached = undefined;
  }
  if (cached?.accessToken) {
    const s = await check(cached.accessToken);
    if (s) return s;
    log.info("cached access token no longer valid; logging in again");
  }
  const body: Record<string, unknown> = {
    type: "m.login.password",
    identifier: { type: "m.id.user", user: username },
    password,
    initial_device_display_name: "Tyr moderation bot",
  };
  // Re-using the device ID keeps the same end-to-end encryption identity across logins.
  const deviceId = cached?.deviceId ?? opts.preferredDeviceId;
  if (deviceId) body.device_id = deviceId;
  let res: { user_id: string; access_token: string; device_id: string };
  try {
    res = (await withStartupRetry(
      "logging in",
      log,
      () => http.request("POST", "/_matrix/client/v3/login", { body }),
      opts.signal,
    )) as typeof res;
  } catch (e) {
    if ((e as { errcode?: string }).errcode === "M_FORBIDDEN") {
      throw new LoginError(`login as ${username} failed: wrong user name or password`);
    }
    throw e;
  }
  const session: Session = { userId: res.user_id, deviceId: res.device_id, accessToken: res.access_token };
  writeFileAtomic(cacheFile, JSON.stringify(session), { secret: true });
  log.info(
    { userId: session.userId, deviceId: session.deviceId },
    "logged in with password; token cached in the data folder",
  );
  return session;
}
