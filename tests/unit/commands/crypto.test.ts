// Formatting of the encryption commands: status, devices, sessions, and which verification
// "verify confirm|cancel" means.
import { describe, expect, it } from "vitest";
import {
  deviceState,
  fingerprint,
  openVerifications,
  pickVerification,
  renderCryptoStatus,
  renderDevices,
  renderSessions,
  verificationLine,
} from "../../../src/commands/crypto.ts";
import { cryptoCommands } from "../../../src/commands/crypto.ts";
import { CommandRegistry } from "../../../src/commands/framework/index.ts";
import type { CryptoStatus, DeviceTrust, OwnDevice } from "../../../src/matrix/crypto/trust.ts";
import type { VerificationView } from "../../../src/matrix/crypto/verification.ts";

const status = (over: Partial<CryptoStatus> = {}): CryptoStatus => ({
  userId: "@tyr:example.org",
  deviceId: "TYRDEVICE",
  ed25519: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq",
  curve25519: "curvecurvecurve",
  crossSigning: {
    published: true,
    hasMaster: true,
    hasSelfSigning: true,
    hasUserSigning: true,
    deviceSigned: true,
    masterKey: "MASTERKEYMASTERKEY",
  },
  backup: { enabled: true, version: "3", roomKeys: 12, backedUp: 11 },
  keySharing: "cross-signed",
  pendingDecryptions: 2,
  store: { file: "/data/crypto/store", dirty: false },
  ...over,
});

const device = (over: Partial<DeviceTrust> = {}): DeviceTrust => ({
  userId: "@alice:example.org",
  deviceId: "ALICE1",
  known: true,
  displayName: "Element <Web>",
  ed25519: "edkeyedkeyedkey",
  crossSignedByOwner: false,
  verified: false,
  blocked: false,
  ...over,
});

const view = (over: Partial<VerificationView> = {}): VerificationView => ({
  flowId: "flow1",
  userId: "@alice:example.org",
  deviceId: "ALICE1",
  roomId: undefined,
  weStarted: false,
  state: "emoji",
  emoji: undefined,
  cancelReason: undefined,
  ...over,
});

describe("fingerprint", () => {
  it("groups a key in fours", () => {
    expect(fingerprint("abcdefghij")).toBe("abcd efgh ij");
    expect(fingerprint(undefined)).toBe("unknown");
    expect(fingerprint("")).toBe("unknown");
  });
});

describe("deviceState", () => {
  it("puts blocked before verified before cross-signed", () => {
    expect(deviceState(device({ blocked: true, verified: true, crossSignedByOwner: true }))).toBe("blocked");
    expect(deviceState(device({ verified: true, crossSignedByOwner: true }))).toBe("verified");
    expect(deviceState(device({ crossSignedByOwner: true }))).toBe("cross-signed");
    expect(deviceState(device())).toBe("unverified");
    expect(deviceState(device({ known: false, blocked: true }))).toBe("unknown");
  });
});

describe("renderCryptoStatus", () => {
  it("shows the device, its keys, cross-signing, backup, room keys and pending decryptions", () => {
    const f = renderCryptoStatus(status(), {
      commandPolicy: "cross-signed",
      verifications: [],
      prefix: "!tyr",
    });
    expect(f.text).toContain("TYRDEVICE");
    expect(f.text).toContain("ABCD EFGH IJKL");
    expect(f.text).toContain("this device is signed");
    expect(f.text).toContain("version 3 · 11/12 room keys backed up");
    expect(f.text).toMatch(/Room keys: 12/);
    expect(f.text).toContain("2 waiting for their keys");
    expect(f.text).toContain("cross-signed by their owner or verified by Tyr");
    expect(f.text).not.toContain("not cross-signed, so");
  });

  it("warns when the device is not signed and the backup is off, and lists open verifications", () => {
    const f = renderCryptoStatus(
      status({
        crossSigning: { ...status().crossSigning, deviceSigned: false },
        backup: { enabled: false, version: undefined, roomKeys: 4, backedUp: 0 },
        pendingDecryptions: 0,
      }),
      {
        commandPolicy: "any",
        verifications: [view(), view({ flowId: "old", state: "done" })],
        prefix: "!tyr",
      },
    );
    expect(f.text).toContain("this device is NOT signed");
    expect(f.text).toContain("not cross-signed, so clients");
    expect(f.text).toContain("Room keys are not backed up");
    expect(f.text).toContain("none pending");
    expect(f.text).toContain("Verifications in progress: 1");
    expect(f.text).toContain("`flow1`");
    expect(f.text).not.toContain("`old`");
  });

  it("says when cross-signing is missing", () => {
    const f = renderCryptoStatus(
      status({ crossSigning: { ...status().crossSigning, published: false, masterKey: undefined } }),
      { commandPolicy: "cross-signed", verifications: [], prefix: "!tyr" },
    );
    expect(f.text).toContain("Cross-signing: not set up");
    expect(f.text).toContain("Master key: none");
  });
});

