// The web dashboard as a feature of the bot: its routes on Tyr's HTTP listener (under /dashboard,
// feature "dashboard", so `http.listeners.dashboard` can move it), the `dashboard` command that
// sends a moderator a one-time login link, and the watch on the management room that ends the
// sessions of anyone who loses the power to command Tyr.
import type { BotParts, Feature } from "../feature.ts";
import type { StateEvent } from "../matrix/roomState.ts";
import type { HttpService } from "../http/service.ts";
import type { Route } from "../http/types.ts";
import { none } from "../http/auth.ts";
import { commandAccessProblem, type CommandHandler } from "../commands/handler.ts";
import type { CommandContext } from "../commands/context.ts";
import { commandsFor, type Command } from "../commands/framework/index.ts";
import { bold, fmt, link } from "../format/fragment.ts";
import { canSendState } from "../matrix/power.ts";
import type { PolicyFeature } from "../policy/feature.ts";
import type { ProtectionsFeature } from "../protections/feature.ts";
import type { ReportDesk } from "../reports/desk.ts";
import { listShortcode } from "../commands/lists.ts";
import { DashboardApp } from "./app.ts";
import { BASE } from "./layout.ts";
import { networkOpenIdVerifier } from "./openid.ts";
import { LOGIN_LINK_TTL_MS, LoginLinks, Sessions } from "./secrets.ts";

export const FEATURE = "dashboard";

export class DashboardFeature implements Feature {
  readonly name = FEATURE;
  readonly baseUrl: string;
  private readonly bot: BotParts;
  private readonly links = new LoginLinks();
  readonly sessions: Sessions;
  private readonly app: DashboardApp;

  constructor(
    bot: BotParts,
    deps: {
      http: HttpService;
      commands: CommandHandler;
      policy: PolicyFeature;
      protections: ProtectionsFeature;
      encryption: boolean;
      reports: ReportDesk | undefined;
    },
  ) {
    this.bot = bot;
    const c = bot.config.dashboard;
    const own = bot.config.http.listeners[FEATURE];
    this.baseUrl =
      c.publicBaseUrl ?? `http://${own?.bind ?? bot.config.http.bind}:${own?.port ?? bot.config.http.port}`;
    this.sessions = new Sessions(c.sessionHours * 3_600_000);
    const { policy, protections } = deps;
    this.app = new DashboardApp({
      log: bot.log.child({ module: "dashboard" }),
      sessions: this.sessions,
      links: this.links,
      openid: networkOpenIdVerifier({
        ownServer: bot.serverName,
        homeserverUrl: bot.config.homeserverUrl,
        allowPrivateAddresses: c.allowPrivateHomeservers,
        // Two seconds inside the listener's own limit, to answer with the reason.
        timeoutMs: Math.max(1_000, bot.config.http.requestTimeoutSeconds * 1000 - 2_000),
      }),
      secure: this.baseUrl.startsWith("https://"),
      homeserverOrigin: new URL(bot.config.homeserverUrl).origin,
      actionLog: bot.actionLog,
      prefix: bot.config.commands.prefix,
      encryption: deps.encryption,
      mayUse: (user) => this.accessProblem(user),
      run: (user, command, opts) => deps.commands.runForDashboard(user, command, opts),
      record: (user, what, outcome, detail) =>
        deps.commands.recordDashboardChange(user, what, outcome, detail),
      reports: deps.reports,
      lists: () =>
        policy.lists.map((id) => {
          const state = bot.state.peek(id);
          const sc = listShortcode(bot.state, id);
          return {
            id,
            label: sc ?? policy.displayList(id),
            rules: policy.revision(id)?.size ?? 0,
            writable: state !== undefined && canSendState(state, bot.session.userId, "m.policy.rule.user"),
          };
        }),
      rules: function* () {
        for (const l of policy.lists) yield* policy.revision(l)?.rules() ?? [];
      },
      protectionNames: () => protections.protections.map((p) => p.name),
      protectedRooms: () => [...policy.protectedRooms],
    });
    const route = (method: "GET" | "POST"): Route => ({
      feature: FEATURE,
      method,
      path: BASE,
      prefix: true,
      auth: none, // sessions, CSRF and login are the dashboard's own (app.ts): it answers with pages
      body: method === "POST" ? "form" : "none",
      handler: (req) => this.app.handle(req),
    });
    deps.http.register(route("GET"), route("POST"));
  }

  /** Why `user` may not use the dashboard, or undefined: the same rule as for chat commands. */
  accessProblem(user: string): string | undefined {
    return commandAccessProblem(this.bot, user, "the management room", "use it");
  }

  onState(roomId: string, ev: StateEvent): void {
    if (roomId !== this.bot.managementRoomId) return;
    if (ev.type !== "m.room.power_levels" && ev.type !== "m.room.member") return;
    for (const user of this.sessions.users()) {
      const why = this.accessProblem(user);
      if (why === undefined) continue;
      const n = this.sessions.revokeAll(user);
      this.bot.log.info({ user, sessions: n, why }, "dashboard sessions ended");
    }
  }

  /** `dashboard`: a one-time login link for the moderator who asks, in a thread reply. */
  command(): Command<CommandContext> {
    const { command } = commandsFor<CommandContext>();
    return command({
      name: "dashboard",
      group: "General",
      summary: "A one-time link to log in to the web dashboard as you (valid 5 minutes)",
      examples: ["dashboard"],
      run: (ctx) => {
        // A link in the room opens a session for whoever follows it first: never post one where
        // someone who may not use the dashboard can read it.
        const readers = linkReaders(this.bot, (u) => this.accessProblem(u) !== undefined);
        if (readers.length > 0)
          return fmt`✗ No login link: ${readers.slice(0, 5).join(", ")}${readers.length > 5 ? ` and ${String(readers.length - 5)} more` : ""} can read the management room but may not use the dashboard, and could open it first. Log in with Matrix at ${link(`${this.baseUrl}${BASE}/login`, "the dashboard's login page")} instead, or remove them from the room.`;
        const token = this.links.issue(ctx.sender);
        const url = `${this.baseUrl}${BASE}/login?token=${token}`;
        return fmt`${bold("Dashboard login")} for ${ctx.sender}: ${link(url, "open the dashboard")}. The link works once, within ${String(LOGIN_LINK_TTL_MS / 60_000)} minutes, and logs in as ${ctx.sender} whoever opens it first: do not forward it.`;
      },
    });
  }
}

/**
 * Who can read the management room (joined, or invited: an invite can be enough to read what is
 * sent after it) without being allowed the dashboard, Tyr aside.
 */
export function linkReaders(
  bot: Pick<BotParts, "state" | "managementRoomId" | "session">,
  refused: (user: string) => boolean,
): string[] {
  const room = bot.state.peek(bot.managementRoomId);
  if (!room) return [];
  return room.members(["join", "invite"]).filter((u) => u !== bot.session.userId && refused(u));
}
