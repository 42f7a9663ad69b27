// "Log in with Matrix": the browser asks the moderator's own homeserver for an OpenID token
// (POST /_matrix/client/v3/user/{userId}/openid/request_token, with the moderator's access token,
// which stays in the browser) and hands Tyr only that short-lived token. Tyr asks the same
// homeserver who it belongs to (GET /_matrix/federation/v1/openid/userinfo, spec: OpenID). Tyr's
// own homeserver is reached at the configured homeserverUrl (as every other request of Tyr's);
// other servers through federation server-name resolution (src/federation/discovery.ts).
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { resolveServerName, type FederationTarget } from "../federation/discovery.ts";
import {
  getJson,
  httpsGetJson,
  networkLookups,
  HttpStatusError,
  KEY_FETCH_DEFAULTS,
  type KeyFetchOptions,
} from "../federation/keyFetch.ts";
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

/** TLS verification failures, as Node reports them (OpenSSL's codes and Node's own). */
const CERT_ERRORS =
  /CERT|SELF_SIGNED|UNABLE_TO_(GET_ISSUER|VERIFY)|ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL|EPROTO/;

/** Why asking `serverName` failed, in words for the login page; never the request (it holds the token). Pure. */
export function openIdFailure(e: unknown, serverName: string): string {
  if (e instanceof HttpStatusError)
    return e.status === 401 || e.status === 403 || e.status === 404
      ? `${serverName} refused the token (HTTP ${e.status}); it may be expired, log in again`
      : `${serverName} did not confirm the token (HTTP ${e.status}, redirects are not followed)`;
  const code = String((e as { code?: unknown } | null)?.code ?? "");
  const reach = `could not reach ${serverName}`;
  if (code === "ETIMEDOUT") return `${serverName} did not answer in time`;
  if (code === "ETOOLARGE") return `the answer of ${serverName} is too large`;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `${reach}: its name does not resolve`;
  if (code === "EPRIVATE")
    return `${reach}: it is on a private or loopback address (allowed only with dashboard.allowPrivateHomeservers)`;
  if (CERT_ERRORS.test(code)) return `${reach}: its TLS certificate is not trusted (${code})`;
  if (code === "ECONNREFUSED" || code === "ECONNRESET" || code === "EHOSTUNREACH")
    return `${reach} (${code}); check its federation port or .well-known`;
  return `could not ask ${serverName} about the token`;
}

/** Rejects with ETIMEDOUT when `p` takes longer than `ms`: resolution and request together. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error("late"), { code: "ETIMEDOUT" })), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Tyr's own homeserver as its configured URL says (http on loopback is allowed there). */
function ownTarget(homeserverUrl: string): { target: FederationTarget; prefix: string; https: boolean } {
  const u = new URL(homeserverUrl);
  const https = u.protocol === "https:";
  const host = u.hostname.replace(/^\[|\]$/g, "");
  return {
    target: { host, port: Number(u.port || (https ? 443 : 80)), hostHeader: u.host, tlsName: host },
    prefix: u.pathname.replace(/\/$/, ""),
    https,
  };
}

export function networkOpenIdVerifier(opts: {
  ownServer: string;
  homeserverUrl: string;
  /** Other homeservers may be at loopback or private addresses (dashboard.allowPrivateHomeservers). */
  allowPrivateAddresses: boolean;
  /**
   * The whole verification (resolution and request) ends within this: shorter than the HTTP
   * listener's request time, so the moderator gets a reason and not the listener's 503.
   */
  timeoutMs: number;
}): OpenIdVerifier {
  // Certificates are always verified: against the public roots plus homeserverCaFile (src/matrix/tls.ts).
  const fetchOpts: KeyFetchOptions = {
    maxBytes: KEY_FETCH_DEFAULTS.maxBytes,
    timeoutMs: opts.timeoutMs,
    allowPrivateAddresses: opts.allowPrivateAddresses,
    acceptSelfSigned: false,
  };
  // The same server-name resolution as the policy server's key fetches (src/federation/discovery.ts).
  const lookups = networkLookups(fetchOpts);
  const own = ownTarget(opts.homeserverUrl);
  // The admin configured this address: it may be loopback or private.
  const ownOpts: KeyFetchOptions = { ...fetchOpts, allowPrivateAddresses: true };
  const path = (token: string) =>
    `/_matrix/federation/v1/openid/userinfo?access_token=${encodeURIComponent(token)}`;
  const ask = async (token: string, serverName: string): Promise<unknown> => {
    if (serverName.toLowerCase() === opts.ownServer.toLowerCase())
      return getJson(own.target, own.prefix + path(token), ownOpts, own.https ? httpsRequest : httpRequest);
    return httpsGetJson(await resolveServerName(serverName, lookups), path(token), fetchOpts);
  };
  return {
    async verify(token, serverName) {
      if (!plausibleOpenIdToken(token)) return { ok: false, error: "that is not an OpenID token" };
      if (!isValidServerName(serverName)) return { ok: false, error: "that is not a server name" };
      let body: unknown;
      try {
        // Bounded as a whole: a well-known fetch, DNS and the request could each take the limit.
        body = await within(ask(token, serverName), opts.timeoutMs);
      } catch (e) {
        return { ok: false, error: openIdFailure(e, serverName) };
      }
      return userFromUserinfo(body, serverName);
    },
  };
}
