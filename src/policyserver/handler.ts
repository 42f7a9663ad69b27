// The policy server's routes on Tyr's HTTP listener: `POST /_matrix/policy/v1/sign` and the
// unstable MSC4284 path (Synapse falls back to it), authenticated with the federation X-Matrix
// signature (src/federation/requestAuth.ts), limited per requesting server, and answered by
// `answerSignRequest` from in-memory state only. The one network call a request can cause is the
// fetch of the requesting server's keys on a cache miss: that is authentication, not the decision.
import type { Auth, AuthResult } from "../http/auth.ts";
import { LogLimiter } from "../http/logLimiter.ts";
import { matrixError, type HttpRequest, type HttpResponse, type Route } from "../http/types.ts";
import type { ServerKeyCache } from "../federation/keyCache.ts";
import { authenticateRequest } from "../federation/requestAuth.ts";
import {
  SIGN_PATH,
  UNSTABLE_SIGN_PATH,
  answerSignRequest,
  type SignAnswer,
  type SignRequestContext,
} from "../federation/policyServer.ts";
import type { PolicyServerStats } from "./stats.ts";

export const FEATURE = "policyserver";

/** The federation X-Matrix signature as an HTTP listener Auth: the principal is the origin server. */
export function xMatrixAuth(
  serverName: string,
  keys: ServerKeyCache,
  onFailure: (reason: string) => void = () => {},
): Auth {
  return {
    name: "x-matrix",
    needsBody: true,
    async check({ method, uri, headers, body }): Promise<AuthResult> {
      const r = await authenticateRequest(
        { method, uri, content: body, authorization: headers.authorization },
        serverName,
        keys,
      );
      if (r.ok) return { ok: true, principal: r.origin };
      onFailure(r.reason);
      return { ok: false, status: 401, errcode: "M_UNAUTHORIZED", error: r.reason };
    },
  };
}

export interface SignHandlerOptions {
  readonly serverName: string;
  readonly keys: ServerKeyCache;
  readonly maxBodyBytes: number;
  readonly maxRequestsPerMinutePerServer: number;
  readonly stats: PolicyServerStats;
  /** False while the lists and protection settings load: requests get 503 (Synapse: refused). */
  ready(): boolean;
  context(): SignRequestContext;
  /** Every decided request, after the answer is built (for the action log and summary). */
  onAnswer?(origin: string, answer: SignAnswer): void;
  readonly now?: () => number;
}

export class SignHandler {
  private readonly opts: SignHandlerOptions;
  private readonly limiter: LogLimiter;
  private readonly now: () => number;

  constructor(opts: SignHandlerOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.limiter = new LogLimiter(
      { burst: opts.maxRequestsPerMinutePerServer, windowMs: 60_000, maxKeys: 10_000 },
      this.now,
    );
  }

  routes(): Route[] {
    const auth = xMatrixAuth(this.opts.serverName, this.opts.keys, () => this.opts.stats.authFailures++);
    return [SIGN_PATH, UNSTABLE_SIGN_PATH].map((path) => ({
      feature: FEATURE,
      method: "POST" as const,
      path,
      auth,
      body: "json" as const,
      maxBodyBytes: this.opts.maxBodyBytes,
      handler: (req: HttpRequest) => this.handle(req),
    }));
  }

  handle(req: HttpRequest): HttpResponse {
    const origin = req.principal;
    if (origin === undefined) return matrixError(401, "M_UNAUTHORIZED", "no authenticated origin");
    if (!this.limiter.take(origin).write) {
      this.opts.stats.rateLimited++;
      return {
        status: 429,
        body: { errcode: "M_LIMIT_EXCEEDED", error: "Too many sign requests", retry_after_ms: 1_000 },
      };
    }
    if (!this.opts.ready())
      return matrixError(503, "M_NOT_READY", "The policy server is starting; try again in a moment.");
    const answer = answerSignRequest(req.body, origin, this.opts.context());
    const v = answer.verdict;
    const room = v !== undefined && v.verdict !== "bad-event" ? v.event.roomId : "";
    const now = this.now();
    this.opts.stats.request(room, origin, answer.status !== 200, now);
    if (answer.status !== 200 && v?.verdict !== "refuse")
      this.opts.stats.error(room, `${answer.status} to ${origin}: ${String(answer.body["error"])}`, now);
    this.opts.onAnswer?.(origin, answer);
    return { status: answer.status, body: answer.body };
  }
}
