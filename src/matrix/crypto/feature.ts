// Connects the crypto engine to the running bot: it runs around every sync batch (keys in before
// timeline events are decrypted, state saved before the sync token moves), decrypts timeline
// events for the router, encrypts what the messenger sends, gates commands on device trust, and
// shows verification emoji to the moderators.
import { join } from "node:path";
import type { Feature, ShellParts, SyncHook } from "../../feature.ts";
import type { LoadedConfig } from "../../config/load.ts";
import type { Reporting, StatusLine } from "../../feature.ts";
import type { TimelineEvent } from "../../router.ts";
import type { SyncResponse } from "../syncTypes.ts";
import type { CryptoEngine, DecryptionInfo } from "./engine.ts";
import { startEncryption } from "./bootstrap.ts";
import { CANCELLABLE_STATES, VerificationManager, type VerificationView } from "./verification.ts";
import { ownVerificationCommand } from "./own-verification.ts";
import { notice } from "../../format/content.ts";
import { text } from "../../format/fragment.ts";
import { checkSender, deleteOwnDevice, deviceTrust, getCryptoStatus, type CryptoStatus } from "./trust.ts";
import type { RawEvent } from "./types.ts";
import { HOUSEKEEPING } from "../../consequences/types.ts";

/**
 * Whether an event sent at `sentAt` (origin_server_ts; 0 when it had none) and decrypted at `now`
 * is too old to act on as live. A sender's clock ahead of ours never makes an event stale.
 */
export function isStale(sentAt: number, now: number, maxAgeSeconds: number): boolean {
  return now - sentAt > maxAgeSeconds * 1000;
}

export const CRYPTO_DIR = "crypto";
/** How long answers to an untrusted device's command stay readable by it. */
const READABLE_REPLY_MS = 10 * 60_000;

export class CryptoFeature implements Feature, SyncHook, Reporting {
  readonly name = "crypto";
  readonly engine: CryptoEngine;
  readonly verification: VerificationManager;
  private readonly bot: ShellParts;
  private readonly requireVerified: boolean;
  private lastStatus: CryptoStatus | undefined;
  /** The bot's password, when configured: user-interactive auth for `sessions remove`. */
  private password: string | undefined;
  /** Commands from untrusted devices whose answers those devices must read (until when). */
  private readonly readableReplies = new Map<string, number>();
  /** Bodies of notices every member device must read (verification emoji), until when. */
  private readonly readableBodies = new Map<string, number>();
  /** Commands from a device being verified → the flow they may act on. */
  private readonly boundFlows = new Map<string, string>();

  private constructor(
    bot: ShellParts,
    engine: CryptoEngine,
    verification: VerificationManager,
    requireVerified: boolean,
  ) {
    this.bot = bot;
    this.engine = engine;
    this.verification = verification;
    this.requireVerified = requireVerified;
  }

