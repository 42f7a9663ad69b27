// The one path for every effect on the world. Bans from policies, redactions from protections and
// kicks from moderators all come through here, so de-duplication, bounded concurrency, retries,
// dry-run and the action log are written once. The queue holds no state worth persisting: after a
// crash, reconciliation derives the same work again and room state tells what is already done.
import type { Logger } from "../logging.ts";
import type { ActionLog, Outcome } from "../store/actionLog.ts";
import { toRecord } from "../store/actionLog.ts";
import type { Consequence } from "./types.ts";

export interface Executor {
  /** Performs the effect. Resolves with a short detail (e.g. the event ID) or throws. */
  execute(c: Consequence): Promise<string | void>;
}

export interface QueueOptions {
  concurrency: number;
  maxRetries: number;
  dryRun: boolean;
  log: Logger;
  actionLog: ActionLog;
  /** Base backoff for transient failures (network errors, 5xx); doubled per attempt. */
  retryBaseMs?: number;
  /** Last-moment safety check (see guard.ts): a reason to refuse, or undefined. */
  guard?: (c: Consequence) => string | undefined;
}

export interface Result {
  outcome: Outcome;
  detail?: string;
  error?: string;
}

interface Job {
  key: string;
  /** When it was submitted (Date.now()), for the age of the oldest item. */
  queuedAt: number;
  c: Consequence;
  attempts: number;
  promise: Promise<Result>;
  resolve: (r: Result) => void;
}

/** An effect made for an abuse report (a rule written by triage, say) is logged, linked to the report. */
function answersReport(c: Consequence): boolean {
  return c.cause.by === "moderator" && c.cause.report !== undefined;
}

/** Jobs with the same key are the same effect: a second submit joins the first. */
export function dedupeKey(c: Consequence): string | undefined {
  switch (c.kind) {
    case "ban":
    case "unban":
    case "kick":
    case "mute":
    case "unmute":
      return `${c.kind}|${c.room}|${c.user}`;
    case "deactivate":
      return `deactivate|${c.user}`;
    case "suspend":
    case "unsuspend":
    case "lock":
    case "unlock":
      return `${c.kind}|${c.user}`;
    case "takedownRoom":
    case "unblockRoom":
      return `${c.kind}|${c.room}`;
    case "quarantineMedia":
      return `quarantineMedia|${c.target.id}`;
    case "redactUser":
      return `redactUser|${c.room}|${c.user}`;
    case "setPowerLevel":
      // Two different levels asked for in a row are two changes, not one.
      return `setPowerLevel|${c.room}|${c.user}|${c.level}`;
    case "redact":
      return `redact|${c.event}`;
    case "setAcl":
    case "setJoinRule":
      return `${c.kind}|${c.room}`;
    case "setState":
      return `setState|${c.room}|${c.eventType}|${c.stateKey}`;
    default:
      return undefined; // messages are never merged
  }
}

/** Errors that will not get better by retrying. */
function permanent(e: unknown): boolean {
  const err = e as { errcode?: string; statusCode?: number; permanent?: boolean };
  // Marked by its thrower (e.g. a request abandoned because Tyr is stopping): no retry can help.
  if (err.permanent === true) return true;
  if (err.statusCode === 429) return false;
  if (typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500) return true;
  return err.errcode === "M_FORBIDDEN" || err.errcode === "M_NOT_FOUND" || err.errcode === "M_TOO_LARGE";
}

const MODERATION_KINDS = new Set<Consequence["kind"]>([
  "ban",
  "unban",
  "kick",
  "redact",
  "setAcl",
  "mute",
  "unmute",
  "setPowerLevel",
  "setJoinRule",
  "deactivate",
  "suspend",
  "unsuspend",
  "lock",
  "unlock",
  "takedownRoom",
  "unblockRoom",
  "quarantineMedia",
  "redactUser",
]);

