// The dashboard's request handling (the imperative shell around the pure pages): security headers,
// sessions and CSRF, rate-limited logins, and each page's data. Every change runs a chat command
// through `run` (CommandHandler.runForDashboard), so it takes the same path, the same checks and
// the same consequence queue as in chat, and the management room hears of it.
import type { Logger } from "../logging.ts";
import type { HttpRequest, HttpResponse } from "../http/types.ts";
import { LogLimiter } from "../http/logLimiter.ts";
import type { DashboardRun } from "../commands/handler.ts";
import type { ActionLog } from "../store/actionLog.ts";
import { COUNT_CAP } from "../store/actionLog.ts";
import type { Rule } from "../banlists/rule.ts";
import { blocks, type Fragment } from "../format/fragment.ts";
import { CSS, JS } from "./assets.ts";
import { commandLine } from "./commandLine.ts";
import { fragmentHtml, h, type Html } from "./html.ts";
import { BASE, layout, type Flash, type Viewer } from "./layout.ts";
import type { OpenIdVerifier } from "./openid.ts";
import { sameSecret, wellFormedToken, type LoginLinks, type SessionInfo, type Sessions } from "./secrets.ts";
import { loginPage } from "./pages/login.ts";
import { chartStart, overviewPage, CHART_DAYS } from "./pages/overview.ts";
import { logPage, parseLogQuery } from "./pages/log.ts";
import { listsPage, ruleId, searchRules, type ListInfo } from "./pages/lists.ts";
import { protectionsPage } from "./pages/protections.ts";
import { roomsPage } from "./pages/rooms.ts";
import { encryptionPage } from "./pages/encryption.ts";
import { sessionsPage } from "./pages/sessions.ts";
import { reportsPage } from "./pages/reports.ts";
import type { ReportDesk } from "../reports/desk.ts";
import { parseReportKey } from "../reports/reports.ts";
import { TRIAGE_ACTIONS, type TriageAction } from "../reports/store.ts";

export const COOKIE = "tyr_dashboard";

/** What the dashboard reads and runs; filled in by the feature from the running bot. */
export interface DashboardDeps {
  readonly log: Logger;
  readonly sessions: Sessions;
  readonly links: LoginLinks;
  readonly openid: OpenIdVerifier;
  readonly secure: boolean;
  /** Origin of the homeserver Tyr uses (the login page's script may talk to it). */
  readonly homeserverOrigin: string;
  readonly actionLog: ActionLog;
  /** The command prefix (commands.prefix), for hints. */
  readonly prefix: string;
  /** Why `user` may not use the dashboard now (not a member, power too low), or undefined. */
  mayUse(user: string): string | undefined;
  run(user: string, command: string, opts: { change: boolean; confirmed?: boolean }): Promise<DashboardRun>;
  /** Puts a change made in the dashboard into the action log ("command via dashboard by …"). */
  record(user: string, what: string, outcome: "done" | "failed", detail?: string): void;
  /** The abuse reports (absent unless reports.enabled). */
  readonly reports: ReportDesk | undefined;
  lists(): ListInfo[];
  rules(): Iterable<Rule>;
  protectionNames(): string[];
  protectedRooms(): string[];
  encryption: boolean;
}

const DAY_MS = 86_400_000;

