import { describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfigFile, validateConfig } from "../../../src/config/load.ts";

const base = {
  homeserverUrl: "http://127.0.0.1:8008",
  accessToken: "syt_secret",
  dataPath: "./data",
  managementRoom: "!abc:example.org",
};

function problems(input: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    validateConfig(input, { file: "test.yaml", env, readSecret: () => "" });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

describe("config validation", () => {
  it("accepts a minimal config and fills defaults", () => {
    const { config, credentials } = validateConfig(base, { file: "t.yaml", env: {} });
    expect(credentials).toEqual({ kind: "token", accessToken: "syt_secret" });
    expect(config.commands).toEqual({ prefix: "!tyr", minPowerLevel: 50, confirmTimeoutSeconds: 300 });
    expect(config.logLevel).toBe("info");
    expect(config.acl.allowIpLiterals).toBe(false);
    // secrets are split off the config proper, so logging the config can't leak them
    expect(JSON.stringify(config)).not.toContain("syt_secret");
  });

  it("accepts room IDs without a server part (room version 12) and aliases", () => {
    expect(problems({ ...base, managementRoom: "!abcdefghijklmnop" })).toEqual([]);
    expect(problems({ ...base, managementRoom: "#mods:example.org" })).toEqual([]);
  });

  it("accepts initialModerator instead of managementRoom (first run), and checks it is a user ID", () => {
    const { managementRoom: _m, ...noRoom } = base;
    expect(problems({ ...noRoom, initialModerator: "@you:example.org" })).toEqual([]);
    expect(problems({ ...noRoom, initialModerator: "you" })).toEqual([
      'initialModerator: expected a user ID such as @you:example.org, got "you"',
    ]);
  });

  describe("TLS rule", () => {
    it("refuses plain http to a host that is not loopback", () => {
      expect(problems({ ...base, homeserverUrl: "http://example.org" })).toEqual([
        expect.stringMatching(
          /^homeserverUrl: plain http:\/\/ is accepted only on loopback .*allowInsecureHomeserver: true/,
        ),
      ]);
    });

    it("accepts it when the admin says the path is private, with a warning at every load", () => {
      const loaded = validateConfig(
        { ...base, homeserverUrl: "http://synapse:8008", allowInsecureHomeserver: true },
        { file: "t.yaml", env: {} },
      );
      expect(loaded.warnings).toContainEqual(expect.stringContaining("http://synapse:8008 is plain http://"));
    });

    it("accepts https and loopback http without a warning", () => {
      for (const homeserverUrl of ["https://matrix.example.org", "http://localhost:8008"]) {
        const loaded = validateConfig({ ...base, homeserverUrl }, { file: "t.yaml", env: {} });
        expect(loaded.warnings.filter((w) => w.includes("plain http"))).toEqual([]);
      }
    });

    it("checks the CA file and keeps its path relative to the config file", () => {
      const dir = mkdtempSync(join(tmpdir(), "tyr-ca-"));
      const file = join(dir, "tyr.yaml");
      expect(problems({ ...base, homeserverCaFile: "missing.pem" })).toEqual([
        expect.stringMatching(/^homeserverCaFile: cannot read .*missing\.pem.*ENOENT/),
      ]);
      writeFileSync(join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
      const loaded = validateConfig({ ...base, homeserverCaFile: "ca.pem" }, { file, env: {} });
      expect(loaded.config.homeserverCaFile).toBe(join(dir, "ca.pem"));
    });
  });

  const table: [string, Record<string, unknown>, string[]][] = [
    [
      "a room name instead of an ID",
      { managementRoom: "mods" },
      ['managementRoom: expected a room ID (!…) or alias (#…:server), got "mods"'],
    ],
    [
      "a missing homeserver",
      { homeserverUrl: undefined },
      ["homeserverUrl: expected an http(s) URL, got nothing"],
    ],
    [
      "a non-URL homeserver",
      { homeserverUrl: "matrix.org" },
      ['homeserverUrl: expected an http(s) URL such as https://matrix.example.org, got "matrix.org"'],
    ],
    [
      "a wrong log level",
      { logLevel: "loud" },
      ['logLevel: expected one of trace, debug, info, warn, error, fatal, silent, got "loud"'],
    ],
    [
      "a prefix with spaces",
      { commands: { prefix: "! tyr" } },
      ['commands.prefix: expected a prefix of 1 to 32 characters without spaces, such as !tyr, got "! tyr"'],
    ],
    [
      "a power level as text",
      { commands: { minPowerLevel: "fifty" } },
      ['commands.minPowerLevel: expected an integer between 0 and 1000000, got "fifty"'],
    ],
    [
      "a fractional concurrency",
      { queue: { concurrency: 1.5 } },
      ["queue.concurrency: expected an integer between 1 and 64, got 1.5"],
    ],
    [
      "a bad protected room",
      { protectedRooms: ["!ok:x", "lobby"] },
      ['protectedRooms[1]: expected a room ID (!…) or alias (#…:server), got "lobby"'],
    ],
    [
      "an unknown key with a near miss",
      { loglevel: "info" },
      ['loglevel: unknown key (did you mean "logLevel"?)'],
    ],
    [
      "an unknown nested key with a near miss",
      { commands: { prefx: "!mod" } },
      ['commands.prefx: unknown key (did you mean "prefix"?)'],
    ],
    [
      "a nested key in the wrong letter case",
      { acl: { allowIPLiterals: true } },
      ['acl.allowIPLiterals: unknown key (did you mean "allowIpLiterals"?)'],
    ],
    [
      "an unknown nested key far from any",
      { encryption: { colour: "blue" } },
      ["encryption.colour: unknown key"],
    ],
    [
      "a top-level key in the wrong letter case",
      { homeserverURL: "https://x.org" },
      ['homeserverURL: unknown key (did you mean "homeserverUrl"?)'],
    ],
    ["a non-boolean", { dryRun: "yes" }, ['dryRun: expected true or false, got "yes"']],
    [
      "both token forms",
      { accessTokenFile: "/x" },
      ["accessTokenFile: give either accessToken or accessTokenFile, not both"],
    ],
  ];
  it.each(table)("reports %s", (_name, patch, expected) => {
    const input: Record<string, unknown> = { ...base, ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete input[k];
    expect(problems(input)).toEqual(expected);
  });

  it("lists every problem at once", () => {
    const p = problems({ homeserverUrl: 5, dataPath: "", managementRoom: "x", bogus: 1, accessToken: "t" });
    expect(p).toHaveLength(4);
    expect(p).toContain("bogus: unknown key");
  });

  it("requires some credentials and says where they can come from", () => {
    const { accessToken: _t, ...noToken } = base;
    expect(problems(noToken)).toEqual([
      "accessToken: no credentials: set accessToken, accessTokenFile or TYR_ACCESS_TOKEN, or username with password, passwordFile or TYR_PASSWORD",
    ]);
    expect(validateConfig(noToken, { file: "t", env: { TYR_ACCESS_TOKEN: "from-env" } }).credentials).toEqual(
      {
        kind: "token",
        accessToken: "from-env",
      },
    );
    expect(
      validateConfig({ ...noToken, username: "tyr" }, { file: "t", env: { TYR_PASSWORD: "pw" } }).credentials,
    ).toEqual({ kind: "password", username: "tyr", password: "pw" });
  });

  it("reads secrets from files relative to the config, and reports unreadable ones", () => {
    const dir = mkdtempSync(join(tmpdir(), "tyr-cfg-"));
    writeFileSync(join(dir, "token"), "file-token\n");
    const { accessToken: _t, ...noToken } = base;
    const ok = validateConfig(
      { ...noToken, accessTokenFile: "token" },
      { file: join(dir, "c.yaml"), env: {} },
    );
    expect(ok.credentials).toEqual({ kind: "token", accessToken: "file-token" });
    expect(() =>
      validateConfig({ ...noToken, accessTokenFile: "missing" }, { file: join(dir, "c.yaml"), env: {} }),
    ).toThrow(/accessTokenFile: cannot read "missing" \(ENOENT\)/);
  });

  it("warns when a secret is written inline", () => {
    expect(validateConfig(base, { file: "t", env: {} }).warnings[0]).toMatch(/prefer accessTokenFile/);
  });
});

describe("config files", () => {
  const dir = mkdtempSync(join(tmpdir(), "tyr-cfgf-"));
  it("names a missing file", () => {
    expect(() => loadConfigFile(join(dir, "nope.yaml"), {})).toThrow(/the file does not exist/);
  });
  it("reports YAML syntax errors", () => {
    const f = join(dir, "bad.yaml");
    writeFileSync(f, "homeserverUrl: [unclosed\n");
    expect(() => loadConfigFile(f, {})).toThrow(/YAML syntax/);
  });
  it("reports duplicate keys", () => {
    const f = join(dir, "dup.yaml");
    writeFileSync(f, "logLevel: info\nlogLevel: debug\n");
    expect(() => loadConfigFile(f, {})).toThrow(/YAML syntax/);
  });
  it("accepts config/default.yaml, warning about the secret file only mounted at run time", () => {
    const loaded = loadConfigFile(
      join(import.meta.dirname, "../../../config/default.yaml"),
      {},
      { lenientSecrets: true },
    );
    expect(loaded.config.commands.prefix).toBe("!tyr");
    expect(loaded.warnings).toEqual([
      'accessTokenFile: cannot read "/run/secrets/tyr-access-token" (ENOENT) (needed when Tyr runs)',
    ]);
    // `tyr run` needs the secret for real
    expect(() => loadConfigFile(join(import.meta.dirname, "../../../config/default.yaml"), {})).toThrow(
      /ENOENT/,
    );
  });
  it("treats an empty file as an empty mapping and lists the required keys", () => {
    const f = join(dir, "empty.yaml");
    writeFileSync(f, "");
    try {
      loadConfigFile(f, {});
      expect.unreachable();
    } catch (e) {
      expect((e as ConfigError).problems).toEqual([
        "homeserverUrl: expected an http(s) URL, got nothing",
        "dataPath: expected a directory path, got nothing",
        "managementRoom: expected a room ID (!…) or alias (#…:server), or initialModerator (@you:server) to let Tyr create the room on its first run, got nothing",
      ]);
    }
  });
});
