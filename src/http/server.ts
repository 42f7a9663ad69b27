// One node:http server. Features bring routes (types.ts); this owns everything generic, in one
// place: routing (404/405), limits (413 body size, 408 slow requests, connection cap), per-route
// auth (401/403), JSON bodies (415 wrong type, 400 bad JSON), Matrix error bodies, one
// rate-limited log line per refused request (never a header: they may carry a secret), and a
// 500 for a handler that throws. No request can crash the process.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { BlockList, Socket } from "node:net";
import type { Logger } from "../logging.ts";
import type { AuthResult } from "./auth.ts";
import { clientAddress } from "./clientAddress.ts";
import { LogLimiter } from "./logLimiter.ts";
import {
  matrixError,
  type HttpRequest,
  type HttpResponse,
  type ListenerLimits,
  type Method,
  type Route,
} from "./types.ts";

export const DEFAULT_LIMITS: ListenerLimits = {
  maxBodyBytes: 65_536,
  requestTimeoutMs: 10_000,
  headersTimeoutMs: 5_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 256,
};

const METHODS: ReadonlySet<string> = new Set(["GET", "POST", "PUT", "DELETE"]);
/** How long `stop` lets requests in flight finish before cutting their connections. */
const STOP_GRACE_MS = 2_000;

export interface ListenerOptions {
  /** For logs: "main", "metrics", … */
  readonly name: string;
  readonly bind: string;
  readonly port: number;
  readonly limits?: Partial<ListenerLimits>;
  readonly routes: readonly Route[];
  readonly log: Logger;
  /** Serve HTTPS with this certificate and key (PEM). */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  /** Proxies whose X-Forwarded-For names the client (see clientAddress.ts). */
  readonly trustedProxies?: BlockList;
}

