// Vitest global setup for the integration project: one Synapse for the whole run. Each test
// file registers its own users and creates its own rooms, so tests never see each other's state.
import type { TestProject } from "vitest/node";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { DEV_DIR, Synapse } from "./synapse.ts";

let synapse: Synapse | undefined;

export async function setup(project: TestProject): Promise<void> {
  // One folder per run: several runs (a developer's and CI's, or parallel sessions) never collide.
  synapse = await Synapse.create({
    dir: join(DEV_DIR, `test-synapse-${process.pid}`),
    rateLimits: "relaxed",
  });
  project.provide("synapse", {
    url: synapse.url,
    serverName: synapse.serverName,
    dir: synapse.dir,
    port: synapse.port,
  });
}

export async function teardown(): Promise<void> {
  await synapse?.stop();
  if (synapse) rmSync(synapse.dir, { recursive: true, force: true });
}

declare module "vitest" {
  export interface ProvidedContext {
    synapse: { url: string; serverName: string; dir: string; port: number };
  }
}
