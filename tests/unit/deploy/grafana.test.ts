// The Grafana dashboard names only metrics Tyr exports: every identifier in every panel's PromQL
// that is not a function, keyword or label must be a metric in a fully wired registry (histograms
// count with their _bucket/_sum/_count series). The parser is deliberately strict: an identifier
// it cannot place fails the test instead of being skipped.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { createMetrics } from "../../../src/metrics/registry.ts";
import { SampledTimer } from "../../../src/metrics/sampler.ts";
import { ConsequenceQueue } from "../../../src/consequences/queue.ts";

const root = join(import.meta.dirname, "../../..");

const FUNCTIONS = new Set([
  "sum",
  "max",
  "min",
  "avg",
  "count",
  "topk",
  "bottomk",
  "rate",
  "irate",
  "increase",
  "delta",
  "deriv",
  "time",
  "histogram_quantile",
  "clamp_min",
  "clamp_max",
  "abs",
  "max_over_time",
  "min_over_time",
  "avg_over_time",
]);
/** Keywords followed by a parenthesised label list. */
const LABEL_LIST = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;
const KEYWORDS = new Set(["and", "or", "unless", "offset", "bool"]);

/** The metric names an expression reads. Throws on anything it does not understand. */
function metricNames(expr: string): string[] {
  const e = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // string literals (label values, regexes)
    .replace(/\{[^}]*\}/g, "") // label matchers
    .replace(/\[[^\]]*\]/g, "") // range selectors ([5m], [$__rate_interval])
    .replace(LABEL_LIST, " ")
    .replace(/\b\d+(\.\d+)?(e[+-]?\d+)?\b/gi, " "); // numbers
  if (/[{}[\]"$]/.test(e)) throw new Error(`cannot parse ${expr}`);
  const names: string[] = [];
  for (const m of e.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const id = m[0];
    const after = e.slice((m.index ?? 0) + id.length).trimStart();
    if (after.startsWith("(")) {
      if (!FUNCTIONS.has(id)) throw new Error(`unknown function ${id} in ${expr}`);
      continue;
    }
    if (KEYWORDS.has(id)) continue;
    names.push(id);
  }
  return names;
}

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

function expressions(): { panel: string; expr: string }[] {
  const dash = JSON.parse(readFileSync(join(root, "deploy/grafana/tyr-dashboard.json"), "utf8")) as {
    panels: Panel[];
    templating: { list: { query?: unknown }[] };
  };
  const out: { panel: string; expr: string }[] = [];
  const walk = (ps: Panel[]) => {
    for (const p of ps) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ panel: p.title ?? "?", expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(dash.panels);
  for (const v of dash.templating.list) {
    const q =
      typeof v.query === "object" && v.query !== null ? (v.query as { query?: string }).query : undefined;
    const m = q === undefined ? null : /^label_values\(([A-Za-z_:][A-Za-z0-9_:]*),/.exec(q);
    if (m) out.push({ panel: "variables", expr: m[1] as string });
  }
  return out;
}

async function exportedNames(): Promise<Set<string>> {
  const queue = new ConsequenceQueue(
    { execute: async () => {} },
    { concurrency: 1, maxRetries: 0, dryRun: false, log: pino({ level: "silent" }), actionLog: {} as never },
  );
  const registry = createMetrics({
    queue,
    transport: { stats: { requests: 0, rateLimited: 0 } },
    sync: () => ({ lastSyncAt: undefined, consecutiveFailures: 0, batches: 0, failures: 0 }),
    router: { stats: { timelineEvents: 0, decrypted: 0, undecryptable: 0 } },
    policy: {
      lists: [],
      revision: () => undefined,
      protectedRooms: new Set(),
      members: { size: 0 },
      decisionTimer: new SampledTimer(),
    },
    aclBytes: () => [],
    antispam: { calls: new Map(), refusals: new Map(), authFailures: 0 },
    safeMode: { list: () => [] },
  });
  const names = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(m.name + s);
  }
  return names;
}

describe("deploy/grafana/tyr-dashboard.json", () => {
  it("parses PromQL identifiers conservatively", () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le) (rate(tyr_x_bucket{job=~"$job"}[$__rate_interval])))',
      ),
    ).toEqual(["tyr_x_bucket"]);
    expect(metricNames("time() - max(tyr_a) / tyr_b")).toEqual(["tyr_a", "tyr_b"]);
    expect(() => metricNames("label_replace(tyr_a, 'x')")).toThrow(/unknown function|cannot parse/);
  });

  it("queries only metrics that exist in Tyr's registry, under the tyr_ prefix", async () => {
    const exported = await exportedNames();
    const exprs = expressions();
    expect(exprs.length).toBeGreaterThan(20);
    const missing: string[] = [];
    for (const { panel, expr } of exprs) {
      const names = metricNames(expr);
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const n of names) {
        expect(n, `${panel}: ${expr}`).toMatch(/^tyr_/);
        if (!exported.has(n)) missing.push(`${panel}: ${n}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("fails for a metric Tyr does not export", async () => {
    const exported = await exportedNames();
    expect(metricNames("rate(tyr_bans_total[5m])").every((n) => exported.has(n))).toBe(false);
  });
});
