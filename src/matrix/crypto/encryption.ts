// Outbound Megolm for the crypto engine: sharing the room key with the members' devices before
// every send (under a per-room lock), rotating the session before crypto-wasm would find it expired
// (encryptRoomEvent on an expired or missing session panics inside wasm and kills the process),
// and the key-sharing policy, including the users left out because of a blocked device.

import {
  CollectStrategy,
  EncryptionAlgorithm,
  EncryptionSettings,
  HistoryVisibility,
  RoomId,
  UserId,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import type { KeysClaimRequest, OlmMachine, ToDeviceRequest } from "@matrix-org/matrix-sdk-crypto-wasm";

import { MEGOLM_ALGORITHM } from "./engine-types.ts";
import type { KeySharingPolicy } from "./engine-types.ts";
import type { AnyOutgoingRequest } from "./requests.ts";
import { toUserIds } from "./rooms.ts";
import { chooseSharing, isWanted, type DeviceFacts, type SharingStrategy } from "./sharing.ts";
import type { RoomEncryption, RoomState, RoomTracker } from "./rooms.ts";
import { errorMessage, isRecord } from "./types.ts";
import type { Logger, LogOnce } from "./types.ts";

const DEFAULT_ROTATION_MS = 7 * 24 * 3600 * 1000;
/** crypto-wasm never rotates faster than this, whatever the room says. */
const MIN_ROTATION_MS = 3600 * 1000;
/** We rotate this long before crypto-wasm would consider the session expired. */
const ROTATION_MARGIN_MS = 10 * 60 * 1000;
const BLOCKED_CACHE_MS = 60_000;

export function collectStrategy(policy: KeySharingPolicy): CollectStrategy {
  return strategyOf(policy === "all" ? "all" : policy === "verified" ? "trusted" : "identity");
}

function strategyOf(s: SharingStrategy): CollectStrategy {
  switch (s) {
    case "all":
      return CollectStrategy.allDevices();
    case "trusted":
      return CollectStrategy.onlyTrustedDevices();
    default:
      return CollectStrategy.identityBasedStrategy();
  }
}

/** "user|device" of every device a batch of to-device requests carries an encrypted message to. */
function keyRecipients(requests: readonly ToDeviceRequest[]): string[] {
  const out: string[] = [];
  for (const req of requests) {
    if (req.event_type !== "m.room.encrypted") continue;
    const body: unknown = JSON.parse(req.body);
    const messages = isRecord(body) && isRecord(body["messages"]) ? body["messages"] : {};
    for (const [user, devices] of Object.entries(messages))
      if (isRecord(devices)) for (const device of Object.keys(devices)) out.push(`${user}|${device}`);
  }
  return out;
}

function historyVisibilityOf(v: string): HistoryVisibility {
  switch (v) {
    case "invited":
      return HistoryVisibility.Invited;
    case "joined":
      return HistoryVisibility.Joined;
    case "world_readable":
      return HistoryVisibility.WorldReadable;
    default:
      return HistoryVisibility.Shared;
  }
}

/** Run `fn` after every earlier call with the same key finished (a per-key async mutex). */
class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    this.tails.set(key, next);
    void next
      .catch(() => undefined)
      .finally(() => {
        if (this.tails.get(key) === next) this.tails.delete(key);
      });
    return next;
  }
}

export interface RoomEncryptorDeps {
  machine: OlmMachine;
  userId: string;
  rooms: RoomTracker;
  /** The engine's current policy (it may change at run time). */
  keySharing: () => KeySharingPolicy;
  logger: Logger;
  logOnce: LogOnce;
  /** Run the outgoing-request loop (device lists must be fresh before sharing). */
  processOutgoingRequests: () => Promise<void>;
  sendAndMark: (req: AnyOutgoingRequest) => Promise<void>;
  /** Save the crypto store. */
  persist: () => Promise<unknown>;
}

export class RoomEncryptor {
  private readonly deps: RoomEncryptorDeps;
  private readonly roomLock = new KeyedLock();
  private readonly claimLock = new KeyedLock();
  /** When we (re)started the outbound Megolm session of a room, per this process. */
  private readonly outboundStarted = new Map<string, number>();
  private readonly blockedCache = new Map<string, { blocked: boolean; at: number }>();

  constructor(deps: RoomEncryptorDeps) {
    this.deps = deps;
  }

