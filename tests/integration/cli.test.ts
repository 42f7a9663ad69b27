// The `tyr` command line as an operator uses it: exit codes, one-line reasons, signals.
import { describe, expect, inject, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT, Synapse, freePort } from "../harness/synapse.ts";
import { TestUser } from "../harness/user.ts";

const synapse = Synapse.attach(inject("synapse"));
const CLI = join(PROJECT_ROOT, "src/cli.ts");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from the signal (killAfter) to the exit. */
  stopMs?: number;
}

function tyr(
  args: string[],
  opts: {
    env?: Record<string, string>;
    killAfter?: (out: string) => boolean;
    signal?: NodeJS.Signals;
    timeoutMs?: number;
  } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...opts.env },
      cwd: PROJECT_ROOT,
    });
    let stdout = "";
    let stderr = "";
    let signalledAt: number | undefined;
    const check = () => {
      if (signalledAt === undefined && opts.killAfter?.(stdout + stderr)) {
        signalledAt = Date.now();
        p.kill(opts.signal ?? "SIGTERM");
      }
    };
    p.stdout.on("data", (d) => ((stdout += d), check()));
    p.stderr.on("data", (d) => ((stderr += d), check()));
    const t = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    p.on("exit", (code) => {
      clearTimeout(t);
      resolve({
        code,
        stdout,
        stderr,
        ...(signalledAt === undefined ? {} : { stopMs: Date.now() - signalledAt }),
      });
    });
  });
}

function configFile(body: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "tyr-cli-"));
  const f = join(dir, "config.yaml");
  writeFileSync(
    f,
    Object.entries({ dataPath: join(dir, "data"), logFormat: "json", ...body })
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join("\n"),
  );
  return f;
}

