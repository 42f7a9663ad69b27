// Server ACL sync, the imperative shell around build.ts: keeps m.room.server_acl of every
// protected room equal to the ACL computed from the server rules of the watched lists.
//
// - Recomputes after list changes, coalesced: a burst of rule changes (one sync or several over a
//   few seconds) becomes one computation and one event per room (debounce, with a maximum wait).
// - Sends only to rooms whose current ACL differs (order-insensitive), one wave at a time, through
//   the consequence queue (rate limits, retries, audit, dry-run, own-server guard).
// - Rooms where Tyr lacks the power are reported once, with the level needed; reported again only
//   after they were fixed and broke again.
// - A hand edit of a protected room's ACL is undone and the moderators are told, unless the room is
//   in `acl.excludedRooms`.
// - Entries left out of the ACL (own server, invalid, hashed, size) are reported once per change.
// - Members of denied servers: an ACL does not remove them. With `acl.banMembersOfDeniedServers`
//   the policy feature bans them (server rules apply to users there), not this feature.
import type { BotParts, Feature } from "../feature.ts";
import type { BatchMeta } from "../router.ts";
import type { StateEvent } from "../matrix/roomState.ts";
import type { Reporting, StatusLine } from "../feature.ts";
import type { PolicyFeature } from "../policy/feature.ts";
import type { RuleDiff } from "../banlists/policyList.ts";
import type { Cause, Consequence, ServerAclContent } from "../consequences/types.ts";
import { eventLevel, userLevel } from "../matrix/power.ts";
import { errorText } from "../consequences/queue.ts";
import { ProgressMessage } from "../consequences/progress.ts";
import { code, fmt, formatNumber, join, text, type Fragment } from "../format/fragment.ts";
import { buildAcl, type AclListInput, type AclPlan } from "./build.ts";
import {
  aclKey,
  decideRoom,
  describeLeftOut,
  leftOutByList,
  leftOutSignature,
  type AclAttempt,
  type RoomAclDecision,
  type RoomAclStatus,
} from "./roomSync.ts";

const ACL_TYPE = "m.room.server_acl";
/** Rooms updated in one wave from which a progress message is shown. */
const PROGRESS_THRESHOLD = 10;

export interface AclFeatureOptions {
  /** Quiet time after the last change before recomputing (ms). */
  readonly debounceMs?: number;
  /** Quiet time used instead while a burst is going on (changes soon after an ACL was sent). */
  readonly burstDebounceMs?: number;
  /** Changes this soon after a wave of ACL events count as the same burst (ms). */
  readonly burstWindowMs?: number;
  /** Longest a continuous stream of changes may delay a recomputation (ms). */
  readonly maxWaitMs?: number;
  /** The left-out report waits until what is left out has been stable this long (ms). */
  readonly reportDelayMs?: number;
  /** How long a sent ACL may take to appear in the room state before it is sent again (ms). */
  readonly sentGraceMs?: number;
}

export interface AclRoomReport {
  readonly room: string;
  readonly status: RoomAclStatus;
  /** The next reconciliation would send the computed ACL to this room. */
  readonly needsUpdate: boolean;
}

export interface AclSyncResult {
  /** Protected rooms looked at. */
  readonly rooms: number;
  readonly sent: number;
  readonly failed: { readonly room: string; readonly error: string }[];
  readonly inSync: number;
  readonly blocked: number;
}

const SYSTEM_CAUSE: Cause = { by: "system", what: "server ACL sync" };

function touchesServerRules(diff: RuleDiff): boolean {
  return (
    diff.added.some((r) => r.kind === "server") ||
    diff.removed.some((r) => r.kind === "server") ||
    diff.modified.some((m) => m.current.kind === "server" || m.previous.kind === "server")
  );
}

export class AclFeature implements Feature, Reporting {
  readonly name = "acl";
  private readonly bot: BotParts;
  private readonly policy: PolicyFeature;
  private readonly debounceMs: number;
  private readonly burstDebounceMs: number;
  private readonly burstWindowMs: number;
  private readonly maxWaitMs: number;
  private readonly reportDelayMs: number;
  private quietMs = 0;
  /** When the last wave of ACL events finished. */
  private lastWaveAt = -Infinity;
  private reportTimer: NodeJS.Timeout | undefined;
  private readonly sentGraceMs: number;
  private ready = false;
  private stopped = false;
  private plan: AclPlan | undefined;
  private listsDirty = true;
  private roomsDirty = true;
  private timer: NodeJS.Timeout | undefined;
  private firstDirtyAt: number | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly excluded = new Set<string>();
  private readonly attempts = new Map<string, AclAttempt>();
  /** Protected rooms whose ACL someone else changed, with who did it. */
  private readonly handEdited = new Map<string, string>();
  /** Protected rooms Tyr had the state of at the end of the last batch. */
  private knownRooms = new Set<string>();
  private listOrderKey = "";
  private readonly reportedNoPower = new Set<string>();
  private readonly reportedOnce = new Set<string>();
  private lastLeftOutSignature = "";
  readonly stats = { recomputed: 0, sent: 0, restored: 0, failed: 0 };