  /** See CryptoEngine.encrypt. */
  async encrypt(
    roomId: string,
    type: string,
    content: Record<string, unknown>,
    opts: { oneOffSession?: boolean } = {},
  ): Promise<{ type: "m.room.encrypted"; content: Record<string, unknown> }> {
    if (!(await this.deps.rooms.isRoomEncrypted(roomId))) throw new Error(`room ${roomId} is not encrypted`);
    return this.roomLock.run(roomId, async () => {
      const r = this.deps.rooms.get(roomId);
      const enc = r.encryption;
      if (!enc || enc.algorithm !== MEGOLM_ALGORITHM) {
        throw new Error(
          `room ${roomId} uses encryption algorithm ${enc?.algorithm ?? "?"}, which Tyr does not support`,
        );
      }
      const room = new RoomId(roomId);
      if (!opts.oneOffSession) {
        await this.shareRoomKeyLocked(roomId, r, enc);
        return this.encryptNow(room, type, content);
      }
      // A session of its own for this one event, shared with every unblocked device of the
      // members, then thrown away: the devices it reaches can read this event and nothing else.
      await this.deps.machine.invalidateGroupSession(room);
      this.outboundStarted.delete(roomId);
      try {
        await this.shareRoomKeyLocked(roomId, r, enc, "all");
        return await this.encryptNow(room, type, content);
      } finally {
        await this.deps.machine.invalidateGroupSession(room);
        this.outboundStarted.delete(roomId);
      }
    });
  }

  private async encryptNow(
    room: RoomId,
    type: string,
    content: Record<string, unknown>,
  ): Promise<{ type: "m.room.encrypted"; content: Record<string, unknown> }> {
    const encrypted = await this.deps.machine.encryptRoomEvent(room, type, JSON.stringify(content));
    const parsed: unknown = JSON.parse(encrypted);
    if (!isRecord(parsed)) throw new Error("crypto-wasm returned a non-object encrypted content");
    return { type: "m.room.encrypted" as const, content: parsed };
  }

  /** Share the room key now (e.g. ahead of sending); same work as encrypt() minus the event. */
  async prepareRoom(roomId: string): Promise<void> {
    if (!(await this.deps.rooms.isRoomEncrypted(roomId))) return;
    await this.roomLock.run(roomId, async () => {
      const r = this.deps.rooms.get(roomId);
      if (!r.encryption || r.encryption.algorithm !== MEGOLM_ALGORITHM) return;
      await this.shareRoomKeyLocked(roomId, r, r.encryption);
    });
  }

  /** Force a new outbound Megolm session for the room at the next send. */
  async rotateRoomKey(roomId: string): Promise<void> {
    await this.roomLock.run(roomId, async () => {
      await this.deps.machine.invalidateGroupSession(new RoomId(roomId));
      this.outboundStarted.delete(roomId);
    });
  }

  /** Start new outbound sessions in every encrypted room known to this process. */
  async rotateAllRoomKeys(): Promise<void> {
    for (const roomId of this.deps.rooms.encryptedRoomIds()) await this.rotateRoomKey(roomId);
  }

  private async shareRoomKeyLocked(
    roomId: string,
    r: RoomState,
    enc: RoomEncryption,
    forced?: SharingStrategy,
  ): Promise<void> {
    const { machine, logger } = this.deps;
    const room = new RoomId(roomId);
    await this.deps.rooms.loadMembers(roomId, r);
    const includeInvited = r.historyVisibility !== "joined";
    const users = [...(r.members ?? new Map<string, string>())]
      .filter(([, m]) => m === "join" || (includeInvited && m === "invite"))
      .map(([u]) => u);
    if (!users.includes(this.deps.userId)) users.push(this.deps.userId);

    // Rotate ourselves before crypto-wasm would find the session expired: an expired session at
    // encryptRoomEvent panics. After a restart we do not know the session's age: start a new one.
    const rotationMs = Math.max(enc.rotationPeriodMs ?? DEFAULT_ROTATION_MS, MIN_ROTATION_MS);
    const started = this.outboundStarted.get(roomId);
    const now = Date.now();
    if (started === undefined || now - started > rotationMs - ROTATION_MARGIN_MS) {
      await machine.invalidateGroupSession(room);
      this.outboundStarted.set(roomId, now);
    }

    // Device lists must be fresh before claiming keys and sharing.
    await this.deps.processOutgoingRequests();
    await this.claimMissingSessions(users);

    const settings = new EncryptionSettings();
    settings.algorithm = EncryptionAlgorithm.MegolmV1AesSha2;
    settings.rotationPeriod = BigInt(rotationMs) * 1000n; // m.room.encryption says ms; crypto-wasm wants µs
    if (enc.rotationPeriodMsgs !== undefined)
      settings.rotationPeriodMessages = BigInt(Math.min(Math.max(enc.rotationPeriodMsgs, 1), 10000));
    settings.historyVisibility = historyVisibilityOf(r.historyVisibility);
    const { strategy, wanted } = forced
      ? { strategy: forced, wanted: undefined }
      : await this.strategyFor(roomId, users);
    settings.sharingStrategy = strategyOf(strategy);
    const excluded = strategy === "identity" ? await this.usersWithBlockedDevices(users) : new Set<string>();
    const recipients = users.filter((u) => !excluded.has(u));
    const requests = await machine.shareRoomKey(room, toUserIds(recipients, logger), settings);
    const unwanted = wanted ? keyRecipients(requests).filter((r) => !wanted.has(r)) : [];
    if (unwanted.length > 0) {
      // The device lists changed between our look and crypto-wasm's (a device just appeared):
      // nothing was sent; drop that session and share the safe way.
      await machine.invalidateGroupSession(room);
      this.outboundStarted.delete(roomId);
      logger.warn(
        { roomId, devices: unwanted },
        "crypto: not sharing a room key with devices Tyr does not trust",
      );
      return this.shareRoomKeyLocked(roomId, r, enc, "identity");
    }
    if (requests.length > 0) {
      // The Olm ratchets advanced: save before the messages leave (a crash then skips, not repeats).
      await this.deps.persist();
      try {
        for (const req of requests) await this.deps.sendAndMark(req);
      } catch (e) {
        // Some devices may not have the key: start over with a new session at the next attempt.
        await machine.invalidateGroupSession(room);
        this.outboundStarted.delete(roomId);
        throw new Error(`sharing the room key of ${roomId} failed: ${errorMessage(e)}`, { cause: e });
      }
    }
  }

