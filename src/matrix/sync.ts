// Tyr's own /sync loop. We don't use bot-sdk's: we need the raw body (to-device, device lists,
// one-time-key counts for the crypto engine), the `limited` flag to detect gaps, control over when
// the token is persisted (only after the batch was handled, so a crash replays instead of losing
// events), and a backoff that survives a homeserver restart without spinning.
import type { Logger } from "../logging.ts";
import type { TyrClient } from "./client.ts";
import type { SyncResponse } from "./syncTypes.ts";

export interface SyncLoopOptions {
  /** Long-poll timeout given to the homeserver. */
  pollTimeoutMs?: number;
  /** Backoff bounds after a failed sync. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  loadToken(): string | undefined;
  saveToken(token: string): void;
  /** Called for every batch, awaited before the token is saved. `initial` = no previous token. */
  onBatch(body: SyncResponse, meta: { initial: boolean; since?: string }): Promise<void>;
  log: Logger;
}

const FILTER = JSON.stringify({
  presence: { not_types: ["*"] },
  room: {
    timeline: { limit: 100 },
    ephemeral: { not_types: ["*"] },
    state: { lazy_load_members: false },
  },
});

export class FatalSyncError extends Error {}

export class SyncLoop {
  private running = false;
  private abort = new AbortController();
  lastSyncAt: number | undefined;
  consecutiveFailures = 0;
  /** Batches received and sync requests failed since start, for metrics. */
  readonly stats = { batches: 0, failures: 0 };
  private readonly opts: Required<Omit<SyncLoopOptions, "log" | "loadToken" | "saveToken" | "onBatch">> &
    SyncLoopOptions;

  private readonly client: TyrClient;

  constructor(client: TyrClient, opts: SyncLoopOptions) {
    this.client = client;
    this.opts = { pollTimeoutMs: 30_000, minBackoffMs: 1_000, maxBackoffMs: 15_000, ...opts };
  }

  /** Runs until `stop()`; rejects only on a fatal error (e.g. the access token was revoked). */
  async run(): Promise<void> {
    this.running = true;
    let token = this.opts.loadToken();
    let first = true;
    const log = this.opts.log;
    while (this.running) {
      let body: SyncResponse;
      try {
        body = (await this.client.transport.request("GET", "/_matrix/client/v3/sync", {
          // The first sync of a run asks for full state: the room state cache starts empty even
          // when we resume from a saved token.
          qs: {
            filter: FILTER,
            timeout: token && !first ? this.opts.pollTimeoutMs : 0,
            since: token,
            full_state: first && token ? "true" : undefined,
          },
          accessToken: this.client.accessToken,
          timeoutMs: this.opts.pollTimeoutMs + 30_000,
          ignorePause: true,
          signal: this.abort.signal,
        })) as SyncResponse;
      } catch (e) {
        if (!this.running) break;
        const err = e as { errcode?: string; statusCode?: number; message?: string };
        if (err.errcode === "M_UNKNOWN_TOKEN" || err.statusCode === 401) {
          throw new FatalSyncError(
            "the homeserver rejected the access token (M_UNKNOWN_TOKEN): log in again and update accessToken",
          );
        }
        this.consecutiveFailures++;
        this.stats.failures++;
        const delay = this.backoff();
        log.warn(
          { attempt: this.consecutiveFailures, retryInMs: delay, error: describeError(e) },
          "sync failed; homeserver unreachable or erroring, will retry",
        );
        await this.sleep(delay);
        continue;
      }
      this.stats.batches++;
      if (this.consecutiveFailures > 0) log.info({ after: this.consecutiveFailures }, "sync recovered");
      this.consecutiveFailures = 0;
      const initial = token === undefined;
      try {
        await this.opts.onBatch(body, initial ? { initial } : { initial, since: token });
      } catch (e) {
        // A handler bug must not wedge the bot on one batch forever; it is logged and we move on.
        log.error({ error: describeError(e) }, "error while handling a sync batch");
      }
      if (typeof body.next_batch === "string") {
        token = body.next_batch;
        this.opts.saveToken(token);
      }
      first = false;
      this.lastSyncAt = Date.now();
    }
  }

  stop(): void {
    this.running = false;
    this.abort.abort();
    this.abort = new AbortController();
  }

  private backoff(): number {
    const exp = this.opts.minBackoffMs * 2 ** Math.min(this.consecutiveFailures - 1, 10);
    const capped = Math.min(exp, this.opts.maxBackoffMs);
    return Math.round(capped * (0.8 + Math.random() * 0.4));
  }

  private sleep(ms: number): Promise<void> {
    const signal = this.abort.signal;
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      signal.addEventListener("abort", () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

export function describeError(e: unknown): string {
  if (e && typeof e === "object") {
    const m = e as { errcode?: string; error?: string; message?: string; cause?: { code?: string } };
    if (m.errcode) return `${m.errcode}: ${m.error ?? ""}`.trim();
    if (m.cause?.code) return `${m.message ?? "error"} (${m.cause.code})`;
    if (m.message) return m.message;
  }
  return String(e);
}