  constructor(bot: BotParts, policy: PolicyFeature, opts: AclFeatureOptions = {}) {
    this.bot = bot;
    this.policy = policy;
    this.debounceMs = opts.debounceMs ?? 500;
    this.burstDebounceMs = opts.burstDebounceMs ?? 2_000;
    this.burstWindowMs = opts.burstWindowMs ?? 5_000;
    this.maxWaitMs = opts.maxWaitMs ?? 30_000;
    this.reportDelayMs = opts.reportDelayMs ?? 2_000;
    this.sentGraceMs = opts.sentGraceMs ?? 60_000;
    policy.onListChange((diff) => {
      if (touchesServerRules(diff)) this.listsDirty = true;
    });
  }

  // ---- what commands read ---------------------------------------------------------------------

  /** The current computed ACL (recomputed first when rules changed since). */
  currentPlan(): AclPlan {
    if (this.listsDirty || this.plan === undefined) this.recompute();
    return this.plan!;
  }

  isExcluded(room: string): boolean {
    return this.excluded.has(room);
  }

  /** Every protected room (sorted) with its status, without changing anything. */
  roomReports(): AclRoomReport[] {
    const plan = this.currentPlan();
    const key = aclKey(plan.content);
    return this.protectedRooms().map((room) => {
      const d = this.decide(room, plan, key, false);
      return { room, status: d.status, needsUpdate: d.send };
    });
  }

