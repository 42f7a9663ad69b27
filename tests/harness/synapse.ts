// A real Synapse on loopback, for integration tests and the sandbox. Installs a pinned
// matrix-synapse from PyPI into a project-local virtualenv (reused when present), writes a
// loopback-only config (SQLite, no federation, shared-secret registration), starts it, waits
// until it answers, and registers users through the shared-secret admin API.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";

export const SYNAPSE_VERSION = "1.163.2";
/** The synapse-http-antispam module (PyPI) the homeserver-integration tests load. */
export const ANTISPAM_MODULE_VERSION = "0.5.1";
export const PROJECT_ROOT = resolve(import.meta.dirname, "../..");
export const DEV_DIR = join(PROJECT_ROOT, ".tyr-dev");
export const VENV = join(DEV_DIR, "synapse-venv");

export type RateLimits =
  | "relaxed"
  | "default"
  /** rc_message-style limit applied to messages, state events, redactions, bans and kicks. */
  | { perSecond: number; burst: number };

export interface SynapseOptions {
  /** Folder for config, database, logs. Wiped on start unless `keepData`. */
  dir: string;
  port?: number;
  serverName?: string;
  rateLimits?: RateLimits;
  keepData?: boolean;
  /** Federation over TLS on loopback (tests only): see `FederationOptions`. */
  federation?: FederationOptions;
  /** Load synapse-http-antispam pointing at Tyr (installed into the venv on first use). */
  antispam?: AntispamModuleOptions;
  /** Synapse's `experimental_features` (e.g. `msc4293_enabled` for redact-on-ban). */
  experimental?: Record<string, boolean>;
}

/** The module's config block in homeserver.yaml (see README "Homeserver integration"). */
export interface AntispamModuleOptions {
  /** Tyr's URL including antispam.pathPrefix, e.g. http://127.0.0.1:8090/_tyr/antispam */
  baseUrl: string;
  secret: string;
  enabledCallbacks?: string[];
  failOpen?: Record<string, boolean>;
}

/**
 * A second listener serving federation over TLS with the given (self-signed) certificate.
 * Certificates of other servers are not verified, loopback addresses may be contacted, and names
 * ending in `.localhost` resolve to 127.0.0.1 (RFC 6761) through a small resolver shim, so server
 * names like `hs1.localhost:8481` work without DNS (an explicit port skips well-known and SRV).
 */
export interface FederationOptions {
  port: number;
  tlsCertPath: string;
  tlsKeyPath: string;
}

const LOCALHOST_RESOLVER_SHIM = `# Written by Tyr's test harness: *.localhost resolves to loopback (RFC 6761).
import socket
_getaddrinfo = socket.getaddrinfo
def _loopback_getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if isinstance(name, str) and name.lower().rstrip(".").endswith(".localhost"):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)
socket.getaddrinfo = _loopback_getaddrinfo
`;

export interface RegisteredUser {
  userId: string;
  accessToken: string;
  deviceId: string;
  password: string;
  localpart: string;
}

function venvPython(): string {
  return join(VENV, "bin", "python");
}

/** Creates the virtualenv and installs Synapse when it is missing or at another version. */
export function ensureSynapseInstalled(log: (m: string) => void = () => {}): void {
  if (existsSync(venvPython()) && installedVersion("matrix-synapse") === SYNAPSE_VERSION) return;
  log(`installing matrix-synapse ${SYNAPSE_VERSION} into ${VENV} (first run only)…`);
  mkdirSync(DEV_DIR, { recursive: true });
  const py = process.env.PYTHON ?? "python3";
  run(py, ["-m", "venv", VENV]);
  run(venvPython(), pipInstallArgs(`matrix-synapse==${SYNAPSE_VERSION}`));
}

/** Arguments for `<venv python>` that quietly pip-install `args` (requirements and flags). */
export function pipInstallArgs(...args: string[]): string[] {
  return ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", ...args];
}

