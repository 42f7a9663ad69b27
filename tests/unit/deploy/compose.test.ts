// No Docker engine runs here, so the compose file is checked for structure: both services, the
// volumes, the config Tyr reads, health checks, and that the secret reaches the path the config names.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { loadConfigFile } from "../../../src/config/load.ts";

const root = join(import.meta.dirname, "../../..");
const compose = parse(readFileSync(join(root, "docker-compose.yml"), "utf8")) as {
  services: Record<
    string,
    {
      image?: string;
      build?: unknown;
      volumes?: string[];
      healthcheck?: { test: string[] };
      command?: string[];
      depends_on?: Record<string, { condition: string }>;
      secrets?: string[];
      networks?: string[];
    }
  >;
  networks: Record<string, { internal?: boolean }>;
  volumes: Record<string, unknown>;
  secrets: Record<string, { file: string }>;
};

describe("docker-compose.yml", () => {
  it("has Synapse and Tyr with health checks", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["synapse", "tyr"]);
    // Synapse is the official image plus the pinned antispam module (deploy/synapse/Dockerfile).
    expect(compose.services.synapse!.build).toBe("deploy/synapse");
    const synapseDockerfile = readFileSync(join(root, "deploy/synapse/Dockerfile"), "utf8");
    expect(synapseDockerfile).toMatch(/^FROM matrixdotorg\/synapse:v1\.163\.2$/m);
    expect(synapseDockerfile).toMatch(/synapse-http-antispam==0\.5\.1/);
    for (const s of Object.values(compose.services)) expect(s.healthcheck?.test.length).toBeGreaterThan(1);
    expect(compose.services.tyr!.depends_on?.synapse?.condition).toBe("service_healthy");
  });

  it("persists both services' data in named volumes", () => {
    expect(compose.services.synapse!.volumes).toContain("synapse-data:/data");
    expect(compose.services.tyr!.volumes).toContain("tyr-data:/data");
    expect(Object.keys(compose.volumes).sort()).toEqual(["synapse-data", "tyr-data"]);
  });

  it("runs Tyr with the mounted config, and hands it the token where default.yaml looks", () => {
    const tyr = compose.services.tyr!;
    expect(tyr.command).toEqual(["run", "--config", "/config/config.yaml"]);
    expect(tyr.volumes).toContain("./tyr-config:/config:ro");
    expect(tyr.secrets).toEqual(["tyr-access-token", "tyr-antispam-secret"]);
    const def = loadConfigFile(join(root, "config/default.yaml"), {}, { lenientSecrets: true });
    expect(def.warnings.join()).toContain("/run/secrets/tyr-access-token");
    // the health check asks /readyz on the port default.yaml listens on, with metrics on there
    const check = tyr.healthcheck!.test.join(" ");
    expect(def.config.metrics.enabled).toBe(true);
    expect(check).toContain(`http://127.0.0.1:${def.config.http.port}/readyz`);
    expect(def.config.http.listeners.metrics).toBeUndefined();
    expect(check).toMatch(/process\.exit\(r\.ok\?0:1\)/);
  });

  it("puts Synapse and Tyr on one internal network sharing the antispam secret; Tyr on no other", () => {
    expect(compose.networks["tyr-internal"]?.internal).toBe(true);
    expect(compose.services.tyr!.networks).toEqual(["tyr-internal"]);
    expect(compose.services.synapse!.networks).toContain("tyr-internal");
    expect(compose.services.synapse!.secrets).toEqual(["tyr-antispam-secret"]);
    expect(compose.secrets["tyr-antispam-secret"]?.file).toBe("./secrets/tyr-antispam-secret");
  });

  it("builds the image from the Dockerfile in the repository", () => {
    expect(compose.services.tyr!.build).toBe(".");
    const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/FROM node:24/);
    expect(dockerfile).toMatch(/ENTRYPOINT \["node", "bin\/tyr.js"\]/);
  });
});
