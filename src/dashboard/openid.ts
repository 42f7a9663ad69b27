// "Log in with Matrix": the browser asks the moderator's own homeserver for an OpenID token
// (POST /_matrix/client/v3/user/{userId}/openid/request_token, with the moderator's access token,
// which stays in the browser) and hands Tyr only that short-lived token. Tyr asks the same
// homeserver who it belongs to (GET /_matrix/federation/v1/openid/userinfo, spec: OpenID). Tyr's
// own homeserver is reached at the configured homeserverUrl (as every other request of Tyr's);
// other servers through federation server-name resolution (src/federation/discovery.ts).
import { resolveServerName } from "../federation/discovery.ts";
import { httpsGetJson, networkLookups, KEY_FETCH_DEFAULTS } from "../federation/keyFetch.ts";
import { isValidServerName } from "../federation/serverName.ts";

export type OpenIdResult = { ok: true; user: string } | { ok: false; error: string };

/** The user an OpenID userinfo answer names, if it is a user of `serverName`. Pure. */
export function userFromUserinfo(body: unknown, serverName: string): OpenIdResult {
  const sub = (body as { sub?: unknown } | null)?.sub;
  if (typeof sub !== "string" || !/^@[^\s:]+:\S+$/.test(sub))
    return { ok: false, error: "the homeserver did not name a user for that token" };
  if (sub.slice(sub.indexOf(":") + 1).toLowerCase() !== serverName.toLowerCase())
    return { ok: false, error: "the homeserver named a user of another server" };
  return { ok: true, user: sub };
}

/** An OpenID access token as homeservers issue them (opaque, URL-safe, bounded). */
export function plausibleOpenIdToken(s: unknown): s is string {
  return typeof s === "string" && /^[A-Za-z0-9._~+/=-]{8,512}$/.test(s);
}

export interface OpenIdVerifier {
  verify(token: string, serverName: string): Promise<OpenIdResult>;
}

export function networkOpenIdVerifier(opts: {
  ownServer: string;
  homeserverUrl: string;
  /** Test only: reach other servers on loopback with self-signed certificates. */
  insecure: boolean;
}): OpenIdVerifier {
  const fetchOpts = {
    ...KEY_FETCH_DEFAULTS,
    allowPrivateAddresses: opts.insecure,
    acceptSelfSigned: opts.insecure,
  };
  const lookups = networkLookups(fetchOpts);
  const path = (token: string) =>
    `/_matrix/federation/v1/openid/userinfo?access_token=${encodeURIComponent(token)}`;
  return {
    async verify(token, serverName) {
      if (!plausibleOpenIdToken(token)) return { ok: false, error: "that is not an OpenID token" };
      if (!isValidServerName(serverName)) return { ok: false, error: "that is not a server name" };
      let body: unknown;
      try {
        if (serverName.toLowerCase() === opts.ownServer.toLowerCase()) {
          const res = await fetch(`${opts.homeserverUrl.replace(/\/$/, "")}${path(token)}`, {
            signal: AbortSignal.timeout(fetchOpts.timeoutMs),
          });
          if (!res.ok) return { ok: false, error: `the homeserver refused the token (HTTP ${res.status})` };
          body = await res.json();
        } else {
          body = await httpsGetJson(await resolveServerName(serverName, lookups), path(token), fetchOpts);
        }
      } catch {
        // The error text would carry the request path, and with it the token: say less.
        return { ok: false, error: `could not ask ${serverName} about the token` };
      }
      return userFromUserinfo(body, serverName);
    },
  };
}
