// A raw HTTP/1.1 client over TCP for fuzzing Tyr's listener: it sends exactly the bytes it is
// given (bad framing, NUL bytes, duplicate headers, a body a byte at a time), which fetch and
// node:http refuse to produce, and reports what came back and whether the server hung up.
import { connect } from "node:net";

export interface RawResponse {
  /** 0 when the server closed the connection (or we gave up) without a status line. */
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Everything received, for the secret checks. */
  readonly raw: string;
  /** The server closed (or reset) the connection before we gave up. */
  readonly closedByServer: boolean;
  /** Bytes of the request written when the first response byte arrived (all, if none arrived). */
  readonly writtenBeforeAnswer: number;
  readonly ms: number;
}

export interface RawOptions {
  /** Give up (and close our end) after this long. */
  readonly timeoutMs: number;
  /** Pause between the parts (slow senders). */
  readonly gapMs?: number;
  /** Wait for the server to close the connection rather than returning after a full response. */
  readonly untilClosed?: boolean;
}

/** Sends `parts` in order and resolves with the first response (never rejects). */
export function rawRequest(
  port: number,
  parts: readonly (string | Buffer)[],
  opts: RawOptions,
): Promise<RawResponse> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    let written = 0;
    let writtenBeforeAnswer: number | undefined;
    let closedByServer = false;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks).toString("latin1");
      resolve({
        ...parse(raw),
        raw,
        closedByServer,
        writtenBeforeAnswer: writtenBeforeAnswer ?? written,
        ms: Date.now() - started,
      });
    };
    const timer = setTimeout(finish, opts.timeoutMs);
    socket.on("data", (c: Buffer) => {
      writtenBeforeAnswer ??= written;
      chunks.push(c);
      if (!opts.untilClosed && complete(Buffer.concat(chunks).toString("latin1"))) finish();
    });
    socket.on("error", () => {
      closedByServer = true;
      finish();
    });
    socket.on("close", () => {
      closedByServer = true;
      finish();
    });
    socket.on("connect", () => {
      void (async () => {
        for (const p of parts) {
          if (done || socket.destroyed) return;
          socket.write(p);
          written += p.length;
          if (opts.gapMs !== undefined) await new Promise((r) => setTimeout(r, opts.gapMs));
        }
      })();
    });
  });
}

function headEnd(raw: string): number {
  return raw.indexOf("\r\n\r\n");
}

/** Interim answers (100 Continue) before the final one. */
const INTERIM = /^HTTP\/1\.[01] 1\d\d[^\r]*\r\n(?:[^\r]+\r\n)*\r\n/;

function parse(all: string): Pick<RawResponse, "status" | "headers" | "body"> {
  let raw = all;
  for (let m = INTERIM.exec(raw); m !== null; m = INTERIM.exec(raw)) raw = raw.slice(m[0].length);
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  const end = headEnd(raw);
  const headers: Record<string, string> = {};
  for (const line of raw
    .slice(0, end < 0 ? raw.length : end)
    .split("\r\n")
    .slice(1)) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: m ? Number(m[1]) : 0, headers, body: end < 0 ? "" : raw.slice(end + 4) };
}

/** A whole response with a Content-Length has arrived (the listener always sends one). */
function complete(raw: string): boolean {
  const { status, headers, body } = parse(raw);
  if (status === 0 || headEnd(raw) < 0) return false;
  const length = Number(headers["content-length"] ?? Number.NaN);
  return Number.isFinite(length) && Buffer.byteLength(body, "latin1") >= length;
}
