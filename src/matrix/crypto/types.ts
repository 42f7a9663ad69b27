// Shared types of the crypto engine (src/matrix/crypto/**).

/** A pino-compatible logger: `logger.info({ obj }, "message")` or `logger.info("message")`. */
export interface Logger {
  debug(obj: unknown, msg?: string, ...args: unknown[]): void;
  info(obj: unknown, msg?: string, ...args: unknown[]): void;
  warn(obj: unknown, msg?: string, ...args: unknown[]): void;
  error(obj: unknown, msg?: string, ...args: unknown[]): void;
}

/**
 * The HTTP seam: matrix-bot-sdk's `MatrixClient.doRequest` signature. `endpoint` is a full path such
 * as `/_matrix/client/v3/keys/upload`; `body` is a plain object (the client JSON-encodes it); the
 * promise resolves to the parsed JSON response and rejects on a non-2xx status.
 */
export type RequestFn = (
  method: string,
  endpoint: string,
  qs?: Record<string, unknown> | null,
  body?: unknown,
) => Promise<unknown>;

/** A Matrix event as it comes out of /sync (timeline or state), before validation. */
export interface RawEvent {
  type?: unknown;
  content?: unknown;
  event_id?: unknown;
  sender?: unknown;
  origin_server_ts?: unknown;
  state_key?: unknown;
  room_id?: unknown;
  unsigned?: unknown;
  [key: string]: unknown;
}

/** CryptoEngine.logOnce, as its modules receive it: log once per key, later repeats at debug level. */
export type LogOnce = (
  key: string,
  level: "info" | "warn" | "error",
  obj: Record<string, unknown>,
  msg: string,
) => void;

/** Bound on the keys remembered for log-once messages and withheld codes. */
export const MAX_LOGGED_KEYS = 10000;

export const noopLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Best-effort message of an unknown thrown value (wasm errors are sometimes plain strings). */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === "string") return e;
  if (isRecord(e)) {
    if (typeof e["description"] === "string") return e["description"];
    if (typeof e["message"] === "string") return e["message"];
    if (typeof e["errcode"] === "string") return `${e["errcode"]}: ${String(e["error"] ?? "")}`;
  }
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}
