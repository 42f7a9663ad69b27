// The long-lived parts commands talk to, filled in by src/main.ts as each feature starts.
import type { Feature } from "./bot.ts";

export interface StatusLine {
  label: string;
  value: string;
}

/** A feature that has something to say in `status`. */
export interface Reporting {
  statusLines(): StatusLine[];
}

export interface Services {
  /** Every feature that reports status, in start order. */
  readonly reporting: Reporting[];
  readonly features: Feature[];
}
