// Dry-run notices without spamming the management room: per protection and room, the first notice
// of a window goes out at once; the rest of that window is folded into one summary sent when the
// window ends. Pure (the caller supplies the clock and sends what it gets back).

export interface CoalescerOptions {
  /** Length of a window (ms). */
  readonly windowMs?: number;
  /** Example decisions quoted in a summary. */
  readonly samples?: number;
  /** Characters kept of each example. */
  readonly sampleLength?: number;
  /** Open windows kept at most; the oldest is summarised early when more are needed. */
  readonly maxWindows?: number;
}

interface Window {
  readonly protection: string;
  readonly room: string;
  readonly start: number;
  held: number;
  readonly samples: string[];
}

export class DryRunCoalescer {
  readonly windowMs: number;
  private readonly maxSamples: number;
  private readonly sampleLength: number;
  private readonly maxWindows: number;
  private readonly windows = new Map<string, Window>();

  constructor(opts: CoalescerOptions = {}) {
    this.windowMs = opts.windowMs ?? 30_000;
    this.maxSamples = opts.samples ?? 3;
    this.sampleLength = opts.sampleLength ?? 300;
    this.maxWindows = opts.maxWindows ?? 1_000;
  }

  /** Number of open windows. */
  get size(): number {
    return this.windows.size;
  }

  /** A dry-run notice for `protection` in `room`: returns what to send now (possibly nothing). */
  add(protection: string, room: string, text: string, now: number): string[] {
    const key = `${protection}\n${room}`;
    const out: string[] = [];
    const w = this.windows.get(key);
    if (w !== undefined && now < w.start + this.windowMs && now >= w.start) {
      w.held++;
      if (w.samples.length < this.maxSamples) w.samples.push(clip(text, this.sampleLength));
      return out;
    }
    if (w !== undefined) {
      this.windows.delete(key);
      const s = this.summary(w);
      if (s !== null) out.push(s);
    }
    while (this.windows.size >= this.maxWindows) {
      const [oldestKey, oldest] = this.windows.entries().next().value as [string, Window];
      this.windows.delete(oldestKey);
      const s = this.summary(oldest);
      if (s !== null) out.push(s);
    }
    this.windows.set(key, { protection, room, start: now, held: 0, samples: [] });
    out.push(text);
    return out;
  }

  /** Summaries of the windows that have ended by `now` (closed windows are forgotten). */
  flush(now: number): string[] {
    const out: string[] = [];
    for (const [key, w] of this.windows) {
      if (now < w.start + this.windowMs && now >= w.start) continue;
      this.windows.delete(key);
      const s = this.summary(w);
      if (s !== null) out.push(s);
    }
    return out;
  }

  /** Every pending summary, whatever the time (on shutdown). */
  flushAll(): string[] {
    const out: string[] = [];
    for (const w of this.windows.values()) {
      const s = this.summary(w);
      if (s !== null) out.push(s);
    }
    this.windows.clear();
    return out;
  }

  private summary(w: Window): string | null {
    if (w.held === 0) return null;
    const where = w.room === "" ? "" : ` in ${w.room}`;
    const secs = Math.round(this.windowMs / 1000);
    const head = `[dry-run] ${w.protection}${where}: ${w.held} more decision${w.held === 1 ? "" : "s"} within ${secs}s (not carried out)`;
    return w.samples.length === 0
      ? head
      : `${head}, for example:\n${w.samples.map((s) => `- ${s.replace(/\n/g, " ")}`).join("\n")}`;
  }
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
