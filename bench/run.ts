// `npm run bench`: runs every bench/*.bench.ts, prints a table, writes bench/results.json.
// Targets from the issues are checked here and shown as ok/MISSED; the run never fails on them,
// BENCHMARKS.md is where figures are recorded with the machine they ran on.
import { readdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import type { BenchModule, BenchResult } from "./types.ts";

const dir = import.meta.dirname;
const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

/** Targets from the issues; a result is marked ok or MISSED against them. */
const TARGETS: Record<string, { atLeast?: number; atMost?: number; ratioAtLeast?: number }> = {
  "matcher.checks_per_s": { atLeast: 2_000_000, ratioAtLeast: 20 },
  "matcher.hashed_checks_per_s": { ratioAtLeast: 0.5 },
  "matcher.reference_wrong": { atMost: 0 },
  "matcher.heap_mb": { atMost: 150 },
  "matcher.incremental_glob_ms": { atMost: 50 },
  "acl.build_ms": { atMost: 100 },
  "acl.event_bytes": { atMost: 65_536 },
  "protections.events_per_s": { atLeast: 5_000 },
  "protections.p99_ms": { atMost: 5 },
  "crypto.decrypt_per_s": { atLeast: 1_000 },
  "antispam.p99_ms": { atMost: 5 },
  "antispam.requests_per_s": { atLeast: 1_000 * 0.98 },
  "policyserver.p99_ms": { atMost: 10 },
  "policyserver.requests_per_s": { atLeast: 500 * 0.98 },
  "scale.rss_mb": { atMost: 500 },
  "scale.rule_to_decisions_ms": { atMost: 100 },
  "dashboard.search_ms": { atMost: 100 },
  "dashboard.search_unindexed_ms": { atMost: 100 },
  "live.ban_100_rooms_s": { atMost: 10 },
};

function verdict(r: BenchResult): string {
  const t = TARGETS[r.name];
  if (!t) return "";
  const ok =
    (t.atLeast === undefined || r.value >= t.atLeast) &&
    (t.atMost === undefined || r.value <= t.atMost) &&
    (t.ratioAtLeast === undefined || (r.ratio ?? 0) >= t.ratioAtLeast);
  const want = [
    t.atLeast !== undefined ? `≥ ${t.atLeast}` : "",
    t.atMost !== undefined ? `≤ ${t.atMost}` : "",
    t.ratioAtLeast !== undefined ? `≥ ${t.ratioAtLeast}× baseline` : "",
  ]
    .filter(Boolean)
    .join(", ");
  return `${ok ? "ok" : "MISSED"} (target ${want})`;
}

const results: BenchResult[] = [];
for (const f of files) {
  process.stderr.write(`running ${f}…\n`);
  const mod = (await import(join(dir, f))) as BenchModule;
  results.push(...(await mod.run()));
}

const fmt = (n: number | undefined) =>
  n === undefined ? "" : Math.abs(n) >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2);
const rows = results.map((r) => [
  r.name,
  `${fmt(r.value)} ${r.unit}`,
  fmt(r.baseline),
  r.ratio === undefined ? "" : `${r.ratio.toFixed(r.ratio < 10 ? 2 : 1)}×`,
  verdict(r),
  r.note ?? "",
]);
const head = ["benchmark", "value", "baseline", "ratio", "target", "note"];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
console.log(line(head));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of rows) console.log(line(r));
console.log(
  `\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
);

writeFileSync(join(dir, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
console.log(`written ${join(dir, "results.json")}`);