function csp(connect: string): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${connect}`,
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
  ].join("; ");
}

export class DashboardApp {
  private readonly deps: DashboardDeps;
  /** Logins per client address: 10 a minute (behind a proxy, per proxy: still bounds guessing). */
  private readonly loginLimiter = new LogLimiter({ burst: 10, windowMs: 60_000, maxKeys: 10_000 });
  private readonly headers: Record<string, string>;
  private readonly loginHeaders: Record<string, string>;

  constructor(deps: DashboardDeps) {
    this.deps = deps;
    const common: Record<string, string> = {
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
      "X-Frame-Options": "DENY",
      "Cross-Origin-Opener-Policy": "same-origin",
      // Pages carry a session's CSRF token or a login link's token: never kept by a browser's
      // history cache or a proxy, so a shared computer or a cache cannot hand them on.
      "Cache-Control": "no-store",
      // Behind HTTPS, browsers must never come back over plain HTTP (the cookie is Secure).
      ...(deps.secure ? { "Strict-Transport-Security": "max-age=31536000" } : {}),
    };
    this.headers = { ...common, "Content-Security-Policy": csp("'self'") };
    // The login page's script asks the moderator's homeserver for an OpenID token.
    this.loginHeaders = {
      ...common,
      "Content-Security-Policy": csp(`'self' https: ${deps.homeserverOrigin}`),
    };
  }

  async handle(req: HttpRequest): Promise<HttpResponse> {
    const path = req.path.length > BASE.length && req.path.endsWith("/") ? req.path.slice(0, -1) : req.path;
    if (path === `${BASE}/static/app.css`) return this.asset(CSS, "text/css; charset=utf-8");
    if (path === `${BASE}/static/app.js`) return this.asset(JS, "text/javascript; charset=utf-8");
    if (req.method === "GET" && path === `${BASE}/login`) return this.loginForm(req);
    if (req.method === "POST" && crossSite(req)) {
      // Logins have no session (and so no CSRF token) yet: a page elsewhere must not be able to
      // log a moderator's browser in, or post anything else. Browsers say where a request came from.
      this.deps.log.info({ path }, "dashboard: refused a form posted from another site");
      return this.loginRefused(
        "That form was posted from another site. Open the dashboard and log in there.",
      );
    }
    if (req.method === "POST" && path === `${BASE}/login/link`) return this.loginByLink(req);
    if (req.method === "POST" && path === `${BASE}/login/matrix`) return this.loginByMatrix(req);

    const session = this.deps.sessions.get(cookie(req, COOKIE));
    if (session === undefined) {
      if (req.method === "GET" && (path === BASE || path.startsWith(`${BASE}/`)))
        return redirect(`${BASE}/login`);
      return this.page(
        401,
        layout(undefined, "Not logged in", h`<p><a href="${BASE}/login">Log in</a> first.</p>`),
      );
    }
    // Checked on every request against the management room's state as Tyr tracks it: losing the
    // power level (or leaving the room) ends every session of that moderator at once.
    const denied = this.deps.mayUse(session.user);
    if (denied !== undefined) {
      const n = this.deps.sessions.revokeAll(session.user);
      this.deps.log.info({ user: session.user, sessions: n, why: denied }, "dashboard sessions ended");
      return this.page(
        403,
        loginPage({
          prefix: this.deps.prefix,
          flash: { text: `Your session ended: ${denied}.`, error: true },
        }),
        {
          ...this.loginHeaders,
          "Set-Cookie": this.clearCookie(),
        },
      );
    }
    const viewer: Viewer = { user: session.user, csrf: session.csrf, path, prefix: this.deps.prefix };
    if (req.method === "POST") {
      const form = req.body instanceof URLSearchParams ? req.body : new URLSearchParams();
      const given = form.get("csrf");
      if (!wellFormedToken(given) || !sameSecret(given, session.csrf))
        return this.page(
          403,
          layout(
            viewer,
            "Refused",
            h`<p>This form is out of date or did not come from the dashboard (CSRF check). Go back, reload the page and try again.</p>`,
          ),
        );
      return this.post(path, form, viewer, session);
    }
    if (req.method !== "GET") return this.notFound(viewer);
    return this.get(path, req.query, viewer, session);
  }

  // ---- login ----------------------------------------------------------------------------------

  private loginForm(req: HttpRequest): HttpResponse {
    const t = req.query.get("token");
    const user = wellFormedToken(t) ? this.deps.links.peek(t) : undefined;
    const flash: Flash | undefined =
      t !== null && user === undefined
        ? {
            text: `That login link is expired or was already used. Send ${this.deps.prefix} dashboard for a new one.`,
            error: true,
          }
        : undefined;
    return this.page(
      200,
      loginPage({
        prefix: this.deps.prefix,
        ...(flash ? { flash } : {}),
        ...(user && t ? { link: { token: t, user } } : {}),
      }),
      this.loginHeaders,
    );
  }

  private limited(req: HttpRequest): HttpResponse | undefined {
    if (this.loginLimiter.take(req.remote).write) return undefined;
    return this.page(
      429,
      loginPage({
        prefix: this.deps.prefix,
        flash: {
          text: "Too many login attempts from your address. Wait a minute and try again.",
          error: true,
        },
      }),
      { ...this.loginHeaders, "Retry-After": "60" },
    );
  }

  private loginByLink(req: HttpRequest): HttpResponse {
    const refused = this.limited(req);
    if (refused) return refused;
    const form = req.body instanceof URLSearchParams ? req.body : new URLSearchParams();
    const user = this.deps.links.redeem(form.get("token"));
    if (user === undefined)
      return this.loginRefused(
        `That login link is expired or was already used. Send ${this.deps.prefix} dashboard for a new one.`,
      );
    return this.startSession(req, user, "link");
  }

  private async loginByMatrix(req: HttpRequest): Promise<HttpResponse> {
    const refused = this.limited(req);
    if (refused) return refused;
    const form = req.body instanceof URLSearchParams ? req.body : new URLSearchParams();
    const r = await this.deps.openid.verify(form.get("openid_token") ?? "", form.get("server_name") ?? "");
    if (!r.ok) return this.loginRefused(`Log in with Matrix failed: ${r.error}.`);
    return this.startSession(req, r.user, "matrix");
  }

  private loginRefused(why: string): HttpResponse {
    return this.page(
      403,
      loginPage({ prefix: this.deps.prefix, flash: { text: why, error: true } }),
      this.loginHeaders,
    );
  }

  private startSession(req: HttpRequest, user: string, method: string): HttpResponse {
    const denied = this.deps.mayUse(user);
    if (denied !== undefined) {
      this.deps.log.info({ user, method, why: denied }, "dashboard login refused");
      return this.loginRefused(`${user} may not use the dashboard: ${denied}.`);
    }
    const ua = req.headers["user-agent"];
    const { id, session } = this.deps.sessions.create(user, method, typeof ua === "string" ? ua : "");
    this.deps.log.info({ user, method, session: session.handle.slice(0, 8) }, "dashboard login");
    const maxAge = Math.floor((session.expires - session.created) / 1000);
    return {
      status: 303,
      headers: {
        ...this.headers,
        Location: BASE,
        "Set-Cookie": `${COOKIE}=${id}; Path=${BASE}; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${this.deps.secure ? "; Secure" : ""}`,
      },
    };
  }

  private clearCookie(): string {
    return `${COOKIE}=; Path=${BASE}; HttpOnly; SameSite=Strict; Max-Age=0${this.deps.secure ? "; Secure" : ""}`;
  }

  // ---- pages ----------------------------------------------------------------------------------

  private async get(
    path: string,
    q: URLSearchParams,
    v: Viewer,
    session: SessionInfo,
  ): Promise<HttpResponse> {
    switch (path) {
      case BASE: {
        const status = await this.read(v.user, "status");
        const since = chartStart(Date.now());
        return this.ok(
          overviewPage(v, {
            status,
            since,
            rows: this.deps.actionLog.histogram(since, DAY_MS).filter((r) => r.bucket < CHART_DAYS),
            logSize: this.deps.actionLog.size,
          }),
        );
      }
      case `${BASE}/log`: {
        const kinds = this.deps.actionLog.kinds();
        const query = parseLogQuery(q, kinds);
        const { before: _before, limit: _limit, ...countable } = query.search;
        return this.ok(
          logPage(v, {
            query,
            records: this.deps.actionLog.search(query.search),
            matches: this.deps.actionLog.countMatches(countable),
            cap: COUNT_CAP,
            kinds,
          }),
        );
      }
      case `${BASE}/lists`:
        return this.ok(this.listsView(v, q));
      case `${BASE}/protections`: {
        const names = this.deps.protectionNames();
        const show = q.get("show") ?? "";
        const shown = names.includes(show)
          ? { name: show, reply: await this.read(v.user, `protections show ${show}`) }
          : undefined;
        return this.ok(
          protectionsPage(v, {
            names,
            overview: await this.read(v.user, "protections"),
            rooms: this.deps.protectedRooms(),
            ...(shown ? { shown } : {}),
          }),
        );
      }
      case `${BASE}/rooms`: {
        const rooms = this.deps.protectedRooms();
        const a = q.get("audit") ?? "";
        const audit = rooms.includes(a)
          ? { room: a, reply: await this.read(v.user, `audit ${a}`) }
          : undefined;
        return this.ok(
          roomsPage(v, {
            rooms: await this.read(v.user, "rooms"),
            acl: await this.read(v.user, "acl"),
            protectedRooms: rooms,
            ...(audit ? { audit } : {}),
          }),
        );
      }
      case `${BASE}/encryption`:
        return this.ok(
          encryptionPage(v, this.deps.encryption ? await this.read(v.user, "crypto status") : undefined),
        );
      case `${BASE}/sessions`:
        return this.ok(sessionsPage(v, { sessions: this.deps.sessions.of(v.user), current: session.handle }));
      case `${BASE}/reports`:
        return this.reportsView(v, q.get("which") === "all" ? "all" : "open");
      default:
        return this.notFound(v);
    }
  }

  private reportsView(
    v: Viewer,
    which: "open" | "all",
    extra: { flash?: Flash; choose?: Parameters<typeof reportsPage>[1]["choose"] } = {},
    status = 200,
  ): HttpResponse {
    const desk = this.deps.reports;
    if (desk === undefined)
      return this.ok(
        layout(
          v,
          "Reports",
          h`<p>Relaying abuse reports is off in Tyr's config (<code>reports.enabled</code>).</p>`,
        ),
      );
    return this.ok(
      reportsPage(v, { which, entries: desk.list(which, 100), counts: desk.counts(), ...extra }),
      status,
    );
  }

  /** The same triage as a reaction on the report's notice (ReportDesk.act), via the dashboard. */
  private async triage(v: Viewer, form: URLSearchParams): Promise<HttpResponse> {
    const desk = this.deps.reports;
    if (desk === undefined) return this.reportsView(v, "open");
    const key = (form.get("report") ?? "").trim();
    const action = (form.get("action") ?? "").trim();
    const list = (form.get("list") ?? "").trim();
    const bad = (text: string) => this.reportsView(v, "open", { flash: { text, error: true } }, 400);
    if (parseReportKey(key) === undefined || desk.get(key) === undefined) return bad("No such report.");
    if (!(TRIAGE_ACTIONS as readonly string[]).includes(action))
      return bad("Unknown action: use the buttons.");
    if (list !== "" && !this.deps.lists().some((l) => l.id === list && l.writable))
      return bad("Tyr cannot write to that list.");
    const r = await desk.act(key, action as TriageAction, v.user, {
      via: "dashboard",
      ...(list !== "" ? { list } : {}),
    });
    const what = `triage ${key} ${action}${list !== "" ? ` into ${list}` : ""}`;
    if (r.kind === "choose-list") return this.reportsView(v, "open", { choose: { key, lists: r.lists } });
    if (r.kind === "refused") {
      this.deps.record(v.user, what, "failed", r.why);
      return bad(`Not done: ${r.why}.`);
    }
    this.deps.record(
      v.user,
      what,
      r.outcome === "failed" ? "failed" : "done",
      r.outcome === "failed" ? r.summary : undefined,
    );
    return this.reportsView(v, "open", {
      flash: { text: `${key}: ${r.summary}`, error: r.outcome === "failed" },
    });
  }

  private listsView(v: Viewer, q: URLSearchParams, flash?: Flash): string {
    const query = (q.get("q") ?? "").trim().slice(0, 256);
    const rid = q.get("rule") ?? "";
    const all = this.deps.rules();
    const { found, more } = searchRules(all, query);
    let detail: Rule | undefined;
    if (rid !== "") for (const r of this.deps.rules()) if (ruleId(r) === rid) detail = r;
    return listsPage(v, {
      lists: this.deps.lists(),
      q: query,
      found,
      more,
      ...(detail ? { detail } : {}),
      ...(flash ? { flash } : {}),
    });
  }

  private async post(
    path: string,
    form: URLSearchParams,
    v: Viewer,
    session: SessionInfo,
  ): Promise<HttpResponse> {
    const field = (k: string) => (form.get(k) ?? "").trim();
    switch (path) {
      case `${BASE}/logout`:
        this.deps.sessions.revoke(v.user, session.handle);
        return {
          status: 303,
          headers: { ...this.headers, Location: `${BASE}/login`, "Set-Cookie": this.clearCookie() },
        };
      case `${BASE}/sessions/revoke`: {
        const ok = this.deps.sessions.revoke(v.user, field("session"));
        const flash: Flash = ok
          ? { text: "Session revoked." }
          : { text: "No such session of yours.", error: true };
        if (ok && field("session") === session.handle)
          return {
            status: 303,
            headers: { ...this.headers, Location: `${BASE}/login`, "Set-Cookie": this.clearCookie() },
          };
        return this.ok(
          sessionsPage(v, { sessions: this.deps.sessions.of(v.user), current: session.handle, flash }),
          ok ? 200 : 400,
        );
      }
      case `${BASE}/reports`:
        return this.triage(v, form);
      case `${BASE}/lists/add`:
      case `${BASE}/lists/remove`: {
        const add = path.endsWith("/add");
        const line = commandLine(
          add ? "ban" : "unban",
          [
            { label: "List", value: field("list") },
            { label: "Entity", value: field("entity") },
          ],
          add ? { flags: { for: field("for") }, rest: field("reason").slice(0, 1000) } : {},
        );
        const flash = line.ok
          ? await this.change(v.user, line.text, form)
          : { text: line.error, error: true };
        return this.ok(this.listsView(v, new URLSearchParams(), flash), flash.error ? 400 : 200);
      }
      case `${BASE}/protections`: {
        const name = field("protection");
        const action = field("action");
        const arg = { label: "Protection", value: name };
        const room = { room: field("room") };
        const line =
          action === "enable" || action === "disable"
            ? commandLine(`protections ${action}`, [arg], { flags: room })
            : action === "dryrun-on" || action === "dryrun-off"
              ? commandLine("protections dryrun", [arg, { label: "Mode", value: action.slice(7) }], {
                  flags: room,
                })
              : action === "set"
                ? commandLine("protections set", [arg, { label: "Setting", value: field("setting") }], {
                    flags: room,
                    rest: field("value").slice(0, 2000) || " ",
                  })
                : { ok: false as const, error: "Unknown action: use the buttons of the form." };
        const flash = line.ok
          ? await this.change(v.user, line.text, form)
          : { text: line.error, error: true };
        const names = this.deps.protectionNames();
        return this.ok(
          protectionsPage(v, {
            names,
            overview: await this.read(v.user, "protections"),
            rooms: this.deps.protectedRooms(),
            flash,
            ...(names.includes(name)
              ? { shown: { name, reply: await this.read(v.user, `protections show ${name}`) } }
              : {}),
          }),
          flash.error ? 400 : 200,
        );
      }
      default:
        return this.notFound(v);
    }
  }

  /** A read-only command's reply, for a page (nothing is posted to the management room). */
  private async read(user: string, command: string): Promise<Fragment> {
    const r = await this.deps.run(user, command, { change: false });
    return blocks(...r.replies);
  }

  /**
   * Runs a change; a command that wants confirmation shows its preview with a button that sends
   * the same form again, confirmed.
   */
  private async change(user: string, command: string, form: URLSearchParams): Promise<Flash> {
    const r = await this.deps.run(user, command, {
      change: true,
      confirmed: form.get("confirmed") === "yes",
    });
    if (r.preview !== undefined) {
      const again = [...form.entries()].filter(([k]) => k !== "confirmed");
      return {
        text: h`${fragmentOf(r.preview)}<form method="post">${again.map(([k, val]) => h`<input type="hidden" name="${k}" value="${val}">`)}<input type="hidden" name="confirmed" value="yes"><button type="submit">Go ahead</button></form>`,
      };
    }
    return { text: fragmentOf(blocks(...r.replies)), error: !r.ok };
  }

  // ---- responses ------------------------------------------------------------------------------

  private ok(html: string, status = 200): HttpResponse {
    return this.page(status, html);
  }

  private page(status: number, html: string, headers: Record<string, string> = this.headers): HttpResponse {
    return { status, contentType: "text/html; charset=utf-8", body: html, headers };
  }

  private notFound(v: Viewer | undefined): HttpResponse {
    return this.page(
      404,
      layout(v, "Not found", h`<p>No such page. <a href="${BASE}">Back to the overview</a>.</p>`),
    );
  }

  private asset(body: string, contentType: string): HttpResponse {
    return { status: 200, contentType, body, headers: { ...this.headers, "Cache-Control": "max-age=300" } };
  }
}

function fragmentOf(f: Fragment): Html {
  return h`<div class="reply">${fragmentHtml(f)}</div>`;
}

function redirect(location: string): HttpResponse {
  return { status: 303, headers: { Location: location } };
}

/** A cookie's value from the Cookie header, or undefined. */
export function cookie(req: HttpRequest, name: string): string | undefined {
  const raw = req.headers.cookie;
  if (typeof raw !== "string") return undefined;
  for (const part of raw.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Whether the browser says the request was made by another site (`Sec-Fetch-Site`, sent by every
 * current browser). The Origin header cannot serve: under `Referrer-Policy: no-referrer` browsers
 * send `Origin: null` even for the dashboard's own forms. No header (an old browser, curl): not
 * known to be cross-site; the session's CSRF token still guards every change.
 */
function crossSite(req: HttpRequest): boolean {
  const site = req.headers["sec-fetch-site"];
  return site === "cross-site" || site === "same-site";
}
