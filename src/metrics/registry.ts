// Tyr's metrics: one prom-client Registry per bot (never the global one, so a test process can
// run several bots). Actions are counted as they finish (one observer on the consequence queue,
// the single point every effect passes); everything else is read from the parts' own counters and
// state when Prometheus scrapes (collect callbacks), so the hot paths carry no metrics code.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Consequence } from "../consequences/types.ts";
import type { Result } from "../consequences/queue.ts";
import type { SampledTimer } from "./sampler.ts";

/** What the metrics read. Every part is optional but the queue, so tests can give a subset. */
export interface MetricsSources {
  readonly queue: {
    readonly depth: number;
    oldestAgeMs(now?: number): number | undefined;
    readonly stats: { readonly retries: number };
    observe(fn: (c: Consequence, r: Result) => void): void;
  };
  readonly transport?: { readonly stats: { readonly requests: number; readonly rateLimited: number } };
  readonly sync?: () => {
    lastSyncAt: number | undefined;
    consecutiveFailures: number;
    batches: number;
    failures: number;
  };
  readonly router?: {
    readonly stats: {
      readonly timelineEvents: number;
      readonly decrypted: number;
      readonly undecryptable: number;
    };
  };
  readonly policy?: {
    readonly lists: readonly string[];
    revision(list: string): { readonly size: number } | undefined;
    readonly protectedRooms: ReadonlySet<string>;
    readonly members: { readonly size: number };
    readonly decisionTimer: SampledTimer;
  };
  /** Bytes of the current m.room.server_acl content of each protected room that has one. */
  readonly aclBytes?: () => Iterable<readonly [room: string, bytes: number]>;
  readonly antispam?: {
    readonly calls: ReadonlyMap<string, number>;
    readonly refusals: ReadonlyMap<string, number>;
    readonly authFailures: number;
  };
  /** Start-up failures holding Tyr in safe mode (src/safemode/). */
  readonly safeMode?: { list(): readonly unknown[] };
  readonly now?: () => number;
}

/** Latency buckets for one matcher decision, in seconds (1 µs … 10 ms). */
const DECISION_BUCKETS = [1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2];

/**
 * A counter whose value is owned elsewhere (a plain `stats` field): at each scrape it is raised
 * by what the source gained since the last one. Sources only ever grow, so this stays monotonic.
 */
function mirroredCounter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => Iterable<readonly [Partial<Record<L, string>>, number]>,
): Counter<L> {
  const seen = new Map<string, number>();
  return new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const [labels, value] of read()) {
        const key = JSON.stringify(labels);
        const gain = value - (seen.get(key) ?? 0);
        seen.set(key, value);
        if (gain > 0) this.inc(labels, gain);
      }
    },
  });
}

const one = (v: number): [[Record<string, string>, number]] => [[{}, v]];

