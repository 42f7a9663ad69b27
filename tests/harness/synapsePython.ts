// Runs a small script with Synapse's own Python (the test venv), so signatures and redactions are
// checked by the code that will verify them in production, not only by Tyr's own verifier.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VENV, ensureSynapseInstalled } from "./synapse.ts";

let installed = false;

/** Runs `script` (which reads `DATA` and prints one JSON value) on `input` (a file: argv is too small). */
export function synapsePython(script: string, input: unknown): unknown {
  if (!installed) {
    ensureSynapseInstalled((m) => process.stderr.write(`${m}\n`));
    installed = true;
  }
  const dir = mkdtempSync(join(tmpdir(), "tyr-synapse-py-"));
  try {
    const file = join(dir, "input.json");
    writeFileSync(file, JSON.stringify(input));
    const out = execFileSync(join(VENV, "bin", "python"), ["-", file], {
      input: `import sys, json\nDATA = json.load(open(sys.argv[1], encoding="utf-8"))\n${script}`,
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    return JSON.parse(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
