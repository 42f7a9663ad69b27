// The `policyServer:` config block: off by default with safe defaults; bad values say what is expected.
import { describe, expect, it } from "vitest";
import { ConfigError, validateConfig } from "../../../src/config/load.ts";
import { POLICY_SERVER_DEFAULTS } from "../../../src/policyserver/config.ts";
import { signingKeyPath } from "../../../src/policyserver/feature.ts";

const base = {
  homeserverUrl: "http://127.0.0.1:8008",
  accessToken: "syt_secret",
  dataPath: "/var/lib/tyr",
  managementRoom: "!abc:example.org",
};

function problems(input: unknown): string[] {
  try {
    validateConfig(input, { file: "test.yaml", env: {}, readSecret: () => "" });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

describe("policyServer config", () => {
  it("is off by default, never insecure by default, with the key in dataPath", () => {
    const { config } = validateConfig(base, { file: "t.yaml", env: {} });
    expect(config.policyServer).toEqual(POLICY_SERVER_DEFAULTS);
    expect(config.policyServer.enabled).toBe(false);
    expect(config.policyServer.testOnlyInsecureKeyFetch).toBe(false);
    expect(signingKeyPath(config.policyServer, config.dataPath)).toBe("/var/lib/tyr/policy-server.key");
    const own = validateConfig(
      { ...base, policyServer: { enabled: true, serverName: "example.org", signingKeyFile: "/k" } },
      { file: "t.yaml", env: {} },
    ).config.policyServer;
    expect(own).toMatchObject({ enabled: true, serverName: "example.org" });
    expect(signingKeyPath(own, "/var/lib/tyr")).toBe("/k");
  });

  it("refuses bad values with what is expected", () => {
    expect(problems({ ...base, policyServer: { serverName: "not a server/" } }).join("\n")).toMatch(
      /policyServer\.serverName.*expected a server name/,
    );
    expect(problems({ ...base, policyServer: { maxRequestsPerMinutePerServer: 0 } }).join("\n")).toMatch(
      /maxRequestsPerMinutePerServer.*expected an integer between 10 and 1000000/,
    );
    expect(problems({ ...base, policyServer: { whatever: 1 } }).join("\n")).toMatch(/policyServer/);
  });
});