export function createMetrics(src: MetricsSources): Registry {
  const registry = new Registry();
  const now = src.now ?? Date.now;
  /** A gauge read when scraped. */
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  collectDefaultMetrics({ register: registry, prefix: "tyr_" });

  // ---- actions: counted where every effect passes ----
  const actions = new Counter({
    name: "tyr_actions_total",
    help: "Effects the consequence queue finished, by kind, outcome (done, failed, skipped, dry-run) and cause (policy, protection, moderator, system)",
    labelNames: ["kind", "outcome", "cause"] as const,
    registers: [registry],
  });
  const protectionHits = new Counter({
    name: "tyr_protection_hits_total",
    help: "Effects issued by each protection (dry-run ones included)",
    labelNames: ["protection"] as const,
    registers: [registry],
  });
  src.queue.observe((c, r) => {
    actions.inc({ kind: c.kind, outcome: r.outcome, cause: c.cause.by });
    if (c.cause.by === "protection") protectionHits.inc({ protection: c.cause.name });
  });

  // ---- the queue ----
  const queue = src.queue;
  gauge("tyr_queue_depth", "Effects queued or running", () => queue.depth);
  gauge(
    "tyr_queue_oldest_age_seconds",
    "How long the oldest queued or running effect has waited (0 when idle)",
    () => (queue.oldestAgeMs(now()) ?? 0) / 1000,
  );
  mirroredCounter(registry, "tyr_action_retries_total", "Effects retried after a transient failure", [], () =>
    one(queue.stats.retries),
  );

  // ---- the homeserver connection ----
  const transport = src.transport;
  if (transport) {
    mirroredCounter(registry, "tyr_homeserver_requests_total", "Requests sent to the homeserver", [], () =>
      one(transport.stats.requests),
    );
    mirroredCounter(
      registry,
      "tyr_homeserver_rate_limited_total",
      "429 M_LIMIT_EXCEEDED answers from the homeserver (each one waited for and retried)",
      [],
      () => one(transport.stats.rateLimited),
    );
  }
  const sync = src.sync;
  if (sync) {
    gauge(
      "tyr_sync_last_success_timestamp_seconds",
      "Unix time of the last /sync batch handled (0 before the first)",
      () => (sync().lastSyncAt ?? 0) / 1000,
    );
    new Gauge({
      name: "tyr_sync_lag_seconds",
      help: "Seconds since the last /sync batch was handled (a long-poll returns at least every 30 s; -1 before the first)",
      registers: [registry],
      collect() {
        const at = sync().lastSyncAt;
        this.set(at === undefined ? -1 : Math.max(0, now() - at) / 1000);
      },
    });
    gauge(
      "tyr_sync_consecutive_failures",
      "Failed /sync requests since the last success",
      () => sync().consecutiveFailures,
    );
    mirroredCounter(registry, "tyr_sync_batches_total", "/sync batches received", [], () =>
      one(sync().batches),
    );
    mirroredCounter(registry, "tyr_sync_failures_total", "/sync requests that failed", [], () =>
      one(sync().failures),
    );
  }
  const router = src.router;
  if (router) {
    mirroredCounter(registry, "tyr_events_total", "Timeline events seen in /sync", [], () =>
      one(router.stats.timelineEvents),
    );
    mirroredCounter(registry, "tyr_events_decrypted_total", "Encrypted timeline events decrypted", [], () =>
      one(router.stats.decrypted),
    );
    mirroredCounter(
      registry,
      "tyr_events_undecryptable_total",
      "Encrypted timeline events that could not be decrypted when they arrived",
      [],
      () => one(router.stats.undecryptable),
    );
  }

  const safeMode = src.safeMode;
  if (safeMode) {
    gauge(
      "tyr_safe_mode_reasons",
      "Start-up failures holding Tyr in safe mode, where it applies no moderation (0: not in safe mode)",
      () => safeMode.list().length,
    );
  }

  // ---- what Tyr protects and knows ----
  const policy = src.policy;
  if (policy) {
    new Gauge({
      name: "tyr_policy_rules",
      help: "Rules loaded from each watched policy list",
      labelNames: ["list"] as const,
      registers: [registry],
      collect() {
        this.reset(); // a list no longer watched disappears
        for (const l of policy.lists) this.set({ list: l }, policy.revision(l)?.size ?? 0);
      },
    });
    gauge("tyr_protected_rooms", "Rooms Tyr protects", () => policy.protectedRooms.size);
    gauge(
      "tyr_members_tracked",
      "Distinct users in the member index of the protected rooms",
      () => policy.members.size,
    );
    const timer = policy.decisionTimer;
    new Histogram({
      name: "tyr_matcher_decision_seconds",
      help: "Time to decide one member against every rule (one call in 16 is timed)",
      buckets: DECISION_BUCKETS,
      registers: [registry],
      collect() {
        for (const ms of timer.drain()) this.observe(ms / 1000);
      },
    });
    mirroredCounter(registry, "tyr_matcher_decisions_total", "Member decisions made", [], () =>
      one(timer.calls),
    );
  }
  const aclBytes = src.aclBytes;
  if (aclBytes) {
    new Gauge({
      name: "tyr_acl_size_bytes",
      help: "Size of the current m.room.server_acl content of each protected room (the homeserver caps an event at 65,536 bytes)",
      labelNames: ["room"] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [room, bytes] of aclBytes()) this.set({ room }, bytes);
      },
    });
  }
  const antispam = src.antispam;
  if (antispam) {
    mirroredCounter(
      registry,
      "tyr_antispam_requests_total",
      "Requests from the homeserver's antispam module, by callback",
      ["callback"],
      () => [...antispam.calls].map(([cb, n]) => [{ callback: cb }, n] as const),
    );
    mirroredCounter(
      registry,
      "tyr_antispam_refusals_total",
      "Requests Tyr refused, by callback",
      ["callback"],
      () => [...antispam.refusals].map(([cb, n]) => [{ callback: cb }, n] as const),
    );
    mirroredCounter(
      registry,
      "tyr_antispam_auth_failures_total",
      "Antispam requests with a wrong or missing secret",
      [],
      () => one(antispam.authFailures),
    );
  }
  return registry;
}
