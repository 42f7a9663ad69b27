// A real browser for the dashboard tests: Debian's `chromium` package (installed with apt-get when
// missing, as root, like nio.ts installs python3-olm) driven by playwright-core. Playwright never
// downloads a browser here: it is always launched from CHROMIUM.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { DEV_DIR } from "./synapse.ts";

export const CHROMIUM = "/usr/bin/chromium";
/** Screenshots of the dashboard tests land here (kept as test artifacts). */
export const ARTIFACTS = join(DEV_DIR, "artifacts");

function run(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  return r.status === 0;
}

/** Makes sure Debian's chromium is installed; idempotent, instant when it is. */
export function ensureChromiumInstalled(log: (m: string) => void = () => {}): void {
  if (existsSync(CHROMIUM)) return;
  log("installing Debian's chromium with apt-get (first run only)…");
  const ok =
    run("apt-get", ["install", "-y", "-q", "chromium"]) ||
    (run("apt-get", ["update", "-q"]) && run("apt-get", ["install", "-y", "-q", "chromium"]));
  if (!ok || !existsSync(CHROMIUM))
    throw new Error("the dashboard tests need Debian's chromium: run `apt-get install -y chromium` as root");
}

export async function launchBrowser(): Promise<Browser> {
  ensureChromiumInstalled((m) => console.error(m));
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container has no user namespace for Chromium's sandbox.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}
