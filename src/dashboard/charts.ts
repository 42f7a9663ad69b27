// Bar charts as inline SVG, computed on the server (no script, no style attribute: the colours
// come from classes in the stylesheet, so the strict CSP holds). Pure.
import { h, type Html } from "./html.ts";

export interface Series {
  readonly label: string;
  /** Stylesheet class giving the bars their colour. */
  readonly cls: string;
  readonly values: readonly number[];
}

const W = 600;
const H = 160;
const PAD = 24;

/** Stacked bars, one per bucket; `labels` name the buckets (first and last are shown). */
export function stackedBars(title: string, labels: readonly string[], series: readonly Series[]): Html {
  const n = labels.length;
  const totals = labels.map((_, i) => series.reduce((s, x) => s + (x.values[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const bw = (W - PAD) / Math.max(1, n);
  const bars = labels.map((label, i) => {
    let y = H - PAD;
    return series.map((s) => {
      const v = s.values[i] ?? 0;
      if (v === 0) return "";
      const bh = ((H - 2 * PAD) * v) / max;
      y -= bh;
      return h`<rect class="${s.cls}" x="${(PAD + i * bw + 1).toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${bh.toFixed(1)}"><title>${label}: ${v} ${s.label}</title></rect>`;
    });
  });
  const summary = series.map((s) => `${s.label}: ${s.values.reduce((a, b) => a + b, 0)}`).join(", ");
  return h`<figure class="chart">
<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${title}. ${summary}">
<line class="axis" x1="${PAD}" y1="${H - PAD}" x2="${W}" y2="${H - PAD}"></line>
<text class="tick" x="${PAD}" y="${PAD - 8}">max ${max}</text>
<text class="tick" x="${PAD}" y="${H - 6}">${labels[0] ?? ""}</text>
<text class="tick" x="${W}" y="${H - 6}" text-anchor="end">${labels[n - 1] ?? ""}</text>
${bars}
</svg>
<figcaption>${title} — ${series.map((s) => h`<span class="key ${s.cls}">${s.label}</span> `)}</figcaption>
</figure>`;
}
