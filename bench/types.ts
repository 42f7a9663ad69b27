// Contract for benchmark modules: every bench/*.bench.ts exports `run()` returning results.
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  /** Figure of the baseline run side by side in the same process, when there is one. */
  baseline?: number;
  /** value / baseline (or baseline / value for "lower is better" units, see `lowerIsBetter`). */
  ratio?: number;
  /** Human note printed in the table (target, data shape). */
  note?: string;
}

export type BenchModule = { run(): Promise<BenchResult[]> };
