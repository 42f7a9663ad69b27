// Reading and validating the YAML config. Secrets are split off into their own object so the
// config proper can be logged or shown in `status` without leaking a token.
import { readFileSync } from "node:fs";
import { resolve, dirname } from "node:path";
import { parseDocument } from "yaml";
import { ZodDefault, ZodObject, ZodOptional, type z } from "zod";
import { configSchema, type ParsedConfig } from "./schema.ts";
import { describeValue } from "../util/describe.ts";
import { readCaFile, urlSecurity } from "../matrix/tls.ts";
import { closest } from "../commands/framework/suggest.ts";
import { MIN_SECRET_LENGTH } from "../antispam/config.ts";
import { MIN_METRICS_TOKEN_LENGTH } from "../metrics/config.ts";

export type Config = Omit<ParsedConfig, "accessToken" | "accessTokenFile" | "password" | "passwordFile">;

export type Credentials =
  { kind: "token"; accessToken: string } | { kind: "password"; username: string; password: string };

export interface LoadedConfig {
  config: Config;
  credentials: Credentials;
  /** The account password when known: needed for user-interactive auth (cross-signing setup). */
  password?: string;
  /** Non-fatal findings, e.g. a secret given inline in the file. */
  warnings: string[];
  /** The synapse-http-antispam shared secret (antispam.secretFile or TYR_ANTISPAM_SECRET). */
  antispamSecret?: string;
  /** The bearer token for /metrics (metrics.tokenFile or TYR_METRICS_TOKEN). */
  metricsToken?: string;
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super(
      `${file}: ${problems.length} problem${problems.length === 1 ? "" : "s"}\n  ${problems.join("\n  ")}`,
    );
    this.problems = problems;
  }
}

