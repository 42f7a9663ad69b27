// The measuring loop shared by the HTTP-endpoint benches (antispam, policy server): a warm-up,
// then rounds that alternate a do-nothing baseline and the measured request mix on the same
// listener, each driven open-loop from a worker thread (bench/antispamLoad.ts). Alternating
// rounds expose both to the same machine noise, so the ratio is meaningful on a busy machine.
import { Worker } from "node:worker_threads";
import type { LoadJob, LoadResult } from "./antispamLoad.ts";
import { performance } from "node:perf_hooks";
import type { Route } from "../src/http/types.ts";

export function drive(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL("./antispamLoad.ts", import.meta.url), { workerData: job });
    w.once("message", (r: LoadResult) => {
      resolve(r);
      void w.terminate();
    });
    w.once("error", reject);
  });
}

export const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

export interface PairedRounds {
  measured: LoadResult[];
  baseline: LoadResult[];
  /** Medians over the rounds. */
  p99: number;
  p99Base: number;
  requestsPerS: number;
  requestsPerSBase: number;
}

export async function pairedRounds(opts: {
  job: (requests: LoadJob["requests"], durationMs?: number) => LoadJob;
  mix: LoadJob["requests"];
  noop: LoadJob["requests"];
  rounds: number;
  /** Called after the warm-up, before the measured rounds (reset per-request samples there). */
  onMeasureStart?: () => void;
}): Promise<PairedRounds> {
  // Warm-up (JIT, pattern caches, connections).
  await drive(opts.job(opts.mix, 1_500));
  await drive(opts.job(opts.noop, 1_500));
  opts.onMeasureStart?.();
  // Start the measured rounds from a collected heap (building the rules left garbage).
  (globalThis as { gc?: () => void }).gc?.();
  const measured: LoadResult[] = [];
  const baseline: LoadResult[] = [];
  for (let i = 0; i < opts.rounds; i++) {
    baseline.push(await drive(opts.job(opts.noop)));
    measured.push(await drive(opts.job(opts.mix)));
  }
  const rps = (r: LoadResult) => r.completed / (r.elapsedMs / 1000);
  return {
    measured,
    baseline,
    p99: median(measured.map((r) => r.p99)),
    p99Base: median(baseline.map((r) => r.p99)),
    requestsPerS: median(measured.map(rps)),
    requestsPerSBase: median(baseline.map(rps)),
  };
}

/**
 * The routes with their handlers timed into `samples` (decision only, no HTTP), to tell Tyr's own
 * cost from the machine's.
 */
export function timedRoutes(routes: readonly Route[], samples: number[]): Route[] {
  return routes.map((r) => ({
    ...r,
    handler: (req: Parameters<typeof r.handler>[0]) => {
      const t0 = performance.now();
      const out = r.handler(req);
      samples.push(performance.now() - t0);
      return out;
    },
  }));
}

/** The 99th percentile of `samples` (sorts them). */
export function p99Of(samples: number[]): number {
  samples.sort((x, y) => x - y);
  return samples[Math.floor(samples.length * 0.99)] ?? NaN;
}