/** A refusal decided before the handler ran: status, Matrix error, and the reason for the log. */
interface Refusal {
  readonly status: number;
  readonly errcode: string;
  readonly error: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export class HttpListener {
  readonly name: string;
  /** As configured (`address()` gives the bound one). */
  readonly bind: string;
  readonly port: number;
  private readonly limits: ListenerLimits;
  private readonly exact = new Map<string, Route[]>();
  /** Prefix routes, longest path first. */
  private prefixes: Route[] = [];
  private routeCount = 0;
  private readonly log: Logger;
  private readonly logLimiter = new LogLimiter({ burst: 5, windowMs: 60_000 });
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly opts: ListenerOptions;
  private listening = false;
  /** Requests answered, by status class, for status and tests. */
  readonly counts = { ok: 0, refused: 0, failed: 0 };

  constructor(opts: ListenerOptions) {
    this.opts = opts;
    this.name = opts.name;
    this.bind = opts.bind;
    this.port = opts.port;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.log = opts.log;
    this.addRoutes(opts.routes);
    const l = this.limits;
    const options = {
      requestTimeout: l.requestTimeoutMs,
      headersTimeout: Math.min(l.headersTimeoutMs, l.requestTimeoutMs),
      keepAliveTimeout: l.keepAliveTimeoutMs,
      // Node checks the two timeouts above only this often (default 30 s).
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(l.headersTimeoutMs / 2))),
      maxHeaderSize: 16_384,
    };
    // Same handling either way; with TLS the handshake comes first (its failures are clientErrors).
    this.server = opts.tls
      ? createTlsServer({
          ...options,
          cert: opts.tls.cert,
          key: opts.tls.key,
          // The timeouts above start once TLS is up; the handshake gets the headers' time (node's
          // default of 120 s let idle sockets hold every connection slot).
          handshakeTimeout: options.headersTimeout,
        })
      : createServer(options);
    this.server.maxConnections = l.maxConnections;
    // The timeouts above cover receiving a request. A client that stops reading its answers (they
    // pile up in memory, the connection holds a slot) is cut when nothing has moved for twice the
    // request timeout: longer than an async handler may take (withDeadline answers 503 by then).
    this.server.setTimeout(2 * l.requestTimeoutMs);
    this.server.on("request", (req, res) => void this.handle(req, res));
    // A listener that throws here is an uncaught exception: the whole bot would go down.
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
      try {
        this.clientError(err, socket);
      } catch (e) {
        this.log.error({ err: e, listener: this.name }, "HTTP listener failed on a malformed request");
        socket.destroy();
      }
    });
    this.server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.once("close", () => this.sockets.delete(s));
    });
  }

  /** Adds routes (also while listening: a feature may register after the listener started). */
  addRoutes(routes: readonly Route[]): void {
    for (const r of routes) {
      const same = r.prefix ? this.prefixes.filter((x) => x.path === r.path) : (this.exact.get(r.path) ?? []);
      if (same.some((x) => x.method === r.method))
        throw new Error(`two routes for ${r.method} ${r.path} (${r.feature})`);
      if (r.prefix) {
        this.prefixes = [...this.prefixes, r].sort((a, b) => b.path.length - a.path.length);
      } else this.exact.set(r.path, [...same, r]);
      this.routeCount++;
    }
  }

  /** Every route served here, read-only (for status and the HTTP-level fuzz test). */
  routes(): readonly Route[] {
    return [...[...this.exact.values()].flat(), ...this.prefixes];
  }

  /** Connections open right now (for status and tests). */
  connectionCount(): number {
    return this.sockets.size;
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free one). */
  async start(): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.server.once("error", onError);
      this.server.listen(this.opts.port, this.opts.bind, () => {
        this.server.off("error", onError);
        resolve();
      });
    });
    this.listening = true;
    // After start, a server error (rare: e.g. EMFILE) is logged, never thrown.
    this.server.on("error", (e) => this.log.error({ err: e, listener: this.name }, "HTTP listener error"));
    const a = this.address();
    this.log.info(
      { listener: this.name, address: `${a.host}:${a.port}`, routes: this.routeCount },
      "HTTP listener started",
    );
    return a;
  }

  address(): { host: string; port: number } {
    const a = this.server.address();
    if (a === null || typeof a === "string") return { host: this.opts.bind, port: this.opts.port };
    return { host: a.address, port: a.port };
  }

  /** Stops accepting, closes idle keep-alive connections now, and the rest after a short grace. */
  async stop(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), STOP_GRACE_MS);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  // ---- one request ----------------------------------------------------------------------------

  private route(method: string, path: string): Route | Refusal {
    let candidates = this.exact.get(path);
    if (candidates === undefined) {
      const p = this.prefixes.find((r) => path.startsWith(r.path));
      if (p !== undefined) candidates = this.prefixes.filter((r) => r.path === p.path);
    }
    if (candidates === undefined || candidates.length === 0)
      return { status: 404, errcode: "M_UNRECOGNIZED", error: "no such endpoint" };
    const r = candidates.find((c) => c.method === method);
    if (r !== undefined) return r;
    return {
      status: 405,
      errcode: "M_UNRECOGNIZED",
      error: `method not allowed; use ${candidates.map((c) => c.method).join(", ")}`,
      headers: { Allow: candidates.map((c) => c.method).join(", ") },
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "";
    const rawUrl = req.url ?? "/";
    const q = rawUrl.indexOf("?");
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
    let route: Route | undefined;
    try {
      const found: Route | Refusal = METHODS.has(method)
        ? this.route(method, path)
        : { status: 405, errcode: "M_UNRECOGNIZED", error: "method not allowed" };
      if (!("handler" in found)) return this.refuse(req, res, found, path, undefined);
      route = found;

      if (!route.auth.needsBody) {
        const a = await route.auth.check({ method, uri: rawUrl, headers: req.headers });
        if (!a.ok) return this.refuse(req, res, a, path, route);
        return await this.withBody(req, res, route, method as Method, rawUrl, path, a);
      }
      return await this.withBody(req, res, route, method as Method, rawUrl, path, undefined);
    } catch (e) {
      this.counts.failed++;
      this.log.error(
        { err: e, listener: this.name, feature: route?.feature, method, path: clip(path) },
        "HTTP handler failed",
      );
      if (!res.headersSent) this.send(res, matrixError(500, "M_UNKNOWN", "internal error; see Tyr's log"));
      else res.destroy();
    }
  }

  private async withBody(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    method: Method,
    rawUrl: string,
    path: string,
    auth: AuthResult | undefined,
  ): Promise<void> {
    let body: unknown;
    const limit = route.maxBodyBytes ?? this.limits.maxBodyBytes;
    const declared = Number(req.headers["content-length"] ?? 0);
    if (Number.isFinite(declared) && declared > limit)
      return this.refuse(req, res, tooLarge(limit), path, route);
    if (route.body !== "none") {
      const type = String(req.headers["content-type"] ?? "")
        .split(";")[0]!
        .trim()
        .toLowerCase();
      const want = route.body === "json" ? "application/json" : "application/x-www-form-urlencoded";
      if (type !== want)
        return this.refuse(
          req,
          res,
          {
            status: 415,
            errcode: route.body === "json" ? "M_NOT_JSON" : "M_UNKNOWN",
            error: `expected Content-Type: ${want}`,
          },
          path,
          route,
        );
    }
    const raw = await readBody(req, limit);
    if (raw === "too-large") return this.refuse(req, res, tooLarge(limit), path, route);
    if (raw === "aborted") return; // the client went away: nobody to answer
    if (route.body === "json") {
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {
        return this.refuse(
          req,
          res,
          { status: 400, errcode: "M_NOT_JSON", error: "the body is not valid JSON" },
          path,
          route,
        );
      }
      if (typeof body !== "object" || body === null || Array.isArray(body))
        return this.refuse(
          req,
          res,
          { status: 400, errcode: "M_BAD_JSON", error: "expected a JSON object" },
          path,
          route,
        );
    } else if (route.body === "form") {
      body = new URLSearchParams(raw.toString("utf8"));
    } else if (raw.length > 0) {
      return this.refuse(
        req,
        res,
        { status: 400, errcode: "M_BAD_JSON", error: "this endpoint takes no body" },
        path,
        route,
      );
    }
    let principal = auth?.ok ? auth.principal : undefined;
    if (route.auth.needsBody) {
      const a = await route.auth.check({ method, uri: rawUrl, headers: req.headers, body });
      if (!a.ok) return this.refuse(req, res, a, path, route);
      principal = a.principal;
    }
    const q = rawUrl.indexOf("?");
    const request: HttpRequest = {
      method,
      path,
      query: new URLSearchParams(q < 0 ? "" : rawUrl.slice(q + 1)),
      headers: req.headers,
      body,
      remote: clientAddress(
        req.socket.remoteAddress ?? "",
        req.headers["x-forwarded-for"],
        this.opts.trustedProxies,
      ),
      ...(principal !== undefined ? { principal } : {}),
    };
    const out = route.handler(request);
    const response = out instanceof Promise ? await this.withDeadline(out, route, path) : out;
    if (response.status >= 400) this.counts.refused++;
    else this.counts.ok++;
    this.send(res, response);
  }

  /** An async handler gets as long as a request may take to arrive; then the caller gets 503. */
  private async withDeadline(out: Promise<HttpResponse>, route: Route, path: string): Promise<HttpResponse> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<HttpResponse>((resolve) => {
      timer = setTimeout(() => {
        this.log.warn(
          { listener: this.name, feature: route.feature, path: clip(path), ms: this.limits.requestTimeoutMs },
          "HTTP handler took too long; answered 503",
        );
        resolve(matrixError(503, "M_UNKNOWN", "the server took too long to answer; try again"));
      }, this.limits.requestTimeoutMs);
    });
    try {
      return await Promise.race([out, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private refuse(
    req: IncomingMessage,
    res: ServerResponse,
    r: Refusal,
    path: string,
    route: Route | undefined,
  ): void {
    this.counts.refused++;
    const key = `${r.status} ${route?.feature ?? "-"} ${r.errcode}`;
    const { write, suppressed } = this.logLimiter.take(key);
    if (write) {
      this.log.warn(
        {
          listener: this.name,
          feature: route?.feature,
          method: clip(req.method ?? ""),
          path: clip(path),
          status: r.status,
          errcode: r.errcode,
          remote: req.socket.remoteAddress,
          ...(suppressed > 0 ? { suppressedSimilar: suppressed } : {}),
        },
        `HTTP request refused: ${r.error}`,
      );
    }
    // A body we did not read (too large, refused early) would be parsed as the next request.
    const unread = !req.complete;
    this.send(res, {
      ...matrixError(r.status, r.errcode, r.error),
      headers: { ...r.headers, ...(unread ? { Connection: "close" } : {}) },
    });
    if (unread) res.once("finish", () => req.socket.destroySoon());
  }

  private send(res: ServerResponse, r: HttpResponse): void {
    // Already answered by clientError: node's parser refused bytes of this connection (a broken
    // body, the next request being garbage, a timeout) while the handler was still deciding.
    if (res.headersSent) return;
    const isText = typeof r.body === "string" && r.contentType !== undefined;
    const payload = r.body === undefined ? "" : isText ? (r.body as string) : JSON.stringify(r.body);
    res.writeHead(r.status, {
      "Content-Type": isText ? (r.contentType as string) : "application/json",
      "Content-Length": Buffer.byteLength(payload),
      "Cache-Control": "no-store",
      ...r.headers,
    });
    res.end(payload);
  }

  /** Errors before a request exists (bad HTTP, header overflow, request timeout). */
  private clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const code = err.code ?? "";
    // The client went away: nobody to answer, nothing worth a log line.
    if (code === "ECONNRESET" || code === "EPIPE") {
      socket.destroy();
      return;
    }
    // A TLS handshake that failed or timed out: there is no HTTP to answer in (plain text written
    // here would wait behind the handshake forever, and the socket with it).
    if (/^ERR_(TLS|SSL)_/.test(code)) {
      const { write, suppressed } = this.logLimiter.take("client tls");
      if (write)
        this.log.warn(
          {
            listener: this.name,
            code,
            remote: socket.remoteAddress,
            ...(suppressed > 0 ? { suppressedSimilar: suppressed } : {}),
          },
          "HTTPS connection refused: the TLS handshake failed or took too long",
        );
      socket.destroy();
      return;
    }
    const [status, errcode, text]: [number, string, string] =
      code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "M_UNKNOWN", "the request took too long"]
        : code === "HPE_HEADER_OVERFLOW"
          ? [431, "M_TOO_LARGE", "request headers too large"]
          : [400, "M_UNKNOWN", "malformed HTTP request"];
    this.counts.refused++;
    const { write, suppressed } = this.logLimiter.take(`client ${status}`);
    if (write)
      this.log.warn(
        {
          listener: this.name,
          status,
          code,
          remote: socket.remoteAddress,
          ...(suppressed > 0 ? { suppressedSimilar: suppressed } : {}),
        },
        `HTTP request refused: ${text}`,
      );
    // A request whose headers arrived already has its response object: answer through it. On a
    // keep-alive connection whose last response went out, node sets this to null, not undefined.
    const pending = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
    if (pending !== undefined && !pending.headersSent && socket.writable) {
      this.send(pending, { ...matrixError(status, errcode, text), headers: { Connection: "close" } });
    } else if (pending === undefined && socket.writable) {
      const body = JSON.stringify({ errcode, error: text });
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroySoon();
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
};

function tooLarge(limit: number): Refusal {
  return { status: 413, errcode: "M_TOO_LARGE", error: `the body is larger than ${limit} bytes` };
}

function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

/** The whole body, or why not: over `limit` bytes, or the client went away. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | "too-large" | "aborted"> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (v: Buffer | "too-large" | "aborted") => {
      if (done) return;
      done = true;
      req.off("data", onData);
      resolve(v);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.pause();
        finish("too-large");
        return;
      }
      chunks.push(c);
    };
    req.on("data", onData);
    req.once("end", () => finish(Buffer.concat(chunks, size)));
    req.once("error", () => finish("aborted"));
    req.once("close", () => finish(req.complete ? Buffer.concat(chunks, size) : "aborted"));
  });
}