  statusLines(): StatusLine[] {
    if (!this.ready) return [{ label: "Server ACL", value: "starting" }];
    const plan = this.currentPlan();
    const counts = new Map<string, number>();
    for (const r of this.roomReports()) {
      const k = r.needsUpdate ? "pending" : r.status.kind;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const rooms = [...counts].map(([k, n]) => `${n} ${k.replace("-", " ")}`).join(", ");
    return [
      {
        label: "Server ACL",
        value: `${formatNumber(plan.content.deny.length)} servers denied · ${formatNumber(plan.bytes)} of ${formatNumber(plan.budgetBytes)} bytes${plan.leftOutForSize ? ` · ${formatNumber(plan.leftOutForSize)} left out for size` : ""} · rooms: ${rooms || "none"}`,
      },
    ];
  }

  // ---- lifecycle --------------------------------------------------------------------------------

  async start(): Promise<void> {
    for (const ref of this.bot.config.acl.excludedRooms) {
      try {
        this.excluded.add(ref.startsWith("#") ? await this.bot.client.resolveRoom(ref) : ref);
      } catch (e) {
        this.notifyOnce(
          `resolve:${ref}`,
          text(
            `Cannot resolve ${ref} from acl.excludedRooms: ${errorText(e)}. That room is NOT excluded: Tyr manages its ACL like any protected room's. Use the room ID in the config and restart.`,
          ),
        );
      }
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.reportTimer) clearTimeout(this.reportTimer);
    this.timer = undefined;
    this.reportTimer = undefined;
  }

  // ---- sync -------------------------------------------------------------------------------------

  onState(roomId: string, ev: StateEvent): void {
    if (!this.policy.protectedRooms.has(roomId)) return;
    if (ev.type === ACL_TYPE && ev.stateKey === "") {
      const me = this.bot.session.userId;
      const attempt = this.attempts.get(roomId);
      if (ev.sender === me) {
        // Our own event arriving: the room caught up with what we sent.
        if (attempt && (attempt.eventId === ev.eventId || attempt.key === keyOf(ev.content))) {
          this.attempts.delete(roomId);
        }
      } else if (this.ready && this.knownRooms.has(roomId) && !this.excluded.has(roomId)) {
        this.handEdited.set(roomId, ev.sender);
        this.attempts.delete(roomId);
      }
      this.roomsDirty = true;
    } else if (ev.type === "m.room.power_levels" || ev.type === "m.room.create") {
      this.roomsDirty = true;
    }
  }

  onLeave(roomId: string): void {
    if (this.policy.protectedRooms.has(roomId)) this.roomsDirty = true;
  }

  onBatchEnd(meta: BatchMeta): void {
    void meta;
    // The policy feature (added before us) loads every list in its first onBatchEnd.
    if (!this.ready) {
      this.ready = true;
      this.listsDirty = true;
      this.roomsDirty = true;
    }
    const order = this.policy.lists.join("\n");
    if (order !== this.listOrderKey) {
      this.listOrderKey = order;
      this.listsDirty = true;
    }
    const known = new Set(
      this.protectedRooms().filter((r) => this.bot.state.peek(r)?.createEvent !== undefined),
    );
    if (!sameSet(known, this.knownRooms)) this.roomsDirty = true;
    this.knownRooms = known;
    if (this.listsDirty || this.roomsDirty) this.schedule();
  }

  // ---- reconciliation ---------------------------------------------------------------------------

  /**
   * Debounced: the first change starts the clock and a quiet spell ends the wave. A list publishing
   * hundreds of rules one event at a time (Synapse writes ~20 state events a second into one room)
   * arrives as a stream of small batches; a change soon after a wave marks a burst in progress, so
   * the next quiet spell must be longer. Under a never-ending stream, `maxWaitMs` still bounds the
   * delay.
   */
  private schedule(): void {
    if (this.stopped) return;
    const now = Date.now();
    if (this.firstDirtyAt === undefined) {
      this.firstDirtyAt = now;
      this.quietMs = now - this.lastWaveAt < this.burstWindowMs ? this.burstDebounceMs : this.debounceMs;
    }
    const delay = Math.max(0, Math.min(this.quietMs, this.firstDirtyAt + this.maxWaitMs - now));
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.bot.log.debug(
        { waitedMs: Date.now() - (this.firstDirtyAt ?? 0), quietMs: this.quietMs },
        "server ACL wave",
      );
      this.firstDirtyAt = undefined;
      void this.enqueue(async () => {
        // Safe mode (README): no ACL while Tyr's start-up settings are broken.
        await this.policy.startupSettled();
        if (!this.bot.safeMode.active) await this.reconcile({ force: false, cause: SYSTEM_CAUSE });
      });
    }, delay);
    this.timer.unref?.();
  }

  /** Reconciliations run one at a time. */
  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch((e: unknown) => this.bot.log.error({ err: e }, "server ACL sync failed"));
    return run;
  }

  /** `acl sync`: recompute and send to every room that differs, also after failures. */
  syncNow(opts: {
    cause: Cause;
    progress?: (done: number, total: number, failed: number) => void;
  }): Promise<AclSyncResult> {
    this.listsDirty = true;
    return this.enqueue(() =>
      this.reconcile({
        force: true,
        cause: opts.cause,
        ...(opts.progress ? { progress: opts.progress } : {}),
      }),
    );
  }

  private protectedRooms(): string[] {
    return [...this.policy.protectedRooms].sort();
  }

  /** The server rules of the watched lists, in priority order. */
  private listInputs(): AclListInput[] {
    const lists: AclListInput[] = [];
    for (const id of this.policy.lists) {
      const rev = this.policy.revision(id);
      if (rev) lists.push({ id, rules: [...rev.rules("server")] });
    }
    return lists;
  }

  private build(lists: AclListInput[]): AclPlan {
    const cfg = this.bot.config.acl;
    return buildAcl({
      lists,
      ownServer: this.bot.serverName,
      options: { allowIpLiterals: cfg.allowIpLiterals, allow: cfg.allow },
    });
  }

  /**
   * The ACL Tyr would compute if `list` were watched too, at the lowest priority (where `watch`
   * puts it): the same computation as the real one, so a preview never promises more than fits.
   */
  planWith(list: AclListInput): AclPlan {
    return this.build([...this.listInputs().filter((l) => l.id !== list.id), list]);
  }

  private recompute(): void {
    this.plan = this.build(this.listInputs());
    this.listsDirty = false;
    this.stats.recomputed++;
    this.bot.log.debug(
      { denied: this.plan.content.deny.length, bytes: this.plan.bytes },
      "server ACL recomputed",
    );
    if (leftOutSignature(leftOutByList(this.plan)) !== this.lastLeftOutSignature)
      this.scheduleLeftOutReport();
  }

  private decide(room: string, plan: AclPlan, key: string, force: boolean): RoomAclDecision {
    const state = this.bot.state.peek(room);
    const joined = state?.createEvent !== undefined && state.membership(this.bot.session.userId) === "join";
    const me = this.bot.session.userId;
    return decideRoom(
      {
        excluded: this.excluded.has(room),
        joined,
        level: joined
          ? { has: userLevel(state!, me), needed: eventLevel(state!, ACL_TYPE, true) }
          : { has: 0, needed: 0 },
        current: state?.get(ACL_TYPE)?.content,
        attempt: this.attempts.get(room),
      },
      plan.content,
      key,
      { force, now: Date.now(), sentGraceMs: this.sentGraceMs },
    );
  }

  private async reconcile(opts: {
    force: boolean;
    cause: Cause;
    progress?: (done: number, total: number, failed: number) => void;
  }): Promise<AclSyncResult> {
    if (this.listsDirty || this.plan === undefined) this.recompute();
    this.roomsDirty = false;
    const plan = this.plan!;
    const rooms = this.protectedRooms();
    const result = {
      rooms: rooms.length,
      sent: 0,
      failed: [] as { room: string; error: string }[],
      inSync: 0,
      blocked: 0,
    };
    if (!plan.fits) {
      this.notifyOnce(
        "allow-too-large",
        text(
          "The configured acl.allow list alone exceeds the size limit of a server ACL event; Tyr sends no ACL until it is shortened.",
        ),
      );
      return result;
    }
    const key = aclKey(plan.content);
    const toSend: string[] = [];
    for (const room of rooms) {
      const d = this.decide(room, plan, key, opts.force);
      if (d.send) toSend.push(room);
      else if (d.status.kind === "in-sync" || d.status.kind === "excluded") result.inSync++;
      else if (d.status.kind !== "pending") result.blocked++;
      if (d.status.kind === "no-permission") {
        if (!this.reportedNoPower.has(room)) {
          this.reportedNoPower.add(room);
          const msg = fmt`Tyr cannot set the server ACL of ${this.roomLabel(room)}: sending ${code(ACL_TYPE)} needs power level ${levelText(d.status.needed)} and Tyr has ${levelText(d.status.has)}. Raise the bot's power level (or lower the level for ${code(ACL_TYPE)}) and Tyr will apply the ACL.`;
          this.bot.log.warn(
            { room, needed: d.status.needed, has: d.status.has },
            "no permission to set the server ACL",
          );
          this.notify(msg);
        }
      } else if (d.status.kind === "in-sync" || d.send) {
        this.reportedNoPower.delete(room);
      }
      // Only a restore is worth a word about the hand edit; anything else is reported on its own.
      if (!d.send) this.handEdited.delete(room);
    }
    if (toSend.length === 0) return result;

    const label = `Updating the server ACL (${plan.content.deny.length} servers denied) in ${toSend.length} rooms`;
    const progress =
      toSend.length >= PROGRESS_THRESHOLD && !opts.progress
        ? new ProgressMessage(this.bot.queue, this.bot.managementRoomId, { intervalMs: 3_000 })
        : undefined;
    await progress?.update(`${label}: 0/${toSend.length}`);
    const content: ServerAclContent = plan.content;
    const consequences: Consequence[] = toSend.map((room) => ({
      kind: "setAcl",
      room,
      content,
      cause: opts.cause,
    }));
    for (const room of toSend) this.attempts.set(room, { key, state: "in-flight", at: Date.now() });
    this.lastWaveAt = Date.now();
    this.bot.log.info(
      { rooms: toSend.length, denied: content.deny.length, bytes: plan.bytes },
      "sending server ACL",
    );
    const results = await this.bot.queue.submitAll(consequences, (done, total, failed) => {
      opts.progress?.(done, total, failed);
      void progress?.update(`${label}: ${done}/${total}${failed ? ` (${failed} failed)` : ""}`);
    });
    this.lastWaveAt = Date.now();
    const restored: { room: string; by: string }[] = [];
    for (const [i, r] of results.entries()) {
      const room = toSend[i]!;
      const now = Date.now();
      if (r.outcome === "done") {
        result.sent++;
        this.stats.sent++;
        const current = this.bot.state.peek(room)?.get(ACL_TYPE);
        // Our event may already have come back through sync while we waited for the answer.
        if (
          current?.eventId === r.detail ||
          (current?.sender === this.bot.session.userId && keyOf(current.content) === key)
        ) {
          this.attempts.delete(room);
        } else {
          this.attempts.set(room, {
            key,
            state: "sent",
            at: now,
            ...(r.detail ? { eventId: r.detail } : {}),
          });
        }
        const by = this.handEdited.get(room);
        if (by !== undefined) restored.push({ room, by });
      } else {
        const error = r.error ?? r.outcome;
        const state = r.outcome === "dry-run" ? "dry-run" : r.outcome === "skipped" ? "refused" : "failed";
        this.attempts.set(room, { key, state, error, at: now });
        if (state !== "dry-run") {
          result.failed.push({ room, error });
          this.stats.failed++;
          this.notifyOnce(
            `failed:${room}:${error}`,
            fmt`Could not set the server ACL of ${this.roomLabel(room)}: ${error}`,
          );
        }
      }
      this.handEdited.delete(room);
    }
    if (restored.length > 0) {
      this.stats.restored += restored.length;
      const items = restored.map((x) => fmt`${this.roomLabel(x.room)} (changed by ${code(x.by)})`);
      this.notify(
        fmt`The server ACL of ${join(items)} was changed by hand; Tyr restored the ACL computed from the watched lists (${String(content.deny.length)} servers denied). To manage a room's ACL by hand, add it to ${code("acl.excludedRooms")} in the config.`,
      );
    }
    await progress?.finish(
      `${label}: done, ${result.sent}/${toSend.length} sent${result.failed.length ? `; ${result.failed.length} failed (see ${this.bot.config.commands.prefix} acl)` : ""}.`,
    );
    return result;
  }

  // ---- telling the moderators -------------------------------------------------------------------

  /** What is left out changes a lot during a burst: report once it has settled. */
  private scheduleLeftOutReport(): void {
    if (this.stopped) return;
    if (this.reportTimer) clearTimeout(this.reportTimer);
    this.reportTimer = setTimeout(() => {
      this.reportTimer = undefined;
      // A recomputation is due: it schedules the report again.
      if (this.listsDirty || this.plan === undefined) return;
      this.reportLeftOut(this.plan);
    }, this.reportDelayMs);
    this.reportTimer.unref?.();
  }

  private reportLeftOut(plan: AclPlan): void {
    const groups = leftOutByList(plan);
    const signature = leftOutSignature(groups);
    if (signature === this.lastLeftOutSignature) return;
    const hadProblems = this.lastLeftOutSignature !== "";
    this.lastLeftOutSignature = signature;
    if (signature === "") {
      if (hadProblems)
        this.notify(text("Server ACL: every server rule of the watched lists is in the ACL again."));
      return;
    }
    const worth = groups.filter((g) => g.ownServer.length + g.invalid + g.hashed + g.leftOutForSize > 0);
    const total = worth.reduce((n, g) => n + g.ownServer.length + g.invalid + g.hashed + g.leftOutForSize, 0);
    const lines = worth.map((g) => fmt`${code(this.policy.displayList(g.list))}: ${describeLeftOut(g)}`);
    const sizeNote = plan.leftOutForSize
      ? ` The ACL uses ${formatNumber(plan.bytes)} of ${formatNumber(plan.budgetBytes)} bytes; lower-priority lists are cut first.`
      : "";
    this.bot.log.warn({ leftOut: total, lists: worth.length }, "server rules left out of the ACL");
    this.notify(
      fmt`Server ACL: ${String(total)} server rule(s) could not be applied. Tyr never denies its own server (${code(this.bot.serverName)}) and never sends an ACL the homeserver would refuse.${sizeNote} ${join(lines, "; ")}. Details: ${code(`${this.bot.config.commands.prefix} acl`)}.`,
    );
  }

  roomLabel(room: string): Fragment {
    return code(this.policy.displayList(room));
  }

  private notify(f: Fragment): void {
    void this.bot.queue.submit({ kind: "notify", text: f.text, html: f.html, cause: SYSTEM_CAUSE });
  }

  private notifyOnce(key: string, f: Fragment): void {
    if (this.reportedOnce.has(key)) return;
    this.reportedOnce.add(key);
    this.bot.log.warn(f.text);
    this.notify(f);
  }
}

function keyOf(content: Record<string, unknown>): string | undefined {
  const list = (v: unknown): string[] | undefined =>
    Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : undefined;
  const allow = list(content.allow ?? []);
  const deny = list(content.deny ?? []);
  if (!allow || !deny) return undefined;
  const ip = typeof content.allow_ip_literals === "boolean" ? content.allow_ip_literals : true;
  return aclKey({ allow, deny, allow_ip_literals: ip });
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

function levelText(n: number): string {
  return n === Infinity ? "unlimited" : String(n);
}