export class ConsequenceQueue {
  private readonly pending: Job[] = [];
  private readonly byKey = new Map<string, Job>();
  private running = 0;
  private readonly opts: Required<QueueOptions>;
  private readonly executor: Executor;
  private idleWaiters: (() => void)[] = [];
  readonly stats = { done: 0, failed: 0, skipped: 0, dryRun: 0, retries: 0 };
  /** Jobs being executed (or waiting to retry). */
  private readonly active = new Set<Job>();
  /** Told about every finished effect, whatever its outcome (metrics count here, once). */
  private readonly observers: ((c: Consequence, r: Result) => void)[] = [];
  /** Aborted by `close()`: a job waiting to retry gives up instead of sleeping on. */
  private readonly closing = new AbortController();

  constructor(executor: Executor, opts: QueueOptions) {
    this.executor = executor;
    this.opts = { retryBaseMs: 1_000, guard: () => undefined, ...opts };
  }

  get depth(): number {
    return this.pending.length + this.running;
  }

  /** Calls `fn` with every effect as it finishes (done, failed, skipped or dry-run). */
  observe(fn: (c: Consequence, r: Result) => void): void {
    this.observers.push(fn);
  }

  /** How long the oldest queued or running effect has waited, or undefined when idle. */
  oldestAgeMs(now = Date.now()): number | undefined {
    let oldest = Number.POSITIVE_INFINITY;
    for (const j of this.pending) oldest = Math.min(oldest, j.queuedAt);
    for (const j of this.active) oldest = Math.min(oldest, j.queuedAt);
    return Number.isFinite(oldest) ? Math.max(0, now - oldest) : undefined;
  }

  /** Queues one effect; the promise settles when it has been executed (or given up). */
  submit(c: Consequence, opts: { front?: boolean } = {}): Promise<Result> {
    const key = dedupeKey(c);
    if (key) {
      const existing = this.byKey.get(key);
      const replaceable = c.kind === "setAcl" || c.kind === "setJoinRule" || c.kind === "setState";
      if (existing && !(replaceable && existing.attempts > 0)) {
        // A newer ACL replaces a pending one for the same room: a burst becomes one event.
        if (replaceable) existing.c = c;
        return existing.promise;
      }
      // A state update already in flight may carry old content: queue the new one behind it.
    }
    let resolve!: (r: Result) => void;
    const promise = new Promise<Result>((r) => (resolve = r));
    const job: Job = { key: key ?? "", queuedAt: Date.now(), c, attempts: 0, promise, resolve };
    if (key) this.byKey.set(key, job);
    if (opts.front) this.pending.unshift(job);
    else this.pending.push(job);
    this.pump();
    return promise;
  }

  /** Submits many effects and reports progress as they complete. */
  async submitAll(
    cs: readonly Consequence[],
    onProgress?: (done: number, total: number, failed: number) => void,
  ): Promise<Result[]> {
    let done = 0;
    let failed = 0;
    return Promise.all(
      cs.map((c) =>
        this.submit(c).then((r) => {
          done++;
          if (r.outcome === "failed") failed++;
          onProgress?.(done, cs.length, failed);
          return r;
        }),
      ),
    );
  }

