import { describe, expect, it } from "vitest";
import { isStale } from "../../../src/matrix/crypto/feature.ts";
import { validateConfig } from "../../../src/config/load.ts";

describe("late-decrypted events", () => {
  const now = 1_700_000_000_000;
  it.each([
    { sentAt: now, max: 600, stale: false },
    { sentAt: now - 600_000, max: 600, stale: false },
    { sentAt: now - 600_001, max: 600, stale: true },
    { sentAt: now + 60_000, max: 0, stale: false }, // sender's clock ahead of ours
    { sentAt: now - 1, max: 0, stale: true },
    { sentAt: 0, max: 86_400, stale: true }, // no timestamp: old
  ])("sent $sentAt, max age $max s → stale $stale", ({ sentAt, max, stale }) => {
    expect(isStale(sentAt, now, max)).toBe(stale);
  });

  it("defaults to 10 minutes and rejects ages outside 0..86400 seconds", () => {
    const base = {
      homeserverUrl: "https://m.example.org",
      accessToken: "t",
      dataPath: "/tmp/x",
      managementRoom: "!m:x",
    };
    const ctx = { file: "c.yaml", env: {} };
    expect(validateConfig(base, ctx).config.encryption.lateDecryptionMaxAgeSeconds).toBe(600);
    expect(() => validateConfig({ ...base, encryption: { lateDecryptionMaxAgeSeconds: -1 } }, ctx)).toThrow(
      /encryption\.lateDecryptionMaxAgeSeconds.*integer between 0 and 86400/s,
    );
  });
});