/** The version of a package in the venv, or undefined when it is not installed. */
function installedVersion(pkg: string): string | undefined {
  const r = spawnSync(
    venvPython(),
    ["-c", `from importlib.metadata import version; print(version(${JSON.stringify(pkg)}))`],
    { encoding: "utf8" },
  );
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Installs the pinned synapse-http-antispam into the venv unless it is there (idempotent). */
export function ensureAntispamModuleInstalled(log: (m: string) => void = () => {}): void {
  ensureSynapseInstalled(log);
  if (installedVersion("synapse-http-antispam") === ANTISPAM_MODULE_VERSION) return;
  log(`installing synapse-http-antispam ${ANTISPAM_MODULE_VERSION} into ${VENV}…`);
  // --no-deps: its only dependency is matrix-synapse, pinned above; never let pip move it.
  run(venvPython(), pipInstallArgs("--no-deps", `synapse-http-antispam==${ANTISPAM_MODULE_VERSION}`));
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed with exit code ${r.status}`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolveP, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === "object" && addr ? resolveP(addr.port) : reject(new Error("no port")),
      );
    });
  });
}

function rateLimitYaml(limits: RateLimits): string {
  if (limits === "default") return "";
  const { perSecond, burst } = limits === "relaxed" ? { perSecond: 10_000, burst: 10_000 } : limits;
  const rc = `{per_second: ${perSecond}, burst_count: ${burst}}`;
  const relaxed = "{per_second: 10000, burst_count: 10000}";
  return [
    `rc_message: ${rc}`,
    // Admin redactions and joins are not what a limit test measures; keep them out of the way.
    `rc_admin_redaction: ${rc}`,
    `rc_joins: {local: ${relaxed}, remote: ${relaxed}}`,
    `rc_invites: {per_room: ${relaxed}, per_user: ${relaxed}, per_issuer: ${relaxed}}`,
    `rc_registration: ${relaxed}`,
    `rc_login: {address: ${relaxed}, account: ${relaxed}, failed_attempts: ${relaxed}}`,
    `rc_joins_per_room: ${relaxed}`,
    `rc_3pid_validation: ${relaxed}`,
    `rc_presence: {per_user: ${relaxed}}`,
    `rc_delayed_event_mgmt: ${relaxed}`,
    `rc_reports: ${relaxed}`,
    `rc_room_creation: ${relaxed}`,
    `rc_key_requests: ${relaxed}`,
  ].join("\n");
}

export class Synapse {
  readonly url: string;
  readonly serverName: string;
  readonly port: number;
  readonly dir: string;
  readonly sharedSecret: string;
  private proc: ChildProcess | undefined;
  private userCounter = 0;
  private readonly federation: boolean;

  private constructor(opts: {
    dir: string;
    port: number;
    serverName: string;
    sharedSecret: string;
    federation?: boolean;
  }) {
    this.federation = opts.federation ?? false;
    this.dir = opts.dir;
    this.port = opts.port;
    this.serverName = opts.serverName;
    this.sharedSecret = opts.sharedSecret;
    this.url = `http://127.0.0.1:${opts.port}`;
  }

  /** Writes the config (unless it exists and `keepData`), then starts Synapse. */
  static async create(opts: SynapseOptions): Promise<Synapse> {
    ensureSynapseInstalled((m) => process.stderr.write(`${m}\n`));
    if (opts.antispam) ensureAntispamModuleInstalled((m) => process.stderr.write(`${m}\n`));
    const dir = resolve(opts.dir);
    if (!opts.keepData) rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const port = opts.port ?? (await freePort());
    const serverName = opts.serverName ?? "localhost";
    const secretFile = join(dir, "shared-secret");
    const sharedSecret = existsSync(secretFile)
      ? readFileSync(secretFile, "utf8").trim()
      : randomBytes(24).toString("hex");
    writeFileSync(secretFile, sharedSecret, { mode: 0o600 });
    writeFileSync(
      join(dir, "homeserver.yaml"),
      synapseConfig({
        dir,
        port,
        serverName,
        sharedSecret,
        rateLimits: opts.rateLimits ?? "relaxed",
        ...(opts.federation ? { federation: opts.federation } : {}),
        ...(opts.antispam ? { antispam: opts.antispam } : {}),
        ...(opts.experimental ? { experimental: opts.experimental } : {}),
      }),
    );
    writeFileSync(join(dir, "log.config"), LOG_CONFIG.replace("LOGFILE", join(dir, "homeserver.log")));
    if (opts.federation) {
      mkdirSync(join(dir, "pyshim"), { recursive: true });
      writeFileSync(join(dir, "pyshim", "sitecustomize.py"), LOCALHOST_RESOLVER_SHIM);
    }
    const s = new Synapse({ dir, port, serverName, sharedSecret, federation: opts.federation !== undefined });
    await s.start();
    return s;
  }

  /** A handle on a Synapse started elsewhere (the global setup); it can register users but not stop it. */
  static attach(info: { dir: string; port: number; serverName: string }): Synapse {
    const sharedSecret = readFileSync(join(info.dir, "shared-secret"), "utf8").trim();
    return new Synapse({ ...info, sharedSecret });
  }

  async start(): Promise<void> {
    if (this.proc) return;
    const cfg = join(this.dir, "homeserver.yaml");
    if (!existsSync(join(this.dir, "signing.key"))) {
      run(venvPython(), ["-m", "synapse.app.homeserver", "-c", cfg, "--generate-keys"]);
    }
    const out = openSync(join(this.dir, "stdout.log"), "a");
    this.proc = spawn(venvPython(), ["-m", "synapse.app.homeserver", "-c", cfg], {
      stdio: ["ignore", out, out],
      cwd: this.dir,
      ...(this.federation ? { env: { ...process.env, PYTHONPATH: join(this.dir, "pyshim") } } : {}),
    });
    const proc = this.proc;
    let exited: number | null | undefined;
    proc.on("exit", (code) => {
      exited = code;
      if (this.proc === proc) this.proc = undefined;
    });
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (exited !== undefined)
        throw new Error(`Synapse exited with code ${exited}; see ${join(this.dir, "homeserver.log")}`);
      try {
        const res = await fetch(`${this.url}/_matrix/client/versions`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`Synapse did not answer within 60 s; see ${join(this.dir, "homeserver.log")}`);
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = undefined;
    await new Promise<void>((resolveP) => {
      const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      proc.once("exit", () => {
        clearTimeout(t);
        resolveP();
      });
      proc.kill("SIGTERM");
    });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  /** Registers a user with the shared-secret admin API; `name` gets a unique suffix unless `exact`. */
  async register(
    name: string,
    opts: { admin?: boolean; exact?: boolean; password?: string } = {},
  ): Promise<RegisteredUser> {
    const localpart = opts.exact
      ? name
      : `${name}-${process.pid}-${Date.now().toString(36)}-${++this.userCounter}`;
    const password = opts.password ?? randomBytes(12).toString("hex");
    const endpoint = `${this.url}/_synapse/admin/v1/register`;
    const { nonce } = (await (await fetch(endpoint)).json()) as { nonce: string };
    const admin = opts.admin ? "admin" : "notadmin";
    const mac = createHmac("sha1", this.sharedSecret)
      .update(`${nonce}\0${localpart}\0${password}\0${admin}`)
      .digest("hex");
    const res = await fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ nonce, username: localpart, password, admin: Boolean(opts.admin), mac }),
    });
    const body = (await res.json()) as {
      user_id?: string;
      access_token?: string;
      device_id?: string;
      error?: string;
    };
    if (!res.ok || !body.user_id || !body.access_token)
      throw new Error(`register ${localpart} failed: ${res.status} ${body.error ?? ""}`);
    return {
      userId: body.user_id,
      accessToken: body.access_token,
      deviceId: body.device_id ?? "",
      password,
      localpart,
    };
  }
}

