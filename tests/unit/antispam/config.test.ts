// The `http:` and `antispam:` config blocks and the shared secret's loading.
import { describe, expect, it } from "vitest";
import { ConfigError, validateConfig } from "../../../src/config/load.ts";

const base = {
  homeserverUrl: "https://matrix.example.org",
  accessToken: "syt_x",
  dataPath: "./data",
  managementRoom: "!m:example.org",
};

const load = (
  extra: Record<string, unknown>,
  env: Record<string, string> = {},
  files: Record<string, string> = {},
) =>
  validateConfig(
    { ...base, ...extra },
    {
      file: "/etc/tyr/config.yaml",
      env,
      readSecret: (p) => {
        const v = files[p];
        if (v === undefined) throw Object.assign(new Error("missing"), { code: "ENOENT" });
        return v;
      },
    },
  );

const problems = (f: () => unknown): string[] => {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
};

describe("http and antispam config", () => {
  it("defaults: loopback listener on 8090, antispam off, no secret needed", () => {
    const c = load({});
    expect(c.config.http).toMatchObject({
      bind: "127.0.0.1",
      port: 8090,
      maxBodyBytes: 65_536,
      listeners: {},
    });
    expect(c.config.antispam).toMatchObject({
      enabled: false,
      whenNotReady: "allow",
      pathPrefix: "/_tyr/antispam",
    });
    expect(c.antispamSecret).toBeUndefined();
  });

  it("reads the secret from secretFile or TYR_ANTISPAM_SECRET, never into the config", () => {
    const secret = "0123456789abcdef0123";
    const fromFile = load({ antispam: { enabled: true, secretFile: "s" } }, {}, { s: secret });
    expect(fromFile.antispamSecret).toBe(secret);
    expect(JSON.stringify(fromFile.config)).not.toContain(secret);
    expect(load({ antispam: { enabled: true } }, { TYR_ANTISPAM_SECRET: secret }).antispamSecret).toBe(
      secret,
    );
  });

  it("refuses antispam without a secret, or with a short one, saying what to do", () => {
    expect(problems(() => load({ antispam: { enabled: true } }))).toEqual([
      expect.stringMatching(/^antispam\.secretFile: antispam is enabled but has no shared secret/),
    ]);
    expect(problems(() => load({ antispam: { enabled: true } }, { TYR_ANTISPAM_SECRET: "short" }))).toEqual([
      expect.stringMatching(/shorter than 16 characters; generate one with: openssl rand -hex 32/),
    ]);
    expect(problems(() => load({ antispam: { enabled: true, secretFile: "nope" } }))[0]).toMatch(
      /antispam\.secretFile: cannot read "nope" \(ENOENT\)/,
    );
  });

  it("validates the listener settings with clear messages", () => {
    expect(problems(() => load({ http: { port: 70_000 } }))[0]).toMatch(
      /^http\.port: expected an integer between 0 and 65535/,
    );
    expect(problems(() => load({ http: { bind: "0.0.0.0 ; rm" } }))[0]).toMatch(
      /^http\.bind: expected an IP address/,
    );
    expect(problems(() => load({ http: { listeners: { metrics: { port: "x" } } } }))[0]).toMatch(
      /^http\.listeners\.metrics\.port/,
    );
    expect(problems(() => load({ antispam: { whenNotReady: "maybe" } }))[0]).toMatch(
      /^antispam\.whenNotReady: expected allow or deny/,
    );
    expect(problems(() => load({ antispam: { pathPrefix: "/x/" } }))[0]).toMatch(/^antispam\.pathPrefix/);
  });
});
