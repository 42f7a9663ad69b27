// The `enforceAtServer` setting: every message protection has it (globally and per room), the
// membership-only ones do not (Synapse does not ask the spam checker about membership changes).
import { describe, expect, it } from "vitest";
import { defaultConfig, effectiveConfig, setSetting } from "../../../src/protections/config.ts";
import { BUILTIN_PROTECTIONS } from "../../../src/protections/registry.ts";
import { ENFORCE_AT_SERVER, enforcedAtServer } from "../../../src/protections/enforce.ts";

const R = BUILTIN_PROTECTIONS;

describe("enforceAtServer", () => {
  it("exists on message protections only, off by default", () => {
    const withIt = R.filter((p) => Object.hasOwn(p.settings, ENFORCE_AT_SERVER)).map((p) => p.name);
    expect(withIt.sort()).toEqual(["first-message", "flooding", "media-filter", "mention-spam", "word-list"]);
    for (const p of R.filter((x) => withIt.includes(x.name)))
      expect(effectiveConfig(defaultConfig(), p).stored[ENFORCE_AT_SERVER]).toBe(false);
  });

  it("is set like any setting (on/off, per room) and read from resolved settings", () => {
    const on = setSetting(defaultConfig(), R, "word-list", "enforceAtServer", "on");
    expect(on.ok).toBe(true);
    if (!on.ok) return;
    const off = setSetting(on.config, R, "word-list", "enforceAtServer", "off", "!r:example.org");
    expect(off.ok).toBe(true);
    if (!off.ok) return;
    const wl = R.find((p) => p.name === "word-list")!;
    expect(enforcedAtServer(effectiveConfig(off.config, wl).stored)).toBe(true);
    expect(enforcedAtServer(effectiveConfig(off.config, wl, "!r:example.org").stored)).toBe(false);
    const jw = setSetting(defaultConfig(), R, "join-wave", "enforceAtServer", "on");
    expect(jw).toMatchObject({
      ok: false,
      error: expect.stringMatching(/join-wave has no setting "enforceAtServer"/),
    });
  });
});
