// Trust policy helpers: who sent a decrypted event and how far we trust that device (for the
// command gate), device listings and blocking (for `devices`, `device block|unblock`), Tyr's own
// devices (`sessions`) and the crypto status report (`crypto status`).

import {
  DeviceId,
  LocalTrust,
  OtherUserIdentity,
  OwnUserIdentity,
  UserId,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import type { Device } from "@matrix-org/matrix-sdk-crypto-wasm";

import type { CryptoEngine, DecryptionInfo } from "./engine.ts";
import { requestWithUia } from "./requests.ts";
import { errorMessage, isRecord } from "./types.ts";
import { UserFacingError } from "../../util/userFacingError.ts";

/** What the command gate requires of the device that sent a command in an encrypted room. */
export type CommandTrustPolicy =
  /** Any device (the message must still decrypt). */
  | "any"
  /** A device signed by its owner's cross-signing identity, or verified by Tyr. Default. */
  | "cross-signed"
  /** A device Tyr verified (directly, or its owner's identity verified by Tyr and the device signed). */
  | "verified";

export interface DeviceTrust {
  userId: string;
  deviceId: string;
  known: boolean;
  displayName: string | undefined;
  ed25519: string | undefined;
  crossSignedByOwner: boolean;
  /** Verified by Tyr: locally, or through cross-signing from an identity Tyr verified. */
  verified: boolean;
  blocked: boolean;
}

export type TrustDecision = { ok: true; trust: DeviceTrust | undefined } | { ok: false; reason: string };

function describeDevice(userId: string, deviceId: string, d: Device | undefined): DeviceTrust {
  if (!d) {
    return {
      userId,
      deviceId,
      known: false,
      displayName: undefined,
      ed25519: undefined,
      crossSignedByOwner: false,
      verified: false,
      blocked: false,
    };
  }
  return {
    userId,
    deviceId,
    known: true,
    displayName: d.displayName,
    ed25519: d.ed25519Key?.toBase64(),
    crossSignedByOwner: d.isCrossSignedByOwner(),
    verified: d.isVerified(),
    blocked: d.isBlacklisted(),
  };
}

/** Trust state of one device (device lists are fetched first if the user is not tracked yet). */
export async function deviceTrust(
  engine: CryptoEngine,
  userId: string,
  deviceId: string,
): Promise<DeviceTrust> {
  let d = await engine.machine.getDevice(new UserId(userId), new DeviceId(deviceId));
  if (!d) {
    await engine.fetchDevices([userId]);
    d = await engine.machine.getDevice(new UserId(userId), new DeviceId(deviceId));
  }
  return describeDevice(userId, deviceId, d);
}

/** All devices of a user with their trust state (`devices <user>`). */
export async function listDevices(engine: CryptoEngine, userId: string): Promise<DeviceTrust[]> {
  await engine.fetchDevices([userId]);
  const devices = await engine.machine.getUserDevices(new UserId(userId));
  return devices
    .devices()
    .map((d) => describeDevice(userId, d.deviceId.toString(), d))
    .sort((a, b) => a.deviceId.localeCompare(b.deviceId));
}

/**
 * Block (or unblock) a device: blocked devices never receive room keys. Current outbound sessions
 * are rotated so that the device cannot read what Tyr sends from now on.
 */
export async function setDeviceBlocked(
  engine: CryptoEngine,
  userId: string,
  deviceId: string,
  blocked: boolean,
): Promise<DeviceTrust> {
  await engine.fetchDevices([userId]);
  const d = await engine.machine.getDevice(new UserId(userId), new DeviceId(deviceId));
  if (!d) throw new UserFacingError(`${userId} has no device ${deviceId}`);
  await d.setLocalTrust(blocked ? LocalTrust.BlackListed : LocalTrust.Unset);
  engine.invalidateBlockCache(userId);
  if (blocked) await engine.rotateAllRoomKeys();
  await engine.persist();
  return describeDevice(
    userId,
    deviceId,
    await engine.machine.getDevice(new UserId(userId), new DeviceId(deviceId)),
  );
}

/**
 * The command gate for a message in an encrypted room: `info` is the `DecryptionInfo` of the
 * decrypted event, or undefined if the message arrived unencrypted (refused unless policy "any").
 * The reason is written for the sender ("why was my command refused").
 */
export async function checkSender(
  engine: CryptoEngine,
  sender: string,
  decrypted: DecryptionInfo | undefined,
  policy: CommandTrustPolicy,
  event?: { roomId: string; eventId: string },
): Promise<TrustDecision> {
  if (policy === "any") {
    // Any device, except one a moderator blocked: `device block` promises it cannot command Tyr.
    const device = decrypted?.senderDevice;
    if (device !== undefined && (await deviceTrust(engine, sender, device)).blocked) {
      return { ok: false, reason: `your device ${device} is blocked` };
    }
    return { ok: true, trust: undefined };
  }
  let info = decrypted;
  if (!info) return { ok: false, reason: "the command was not encrypted; this room is encrypted" };
  if (!info.senderDevice && event) {
    // The device was not known when the message was decrypted (it has just logged in, or Tyr has
    // just started on a new device, and its room key came in the same sync): fetch the sender's
    // devices now and decide on a fresh decryption, instead of refusing on stale knowledge.
    await engine.fetchDevices([sender]);
    info = (await freshDecryptionInfo(engine, event.roomId, event.eventId)) ?? info;
  }
  if (!info.authentic) {
    return { ok: false, reason: "the message's key could not be authenticated (forwarded or restored key)" };
  }
  if (!info.senderDevice) return { ok: false, reason: "the sending device is unknown to Tyr" };
  const trust = await deviceTrust(engine, sender, info.senderDevice);
  if (!trust.known) return { ok: false, reason: `your device ${info.senderDevice} is unknown to Tyr` };
  if (trust.blocked) return { ok: false, reason: `your device ${info.senderDevice} is blocked` };
  if (policy === "verified") {
    return trust.verified
      ? { ok: true, trust }
      : {
          ok: false,
          reason: `your device ${info.senderDevice} is not verified by Tyr (verify Tyr from your client, or ask for "verify ${sender}")`,
        };
  }
  return trust.crossSignedByOwner || trust.verified
    ? { ok: true, trust }
    : {
        ok: false,
        reason: `your device ${info.senderDevice} is not cross-signed: verify it from one of your other sessions (or set up cross-signing)`,
      };
}

/**
 * The base64 public key of a cross-signing key as crypto-wasm hands it out (the key's whole JSON
 * object: user_id, usage, keys, signatures), for showing as a fingerprint. Undefined when the text
 * holds no single ed25519 key.
 */
export function crossSigningPublicKey(keyJson: string | undefined): string | undefined {
  if (keyJson === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(keyJson);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || !isRecord(parsed["keys"])) return undefined;
  const keys = Object.entries(parsed["keys"]).filter(([id]) => id.startsWith("ed25519:"));
  const [only] = keys;
  return keys.length === 1 && only && typeof only[1] === "string" ? only[1] : undefined;
}

/** The event fetched from the homeserver and decrypted again: what Tyr knows of its sender now. */
async function freshDecryptionInfo(
  engine: CryptoEngine,
  roomId: string,
  eventId: string,
): Promise<DecryptionInfo | undefined> {
  try {
    const raw = await engine.request(
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(eventId)}`,
    );
    if (!isRecord(raw)) return undefined;
    const r = await engine.decrypt(roomId, raw);
    return r.ok ? r.info : undefined;
  } catch (e) {
    engine.logger.warn(
      { roomId, eventId, err: errorMessage(e) },
      "crypto: could not decrypt a command again",
    );
    return undefined;
  }
}

/** Does `userId` have a cross-signing identity, and did Tyr verify it? */
export async function userTrust(
  engine: CryptoEngine,
  userId: string,
): Promise<{
  hasIdentity: boolean;
  verified: boolean;
  masterKey: string | undefined;
  changedSinceVerified: boolean;
}> {
  const id = await engine.machine.getIdentity(new UserId(userId));
  if (!id) return { hasIdentity: false, verified: false, masterKey: undefined, changedSinceVerified: false };
  return {
    hasIdentity: true,
    verified: id.isVerified(),
    masterKey: crossSigningPublicKey(id.masterKey),
    changedSinceVerified: id.hasVerificationViolation(),
  };
}

/**
 * Accept a user's new identity after they reset it (they had been verified by Tyr). Until then,
 * room-key sharing into rooms with that user fails under the "cross-signed" policy.
 */
export async function acceptChangedIdentity(engine: CryptoEngine, userId: string): Promise<void> {
  const id = await engine.machine.getIdentity(new UserId(userId));
  if (!id) throw new UserFacingError(`${userId} has no cross-signing identity`);
  if (id.hasVerificationViolation()) await id.withdrawVerification();
  if (id instanceof OtherUserIdentity && id.identityNeedsUserApproval()) await id.pinCurrentMasterKey();
  await engine.persist();
}

export interface OwnDevice {
  deviceId: string;
  displayName: string | undefined;
  lastSeenTs: number | undefined;
  lastSeenIp: string | undefined;
  current: boolean;
  crossSigned: boolean;
}

/** Tyr's own devices (`sessions`). */
export async function listOwnDevices(engine: CryptoEngine): Promise<OwnDevice[]> {
  const resp = await engine.request("GET", "/_matrix/client/v3/devices");
  const list = isRecord(resp) && Array.isArray(resp["devices"]) ? resp["devices"] : [];
  await engine.fetchDevices([engine.userId]);
  const out: OwnDevice[] = [];
  for (const d of list) {
    if (!isRecord(d) || typeof d["device_id"] !== "string") continue;
    const dev = await engine.machine.getDevice(new UserId(engine.userId), new DeviceId(d["device_id"]));
    out.push({
      deviceId: d["device_id"],
      displayName: typeof d["display_name"] === "string" ? d["display_name"] : undefined,
      lastSeenTs: typeof d["last_seen_ts"] === "number" ? d["last_seen_ts"] : undefined,
      lastSeenIp: typeof d["last_seen_ip"] === "string" ? d["last_seen_ip"] : undefined,
      current: d["device_id"] === engine.deviceId,
      crossSigned: dev?.isCrossSignedByOwner() ?? false,
    });
  }
  return out;
}

/** Log out one of Tyr's other devices (needs the bot's password for user-interactive auth). */
export async function deleteOwnDevice(
  engine: CryptoEngine,
  deviceId: string,
  password: string | undefined,
): Promise<void> {
  if (deviceId === engine.deviceId) throw new UserFacingError("refusing to delete Tyr's current device");
  await requestWithUia(
    engine.request,
    "DELETE",
    `/_matrix/client/v3/devices/${encodeURIComponent(deviceId)}`,
    {},
    { userId: engine.userId, password },
  );
}

export interface CryptoStatus {
  userId: string;
  deviceId: string;
  ed25519: string;
  curve25519: string;
  crossSigning: {
    published: boolean;
    hasMaster: boolean;
    hasSelfSigning: boolean;
    hasUserSigning: boolean;
    deviceSigned: boolean;
    masterKey: string | undefined;
  };
  backup: { enabled: boolean; version: string | undefined; roomKeys: number; backedUp: number };
  keySharing: string;
  pendingDecryptions: number;
  store: { file: string; dirty: boolean };
}

/** Everything `crypto status` reports. */
export async function getCryptoStatus(engine: CryptoEngine): Promise<CryptoStatus> {
  const m = engine.machine;
  const status = await m.crossSigningStatus();
  const identity = await m.getIdentity(new UserId(engine.userId));
  let deviceSigned = false;
  try {
    deviceSigned = identity instanceof OwnUserIdentity ? await identity.trustsOurOwnDevice() : false;
  } catch (e) {
    engine.logger.debug({ err: errorMessage(e) }, "crypto: trustsOurOwnDevice failed");
  }
  const counts = await m.roomKeyCounts();
  const keys = await m.getBackupKeys();
  return {
    userId: engine.userId,
    deviceId: engine.deviceId,
    ed25519: m.identityKeys.ed25519.toBase64(),
    curve25519: m.identityKeys.curve25519.toBase64(),
    crossSigning: {
      published: identity !== undefined,
      hasMaster: status.hasMaster,
      hasSelfSigning: status.hasSelfSigning,
      hasUserSigning: status.hasUserSigning,
      deviceSigned,
      masterKey: crossSigningPublicKey(identity?.masterKey),
    },
    backup: {
      enabled: await m.isBackupEnabled(),
      version: keys.backupVersion,
      roomKeys: counts.total,
      backedUp: counts.backedUp,
    },
    keySharing: engine.keySharing,
    pendingDecryptions: engine.pendingDecryptions,
    store: { file: engine.store.storeFile, dirty: engine.store.isDirty() },
  };
}
