// The HTTP transport under every Matrix request. It replaces matrix-bot-sdk's `request`-based
// transport so that `429 M_LIMIT_EXCEEDED` is honoured everywhere (Retry-After header first,
// then `retry_after_ms`), and so one rate-limited request pauses the others instead of letting
// them all hammer the homeserver into more 429s.
import { MatrixError } from "matrix-bot-sdk";
import type { Logger } from "../logging.ts";

export interface TransportOptions {
  baseUrl: string;
  log?: Logger;
  /** Give up on a request after this many 429s in a row (the caller may requeue it). */
  maxRateLimitRetries?: number;
  /** Longest single wait we accept from a 429 before failing the request instead. */
  maxRetryWaitMs?: number;
  /** Wait used when a 429 carries no hint. */
  defaultRetryMs?: number;
}

export interface RawResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Milliseconds to wait from a Retry-After header (seconds or HTTP date) or the body hint. */
export function retryDelayMs(
  headerValue: string | null,
  body: unknown,
  now = Date.now(),
): number | undefined {
  if (headerValue) {
    const secs = Number(headerValue);
    if (Number.isFinite(secs) && secs >= 0) return Math.ceil(secs * 1000);
    const at = Date.parse(headerValue);
    if (Number.isFinite(at)) return Math.max(0, at - now);
  }
  const hint = (body as { retry_after_ms?: unknown } | null)?.retry_after_ms;
  if (typeof hint === "number" && Number.isFinite(hint) && hint >= 0) return hint;
  return undefined;
}

export function buildUrl(
  baseUrl: string,
  endpoint: string,
  qs: Record<string, unknown> | null | undefined,
): string {
  const url = new URL(baseUrl.replace(/\/+$/, "") + (endpoint.startsWith("/") ? endpoint : `/${endpoint}`));
  if (qs) {
    for (const [key, value] of Object.entries(qs)) {
      if (value === undefined || value === null) continue;
      for (const v of Array.isArray(value) ? value : [value]) {
        url.searchParams.append(key, typeof v === "object" ? JSON.stringify(v) : String(v));
      }
    }
  }
  return url.toString();
}

/** Thrown by every request once the transport is closed: Tyr is stopping and abandons the request. */
export class TransportClosedError extends Error {
  /** Retrying cannot help: the consequence queue gives the effect up at once. */
  readonly permanent = true;
  constructor() {
    super("Tyr is stopping: the request to the homeserver was abandoned");
    this.name = "TransportClosedError";
  }
}