  /** Opens the store, sets up cross-signing and backup, and plugs into router and messenger. */
  static async start(bot: ShellParts, loaded: LoadedConfig): Promise<CryptoFeature> {
    const cfg = bot.config.encryption;
    const log = bot.log.child({ module: "crypto" });
    const storeDir = join(bot.config.dataPath, CRYPTO_DIR);
    const { engine, security } = await startEncryption(
      {
        userId: bot.session.userId,
        deviceId: bot.session.deviceId,
        request: (method, endpoint, qs, body) =>
          bot.client.doRequest(method, endpoint, qs ?? null, body ?? null),
        storeDir,
        logger: log,
        keySharing: cfg.shareKeysWithUnverifiedDevices ? "all" : "cross-signed",
      },
      {
        ...(loaded.password ? { password: loaded.password } : {}),
        ...(cfg.recoveryKeyFile ? { recoveryKeyFile: cfg.recoveryKeyFile } : {}),
        ...(cfg.resetIdentity ? { resetIdentity: true } : {}),
      },
    );
    log.info(
      {
        crossSigning: security.crossSigning,
        deviceSigned: security.deviceSigned,
        backup: security.backupVersion,
        restoredRoomKeys: security.restoredRoomKeys,
      },
      "end-to-end encryption ready",
    );
    // The verification manager needs to call back into the feature it is part of.
    const self: { feature?: CryptoFeature } = {};
    const verification = new VerificationManager(engine, {
      // Only moderators may verify with the bot; strangers are ignored (and logged).
      isAllowed: (u) => bot.moderators().has(u),
      autoConfirm: cfg.trustOnFirstUse,
      sendToRoom: (roomId, type, content) => bot.messenger.send(roomId, type, content),
      onUpdate: (view) => self.feature?.showVerification(view),
    });
    const feature = new CryptoFeature(bot, engine, verification, cfg.requireVerifiedDevicesForCommands);
    self.feature = feature;
    feature.password = loaded.password;
    bot.syncHooks.push(feature);
    bot.router.decryptor = (roomId, raw) => feature.decrypt(roomId, raw as RawEvent);
    bot.messenger.encryptor = {
      // In-room verification events must reach the device being verified, trusted or not.
      encrypt: (roomId, type, content) =>
        engine.encrypt(roomId, type, content, {
          oneOffSession:
            type.startsWith("m.key.verification.") ||
            content["msgtype"] === "m.key.verification.request" ||
            feature.readableByAll(content),
        }),
      isRoomEncrypted: (roomId) => engine.isRoomEncrypted(roomId),
      onRoomState: (roomId, event) => engine.onRoomState(roomId, event as RawEvent),
    };
    // A key that arrives late must not turn history into a live command or spam judgement: not
    // for the first run's initial sync, nor for anything sent longer ago than the configured age.
    engine.onLateDecryption((roomId, event, info) => {
      const history = !bot.resumed && event.origin_server_ts < bot.startedAt;
      const stale = !history && isStale(event.origin_server_ts, Date.now(), cfg.lateDecryptionMaxAgeSeconds);
      if (stale)
        log.info(
          {
            roomId,
            eventId: event.event_id,
            ageSeconds: Math.round((Date.now() - event.origin_server_ts) / 1000),
          },
          "decrypted an old event late: treated as history",
        );
      return bot.router.deliver(roomId, event as RawEvent, { initial: history || stale, stale }, true, info);
    });
    engine.setRoomEventSender((roomId, type, content) => bot.messenger.send(roomId, type, content));
    // The moderators' devices are known before their first command arrives.
    engine
      .trackRoomMembers(bot.managementRoomId)
      .catch((e: unknown) =>
        log.warn({ err: String(e) }, "crypto: loading the management room's members failed"),
      );
    if (security.recoveryKeyFile) {
      feature.notify(
        `Tyr created its encryption identity. Its recovery key was written to ${security.recoveryKeyFile} (readable only by the bot's user): back it up, it restores the bot on a new machine.`,
      );
    }
    return feature;
  }

  async beforeBatch(body: SyncResponse): Promise<void> {
    await this.engine.receiveSync(body);
  }

  async afterBatch(): Promise<void> {
    await this.engine.persist();
  }

  private async decrypt(
    roomId: string,
    raw: RawEvent,
  ): Promise<{ event: RawEvent; info: DecryptionInfo } | "drop" | undefined> {
    const r = await this.engine.decrypt(roomId, raw);
    if (r.ok) return { event: r.event as RawEvent, info: r.info };
    // A replayed ciphertext could be an old command re-sent by a hostile server: never act on it.
    return r.code === "Replayed" ? "drop" : undefined;
  }

  /** The command gate: in an encrypted management room, only trusted devices may command. */
  async trustProblem(ev: TimelineEvent): Promise<string | undefined> {
    if (!this.bot.state.peek(ev.roomId)?.encrypted) return undefined;
    if (!ev.decrypted) return "this room is encrypted, so Tyr only accepts encrypted commands";
    const decision = await checkSender(
      this.engine,
      ev.sender,
      ev.decryption as DecryptionInfo | undefined,
      this.requireVerified ? "cross-signed" : "any",
      { roomId: ev.roomId, eventId: ev.eventId },
    );
    if (decision.ok) return undefined;
    // Whatever Tyr answers to this command, the untrusted device must be able to read it.
    this.readableReplies.set(ev.eventId, Date.now() + READABLE_REPLY_MS);
    const info = ev.decryption as DecryptionInfo | undefined;
    const prefix = this.bot.config.commands.prefix;
    const own = ownVerificationCommand(ev.content["body"], prefix);
    const device = info?.senderDevice;
    const flow = own && device ? this.ownFlow(ev.sender, device, own.flow) : undefined;
    // A blocked device stays blocked: verifying it would overwrite the block.
    if (flow !== undefined && device && !(await deviceTrust(this.engine, ev.sender, device)).blocked) {
      // The device confirms (or cancels) its own emoji verification: the SAS match is the proof.
      this.boundFlows.set(ev.eventId, flow);
      return undefined;
    }
    // Verifying the user's identity does not make an unsigned device trusted; verifying the device
    // itself with Tyr does.
    const hint =
      device && /not cross-signed|not verified|unknown to Tyr/.test(decision.reason)
        ? `. Or verify Tyr by emoji from this session: in your client, verify Tyr's device ${this.engine.deviceId}; Tyr posts its emoji here, and when they match yours, confirm in your client and say "${prefix} verify confirm" from this session`
        : "";
    return `Tyr did not run this command: ${decision.reason}${hint}`;
  }