  /** Resolves when nothing is pending or running. */
  idle(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /**
   * For a stopping bot, past its grace: effects waiting to retry fail now instead of holding the
   * stop for minutes of backoff (their requests could not go out anyway).
   */
  close(): void {
    this.closing.abort();
  }

  /** Waits `ms`, or until the queue is closed. */
  private retryWait(ms: number): Promise<void> {
    const signal = this.closing.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const t = setTimeout(() => {
        signal.removeEventListener("abort", done);
        resolve();
      }, ms);
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      signal.addEventListener("abort", done, { once: true });
    });
  }

  private pump(): void {
    while (this.running < this.opts.concurrency && this.pending.length > 0) {
      const job = this.pending.shift()!;
      this.running++;
      this.active.add(job);
      void this.runJob(job).finally(() => {
        this.running--;
        this.active.delete(job);
        this.pump();
        if (this.depth === 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const w of waiters) w();
        }
      });
    }
  }

  private async runJob(job: Job): Promise<void> {
    const { log, actionLog } = this.opts;
    const finish = (r: Result) => {
      if (job.key && this.byKey.get(job.key) === job) this.byKey.delete(job.key);
      const c = job.c;
      if ((MODERATION_KINDS.has(c.kind) || answersReport(c)) && !isHousekeeping(c))
        actionLog.append(toRecord(c, r.outcome, r.detail ?? r.error));
      this.stats[r.outcome === "dry-run" ? "dryRun" : r.outcome]++;
      for (const o of this.observers) {
        try {
          o(c, r);
        } catch (e) {
          log.error({ error: errorText(e) }, "queue observer failed");
        }
      }
      job.resolve(r);
    };
    const c = job.c;
    const refused = this.opts.guard(c);
    if (refused) {
      log.warn({ consequence: summarise(c) }, refused);
      finish({ outcome: "skipped", error: refused });
      return;
    }
    const dry = this.opts.dryRun || (c.cause.by === "protection" && c.cause.dryRun === true);
    if (dry && MODERATION_KINDS.has(c.kind)) {
      log.info({ consequence: summarise(c) }, "dry-run: not executing");
      finish({ outcome: "dry-run" });
      return;
    }
    for (;;) {
      job.attempts++;
      try {
        const detail = await this.executor.execute(job.c);
        finish(detail ? { outcome: "done", detail } : { outcome: "done" });
        return;
      } catch (e) {
        const error = errorText(e);
        if (permanent(e) || job.attempts > this.opts.maxRetries || this.closing.signal.aborted) {
          log.warn({ consequence: summarise(job.c), error, attempts: job.attempts }, "action failed");
          finish({ outcome: "failed", error });
          return;
        }
        const retryAfter = (e as { retryAfterMs?: number }).retryAfterMs;
        const delay = retryAfter ?? this.opts.retryBaseMs * 2 ** Math.min(job.attempts - 1, 6);
        this.stats.retries++;
        log.debug({ consequence: summarise(job.c), error, delay }, "action failed; retrying");
        await this.retryWait(delay);
        if (this.closing.signal.aborted) {
          log.warn({ consequence: summarise(job.c), error }, "action failed; Tyr stopped before retrying it");
          finish({ outcome: "failed", error });
          return;
        }
      }
    }
  }
}

/** Tyr tidying its own messages (e.g. removing a ⏳ reaction) is not a moderation action. */
function isHousekeeping(c: Consequence): boolean {
  return c.cause.by === "system" && c.cause.what === "housekeeping";
}

export function errorText(e: unknown): string {
  const err = e as { errcode?: string; error?: string; message?: string; cause?: { code?: string } };
  if (err?.errcode) return `${err.errcode}: ${err.error ?? ""}`.trim();
  if (err?.cause?.code) return `${err.message ?? "error"} (${err.cause.code})`;
  return err?.message ?? String(e);
}

/** A log-friendly one-liner without message bodies. */
export function summarise(c: Consequence): string {
  switch (c.kind) {
    case "ban":
    case "unban":
    case "kick":
    case "mute":
    case "unmute":
      return `${c.kind} ${c.user} in ${c.room}`;
    case "setPowerLevel":
      return `power level ${c.level} for ${c.user} in ${c.room}`;
    case "redact":
      return `redact ${c.event} in ${c.room}`;
    case "setAcl":
      return `server ACL in ${c.room} (${c.content.deny.length} denied)`;
    case "setJoinRule":
      return `join rule ${c.joinRule} in ${c.room}`;
    case "deactivate":
      return `deactivate ${c.user}${c.erase ? " (erase)" : ""}`;
    case "suspend":
    case "unsuspend":
    case "lock":
    case "unlock":
      return `${c.kind} ${c.user}`;
    case "takedownRoom":
      return `take down ${c.room}${c.purge ? " (purge)" : ""}`;
    case "unblockRoom":
      return `unblock ${c.room}`;
    case "quarantineMedia":
      return `quarantine media of ${c.target.id}`;
    case "redactUser":
      return `redact the events of ${c.user} in ${c.room}`;
    case "warn":
      return `warning in ${c.room}`;
    case "setState":
      return `${c.eventType} (${c.target ?? c.stateKey}) in ${c.room}`;
    case "notify":
      return "notice to moderators";
    case "send":
      return `${c.eventType} to ${c.room}`;
  }
}
