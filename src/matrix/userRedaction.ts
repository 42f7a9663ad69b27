// Removing what a banned or kicked user posted, the modern way first. A ban or kick may carry
// `redact_events: true` (MSC4293; `org.matrix.msc4293.redact_events` while unstable): a server that
// supports it redacts the user's events itself and keeps the flag in the membership event's content
// (Synapse drops the key when its msc4293 support is off), so reading the event back tells whether
// it was honoured: nothing is advertised in /versions. Otherwise Synapse's per-user bulk redaction
// (MSC4194's admin form, `POST /_synapse/admin/v1/user/<user>/redact` and its status) when Tyr is a
// server admin, and today's one-redaction-per-event as the last resort.
import type { TyrClient } from "./client.ts";

const enc = encodeURIComponent;
export const REDACT_EVENTS = "redact_events";
export const REDACT_EVENTS_UNSTABLE = "org.matrix.msc4293.redact_events";

export interface RedactionOptions {
  /** Send `redact_events` on bans and kicks that ask for it (config redaction.redactEventsFlag). */
  readonly redactEventsFlag: boolean;
  /** Use the per-user bulk endpoint when offered (config redaction.bulkRedaction). */
  readonly bulkRedaction: boolean;
}

export const DEFAULT_REDACTION: RedactionOptions = { redactEventsFlag: true, bulkRedaction: true };

/** The body of `/ban` or `/kick`: the flag under both names (servers ignore keys they don't know). */
export function membershipBody(
  user: string,
  reason: string,
  redactEvents: boolean,
  opts: RedactionOptions,
): Record<string, unknown> {
  const body: Record<string, unknown> = { user_id: user, reason };
  if (redactEvents && opts.redactEventsFlag) {
    body[REDACT_EVENTS] = true;
    body[REDACT_EVENTS_UNSTABLE] = true;
  }
  return body;
}

/** Whether a ban/kick event's content shows the server applied MSC4293's flag. */
export function redactEventsHonoured(content: Record<string, unknown> | undefined): boolean {
  if (!content || (content.membership !== "ban" && content.membership !== "leave")) return false;
  return content[REDACT_EVENTS] === true || content[REDACT_EVENTS_UNSTABLE] === true;
}

export type RedactionPath = "membership-flag" | "bulk" | "per-event";

/** How to remove the user's events, best first. */
export function redactionPath(honoured: boolean, bulkOffered: boolean): RedactionPath {
  if (honoured) return "membership-flag";
  return bulkOffered ? "bulk" : "per-event";
}

/** Synapse's bulk-redaction task status: done, still running, or failed (with why). */
export function parseRedactStatus(body: unknown): {
  state: "done" | "running" | "failed";
  failed: number;
  error?: string;
} {
  const o = (body ?? {}) as { status?: unknown; failed_redactions?: unknown; error?: unknown };
  const failed =
    o.failed_redactions && typeof o.failed_redactions === "object"
      ? Object.keys(o.failed_redactions).length
      : 0;
  if (o.status === "complete") return { state: "done", failed };
  if (o.status === "active" || o.status === "scheduled") return { state: "running", failed };
  return {
    state: "failed",
    failed,
    error: typeof o.error === "string" ? o.error : `status ${String(o.status)}`,
  };
}

const POLL_MS = 250;
const BULK_TIMEOUT_MS = 60_000;
const REMOVAL_WAIT_MS = 15_000;

export class UserRedaction {
  private readonly client: TyrClient;
  private readonly opts: RedactionOptions;
  /** False once the server refused the bulk endpoint (not an admin, or no such API): not asked again. */
  private bulkOffered: boolean;

  constructor(client: TyrClient, opts: RedactionOptions) {
    this.client = client;
    this.opts = opts;
    this.bulkOffered = opts.bulkRedaction;
  }

  /** Removes `user`'s events in `room` (`known`: the event IDs Tyr saw, for the per-event path).
   *  Returns what was done, for the action log. */
  async redact(room: string, user: string, known: readonly string[], reason: string): Promise<string> {
    const member = await this.afterRemoval(room, user);
    const path = redactionPath(redactEventsHonoured(member), this.bulkOffered);
    if (path === "membership-flag") return "redacted by the server through the ban's redact_events (MSC4293)";
    if (path === "bulk") {
      const done = await this.bulk(room, user, reason);
      if (done !== undefined) return done;
    }
    let n = 0;
    for (const event of known) {
      await this.client.doRequest(
        "PUT",
        `/_matrix/client/v3/rooms/${enc(room)}/redact/${enc(event)}/${enc(`tyr-${Date.now()}-${n}`)}`,
        null,
        { reason },
      );
      n++;
    }
    return `redacted ${n} event(s) one by one`;
  }

  /**
   * The user's membership once the ban or kick submitted just before this redaction has landed
   * (the queue runs several effects at once, so it may still be on its way); after a bounded wait
   * whatever it is, and the fallbacks then apply.
   */
  private async afterRemoval(room: string, user: string): Promise<Record<string, unknown> | undefined> {
    const deadline = Date.now() + REMOVAL_WAIT_MS;
    for (;;) {
      const content = await this.memberContent(room, user);
      const m = content?.membership;
      if (m === "ban" || m === "leave" || Date.now() > deadline) return content;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  private async memberContent(room: string, user: string): Promise<Record<string, unknown> | undefined> {
    try {
      return (await this.client.doRequest(
        "GET",
        `/_matrix/client/v3/rooms/${enc(room)}/state/m.room.member/${enc(user)}`,
      )) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }

  /** The bulk endpoint; undefined when the server does not offer it to Tyr (then per event). */
  private async bulk(room: string, user: string, reason: string): Promise<string | undefined> {
    let id: unknown;
    try {
      ({ redact_id: id } = (await this.client.doRequest(
        "POST",
        `/_synapse/admin/v1/user/${enc(user)}/redact`,
        null,
        { rooms: [room], reason },
      )) as { redact_id?: unknown });
    } catch (e) {
      const status = (e as { statusCode?: number }).statusCode;
      if (status === 400 || status === 403 || status === 404 || status === 405) {
        this.bulkOffered = false;
        return undefined;
      }
      throw e;
    }
    if (typeof id !== "string") return undefined;
    const deadline = Date.now() + BULK_TIMEOUT_MS;
    for (;;) {
      const s = parseRedactStatus(
        await this.client.doRequest("GET", `/_synapse/admin/v1/user/redact_status/${enc(id)}`),
      );
      if (s.state === "done")
        return `redacted by the server's bulk redaction (MSC4194, task ${id})${s.failed ? `; ${s.failed} event(s) failed` : ""}`;
      if (s.state === "failed") throw new Error(`bulk redaction ${id} failed: ${s.error ?? "unknown error"}`);
      if (Date.now() > deadline)
        return `bulk redaction ${id} still running after ${BULK_TIMEOUT_MS / 1000} s`;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
}
