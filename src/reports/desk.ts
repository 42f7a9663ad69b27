// The reports API the `reports` command and the dashboard use, apart from the feature that
// implements it (src/services.ts names it without importing the feature).
import type { ListChoice } from "../commands/propagationPlan.ts";
import type { ReportEntry, TriageAction, TriageOutcome } from "./store.ts";

/** What a triage request came to: done (or failed) and recorded, a list to choose, or refused. */
export type TriageResult =
  | {
      readonly kind: "recorded";
      readonly outcome: TriageOutcome;
      readonly summary: string;
      readonly entry: ReportEntry;
    }
  | { readonly kind: "choose-list"; readonly lists: readonly ListChoice[] }
  | { readonly kind: "refused"; readonly why: string };

/** The reports API the `reports` command and the dashboard use. */
export interface ReportDesk {
  /** Newest first: open reports only, or all. */
  list(filter: "open" | "all", limit: number): ReportEntry[];
  /** A report by its key ("event-12"). */
  get(key: string): ReportEntry | undefined;
  /** Triages a report as `moderator` (who must be entitled: the caller checks). `list` picks
   *  the policy list for a ban; without it a ban with several writable lists asks to choose. */
  act(
    key: string,
    action: TriageAction,
    moderator: string,
    opts?: { list?: string; via?: string },
  ): Promise<TriageResult>;
  counts(): { open: number; handled: number; bad: number };
}
