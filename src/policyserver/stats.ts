// What the policy server was asked and answered, for `policyserver status` and the summary in the
// management room: sign requests per room and requesting server in the last hour (one bucket per
// minute, so 500 requests a second cost a map update, not a list entry), refusals, the last error
// per room. Pure apart from the clock given.

const MINUTE = 60_000;
const HOUR_MINUTES = 60;
/** Requesting servers remembered per room and minute; more are counted under "other servers". */
const MAX_SERVERS = 200;
/** Subjects named in one summary at most. */
const TOP = 5;

export interface Counts {
  requests: number;
  refused: number;
}

export interface RoomHour {
  readonly requests: number;
  readonly refused: number;
  /** Requesting server → counts, most requests first. */
  readonly byServer: readonly (readonly [string, Counts])[];
}

export const OTHER_SERVERS = "other servers";

export class PolicyServerStats {
  /** minute index → room → origin → counts. */
  private readonly minutes = new Map<number, Map<string, Map<string, Counts>>>();
  private readonly lastErrors = new Map<string, { at: number; text: string }>();
  /** Refused before a decision: no or bad X-Matrix signature. */
  authFailures = 0;
  rateLimited = 0;
  lastRequestAt: number | undefined;
  private pending = 0;
  private pendingDryRun = 0;
  private pendingSubjects = new Map<string, number>();

  /** A decided sign request for `room` ("" when the event named no usable room). */
  request(room: string, origin: string, refused: boolean, now: number): void {
    this.lastRequestAt = now;
    const minute = Math.floor(now / MINUTE);
    let rooms = this.minutes.get(minute);
    if (rooms === undefined) {
      this.prune(minute);
      this.minutes.set(minute, (rooms = new Map()));
    }
    let servers = rooms.get(room);
    if (servers === undefined) rooms.set(room, (servers = new Map()));
    const key = servers.has(origin) || servers.size < MAX_SERVERS ? origin : OTHER_SERVERS;
    let c = servers.get(key);
    if (c === undefined) servers.set(key, (c = { requests: 0, refused: 0 }));
    c.requests++;
    if (refused) c.refused++;
  }

  /** A refusal (or, in dry-run, what would have been one) for the next summary. */
  refusal(subject: string, dryRun: boolean): void {
    if (dryRun) this.pendingDryRun++;
    else this.pending++;
    if (this.pendingSubjects.size < 10_000 || this.pendingSubjects.has(subject))
      this.pendingSubjects.set(subject, (this.pendingSubjects.get(subject) ?? 0) + 1);
  }

  error(room: string, text: string, now: number): void {
    this.lastErrors.delete(room);
    if (this.lastErrors.size >= 1_000) this.lastErrors.delete(this.lastErrors.keys().next().value as string);
    this.lastErrors.set(room, { at: now, text: text.slice(0, 300) });
  }

  lastError(room: string): { at: number; text: string } | undefined {
    return this.lastErrors.get(room);
  }

  private prune(minute: number): void {
    for (const m of this.minutes.keys()) if (m <= minute - HOUR_MINUTES) this.minutes.delete(m);
  }

  /** Sign requests about `room` in the hour before `now`. */
  lastHour(room: string, now: number): RoomHour {
    const current = Math.floor(now / MINUTE);
    const byServer = new Map<string, Counts>();
    let requests = 0;
    let refused = 0;
    for (const [minute, rooms] of this.minutes) {
      if (minute <= current - HOUR_MINUTES) continue;
      for (const [origin, c] of rooms.get(room) ?? []) {
        const sum = byServer.get(origin) ?? { requests: 0, refused: 0 };
        sum.requests += c.requests;
        sum.refused += c.refused;
        byServer.set(origin, sum);
        requests += c.requests;
        refused += c.refused;
      }
    }
    return { requests, refused, byServer: [...byServer].sort((a, b) => b[1].requests - a[1].requests) };
  }

  /** The summary of refusals since the last one (and resets it), or null when there were none. */
  takeSummary(periodText: string, logCommand: string): string | null {
    if (this.pending + this.pendingDryRun === 0) return null;
    const top = [...this.pendingSubjects]
      .sort((a, b) => b[1] - a[1])
      .slice(0, TOP)
      .map(([s, n]) => `${s} (${n})`);
    const more = this.pendingSubjects.size > TOP ? ` and ${this.pendingSubjects.size - TOP} more` : "";
    const parts = [];
    if (this.pending > 0) parts.push(`refused to sign ${this.pending} event${this.pending === 1 ? "" : "s"}`);
    if (this.pendingDryRun > 0) parts.push(`would have refused ${this.pendingDryRun} (dry run: signed)`);
    this.pending = 0;
    this.pendingDryRun = 0;
    this.pendingSubjects = new Map();
    return `Policy server: ${parts.join("; ")} in the last ${periodText}. Most refused: ${top.join(", ")}${more}. Details: ${logCommand}`;
  }
}