describe("renderDevices", () => {
  it("lists each device with its state, escaping names, and explains unverified ones", () => {
    const f = renderDevices(
      "@alice:example.org",
      [
        device(),
        device({ deviceId: "ALICE2", crossSignedByOwner: true, displayName: undefined }),
        device({ deviceId: "ALICE3", blocked: true }),
        device({ deviceId: "ALICE4", verified: true }),
      ],
      "!tyr",
    );
    expect(f.text).toContain("Devices of `@alice:example.org` (4)");
    expect(f.text).toMatch(/ALICE1.*unverified \(not cross-signed\)/);
    expect(f.text).toMatch(/ALICE2.*no name.*cross-signed by its owner/);
    expect(f.text).toMatch(/ALICE3.*blocked/);
    expect(f.text).toMatch(/ALICE4.*verified by Tyr/);
    expect(f.html).toContain("Element &lt;Web&gt;");
    expect(f.text).toContain("!tyr verify @alice:example.org <device>");
  });

  it("says so when a user has no devices", () => {
    expect(renderDevices("@x:example.org", [], "!tyr").text).toContain("has no devices");
  });
});

describe("renderSessions", () => {
  it("puts the current session first and offers removal of the others", () => {
    const sessions: OwnDevice[] = [
      {
        deviceId: "OLD",
        displayName: "old",
        lastSeenTs: 0,
        lastSeenIp: "10.0.0.1",
        current: false,
        crossSigned: false,
      },
      {
        deviceId: "NOW",
        displayName: undefined,
        lastSeenTs: 1000,
        lastSeenIp: undefined,
        current: true,
        crossSigned: true,
      },
    ];
    const f = renderSessions(sessions, "!tyr");
    const lines = f.text.split("\n");
    expect(lines[1]).toContain("NOW` (this one)");
    expect(lines[2]).toContain("1970-01-01 00:00:00 UTC from 10.0.0.1");
    expect(lines[2]).toContain("not cross-signed");
    expect(f.text).toContain("!tyr sessions remove <device>");
    const alone = renderSessions([sessions[1]!], "!tyr");
    expect(alone.text).not.toContain("sessions remove");
  });
});

describe("pickVerification", () => {
  const confirmable: VerificationView["state"][] = ["emoji", "qr-scanned"];

  it("picks the only verification waiting", () => {
    expect(
      pickVerification(
        [view(), view({ flowId: "x", state: "done" })],
        undefined,
        confirmable,
        "confirm",
        "!tyr",
      ),
    ).toEqual({
      ok: true,
      flowId: "flow1",
    });
  });

  it("asks which one when several wait, listing them", () => {
    const r = pickVerification(
      [view(), view({ flowId: "flow2" })],
      undefined,
      confirmable,
      "confirm",
      "!tyr",
    );
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reply.text).toContain("!tyr verify confirm <flow>");
      expect(r.reply.text).toContain("flow2");
    }
  });

  it("explains when nothing waits, and what is in progress", () => {
    const r = pickVerification([view({ state: "ready" })], undefined, confirmable, "confirm", "!tyr");
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reply.text).toContain("No verification is waiting for confirmation");
      expect(r.reply.text).toContain("In progress:");
      expect(r.reply.text).toContain(": ready");
    }
    const none = pickVerification([], undefined, confirmable, "cancel", "!tyr");
    expect(none.ok).toBe(false);
    if (!none.ok) expect(none.reply.text).toContain("!tyr verify <user> [device]");
  });

  it("checks a named flow", () => {
    expect(pickVerification([view()], "flow1", confirmable, "confirm", "!tyr")).toEqual({
      ok: true,
      flowId: "flow1",
    });
    const missing = pickVerification([view()], "nope", confirmable, "confirm", "!tyr");
    expect(!missing.ok && missing.reply.text).toContain("There is no verification `nope`");
    const wrong = pickVerification([view({ state: "done" })], "flow1", confirmable, "confirm", "!tyr");
    expect(!wrong.ok && wrong.reply.text).toContain("cannot be confirmed now: it is done");
  });
});

describe("verification lines", () => {
  it("say who, where, who started and the state (with the cancel reason)", () => {
    expect(verificationLine(view({ roomId: "!r:x", weStarted: true, deviceId: undefined })).text).toBe(
      "`flow1` — `@alice:example.org` in a room, started by Tyr: emoji",
    );
    expect(verificationLine(view({ state: "cancelled", cancelReason: "mismatch" })).text).toContain(
      "started by them: cancelled: mismatch",
    );
    expect(openVerifications([view({ state: "cancelled" }), view({ state: "confirmed" })])).toHaveLength(1);
  });
});

describe("the command definitions", () => {
  it("register without clashes and resolve sub-commands before arguments", () => {
    const registry = new CommandRegistry<unknown>(cryptoCommands as never);
    const parse = (s: string) => registry.parse(s);
    const confirm = parse("verify confirm");
    expect(confirm.ok && confirm.command.name).toBe("verify confirm");
    const verify = parse("verify @alice:example.org ALICE1");
    expect(verify.ok && verify.args).toEqual({ user: "@alice:example.org", device: "ALICE1" });
    expect(parse("crypto").ok && (parse("crypto") as { command: { name: string } }).command.name).toBe(
      "crypto status",
    );
    const block = parse("device block @alice:example.org");
    expect(block.ok).toBe(false);
    const remove = parse("sessions remove OLD");
    expect(remove.ok && Object.keys(remove.command.flags)).toContain("yes");
  });
});
