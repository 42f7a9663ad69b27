// What the homeserver's module asked and what Tyr answered: counts for `status`, and the pending
// refusals that become one summary in the management room per interval (never one notice per
// refusal: a spam wave would otherwise flood the moderators too). Pure apart from the clock given.
import type { Callback } from "./wire.ts";

const LABEL: Partial<Record<Callback, string>> = {
  user_may_invite: "invites",
  federated_user_may_invite: "federated invites",
  user_may_join_room: "joins",
  check_event_for_spam: "messages",
  user_may_create_room: "room creations",
};

export const labelOf = (cb: Callback): string => LABEL[cb] ?? cb;

/** Subjects named in one summary at most. */
const TOP = 5;

export class AntispamStats {
  readonly calls = new Map<Callback, number>();
  readonly refusals = new Map<Callback, number>();
  lastCallAt: number | undefined;
  /** Requests refused before a decision: wrong secret, malformed body. */
  authFailures = 0;
  badRequests = 0;
  /** Answers given while not ready (by whenNotReady). */
  notReadyAnswers = 0;
  dryRunRefusals = 0;
  private pending = new Map<Callback, number>();
  private pendingSubjects = new Map<string, number>();

  call(cb: Callback, now: number): void {
    this.calls.set(cb, (this.calls.get(cb) ?? 0) + 1);
    this.lastCallAt = now;
  }

  refused(cb: Callback, subject: string): void {
    this.refusals.set(cb, (this.refusals.get(cb) ?? 0) + 1);
    this.pending.set(cb, (this.pending.get(cb) ?? 0) + 1);
    if (this.pendingSubjects.size < 10_000 || this.pendingSubjects.has(subject))
      this.pendingSubjects.set(subject, (this.pendingSubjects.get(subject) ?? 0) + 1);
  }

  get totalRefusals(): number {
    let n = 0;
    for (const v of this.refusals.values()) n += v;
    return n;
  }

  /** The summary of refusals since the last one (and resets it), or null when there were none. */
  takeSummary(periodText: string, logCommand: string): string | null {
    if (this.pending.size === 0) return null;
    let total = 0;
    const parts: string[] = [];
    for (const [cb, n] of [...this.pending].sort((a, b) => b[1] - a[1])) {
      total += n;
      parts.push(`${n} ${labelOf(cb)}`);
    }
    const top = [...this.pendingSubjects]
      .sort((a, b) => b[1] - a[1])
      .slice(0, TOP)
      .map(([s, n]) => `${s} (${n})`);
    const more = this.pendingSubjects.size > TOP ? ` and ${this.pendingSubjects.size - TOP} more` : "";
    this.pending = new Map();
    this.pendingSubjects = new Map();
    return `Homeserver antispam: refused ${total} request${total === 1 ? "" : "s"} in the last ${periodText} (${parts.join(", ")}). Most refused: ${top.join(", ")}${more}. Details: ${logCommand}`;
  }

  /** "user_may_invite 3 · check_event_for_spam 120" */
  static describe(m: ReadonlyMap<Callback, number>): string {
    return m.size === 0
      ? "none"
      : [...m]
          .sort((a, b) => b[1] - a[1])
          .map(([cb, n]) => `${cb} ${n}`)
          .join(" · ");
  }
}
