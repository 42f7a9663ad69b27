// Tyr as the MSC4284 policy server of its protected rooms: the shell around src/federation/
// (signing, X-Matrix, server keys, the decision) and handler.ts (the routes). It supplies what the
// decision reads — the ban-list matcher and a judge made of the protections enforced at the server
// (`enforceAtServer`, its own ServerJudge so traffic is not counted twice) — limits key fetches to
// servers with members in protected rooms, and turns refusals into action-log records and a
// rate-limited summary in the management room.
import { join } from "node:path";
import type { BotParts, Feature } from "../feature.ts";
import type { HttpService } from "../http/service.ts";
import { LogLimiter } from "../http/logLimiter.ts";
import type { PolicyFeature } from "../policy/feature.ts";
import type { ProtectionsFeature } from "../protections/feature.ts";
import { ServerJudge } from "../protections/serverJudge.ts";
import type { BatchMeta, TimelineEvent } from "../router.ts";
import type { Reporting, StatusLine } from "../feature.ts";
import { formatAgo } from "../commands/framework/duration.ts";
import { formatDuration } from "../protections/settings.ts";
import { ruleKey, type ActionRecord } from "../store/actionLog.ts";
import { protectionJudge } from "./judge.ts";
import type { SigningKey } from "../federation/ed25519.ts";
import { ServerKeyCache } from "../federation/keyCache.ts";
import { KEY_FETCH_DEFAULTS, networkKeyFetcher } from "../federation/keyFetch.ts";
import { loadOrCreateSigningKey } from "../federation/keyStore.ts";
import type { SignAnswer, SignRequestContext } from "../federation/policyServer.ts";
import type { PolicyEvent, Refusal } from "../federation/policyDecision.ts";
import {
  POLICY_STATE_TYPE,
  UNSTABLE_POLICY_STATE_TYPE,
  namesPolicyServer,
  policyServerOf,
} from "../federation/policyState.ts";
import type { PolicyServerConfig } from "./config.ts";
import { FEATURE, SignHandler } from "./handler.ts";
import { PolicyServerStats } from "./stats.ts";

/** How long the set of servers whose keys may be fetched is reused before it is computed again. */
const SERVER_SET_TTL_MS = 10_000;

export function signingKeyPath(config: PolicyServerConfig, dataPath: string): string {
  return config.signingKeyFile ?? join(dataPath, "policy-server.key");
}

/** Servers with a joined member in one of `rooms`, plus the servers in pre-v12 room IDs. Pure. */
export function serversOfRooms(
  rooms: Iterable<string>,
  membersOf: (room: string) => Iterable<string>,
): Set<string> {
  const servers = new Set<string>();
  for (const room of rooms) {
    const colon = room.indexOf(":");
    if (colon > 0) servers.add(room.slice(colon + 1));
    for (const user of membersOf(room)) {
      const c = user.indexOf(":");
      if (c > 0) servers.add(user.slice(c + 1));
    }
  }
  return servers;
}

export class PolicyServerFeature implements Feature, Reporting {
  readonly name = FEATURE;
  readonly stats = new PolicyServerStats();
  readonly serverName: string;
  readonly key: SigningKey;
  readonly keys: ServerKeyCache;
  private readonly bot: BotParts;
  private readonly policy: PolicyFeature;
  private readonly protections: ProtectionsFeature;
  private readonly http: HttpService;
  private readonly config: PolicyServerConfig;
  private readonly serverJudge: ServerJudge;
  private readonly ctx: SignRequestContext;
  private readonly repeats = new LogLimiter({ burst: 1, windowMs: 60_000, maxKeys: 10_000 });
  private servers: { at: number; set: Set<string> } | undefined;
  private summaryTimer: NodeJS.Timeout | undefined;

  constructor(
    bot: BotParts,
    deps: { policy: PolicyFeature; protections: ProtectionsFeature; http: HttpService },
  ) {
    this.bot = bot;
    this.policy = deps.policy;
    this.protections = deps.protections;
    this.http = deps.http;
    this.config = bot.config.policyServer;
    this.serverName = this.config.serverName ?? bot.serverName;
    const path = signingKeyPath(this.config, bot.config.dataPath);
    const loaded = loadOrCreateSigningKey(path);
    this.key = loaded.key;
    const log = bot.log.child({ module: "policy-server" });
    if (loaded.created)
      log.info({ path, publicKey: loaded.key.publicKeyBase64 }, "generated the policy server signing key");
    if (loaded.warning !== undefined) log.warn(loaded.warning);
    const insecure = this.config.testOnlyInsecureKeyFetch;
    if (insecure)
      log.warn(
        "policyServer.testOnlyInsecureKeyFetch is on: keys are fetched from private addresses without certificate checks (tests only)",
      );
    this.keys = new ServerKeyCache({
      fetchKeys: networkKeyFetcher({
        timeoutMs: this.config.keyFetchTimeoutSeconds * 1000,
        maxBytes: KEY_FETCH_DEFAULTS.maxBytes,
        allowPrivateAddresses: insecure,
        acceptSelfSigned: insecure,
      }),
      fetchTimeoutMs: this.config.keyFetchTimeoutSeconds * 1000,
      mayFetch: (server) => this.allowedServers().has(server),
    });
    this.serverJudge = new ServerJudge(bot, deps.protections, {
      isProtected: (room) => deps.policy.protectedRooms.has(room),
    });
    this.ctx = {
      serverName: this.serverName,
      key: this.key,
      matcher: deps.policy.matcher,
      judge: protectionJudge((raw, room, now) => this.serverJudge.judge(raw, room, now)),
      dryRun: bot.config.dryRun,
      roomVersion: (room) => this.roomVersion(room),
    };
    const handler = new SignHandler({
      serverName: this.serverName,
      keys: this.keys,
      maxBodyBytes: this.config.maxBodyBytes,
      maxRequestsPerMinutePerServer: this.config.maxRequestsPerMinutePerServer,
      stats: this.stats,
      ready: () => this.ready,
      context: () => this.ctx,
      onAnswer: (origin, answer) => this.onAnswer(origin, answer),
    });
    deps.http.register(...handler.routes());
  }