  /** The open verification of that very device (by flow ID if named), if any. */
  private ownFlow(userId: string, deviceId: string, named: string | undefined): string | undefined {
    const mine = this.verification
      .list()
      .filter(
        (v) =>
          v.userId === userId &&
          v.deviceId === deviceId &&
          (CANCELLABLE_STATES as readonly string[]).includes(v.state) &&
          (named === undefined || v.flowId === named),
      );
    return mine.length === 1 ? mine[0]?.flowId : undefined;
  }

  /**
   * The verification a command may act on when it came from the device being verified (see
   * trustProblem); undefined for commands from trusted devices, which may act on any.
   */
  flowBoundTo(commandEventId: string): string | undefined {
    const flow = this.boundFlows.get(commandEventId);
    this.boundFlows.delete(commandEventId);
    return flow;
  }

  /**
   * Whether `content` must be readable by every member device, the untrusted ones included: an
   * answer to a command from an untrusted device, or the emoji of a verification. It then goes in a
   * Megolm session of its own (see CryptoEngine.encrypt).
   */
  readableByAll(content: Record<string, unknown>): boolean {
    const now = Date.now();
    for (const m of [this.readableReplies, this.readableBodies])
      for (const [key, until] of m) if (until < now) m.delete(key);
    // Kept until they expire (not used up): a retried send must be readable too.
    const body = content["body"];
    if (typeof body === "string" && this.readableBodies.has(body)) return true;
    const rel = content["m.relates_to"] as { event_id?: unknown; "m.in_reply_to"?: { event_id?: unknown } };
    const ids = [rel?.event_id, rel?.["m.in_reply_to"]?.event_id];
    return ids.some((id) => typeof id === "string" && this.readableReplies.has(id));
  }

  private showVerification(view: VerificationView): void {
    const who = `${view.userId}${view.deviceId ? ` (${view.deviceId})` : ""}`;
    if (view.state === "done") {
      this.notify(`Verification with ${who} is complete.`);
    } else if (view.state === "cancelled") {
      this.notify(
        `Verification with ${who} was cancelled${view.cancelReason ? `: ${view.cancelReason}` : ""}.`,
      );
    } else if (view.emoji && view.state !== "confirmed") {
      const emoji = view.emoji.map((e) => `${e.symbol} ${e.description}`).join("  ");
      this.bot.log.info({ user: view.userId, device: view.deviceId, emoji }, "verification emoji");
      // Readable by the device being verified too, which may not get room keys yet.
      const content = notice(
        text(
          `Verifying ${who}. Compare these emoji with the ones the other device shows:\n${emoji}\nIf they match, confirm on that device and say "${this.bot.config.commands.prefix} verify confirm" here (from that device, or from a trusted session).`,
        ),
      );
      this.readableBodies.set(content.body, Date.now() + READABLE_REPLY_MS);
      void this.bot.queue.submit(
        {
          kind: "send",
          room: this.bot.managementRoomId,
          eventType: "m.room.message",
          content: { ...content },
          cause: HOUSEKEEPING,
        },
        { front: true },
      );
    }
  }

  /** Logs out one of Tyr's other devices (`sessions remove`); never the current one. */
  async removeOwnDevice(deviceId: string): Promise<void> {
    await deleteOwnDevice(this.engine, deviceId, this.password);
  }

  notify(text: string): void {
    void this.bot.queue.submit({ kind: "notify", text, cause: HOUSEKEEPING }, { front: true });
  }

  /** Refreshed in the background; `status` shows the last known figures. */
  statusLines(): StatusLine[] {
    void getCryptoStatus(this.engine)
      .then((s) => (this.lastStatus = s))
      .catch(() => undefined);
    const s = this.lastStatus;
    if (!s) return [{ label: "Encryption", value: `device ${this.engine.deviceId}` }];
    return [
      {
        label: "Encryption",
        value: `device ${s.deviceId} · cross-signing ${s.crossSigning.deviceSigned ? "ok (device signed)" : "NOT signed"} · backup ${s.backup.enabled ? `v${s.backup.version ?? "?"} (${s.backup.backedUp}/${s.backup.roomKeys} keys)` : "off"} · ${s.pendingDecryptions} undecryptable pending`,
      },
    ];
  }

  async stop(): Promise<void> {
    this.verification.dispose();
    await this.engine.close();
  }
}
