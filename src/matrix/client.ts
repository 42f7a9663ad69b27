// matrix-bot-sdk's MatrixClient with Tyr's transport underneath. We keep bot-sdk's API surface
// (banUser, sendStateEvent, resolveRoom, …) and replace only the wire: every call it makes goes
// through `doRequest`, so overriding that one method makes all of them rate-limit aware.
// bot-sdk's own sync loop and CryptoClient are never used (see src/matrix/sync.ts, DESIGN.md).
import { LogLevel, LogService, MatrixClient } from "matrix-bot-sdk";
import type { Logger } from "../logging.ts";
import { HttpTransport, type TransportOptions } from "./http.ts";

export class TyrClient extends MatrixClient {
  readonly transport: HttpTransport;
  private readonly token: string;

  constructor(homeserverUrl: string, accessToken: string, opts: Omit<TransportOptions, "baseUrl"> = {}) {
    super(homeserverUrl, accessToken);
    this.token = accessToken;
    this.transport = new HttpTransport({ baseUrl: homeserverUrl, ...opts });
  }

  override doRequest(
    method: string,
    endpoint: string,
    qs: Record<string, unknown> | null = null,
    body: unknown = null,
    timeout = 60_000,
    raw = false,
    contentType = "application/json",
    noEncoding = false,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- bot-sdk's own signature
  ): Promise<any> {
    return this.transport.request(method, endpoint, {
      qs,
      body,
      accessToken: this.token,
      timeoutMs: timeout,
      raw,
      contentType,
      binary: noEncoding,
    });
  }
}

/** Routes bot-sdk's internal logging into pino at a quiet level (it is chatty and not ours). */
export function bridgeBotSdkLogging(log: Logger): void {
  const child = log.child({ module: "bot-sdk" });
  const fmt = (module: string, args: unknown[]) =>
    `${module}: ${args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" ")}`;
  LogService.setLogger({
    trace: () => {},
    debug: () => {},
    info: (m: string, ...a: unknown[]) => child.debug(fmt(m, a)),
    warn: (m: string, ...a: unknown[]) => child.warn(fmt(m, a)),
    error: (m: string, ...a: unknown[]) => child.warn(fmt(m, a)),
  });
  LogService.setLevel(LogLevel.WARN);
}
