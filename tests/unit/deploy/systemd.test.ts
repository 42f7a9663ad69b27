// The systemd unit in deploy/: the keys that make it safe and restartable, and (where systemd's
// own analyzer is installed) its exposure score, computed offline from the file.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const file = join(import.meta.dirname, "../../../deploy/tyr.service");
const text = readFileSync(file, "utf8");

/** `Key=value` lines of the unit, several values per key in order. */
function settings(unit: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of unit.split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

const unit = settings(text);
const one = (key: string) => unit.get(key)?.at(-1);

describe("deploy/tyr.service", () => {
  it("runs the compiled CLI with the config from /etc/tyr and keeps state in /var/lib/tyr", () => {
    expect(one("ExecStart")).toBe(
      "/opt/tyr/node_modules/.bin/node /opt/tyr/bin/tyr.js run --config /etc/tyr/config.yaml",
    );
    expect(one("StateDirectory")).toBe("tyr");
    expect(one("StateDirectoryMode")).toBe("0700");
    expect(one("UMask")).toBe("0077");
    expect(one("LoadCredential")).toBe("access-token:/etc/tyr/access-token");
  });

  it("does not restart on a bad config (exit 2) and gives the queue time to drain", () => {
    expect(one("Restart")).toBe("on-failure");
    expect(one("RestartPreventExitStatus")).toBe("2");
    expect(Number(one("TimeoutStopSec"))).toBeGreaterThan(10);
  });

  it("is hardened, but leaves V8 and WebAssembly executable memory", () => {
    for (const [k, v] of [
      ["DynamicUser", "yes"],
      ["ProtectSystem", "strict"],
      ["ProtectHome", "yes"],
      ["PrivateTmp", "yes"],
      ["NoNewPrivileges", "yes"],
      ["CapabilityBoundingSet", ""],
    ]) {
      expect(one(k!), k).toBe(v);
    }
    expect(unit.has("MemoryDenyWriteExecute")).toBe(false);
  });

  const analyzer = spawnSync("systemd-analyze", ["--version"]).status === 0;
  it.skipIf(!analyzer)(
    "scores as well exposed as a hardened service can be (systemd-analyze security)",
    () => {
      const r = spawnSync("systemd-analyze", ["security", "--offline=yes", "--no-pager", file], {
        encoding: "utf8",
      });
      const score = /Overall exposure level for tyr\.service: ([\d.]+)/.exec(r.stdout)?.[1];
      expect(score, r.stdout + r.stderr).toBeDefined();
      expect(Number(score)).toBeLessThanOrEqual(2);
    },
  );
});
