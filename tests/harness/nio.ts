// A second, independent end-to-end-encryption stack for interop tests: matrix-nio 0.25 (the last
// release before nio moved onto the Rust crypto core Tyr uses) on libolm, the C/C++ Olm, from
// Debian's python3-olm. Installs both when missing (apt-get as root, then a virtualenv in
// .tyr-dev/nio-venv that sees the system's olm module), and drives tests/interop/nio_client.py.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { DEV_DIR, PROJECT_ROOT, pipInstallArgs, type RegisteredUser } from "./synapse.ts";

export const NIO_VERSION = "0.25.2";
export const NIO_VENV = join(DEV_DIR, "nio-venv");
/** Debian's python3-olm is built for Debian's own Python, so the venv must use that interpreter. */
const SYSTEM_PYTHON = "/usr/bin/python3";
const DRIVER = join(PROJECT_ROOT, "tests/interop/nio_client.py");

const venvPython = (): string => join(NIO_VENV, "bin", "python");

function check(python: string, code: string): string | undefined {
  if (!existsSync(python)) return undefined;
  const r = spawnSync(python, ["-c", code], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): boolean {
  const r = spawnSync(cmd, args, {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, ...env },
  });
  return r.status === 0;
}

/** What the venv holds: "<nio version> <olm module path>", or undefined when it is not usable. */
function installed(): string | undefined {
  return check(
    venvPython(),
    "import olm, nio.crypto; from importlib.metadata import version; " +
      "assert nio.crypto.ENCRYPTION_ENABLED; print(version('matrix-nio'), olm.__file__)",
  );
}

/**
 * Makes sure python3-olm and matrix-nio NIO_VERSION are installed; idempotent, quick when they are.
 * Throws with what to do when it cannot install (not root, no apt-get, no network).
 */
export function ensureNioInstalled(log: (m: string) => void = () => {}): void {
  const have = installed();
  if (have?.startsWith(`${NIO_VERSION} /usr/lib/python3/`)) return;
  if (check(SYSTEM_PYTHON, "import olm") === undefined) {
    log("installing python3-olm (libolm for Debian's Python) with apt-get (first run only)…");
    const apt = { DEBIAN_FRONTEND: "noninteractive" };
    const ok =
      run("apt-get", ["install", "-y", "-q", "python3-olm"], apt) ||
      (run("apt-get", ["update", "-q"], apt) && run("apt-get", ["install", "-y", "-q", "python3-olm"], apt));
    if (!ok || check(SYSTEM_PYTHON, "import olm") === undefined)
      throw new Error(
        "the nio interop test needs Debian's python3-olm: run `apt-get install -y python3-olm` as root",
      );
  }
  log(`installing matrix-nio ${NIO_VERSION} into ${NIO_VENV} (first run only)…`);
  mkdirSync(DEV_DIR, { recursive: true });
  // --system-site-packages: the venv uses Debian's olm module (and pip counts it as python-olm,
  // so nio's e2e extra does not fetch another olm from PyPI).
  const ok =
    run(SYSTEM_PYTHON, ["-m", "venv", "--clear", "--system-site-packages", NIO_VENV]) &&
    run(venvPython(), pipInstallArgs(`matrix-nio[e2e]==${NIO_VERSION}`));
  const now = installed();
  if (!ok || !now?.startsWith(`${NIO_VERSION} /usr/lib/python3/`))
    throw new Error(
      `could not install matrix-nio ${NIO_VERSION} on Debian's olm into ${NIO_VENV} (${now ?? "no olm"})`,
    );
}

/** One line the driver printed (see tests/interop/nio_client.py). */
export interface NioLine {
  type: "ready" | "sent" | "trusted" | "error" | "message" | "undecryptable";
  id?: string;
  [key: string]: unknown;
}

/** A nio device (a fresh login of `user`) driven over JSON lines. */
export class NioClient {
  readonly lines: NioLine[] = [];
  readonly stderr: string[] = [];
  private readonly proc: ChildProcessWithoutNullStreams;
  private counter = 0;
  private exited = false;
  userId = "";
  deviceId = "";

  private constructor(proc: ChildProcessWithoutNullStreams) {
    this.proc = proc;
    createInterface({ input: proc.stdout }).on("line", (l) => {
      try {
        this.lines.push(JSON.parse(l) as NioLine);
      } catch {
        this.stderr.push(`(not JSON) ${l}`);
      }
    });
    createInterface({ input: proc.stderr }).on("line", (l) => this.stderr.push(l));
    proc.on("exit", () => (this.exited = true));
  }

  static async start(url: string, user: RegisteredUser): Promise<NioClient> {
    ensureNioInstalled((m) => process.stderr.write(`${m}\n`));
    const store = mkdtempSync(join(tmpdir(), "tyr-nio-"));
    const proc = spawn(venvPython(), [
      DRIVER,
      "--homeserver",
      url,
      "--user",
      user.userId,
      "--password",
      user.password,
      "--store",
      store,
    ]);
    const c = new NioClient(proc);
    const ready = await c.waitFor("nio ready", (l) => l.type === "ready", 60_000);
    c.userId = String(ready["user_id"]);
    c.deviceId = String(ready["device_id"]);
    return c;
  }

  /** The first line (seen so far or arriving later) matching `pred`. */
  async waitFor(what: string, pred: (l: NioLine) => boolean, timeoutMs = 30_000): Promise<NioLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (this.exited || Date.now() > deadline)
        throw new Error(
          `nio: ${this.exited ? "exited" : `no ${what} within ${timeoutMs} ms`}; stderr:\n${this.stderr.slice(-20).join("\n")}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Send a request and wait for its answer; an "error" answer throws. */
  async request(cmd: Record<string, unknown>, timeoutMs = 30_000): Promise<NioLine> {
    const id = `r${++this.counter}`;
    this.proc.stdin.write(`${JSON.stringify({ ...cmd, id })}\n`);
    const answer = await this.waitFor(`answer to ${String(cmd["cmd"])}`, (l) => l.id === id, timeoutMs);
    if (answer.type === "error") throw new Error(`nio ${String(cmd["cmd"])}: ${String(answer["message"])}`);
    return answer;
  }

  /** Verify `userId`'s devices in nio's own store (nio has no cross-signing: trust on first use). */
  async trust(userId: string): Promise<string[]> {
    return (await this.request({ cmd: "trust", user: userId }))["devices"] as string[];
  }

  /** Send an encrypted m.text; its event ID. */
  async send(roomId: string, body: string): Promise<string> {
    return String((await this.request({ cmd: "send", room: roomId, body }))["event_id"]);
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((r) => this.proc.once("exit", r));
    this.proc.stdin.end(`${JSON.stringify({ cmd: "quit" })}\n`);
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 5_000);
    await gone;
    clearTimeout(t);
  }
}
