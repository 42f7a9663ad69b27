// A cheap latency sampler for hot paths (the matcher decides for every member on every rule
// change): every call is counted, only one in `every` is timed, and the timings wait in a fixed
// ring until a scrape drains them into a histogram. No prom-client here, so the hot path pays for
// a counter increment and a bit test, and nothing at all is allocated per call.

export class SampledTimer {
  /** Calls seen (timed or not). */
  calls = 0;
  private readonly mask: number;
  private readonly ring: Float64Array;
  private filled = 0;
  private next = 0;
  private readonly clock: () => number;

  /** `every` is rounded up to a power of two; `capacity` timings are kept between scrapes. */
  constructor(opts: { every?: number; capacity?: number; clock?: () => number } = {}) {
    const every = Math.max(1, opts.every ?? 16);
    this.mask = 2 ** Math.ceil(Math.log2(every)) - 1;
    this.ring = new Float64Array(Math.max(1, opts.capacity ?? 1_024));
    this.clock = opts.clock ?? (() => performance.now());
  }

  /** Before the work: a start time when this call is sampled, else -1. */
  start(): number {
    return (this.calls++ & this.mask) === 0 ? this.clock() : -1;
  }

  /** After the work, with what `start` returned. */
  stop(startedAt: number): void {
    if (startedAt < 0) return;
    this.ring[this.next] = this.clock() - startedAt;
    this.next = (this.next + 1) % this.ring.length;
    if (this.filled < this.ring.length) this.filled++;
  }

  /** The timings (ms) collected since the last drain (the newest `capacity` of them). */
  drain(): number[] {
    const n = this.filled;
    const out: number[] = new Array<number>(n);
    const first = (this.next - n + this.ring.length) % this.ring.length;
    for (let i = 0; i < n; i++) out[i] = this.ring[(first + i) % this.ring.length] as number;
    this.filled = 0;
    return out;
  }
}