/** Waits `ms`, or less when `signal` aborts first (then it rejects with the signal's reason). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason as Error);
    };
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export class HttpTransport {
  private readonly opts: Required<Omit<TransportOptions, "log">> & { log?: Logger };
  /** Shared pause: while rate-limited, new requests wait here instead of drawing more 429s. */
  private pausedUntil = 0;
  /** Counters for `status` and tests. */
  readonly stats = { requests: 0, rateLimited: 0 };
  /** Aborted by `close()`: cuts requests in flight and rate-limit waits alike. */
  private readonly closing = new AbortController();

  constructor(opts: TransportOptions) {
    this.opts = {
      maxRateLimitRetries: 10,
      maxRetryWaitMs: 5 * 60_000,
      defaultRetryMs: 2_000,
      ...opts,
    };
  }

  async request(
    method: string,
    endpoint: string,
    init: {
      qs?: Record<string, unknown> | null;
      body?: unknown;
      accessToken?: string;
      timeoutMs?: number;
      raw?: boolean;
      contentType?: string;
      binary?: boolean;
      /** Long-polling /sync must not wait behind the rate-limit pause of other requests. */
      ignorePause?: boolean;
      /** Cancels the request (e.g. the sync long-poll on shutdown). */
      signal?: AbortSignal;
    } = {},
  ): Promise<unknown> {
    const closing = this.closing.signal;
    if (closing.aborted) throw closing.reason as Error;
    const url = buildUrl(this.opts.baseUrl, endpoint, init.qs);
    const headers: Record<string, string> = {};
    if (init.accessToken) headers.Authorization = `Bearer ${init.accessToken}`;
    let payload: string | Uint8Array<ArrayBuffer> | undefined;
    if (init.body !== undefined && init.body !== null) {
      if (Buffer.isBuffer(init.body) || init.body instanceof Uint8Array) {
        headers["Content-Type"] = init.contentType ?? "application/octet-stream";
        payload = init.body as Uint8Array<ArrayBuffer>;
      } else {
        headers["Content-Type"] = "application/json";
        payload = JSON.stringify(init.body);
      }
    }

    for (let attempt = 0; ; attempt++) {
      if (!init.ignorePause) {
        const wait = this.pausedUntil - Date.now();
        if (wait > 0) await sleep(wait, closing);
      }
      this.stats.requests++;
      const signals = [closing, AbortSignal.timeout(init.timeoutMs ?? 60_000)];
      if (init.signal) signals.push(init.signal);
      let res: Response;
      let parsed: unknown;
      try {
        res = await fetch(url, { method, headers, body: payload, signal: AbortSignal.any(signals) });
        parsed = await readBody(res, init.binary ?? false);
      } catch (e) {
        // Whatever the fetch says about being aborted, a closed transport is the reason that matters.
        if (closing.aborted) throw closing.reason as Error;
        throw e;
      }
      if (res.status === 429) {
        this.stats.rateLimited++;
        const delay =
          retryDelayMs(res.headers.get("retry-after"), parsed) ??
          this.opts.defaultRetryMs * 2 ** Math.min(attempt, 5);
        if (attempt >= this.opts.maxRateLimitRetries || delay > this.opts.maxRetryWaitMs) {
          throw toMatrixError(res, parsed, delay);
        }
        this.pausedUntil = Math.max(this.pausedUntil, Date.now() + delay);
        this.opts.log?.debug(
          { method, endpoint: redactPath(endpoint), delayMs: delay, attempt },
          "rate limited; waiting",
        );
        await sleep(delay, closing);
        continue;
      }
      if (res.status < 200 || res.status >= 300) throw toMatrixError(res, parsed, undefined);
      if (init.raw) {
        return {
          statusCode: res.status,
          headers: Object.fromEntries(res.headers),
          body: parsed,
        } satisfies RawResponse;
      }
      return parsed;
    }
  }

  /**
   * Abandons every request: those in flight and those waiting out a 429 reject at once with a
   * `TransportClosedError`, and so does every later one. A stopping bot calls this after its grace
   * period, so that nothing waiting on the homeserver (which may be going down too) holds it up.
   */
  close(): void {
    if (!this.closing.signal.aborted) this.closing.abort(new TransportClosedError());
  }
}

async function readBody(res: Response, binary: boolean): Promise<unknown> {
  if (binary) return Buffer.from(await res.arrayBuffer());
  const text = await res.text();
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function toMatrixError(res: Response, body: unknown, retryAfterMs: number | undefined): MatrixError {
  const obj =
    body && typeof body === "object" && !Buffer.isBuffer(body) ? (body as Record<string, unknown>) : {};
  // Keep every field (a 401 user-interactive-auth answer carries `flows` and `session`, no errcode).
  const b =
    "errcode" in obj
      ? obj
      : { errcode: `HTTP_${res.status}`, error: `${res.status} ${res.statusText}`, ...obj };
  const err = new MatrixError(b as { errcode: string; error: string }, res.status);
  // bot-sdk reads only the body hint; carry the header-derived delay too.
  if (retryAfterMs !== undefined) Object.defineProperty(err, "retryAfterMs", { value: retryAfterMs });
  return err;
}

/** Access tokens never travel in paths, but keep logged paths short and free of query strings. */
function redactPath(endpoint: string): string {
  return endpoint.split("?")[0] ?? endpoint;
}