function synapseConfig(o: {
  dir: string;
  port: number;
  serverName: string;
  sharedSecret: string;
  rateLimits: RateLimits;
  federation?: FederationOptions;
  antispam?: AntispamModuleOptions;
  experimental?: Record<string, boolean>;
}): string {
  const q = (s: string) => JSON.stringify(s);
  const f = o.federation;
  const federationYaml = f
    ? `  - port: ${f.port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: true
    x_forwarded: false
    resources:
      - names: [federation]
        compress: false
tls_certificate_path: ${q(f.tlsCertPath)}
tls_private_key_path: ${q(f.tlsKeyPath)}
# Test servers only: self-signed certificates, loopback addresses.
federation_verify_certificates: false
ip_range_whitelist: ["127.0.0.0/8"]`
    : "federation_domain_whitelist: []";
  return `# Generated by Tyr's test harness: loopback only${f ? ", federation over TLS on loopback" : ", no federation"}.
server_name: ${q(o.serverName)}
public_baseurl: ${q(`http://127.0.0.1:${o.port}/`)}
pid_file: ${q(join(o.dir, "homeserver.pid"))}
listeners:
  - port: ${o.port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      # openid: /_matrix/federation/v1/openid/userinfo, which Tyr's dashboard asks to verify a
      # moderator's OpenID token ("log in with Matrix").
      - names: [client, openid]
        compress: false
${federationYaml}
database:
  name: sqlite3
  args:
    database: ${q(join(o.dir, "homeserver.db"))}
log_config: ${q(join(o.dir, "log.config"))}
media_store_path: ${q(join(o.dir, "media"))}
signing_key_path: ${q(join(o.dir, "signing.key"))}
registration_shared_secret: ${q(o.sharedSecret)}
macaroon_secret_key: ${q(o.sharedSecret + "-macaroon")}
form_secret: ${q(o.sharedSecret + "-form")}
report_stats: false
# Tests register hundreds of users; the default 12 rounds cost ~250 ms each.
bcrypt_rounds: 4
enable_registration: false
# Like most public homeservers: members may list rooms in the public directory (Synapse denies by default).
room_list_publication_rules: [{action: allow}]
trusted_key_servers: []
suppress_key_server_warning: true${o.experimental ? `\nexperimental_features: ${JSON.stringify(o.experimental)}` : ""}
presence:
  enabled: false
url_preview_enabled: false
enable_metrics: false
${rateLimitYaml(o.rateLimits)}
${o.antispam ? antispamYaml(o.antispam) : ""}
`;
}

function antispamYaml(a: AntispamModuleOptions): string {
  const q = (s: string) => JSON.stringify(s);
  return `modules:
  - module: synapse_http_antispam.HTTPAntispam
    config:
      base_url: ${q(a.baseUrl)}
      authorization: ${q(a.secret)}
${a.enabledCallbacks ? `      enabled_callbacks: [${a.enabledCallbacks.map(q).join(", ")}]\n` : ""}${
    a.failOpen
      ? `      fail_open: {${Object.entries(a.failOpen)
          .map(([k, v]) => `${k}: ${v}`)
          .join(", ")}}\n`
      : ""
  }`;
}

const LOG_CONFIG = `version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: LOGFILE
    encoding: utf8
loggers:
  synapse.storage.SQL:
    level: WARNING
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
`;