function pathString(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || "(top level)";
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

function withoutDefault(schema: z.ZodType): z.ZodType {
  while (schema instanceof ZodDefault || schema instanceof ZodOptional) schema = schema.unwrap() as z.ZodType;
  return schema;
}

/** The keys the schema allows in the mapping at `path`, at any depth (for "did you mean"). */
function knownKeysAt(path: readonly PropertyKey[]): string[] {
  let schema = withoutDefault(configSchema);
  for (const p of path) {
    const next =
      schema instanceof ZodObject ? (schema.shape as Record<PropertyKey, z.ZodType>)[p] : undefined;
    if (next === undefined) return [];
    schema = withoutDefault(next);
  }
  return schema instanceof ZodObject ? Object.keys(schema.shape) : [];
}

/** One line per problem: `key.path: expected …, got …`. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], input: unknown): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const where = pathString(issue.path);
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const full = pathString([...issue.path, key]);
        const [hint] = closest(key, knownKeysAt(issue.path), 1);
        lines.push(`${full}: unknown key${hint ? ` (did you mean "${hint}"?)` : ""}`);
      }
      continue;
    }
    const got = describeValue(valueAt(input, issue.path));
    // Cross-field messages ("give either … not both") stand alone; "expected …" ones get the value.
    if (issue.message.startsWith("expected")) lines.push(`${where}: ${issue.message}, got ${got}`);
    else lines.push(`${where}: ${issue.message}`);
  }
  return lines;
}

/** Validates an already-parsed document. Pure apart from reading secret files/env. */
export function validateConfig(
  input: unknown,
  opts: {
    file: string;
    env?: NodeJS.ProcessEnv;
    readSecret?: (path: string) => string;
    /** `config check` runs where run-time secrets (docker secrets, env) may be absent: warn only. */
    lenientSecrets?: boolean;
  },
): LoadedConfig {
  const env = opts.env ?? process.env;
  const baseDir = dirname(resolve(opts.file));
  const readSecret = opts.readSecret ?? ((p: string) => readFileSync(resolve(baseDir, p), "utf8").trim());
  const parsed = configSchema.safeParse(input ?? {});
  if (!parsed.success) throw new ConfigError(opts.file, formatIssues(parsed.error.issues, input ?? {}));
  const c = parsed.data;
  const problems: string[] = [];
  const warnings: string[] = [];

  const secret = (
    key: "accessTokenFile" | "passwordFile" | "antispam.secretFile" | "metrics.tokenFile",
    path: string | undefined,
  ): string | undefined => {
    if (path === undefined) return undefined;
    try {
      const value = readSecret(path);
      if (!value) problems.push(`${key}: the file ${JSON.stringify(path)} is empty`);
      return value || undefined;
    } catch (e) {
      problems.push(
        `${key}: cannot read ${JSON.stringify(path)} (${(e as NodeJS.ErrnoException).code ?? "error"})`,
      );
      return undefined;
    }
  };

  if (urlSecurity(c.homeserverUrl) === "insecure") {
    warnings.push(
      `homeserverUrl: ${c.homeserverUrl} is plain http:// to a host that is not loopback (allowInsecureHomeserver: true): the access token and every command cross that network unencrypted`,
    );
  }
  if (c.homeserverCaFile !== undefined) {
    // Relative to the config file, like the secret files; kept absolute for start-up.
    c.homeserverCaFile = resolve(baseDir, c.homeserverCaFile);
    try {
      readCaFile(c.homeserverCaFile);
    } catch (e) {
      problems.push(`homeserverCaFile: ${(e as Error).message}`);
    }
  }

  const token =
    c.accessToken ?? secret("accessTokenFile", c.accessTokenFile) ?? (env.TYR_ACCESS_TOKEN || undefined);
  const password = c.password ?? secret("passwordFile", c.passwordFile) ?? (env.TYR_PASSWORD || undefined);
  if (c.accessToken !== undefined || c.password !== undefined) {
    warnings.push(
      "a secret is written in the config file itself; prefer accessTokenFile/passwordFile or TYR_ACCESS_TOKEN/TYR_PASSWORD",
    );
  }

  const antispamSecret =
    secret("antispam.secretFile", c.antispam.secretFile) ?? (env.TYR_ANTISPAM_SECRET || undefined);
  if (c.antispam.enabled && antispamSecret === undefined && problems.length === 0)
    problems.push(
      "antispam.secretFile: antispam is enabled but has no shared secret: set antispam.secretFile or TYR_ANTISPAM_SECRET (the same value as the module's authorization)",
    );
  else if (c.antispam.enabled && antispamSecret !== undefined && antispamSecret.length < MIN_SECRET_LENGTH)
    problems.push(
      `antispam.secretFile: the shared secret is shorter than ${MIN_SECRET_LENGTH} characters; generate one with: openssl rand -hex 32`,
    );

  const metricsToken =
    secret("metrics.tokenFile", c.metrics.tokenFile) ?? (env.TYR_METRICS_TOKEN || undefined);
  const wantsToken = c.metrics.enabled && c.metrics.auth === "bearer";
  if (wantsToken && metricsToken === undefined && c.metrics.tokenFile === undefined)
    problems.push(
      "metrics.tokenFile: metrics.auth is bearer but there is no token: set metrics.tokenFile or TYR_METRICS_TOKEN (openssl rand -hex 32)",
    );
  else if (wantsToken && metricsToken !== undefined && metricsToken.length < MIN_METRICS_TOKEN_LENGTH)
    problems.push(
      `metrics.tokenFile: the token is shorter than ${MIN_METRICS_TOKEN_LENGTH} characters; generate one with: openssl rand -hex 32`,
    );

  let credentials: Credentials | undefined;
  if (token) credentials = { kind: "token", accessToken: token };
  else if (c.username && password) credentials = { kind: "password", username: c.username, password };
  else if (problems.length === 0) {
    problems.push(
      "accessToken: no credentials: set accessToken, accessTokenFile or TYR_ACCESS_TOKEN, or username with password, passwordFile or TYR_PASSWORD",
    );
  }
  if (opts.lenientSecrets && problems.length > 0) {
    warnings.push(...problems.map((p) => `${p} (needed when Tyr runs)`));
    problems.length = 0;
    credentials ??= { kind: "token", accessToken: "" };
  }
  if (problems.length > 0 || !credentials) throw new ConfigError(opts.file, problems);

  const { accessToken: _a, accessTokenFile: _af, password: _p, passwordFile: _pf, ...config } = c;
  return {
    config,
    credentials,
    warnings,
    ...(password ? { password } : {}),
    ...(antispamSecret !== undefined ? { antispamSecret } : {}),
    ...(metricsToken !== undefined ? { metricsToken } : {}),
  };
}

/** Reads, parses and validates a YAML config file; throws ConfigError listing every problem. */
export function loadConfigFile(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  opts: { lenientSecrets?: boolean } = {},
): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [
      code === "ENOENT" ? "the file does not exist" : `cannot read the file (${code ?? "error"})`,
    ]);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => `YAML syntax: ${e.message.split("\n")[0]}`),
    );
  }
  return validateConfig(doc.toJS(), { file, env, ...opts });
}
