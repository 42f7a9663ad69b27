// Load generator for bench/antispam.bench.ts, run in a worker thread so the client's work does
// not share the server's event loop. Open loop: requests are sent on schedule (`rate` per
// second) whether or not earlier ones were answered, so a slow server shows up as latency, not
// as a politely lower rate. Latency = send → last byte of the answer.
import { Agent, request } from "node:http";
import { performance } from "node:perf_hooks";
import { parentPort, workerData } from "node:worker_threads";

export interface LoadJob {
  port: number;
  rate: number;
  durationMs: number;
  headers: Record<string, string>;
  /** Cycled through in order: [path, body, extra headers of this request (e.g. a signature)]. */
  requests: [string, string, Record<string, string>?][];
}

export interface LoadResult {
  sent: number;
  completed: number;
  errors: number;
  /** Answers by status. */
  statuses: Record<number, number>;
  elapsedMs: number;
  p50: number;
  p99: number;
  max: number;
}

async function load(job: LoadJob): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  let sent = 0;
  let errors = 0;
  let inFlight = 0;
  const total = Math.round((job.rate * job.durationMs) / 1000);
  const start = performance.now();
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const one = (path: string, body: string, extra?: Record<string, string>): void => {
    const t0 = performance.now();
    inFlight++;
    const req = request(
      {
        host: "127.0.0.1",
        port: job.port,
        path,
        method: "POST",
        agent,
        headers: extra === undefined ? job.headers : { ...job.headers, ...extra },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          latencies.push(performance.now() - t0);
          statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1;
          if (--inFlight === 0 && sent === total) done();
        });
      },
    );
    req.on("error", () => {
      errors++;
      if (--inFlight === 0 && sent === total) done();
    });
    req.end(body);
  };
  const tick = (): void => {
    const due = Math.min(total, Math.floor(((performance.now() - start) * job.rate) / 1000));
    while (sent < due) {
      const [path, body, extra] = job.requests[sent % job.requests.length] as LoadJob["requests"][number];
      sent++;
      one(path, body, extra);
    }
    if (sent < total) setTimeout(tick, 1);
  };
  tick();
  await finished;
  const elapsedMs = performance.now() - start;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? NaN;
  return {
    sent,
    completed: latencies.length,
    errors,
    statuses,
    elapsedMs,
    p50: at(0.5),
    p99: at(0.99),
    max: latencies[latencies.length - 1] ?? NaN,
  };
}

if (parentPort !== null && workerData !== undefined) {
  const port = parentPort;
  void load(workerData as LoadJob).then((r) => port.postMessage(r));
}
