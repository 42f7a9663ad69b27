// The dashboard's secrets: one-time login links and sessions. Every secret is 32 random bytes
// (base64url) handed to the browser once; the server keeps only its SHA-256, so a memory dump or a
// log line never holds a usable token, and look-ups compare digests in constant time. Sessions and
// links live in memory: a restart logs everyone out (by design: nothing to steal from disk).
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export const LOGIN_LINK_TTL_MS = 5 * 60_000;
/** At most this many sessions per moderator; the oldest goes first. */
export const MAX_SESSIONS_PER_USER = 20;

export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

export function digest(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** Constant-time equality of two secrets (digests first, so lengths never leak). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** A token as it may arrive from a browser: base64url, the length `newToken` makes. */
export function wellFormedToken(s: unknown): s is string {
  return typeof s === "string" && /^[A-Za-z0-9_-]{43}$/.test(s);
}

interface LinkEntry {
  readonly user: string;
  readonly expires: number;
}

/** One-time login links: valid for five minutes, for one moderator, used at most once. */
export class LoginLinks {
  private readonly links = new Map<string, LinkEntry>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  issue(user: string): string {
    this.sweep();
    const token = newToken();
    this.links.set(digest(token).toString("hex"), { user, expires: this.now() + LOGIN_LINK_TTL_MS });
    return token;
  }

  /** Who a live link is for, without using it up (the login page names them). */
  peek(token: string): string | undefined {
    const entry = this.links.get(digest(token).toString("hex"));
    return entry !== undefined && entry.expires > this.now() ? entry.user : undefined;
  }

  /** The moderator the link was made for, once; undefined for an unknown, used or expired link. */
  redeem(token: unknown): string | undefined {
    if (!wellFormedToken(token)) return undefined;
    const key = digest(token).toString("hex");
    const entry = this.links.get(key);
    this.links.delete(key);
    if (entry === undefined || entry.expires <= this.now()) return undefined;
    return entry.user;
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, e] of this.links) if (e.expires <= now) this.links.delete(k);
  }
}

export interface SessionInfo {
  /** Hex digest of the session id: safe to show and to name a session in a revoke form. */
  readonly handle: string;
  readonly user: string;
  readonly created: number;
  lastSeen: number;
  readonly expires: number;
  /** How the moderator logged in ("link", "matrix"). */
  readonly method: string;
  readonly userAgent: string;
  /** Per-session CSRF secret; forms carry it, POSTs must echo it. */
  readonly csrf: string;
}

export class Sessions {
  private readonly byHandle = new Map<string, SessionInfo>();
  private readonly now: () => number;
  private readonly ttlMs: number;

  constructor(ttlMs: number, now: () => number = Date.now) {
    this.ttlMs = ttlMs;
    this.now = now;
  }

  /** A new session; returns the id for the cookie (never stored) and the session. */
  create(user: string, method: string, userAgent: string): { id: string; session: SessionInfo } {
    const id = newToken();
    const now = this.now();
    const session: SessionInfo = {
      handle: digest(id).toString("hex"),
      user,
      created: now,
      lastSeen: now,
      expires: now + this.ttlMs,
      method,
      userAgent: userAgent.slice(0, 200),
      csrf: newToken(),
    };
    const mine = this.of(user);
    for (const old of mine.slice(0, Math.max(0, mine.length - MAX_SESSIONS_PER_USER + 1)))
      this.byHandle.delete(old.handle);
    this.byHandle.set(session.handle, session);
    return { id, session };
  }

  /** The live session of a cookie value, or undefined. */
  get(id: unknown): SessionInfo | undefined {
    if (!wellFormedToken(id)) return undefined;
    const s = this.byHandle.get(digest(id).toString("hex"));
    if (s === undefined) return undefined;
    if (s.expires <= this.now()) {
      this.byHandle.delete(s.handle);
      return undefined;
    }
    s.lastSeen = this.now();
    return s;
  }

  /** A user's sessions, oldest first. */
  of(user: string): SessionInfo[] {
    return [...this.byHandle.values()].filter((s) => s.user === user).sort((a, b) => a.created - b.created);
  }

  /** Ends one of `user`'s sessions by its handle; false when there is none. */
  revoke(user: string, handle: string): boolean {
    const s = this.byHandle.get(handle);
    if (s === undefined || s.user !== user) return false;
    return this.byHandle.delete(handle);
  }

  /** Ends every session of `user` (they lost their power). */
  revokeAll(user: string): number {
    let n = 0;
    for (const s of this.of(user)) if (this.byHandle.delete(s.handle)) n++;
    return n;
  }

  users(): Set<string> {
    return new Set([...this.byHandle.values()].map((s) => s.user));
  }
}