describe("tyr CLI", () => {
  it("prints its version and help", async () => {
    expect((await tyr(["--version"])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const help = await tyr(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("config");
  });

  it("config check passes on config/default.yaml", async () => {
    const r = await tyr(["config", "check", "--config", "config/default.yaml"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("config/default.yaml: OK");
  });

  it("config check lists every problem of a broken file and exits 2", async () => {
    const f = configFile({
      homeserverUrl: "matrix.org",
      managementRoom: "mods",
      logLevel: "loud",
      accessToken: "x",
      colour: "blue",
    });
    const r = await tyr(["config", "check", "--config", f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'homeserverUrl: expected an http(s) URL such as https://matrix.example.org, got "matrix.org"',
    );
    expect(r.stderr).toContain('managementRoom: expected a room ID (!…) or alias (#…:server), got "mods"');
    expect(r.stderr).toContain(
      'logLevel: expected one of trace, debug, info, warn, error, fatal, silent, got "loud"',
    );
    expect(r.stderr).toContain("colour: unknown key");
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(/^tyr: invalid config /);
  });

  it("a missing config file is one clear line", async () => {
    const r = await tyr(["run", "--config", "/nonexistent/tyr.yaml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("the file does not exist");
  });

  it("a wrong token exits 1 with a clear reason", async () => {
    const f = configFile({
      homeserverUrl: synapse.url,
      accessToken: "syt_not_a_token",
      managementRoom: "!x:localhost",
    });
    const r = await tyr(["run", "--config", f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tyr: the homeserver rejected the access token/);
    expect(r.stdout + r.stderr).not.toContain("syt_not_a_token");
  });

  it("a management room it cannot join exits 1 and says what to do", async () => {
    const b = await synapse.register("tyr");
    const mod = new TestUser(synapse.url, await synapse.register("mod"));
    const room = await mod.createRoom(); // not invited
    const f = configFile({ homeserverUrl: synapse.url, accessToken: b.accessToken, managementRoom: room });
    const r = await tyr(["run", "--config", f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot join the management room ${room}: invite ${b.userId} to it first`);
  });

  it("retries with backoff while the homeserver is unreachable, and stops cleanly on SIGTERM", async () => {
    const port = await freePort();
    const f = configFile({
      homeserverUrl: `http://127.0.0.1:${port}`,
      accessToken: "t",
      managementRoom: "!x:localhost",
    });
    const started = Date.now();
    const r = await tyr(["run", "--config", f], {
      killAfter: (out) => (out.match(/homeserver not reachable/g) ?? []).length >= 3,
    });
    expect(r.code).toBe(0);
    // 1 s, 2 s between the three attempts: backing off, not spinning
    expect(Date.now() - started).toBeGreaterThan(2_500);
    const lines = r.stdout.split("\n").filter((l) => l.includes("homeserver not reachable"));
    expect(lines.length).toBeLessThanOrEqual(4);
    expect(lines[0]).toContain("ECONNREFUSED");
  });

  it("starts without the DEP0060 util._extend deprecation warning, and still prints other warnings", async () => {
    const port = await freePort();
    const f = configFile({
      homeserverUrl: `http://127.0.0.1:${port}`,
      accessToken: "t",
      managementRoom: "!x:localhost",
    });
    const r = await tyr(["run", "--config", f], {
      env: { NODE_OPTIONS: "--trace-deprecation" },
      killAfter: (out) => out.includes("homeserver not reachable"),
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("homeserver not reachable"); // it got past loading every module
    expect(r.stderr).not.toContain("DEP0060");
    expect(r.stderr).not.toContain("util._extend");
    // Only that one warning is silenced: another deprecation still reaches the operator.
    const other = await new Promise<string>((resolve) => {
      const p = spawn(process.execPath, [
        "--input-type=module",
        "-e",
        `await import(${JSON.stringify(CLI.replace("cli.ts", "node-warnings.ts"))}); ` +
          `process.emitWarning("an old thing", "DeprecationWarning", "DEP0999"); ` +
          `(await import("node:util")).default._extend({}, {});`,
      ]);
      let err = "";
      p.stderr.on("data", (d) => (err += d));
      p.on("exit", () => resolve(err));
    });
    expect(other).toContain("DEP0999");
    expect(other).not.toContain("DEP0060");
  });

  it.each(["SIGTERM", "SIGINT"] as const)(
    "runs and shuts down cleanly and promptly on %s",
    async (signal) => {
      const b = await synapse.register("tyr");
      const mod = new TestUser(synapse.url, await synapse.register("mod"));
      const room = await mod.createRoom({ invite: [b.userId] });
      const f = configFile({ homeserverUrl: synapse.url, accessToken: b.accessToken, managementRoom: room });
      const r = await tyr(["run", "--config", f], {
        // Once it syncs, encrypted: the whole stop path runs, crypto store included.
        killAfter: (out) => out.includes('"msg":"syncing: Tyr is up"'),
        signal,
      });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('"msg":"shutting down"');
      expect(r.stdout).toContain('"msg":"stopped"');
      expect(r.stopMs).toBeLessThan(10_000);
      // It ran down by itself: nothing kept the process busy after the stop.
      expect(r.stderr).not.toContain("still busy");
      expect(r.stdout).not.toContain(b.accessToken);
    },
  );
});

describe("scripts/sandbox.sh", () => {
  interface SandboxRun {
    out: string;
    /** The management room's m.room.encryption algorithm, read while the sandbox ran. */
    algorithm: string | undefined;
    /** HTTP statuses of Tyr's dashboard login page and /healthz, read while the sandbox ran. */
    dashboard: number;
    health: number;
    code: number | null;
    stopMs: number;
  }

  /** Runs the sandbox until Tyr syncs, then presses Ctrl-C. */
  async function sandbox(
    dir: string,
    port: number,
    httpPort: number,
    env: Record<string, string> = {},
  ): Promise<SandboxRun> {
    // Its own process group, like a terminal's foreground job: Ctrl-C reaches Tyr and Synapse alike.
    const p = spawn("bash", [join(PROJECT_ROOT, "scripts/sandbox.sh")], {
      env: {
        ...process.env,
        TYR_SANDBOX_DIR: dir,
        TYR_SANDBOX_PORT: String(port),
        TYR_SANDBOX_HTTP_PORT: String(httpPort),
        ...env,
      },
      cwd: PROJECT_ROOT,
      detached: true,
    });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => p.on("exit", (code) => resolve(code)));
    try {
      const deadline = Date.now() + 120_000;
      while (!out.includes("Tyr is syncing") && Date.now() < deadline && p.exitCode === null)
        await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain("Tyr is syncing");
      const state = JSON.parse(readFileSync(join(dir, "sandbox.json"), "utf8")) as {
        moderator: { accessToken: string };
        rooms: { management: string };
      };
      const res = await fetch(
        `http://127.0.0.1:${port}/_matrix/client/v3/rooms/${encodeURIComponent(state.rooms.management)}/state/m.room.encryption/`,
        { headers: { Authorization: `Bearer ${state.moderator.accessToken}` } },
      );
      const algorithm = res.ok ? ((await res.json()) as { algorithm?: string }).algorithm : undefined;
      const dashboard = (await fetch(`http://127.0.0.1:${httpPort}/dashboard/login`)).status;
      const health = (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status;
      const signalled = Date.now();
      process.kill(-p.pid!, "SIGINT");
      const code = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 30_000))]);
      return { out, algorithm, dashboard, health, code, stopMs: Date.now() - signalled };
    } finally {
      if (p.exitCode === null) process.kill(-p.pid!, "SIGKILL");
    }
  }

  it("opens an encrypted management room (plaintext on request), says how to verify Tyr, and stops within seconds of Ctrl-C", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tyr-sandbox-"));
    const port = await freePort();
    const stoppedPromptly = (r: SandboxRun) => {
      // Measured ~0.3 s; before the crypto store closed its connections it spun for minutes. The
      // bound leaves room for a slow, shared machine.
      // On failure, the sandbox's own output says where the stop hung.
      expect(r.stopMs, r.out).toBeLessThan(10_000);
      expect(r.code).toBe(0);
      expect(r.out).toContain("sandbox stopped");
      expect(r.out).not.toContain("DEP0060");
    };

    // Neither port is bound until the sandbox starts: make sure they differ.
    let httpPort = await freePort();
    while (httpPort === port) httpPort = await freePort();
    const plain = await sandbox(dir, port, httpPort, { TYR_SANDBOX_PLAINTEXT: "1" });
    // The sandbox shows the dashboard and the monitoring endpoints too.
    expect(plain.out).toContain(`http://127.0.0.1:${httpPort}/dashboard`);
    expect([plain.dashboard, plain.health]).toEqual([200, 200]);
    expect(plain.out).toMatch(/Management: .* plaintext/);
    expect(plain.out).not.toContain("verify confirm");
    expect(plain.algorithm).toBeUndefined();
    stoppedPromptly(plain);

    // The default, on the same sandbox: the earlier run's room gets encryption switched on.
    const encrypted = await sandbox(dir, port, httpPort);
    expect(encrypted.out).toMatch(/Management: .* encrypted/);
    expect(encrypted.out).toContain("!tyr verify confirm");
    expect(encrypted.algorithm).toBe("m.megolm.v1.aes-sha2");
    stoppedPromptly(encrypted);
  }, 300_000);
});