  /**
   * The strategy of the engine's policy; for "cross-signed", chosen per share (sharing.ts), with
   * the devices ("user|device") that may get the key when it is not the identity-based one.
   */
  private async strategyFor(
    roomId: string,
    users: string[],
  ): Promise<{ strategy: SharingStrategy; wanted: Set<string> | undefined }> {
    const policy = this.deps.keySharing();
    if (policy === "all") return { strategy: "all", wanted: undefined };
    if (policy === "verified") return { strategy: "trusted", wanted: undefined };
    const devices: DeviceFacts[] = [];
    for (const u of users) devices.push(...(await this.deviceFacts(u)));
    // Without its own cross-signing Tyr shares nothing (crypto-wasm's identity-based strategy
    // refuses): its keys would go to clients that cannot trust it anyway.
    const own = this.deps.machine.deviceId.toString();
    if (!devices.some((d) => d.userId === this.deps.userId && d.deviceId === own && d.crossSignedByOwner))
      return { strategy: "identity", wanted: undefined };
    const choice = chooseSharing(devices);
    if (choice.leftOut.length > 0) {
      const left = choice.leftOut.map((d) => `${d.userId} ${d.deviceId}`).join(", ");
      this.deps.logOnce(
        `left-out|${roomId}|${left}`,
        "warn",
        { roomId, devices: left, strategy: choice.strategy },
        "crypto: these trusted devices get no room keys here: crypto-wasm cannot add them without also reaching untrusted devices (cross-sign them, or block the untrusted ones)",
      );
    }
    if (choice.strategy === "identity") return { strategy: "identity", wanted: undefined };
    const wanted = new Set(devices.filter((d) => isWanted(d)).map((d) => `${d.userId}|${d.deviceId}`));
    return { strategy: choice.strategy, wanted };
  }

  /** The trust facts of a user's devices, read now (a stale answer could reach a new device). */
  private async deviceFacts(userId: string): Promise<DeviceFacts[]> {
    try {
      const devices = await this.deps.machine.getUserDevices(new UserId(userId));
      return devices.devices().map((d) => ({
        userId,
        deviceId: d.deviceId.toString(),
        crossSignedByOwner: d.isCrossSignedByOwner(),
        verified: d.isVerified(),
        blocked: d.isBlacklisted(),
      }));
    } catch {
      return []; // unknown user: no devices yet
    }
  }

  /**
   * Under the "cross-signed" policy crypto-wasm's identity-based strategy ignores local blocks, so
   * a user with a blocked cross-signed device gets no room keys at all (logged once). The other policies
   * exclude blocked devices themselves.
   */
  private async usersWithBlockedDevices(users: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    if (this.deps.keySharing() !== "cross-signed") return out;
    const now = Date.now();
    for (const u of users) {
      let cached = this.blockedCache.get(u);
      if (!cached || now - cached.at > BLOCKED_CACHE_MS) {
        let blocked: boolean;
        try {
          const devices = await this.deps.machine.getUserDevices(new UserId(u));
          // Devices not signed by their owner get no keys under this strategy anyway.
          blocked = devices.devices().some((d) => d.isBlacklisted() && d.isCrossSignedByOwner());
        } catch {
          blocked = false; // unknown user: nothing blocked
        }
        cached = { blocked, at: now };
        this.blockedCache.set(u, cached);
      }
      if (cached.blocked) {
        out.add(u);
        this.deps.logOnce(
          `blocked-user|${u}`,
          "warn",
          { userId: u },
          "crypto: not sharing room keys with this user: one of their devices is blocked (delete or unblock it)",
        );
      }
    }
    return out;
  }

  /** Forget cached block states (after a device was blocked or unblocked). */
  invalidateBlockCache(userId?: string): void {
    if (userId === undefined) this.blockedCache.clear();
    else this.blockedCache.delete(userId);
  }

  /** Establish Olm sessions with every device of `users` that lacks one (one claim at a time). */
  async claimMissingSessions(users: string[]): Promise<void> {
    await this.claimLock.run("claim", async () => {
      const req: KeysClaimRequest | null = await this.deps.machine.getMissingSessions(
        toUserIds(users, this.deps.logger),
      );
      if (req) await this.deps.sendAndMark(req);
    });
  }
}
