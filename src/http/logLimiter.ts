// Rate-limits repeated log lines: a misconfigured module sending a wrong secret hundreds of times
// a second must not flood the log. Per key, the first `burst` lines of a window are written; the
// rest are counted and reported once when the key logs again in a later window.
export class LogLimiter {
  private readonly windows = new Map<string, { start: number; count: number; suppressed: number }>();

  private readonly opts: { burst: number; windowMs: number; maxKeys?: number };
  private readonly now: () => number;

  constructor(opts: { burst: number; windowMs: number; maxKeys?: number }, now: () => number = Date.now) {
    this.opts = opts;
    this.now = now;
  }

  /**
   * Whether to write this line, and how many lines of this key were suppressed since the last
   * one written (to say so in it).
   */
  take(key: string): { write: boolean; suppressed: number } {
    const now = this.now();
    let w = this.windows.get(key);
    if (w === undefined || now - w.start >= this.opts.windowMs) {
      const suppressed = w?.suppressed ?? 0;
      if (w === undefined && this.windows.size >= (this.opts.maxKeys ?? 1_000)) {
        const oldest = this.windows.keys().next().value;
        if (oldest !== undefined) this.windows.delete(oldest);
      }
      this.windows.delete(key);
      w = { start: now, count: 0, suppressed: 0 };
      this.windows.set(key, w);
      w.count++;
      return { write: true, suppressed };
    }
    if (w.count < this.opts.burst) {
      w.count++;
      return { write: true, suppressed: 0 };
    }
    w.suppressed++;
    return { write: false, suppressed: 0 };
  }
}