  get ready(): boolean {
    return this.policy.loaded && this.protections.settingsLoaded;
  }

  start(): void {
    this.summaryTimer = setInterval(() => this.summarise(), this.config.summaryIntervalSeconds * 1000);
    this.summaryTimer.unref();
  }

  stop(): void {
    if (this.summaryTimer) clearInterval(this.summaryTimer);
  }

  onTimeline(ev: TimelineEvent, meta: BatchMeta): void {
    this.serverJudge.onTimeline(ev, meta);
    if (ev.type === "m.room.member") this.servers = undefined;
  }

  onLeave(roomId: string): void {
    this.serverJudge.onLeave(roomId);
  }

  /** The room version of a protected room (its create event; "1" when it names none). */
  private roomVersion(room: string): string | undefined {
    if (!this.policy.protectedRooms.has(room)) return undefined;
    const create = this.bot.state.peek(room)?.get("m.room.create");
    if (create === undefined) return undefined;
    const v = create.content["room_version"];
    return typeof v === "string" ? v : "1";
  }

  /** Only servers with members in a protected room may make Tyr fetch their keys. */
  private allowedServers(): Set<string> {
    const now = Date.now();
    if (this.servers !== undefined && now - this.servers.at < SERVER_SET_TTL_MS) return this.servers.set;
    const set = serversOfRooms(this.policy.protectedRooms, (room) => this.joinedMembers(room));
    this.servers = { at: now, set };
    return set;
  }

  private *joinedMembers(room: string): Iterable<string> {
    const state = this.bot.state.peek(room);
    if (state === undefined) return;
    for (const m of state.all("m.room.member")) if (m.content.membership === "join") yield m.stateKey;
  }

  /** Whether `room`'s policy state names Tyr with its current key. */
  namesTyr(room: string): boolean {
    const state = this.bot.state.peek(room);
    const ref = policyServerOf(
      state?.get(POLICY_STATE_TYPE)?.content,
      state?.get(UNSTABLE_POLICY_STATE_TYPE)?.content,
    );
    return namesPolicyServer(ref, this.serverName, this.key.publicKeyBase64);
  }

  private onAnswer(origin: string, answer: SignAnswer): void {
    const v = answer.verdict;
    if (v === undefined || v.verdict === "bad-event") return;
    const refusal: Refusal | undefined = v.verdict === "refuse" ? v.refusal : v.wouldRefuse;
    if (refusal === undefined) return;
    const dryRun = v.verdict === "sign";
    this.stats.refusal(v.event.sender, dryRun);
    setImmediate(() => this.record(origin, v.event, refusal, dryRun));
  }

  private record(origin: string, ev: PolicyEvent, refusal: Refusal, dryRun: boolean): void {
    // A spammer retrying the same thing gets one record a minute (the summary counts every one).
    const { write, suppressed } = this.repeats.take(`${ev.sender}|${ev.roomId}|${refusal.reason}`);
    if (!write) return;
    const rec: ActionRecord = {
      ts: Date.now(),
      kind: "refuse",
      target: ev.sender,
      room: ev.roomId,
      actor:
        refusal.rule !== undefined
          ? `policy ${refusal.rule.list}`
          : refusal.protection !== undefined
            ? `protection ${refusal.protection}`
            : "tyr (policy server)",
      reason: `${ev.type} refused by the policy server (asked by ${origin}): ${refusal.reason}${suppressed > 0 ? ` (${suppressed} identical refusals since the previous record, not recorded one by one)` : ""}`,
      outcome: dryRun ? "dry-run" : "done",
      ...(refusal.rule !== undefined ? { list: refusal.rule.list, ruleKey: ruleKey(refusal.rule) } : {}),
    };
    try {
      this.bot.actionLog.append(rec);
    } catch (e) {
      this.bot.log.error({ err: e }, "cannot write a policy server refusal to the action log");
    }
    this.bot.log.info(
      { origin, sender: ev.sender, room: ev.roomId, type: ev.type, why: refusal.reason, dryRun },
      "policy server refused to sign an event",
    );
  }

  private summarise(): void {
    const period = formatDuration(this.config.summaryIntervalSeconds * 1000);
    const text = this.stats.takeSummary(period, `${this.bot.config.commands.prefix} log`);
    if (text !== null)
      void this.bot.queue.submit({ kind: "notify", text, cause: { by: "system", what: "policy server" } });
  }

  statusLines(): StatusLine[] {
    const s = this.stats;
    const where = this.http.addresses().find((a) => a.name === "main" || a.name === FEATURE);
    const enabled = [...this.policy.protectedRooms].filter((r) => this.namesTyr(r)).length;
    return [
      {
        label: "Policy server",
        value:
          `${this.serverName} (${where ? `listening on ${where.host}:${where.port}` : "not listening"}) · ${this.ready ? "ready" : "NOT READY (answering 503)"}` +
          ` · named by ${enabled} of ${this.policy.protectedRooms.size} protected rooms` +
          ` · last sign request: ${s.lastRequestAt === undefined ? "never since start" : formatAgo(s.lastRequestAt)}` +
          (s.authFailures > 0 ? ` · ${s.authFailures} unauthenticated requests` : "") +
          (s.rateLimited > 0 ? ` · ${s.rateLimited} rate-limited` : "") +
          (this.bot.config.dryRun ? " · DRY RUN (signs everything, logs refusals)" : ""),
      },
    ];
  }
}
