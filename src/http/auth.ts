// Per-route authentication. A route names one `Auth`; the server asks it before the handler runs
// and answers the failure itself (401/403 with a Matrix error body, one log line). Later schemes
// (federation X-Matrix signatures, dashboard sessions) implement the same interface; those that
// need the body (a signature covers it) say so with `needsBody`.
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

export interface AuthInput {
  readonly method: string;
  /** Path and query as sent (what federation signatures cover). */
  readonly uri: string;
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body, only for schemes with `needsBody`. */
  readonly body?: unknown;
}

export type AuthResult =
  | {
      readonly ok: true;
      /** Who the request is from, for handlers and logs (never a secret). */ readonly principal?: string;
    }
  | { readonly ok: false; readonly status: 401 | 403; readonly errcode: string; readonly error: string };

export interface Auth {
  /** Shown in logs ("bearer", "none", …). */
  readonly name: string;
  /** True when the check needs the parsed body; otherwise it runs before the body is read. */
  readonly needsBody?: boolean;
  check(input: AuthInput): AuthResult | Promise<AuthResult>;
}

export const none: Auth = { name: "none", check: () => ({ ok: true }) };

const digest = (s: string | Buffer): Buffer => createHash("sha256").update(s).digest();

/**
 * `Authorization: Bearer <secret>`. Compared as SHA-256 digests with timingSafeEqual: equal
 * lengths whatever was sent, so neither the secret's length nor its prefix leaks through timing.
 */
export function bearerSecret(secret: string, opts: { principal?: string } = {}): Auth {
  if (secret.length === 0) throw new Error("bearerSecret: the secret is empty");
  const expected = digest(secret);
  const unauthorized = (error: string): AuthResult => ({
    ok: false,
    status: 401,
    errcode: "M_UNAUTHORIZED",
    error,
  });
  return {
    name: "bearer",
    check({ headers }) {
      const h = headers.authorization;
      if (typeof h !== "string" || h.length === 0) return unauthorized("missing Authorization header");
      const m = /^Bearer +(.+)$/i.exec(h);
      if (m === null) return unauthorized("expected Authorization: Bearer <secret>");
      const given = digest((m[1] as string).trim());
      return timingSafeEqual(given, expected)
        ? { ok: true, ...(opts.principal !== undefined ? { principal: opts.principal } : {}) }
        : unauthorized("wrong secret");
    },
  };
}
