// The antispam endpoints: one route per module callback under `antispam.pathPrefix`, all behind
// the shared secret. Each request: count it, answer by `whenNotReady` while Tyr starts, validate
// the body (400 on garbage), decide from memory (decide.ts), answer 200 (allow) or 403 with a
// Matrix error the client shows. Refusals are handed to `onRefusal` after the answer is built;
// the shell records them (action log, summary) off the request path.
import type { Auth } from "../http/auth.ts";
import { matrixError, type HttpResponse, type Route } from "../http/types.ts";
import type { PipelineResult } from "../protections/pipeline.ts";
import {
  decideCreateRoom,
  decideEvent,
  decideInvite,
  decideJoin,
  type Knowledge,
  type Verdict,
} from "./decide.ts";
import { AntispamStats } from "./stats.ts";
import {
  ALLOW_BODY,
  CALLBACKS,
  parseCheckEvent,
  parseCreateRoom,
  parseFederatedInvite,
  parsePing,
  parseUserMayInvite,
  parseUserMayJoinRoom,
  refusalBody,
  type Callback,
  type EventArgs,
  type Parsed,
} from "./wire.ts";

export interface Refusal {
  readonly callback: Callback;
  readonly verdict: Extract<Verdict, { allow: false }>;
  /** Dry-run: answered "allow", recorded as what would have been refused. */
  readonly dryRun: boolean;
  /** For check_event_for_spam: the event and what the server pipeline decided. */
  readonly event?: EventArgs;
  readonly result?: PipelineResult;
}

/** What the handler needs from the start: its routes answer before the bot's features exist. */
export interface AntispamOptions {
  readonly pathPrefix: string;
  readonly whenNotReady: "allow" | "deny";
  readonly dryRun: boolean;
  readonly auth: Auth;
  now(): number;
}

/** What the running bot supplies once its features exist (`attach`). */
export interface AntispamDeps {
  ready(): boolean;
  knowledge(): Knowledge;
  /** Runs a protected room's unencrypted event through the protections enforced at the server. */
  judgeEvent(ev: EventArgs, now: number): PipelineResult | undefined;
  onRefusal(r: Refusal): void;
}

/** Who asks, for the callbacks that can come from Tyr's own account (its joins, its messages). */
function actorOf(cb: Callback, body: Record<string, unknown>): unknown {
  switch (cb) {
    case "user_may_invite":
      return body.inviter;
    case "user_may_join_room":
      return body.user;
    case "user_may_create_room":
      return body.user_id;
    case "check_event_for_spam":
      return typeof body.event === "object" && body.event !== null
        ? (body.event as Record<string, unknown>).sender
        : undefined;
    default:
      return undefined;
  }
}

const OK: HttpResponse = Object.freeze({ status: 200, body: ALLOW_BODY });

export class AntispamHandler {
  readonly stats = new AntispamStats();
  private readonly opts: AntispamOptions;
  private deps: AntispamDeps | undefined;
  /**
   * Tyr's own account, once logged in. Its requests are allowed even before Tyr is ready: at
   * start it joins its management room, lists and protected rooms through this same homeserver,
   * and would otherwise wait for itself (or, with whenNotReady: deny, never start).
   */
  botUserId: string | undefined;

  constructor(opts: AntispamOptions) {
    this.opts = opts;
  }

  /** Connects the decisions to the running bot's knowledge. */
  attach(deps: AntispamDeps): void {
    this.deps = deps;
  }

  routes(): Route[] {
    return CALLBACKS.map((cb) => ({
      feature: "antispam",
      method: "POST",
      path: `${this.opts.pathPrefix}/${cb}`,
      auth: this.countingAuth(),
      body: "json",
      handler: (req) => this.answer(cb, req.body as Record<string, unknown>),
    }));
  }

  /** The shared secret check, counting failures for `status` (a module with the wrong secret). */
  private countingAuth(): Auth {
    const inner = this.opts.auth;
    const stats = this.stats;
    return {
      name: inner.name,
      check(input) {
        const r = inner.check(input) as ReturnType<Auth["check"]>;
        if (r instanceof Promise) return r;
        if (!r.ok) stats.authFailures++;
        return r;
      },
    };
  }

  /** One callback: what the module gets back. */
  answer(cb: Callback, body: Record<string, unknown>): HttpResponse {
    const now = this.opts.now();
    this.stats.call(cb, now);
    if (cb === "ping") {
      const p = parsePing(body);
      return p.ok ? { status: 200, body: { id: p.value.id, status: "ok" } } : this.badRequest(p);
    }
    const deps = this.deps;
    if (deps === undefined || !deps.ready()) {
      if (this.botUserId !== undefined && actorOf(cb, body) === this.botUserId) return OK;
      this.stats.notReadyAnswers++;
      return this.opts.whenNotReady === "allow"
        ? OK
        : {
            status: 403,
            body: refusalBody("The server's moderation bot is starting; try again in a moment"),
          };
    }
    let verdict: Verdict;
    let event: EventArgs | undefined;
    let result: PipelineResult | undefined;
    switch (cb) {
      case "user_may_invite":
      case "federated_user_may_invite": {
        const p = cb === "user_may_invite" ? parseUserMayInvite(body) : parseFederatedInvite(body);
        if (!p.ok) return this.badRequest(p);
        verdict = decideInvite(deps.knowledge(), p.value.inviter, p.value.invitee, p.value.room);
        break;
      }
      case "user_may_join_room": {
        const p = parseUserMayJoinRoom(body);
        if (!p.ok) return this.badRequest(p);
        verdict = decideJoin(deps.knowledge(), p.value.user, p.value.room);
        break;
      }
      case "check_event_for_spam": {
        const p = parseCheckEvent(body);
        if (!p.ok) return this.badRequest(p);
        event = p.value;
        const k = deps.knowledge();
        // Encrypted events pass: Tyr cannot read them before delivery. State and redactions are
        // never refused (decide.ts), so the protections need not see them here.
        const judged =
          k.isProtected(event.roomId) &&
          !event.isState &&
          event.type !== "m.room.encrypted" &&
          event.type !== "m.room.redaction";
        if (judged) result = deps.judgeEvent(event, now);
        verdict = decideEvent(k, event, result);
        break;
      }
      case "user_may_create_room": {
        const p = parseCreateRoom(body);
        if (!p.ok) return this.badRequest(p);
        verdict = decideCreateRoom(deps.knowledge(), p.value.user);
        break;
      }
      default:
        // Callbacks Tyr has no opinion on: allowed (and counted, so status shows they arrive).
        return OK;
    }
    if (verdict.allow) return OK;
    const dryRun = this.opts.dryRun;
    this.stats.refused(cb, verdict.subject);
    if (dryRun) this.stats.dryRunRefusals++;
    deps.onRefusal({
      callback: cb,
      verdict,
      dryRun,
      ...(event !== undefined ? { event } : {}),
      ...(result !== undefined ? { result } : {}),
    });
    return dryRun ? OK : { status: 403, body: refusalBody(verdict.reason) };
  }

  private badRequest(p: Extract<Parsed<unknown>, { ok: false }>): HttpResponse {
    this.stats.badRequests++;
    return matrixError(400, "M_BAD_JSON", p.error);
  }
}
