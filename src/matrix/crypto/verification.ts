// Interactive verification: SAS (7 emoji) and QR, by to-device or in-room request.
//
//   const v = new VerificationManager(engine, {
//     isAllowed: (userId) => managementRoomMembers.has(userId),   // others are ignored (logged)
//     autoConfirm: false,            // true = trust on first use: confirm as soon as emoji show
//     onUpdate: (view) => …,         // show view.emoji (7 × {symbol, description}) in the room/log
//   });
//   await v.confirm(flowId?)         // "verify confirm": the emoji match (or the QR was scanned)
//   await v.cancel(flowId?)          // "verify cancel"
//   await v.requestVerification(userId, { deviceId } | { roomId })   // Tyr verifies a moderator
//
// A moderator's client sends a request → Tyr accepts (if allowed) → whoever starts SAS, Tyr
// accepts it → emoji become available (onUpdate) → both sides confirm → done: Tyr marks the device
// verified and, when verifying another user, signs their identity with its user-signing key.

import { deflateSync } from "node:zlib";

import {
  DeviceId,
  EventId,
  OtherUserIdentity,
  Qr,
  QrState,
  RoomId,
  Sas,
  UserId,
  VerificationMethod,
  VerificationRequestPhase,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import type { VerificationRequest } from "@matrix-org/matrix-sdk-crypto-wasm";

import type { CryptoEngine } from "./engine.ts";
import type { AnyOutgoingRequest } from "./requests.ts";
import { errorMessage, isRecord } from "./types.ts";
import { UserFacingError } from "../../util/userFacingError.ts";

export type VerificationState =
  | "requested"
  | "ready"
  | "started"
  | "emoji" // SAS emoji can be compared; waiting for confirm()
  | "qr-shown" // our QR code can be displayed; waiting for the other side to scan it
  | "qr-scanned" // the other side scanned our QR code; waiting for confirm()
  | "confirmed" // we confirmed; waiting for the other side
  | "done"
  | "cancelled";

/** States in which the emoji (or a scanned QR code) wait for Tyr's side to confirm. */
export const CONFIRMABLE_STATES: readonly VerificationState[] = ["emoji", "qr-scanned"];
/** States of a verification still in progress, which can be cancelled. */
export const CANCELLABLE_STATES: readonly VerificationState[] = [
  "requested",
  "ready",
  "started",
  "emoji",
  "qr-shown",
  "qr-scanned",
  "confirmed",
];

export interface VerificationView {
  flowId: string;
  userId: string;
  deviceId: string | undefined;
  roomId: string | undefined;
  weStarted: boolean;
  state: VerificationState;
  emoji: { symbol: string; description: string }[] | undefined;
  cancelReason: string | undefined;
}

export interface VerificationOptions {
  /** Who may verify with Tyr (e.g. members of the management room). Others are ignored and logged. */
  isAllowed(userId: string): boolean | Promise<boolean>;
  /** Trust on first use: confirm the SAS as soon as the emoji are known. Default false. */
  autoConfirm?: boolean;
  /** Offer QR verification (Tyr shows a code the other device scans). Default true. */
  qr?: boolean;
  /**
   * When the other side asked and accepted but does not start the SAS itself (some clients wait
   * for the other side, which the spec allows), Tyr starts it after this many ms. Default 5000.
   */
  startSasAfterMs?: number;
  /** Sends a room event (the in-room request) through Tyr's messenger; returns its event ID. */
  sendToRoom?(roomId: string, type: string, content: Record<string, unknown>): Promise<string>;
  /** Called whenever a verification changes state (show the emoji, report done/cancelled). */
  onUpdate?(view: VerificationView): void | Promise<void>;
}

interface Entry {
  request: VerificationRequest;
  sas: Sas | undefined;
  qr: Qr | undefined;
  view: VerificationView;
  sasAccepted: boolean;
  sasStarted: boolean;
  watchedSas: boolean;
  watchedQr: boolean;
  finished: boolean;
  /** onUpdate was told the verification ended. */
  reportedEnd: boolean;
  /** Tyr starts the SAS itself if the requester has not when this fires. */
  sasTimer: NodeJS.Timeout | undefined;
}

export class VerificationManager {
  private readonly engine: CryptoEngine;
  private readonly opts: VerificationOptions;
  private readonly entries = new Map<string, Entry>();

  constructor(engine: CryptoEngine, opts: VerificationOptions) {
    this.engine = engine;
    this.opts = opts;
    engine.setVerificationHooks({ onRequest: (req) => void this.onIncoming(req) });
  }

  /** Detach from the engine. */
  dispose(): void {
    this.engine.setVerificationHooks(undefined);
    for (const e of this.entries.values()) clearTimeout(e.sasTimer);
  }

  private methods(): VerificationMethod[] {
    return this.opts.qr === false
      ? [VerificationMethod.SasV1]
      : [VerificationMethod.SasV1, VerificationMethod.QrCodeShowV1, VerificationMethod.ReciprocateV1];
  }

  /** Verifications in progress or recently finished. */
  list(): VerificationView[] {
    return [...this.entries.values()].map((e) => ({ ...e.view }));
  }

  get(flowId: string): VerificationView | undefined {
    const e = this.entries.get(flowId);
    return e ? { ...e.view } : undefined;
  }

  private async send(req: AnyOutgoingRequest | undefined): Promise<void> {
    if (req) await this.engine.sendAndMark(req);
  }

  private async onIncoming(request: VerificationRequest): Promise<void> {
    const log = this.engine.logger;
    const userId = request.otherUserId.toString();
    const flowId = request.flowId;
    if (this.entries.has(flowId)) return;
    let allowed = false;
    try {
      allowed = await this.opts.isAllowed(userId);
    } catch (e) {
      log.warn(
        { userId, err: errorMessage(e) },
        "crypto: verification allow-check failed; ignoring the request",
      );
    }
    if (!allowed) {
      log.warn(
        { userId, deviceId: request.otherDeviceId?.toString(), roomId: request.roomId?.toString() },
        "crypto: ignored a verification request from a user who is not allowed to verify Tyr",
      );
      return;
    }
    const entry = this.track(request);
    log.info({ userId, deviceId: entry.view.deviceId, flowId }, "crypto: accepting a verification request");
    const accept = request.acceptWithMethods(this.methods());
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        await this.send(accept);
        break;
      } catch (e) {
        log.warn(
          { flowId, attempt, err: errorMessage(e) },
          "crypto: accepting the verification request failed",
        );
      }
    }
    await this.update(entry);
  }

  private track(request: VerificationRequest): Entry {
    const entry: Entry = {
      request,
      sas: undefined,
      qr: undefined,
      sasAccepted: false,
      sasStarted: false,
      watchedSas: false,
      watchedQr: false,
      finished: false,
      reportedEnd: false,
      sasTimer: undefined,
      view: {
        flowId: request.flowId,
        userId: request.otherUserId.toString(),
        deviceId: request.otherDeviceId?.toString(),
        roomId: request.roomId?.toString(),
        weStarted: request.weStarted(),
        state: "requested",
        emoji: undefined,
        cancelReason: undefined,
      },
    };
    this.entries.set(request.flowId, entry);
    request.registerChangesCallback(async () => {
      setImmediate(() => void this.update(entry));
    });
    return entry;
  }

  /** Re-read the state of a verification and react (accept SAS, show emoji, report). */
  private async update(entry: Entry): Promise<void> {
    if (entry.finished) return;
    const log = this.engine.logger;
    const req = entry.request;
    const before = entry.view.state;
    const beforeEmoji = entry.view.emoji !== undefined;
    try {
      entry.view.deviceId = req.otherDeviceId?.toString() ?? entry.view.deviceId;
      const phase = req.phase();
      if (phase === VerificationRequestPhase.Cancelled) {
        const info = req.cancelInfo;
        this.setCancelled(
          entry,
          info
            ? `${info.cancelledbyUs() ? "Tyr" : entry.view.userId}: ${info.reason()} (${info.cancelCode()})`
            : "cancelled",
        );
      } else if (phase === VerificationRequestPhase.Done) {
        entry.view.state = "done";
      } else if (phase === VerificationRequestPhase.Ready) {
        if (entry.view.state === "requested") entry.view.state = "ready";
        if (
          req.weStarted() &&
          !entry.sasStarted &&
          (req.theirSupportedMethods ?? []).includes(VerificationMethod.SasV1)
        ) {
          // We asked: we pick the method (clients wait for the initiator).
          entry.sasStarted = true;
          const started = await req.startSas();
          if (started) {
            await this.send(started[1]);
            await this.onSas(entry, started[0]);
          }
        } else {
          await this.maybeShowQr(entry);
          if (!req.weStarted()) this.scheduleSasStart(entry);
        }
      } else if (phase === VerificationRequestPhase.Transitioned) {
        const v = req.getVerification();
        if (v instanceof Sas) await this.onSas(entry, v);
        else if (v instanceof Qr) this.onQr(entry, v);
      }
    } catch (e) {
      log.warn({ flowId: entry.view.flowId, err: errorMessage(e) }, "crypto: verification step failed");
    }
    const changed = entry.view.state !== before || (entry.view.emoji !== undefined) !== beforeEmoji;
    if (entry.view.state === "done" || entry.view.state === "cancelled") this.finish(entry);
    if (changed) {
      if (entry.view.state === "done") {
        log.info({ userId: entry.view.userId, deviceId: entry.view.deviceId }, "crypto: verification done");
        // The device is trusted now: the next room key must reach it.
        this.engine.invalidateBlockCache(entry.view.userId);
        await this.engine.persist().catch(() => undefined);
      } else if (entry.view.state === "cancelled") {
        log.info(
          { userId: entry.view.userId, reason: entry.view.cancelReason },
          "crypto: verification cancelled",
        );
      } else if (entry.view.state === "emoji") {
        log.info(
          {
            userId: entry.view.userId,
            deviceId: entry.view.deviceId,
            emoji: entry.view.emoji?.map((e) => `${e.symbol} ${e.description}`).join("  "),
          },
          "crypto: compare these emoji with the other device, then confirm",
        );
      }
      await this.report(entry);
    }
  }

  private finish(entry: Entry): void {
    entry.finished = true;
    clearTimeout(entry.sasTimer);
  }

  private scheduleSasStart(entry: Entry): void {
    if (entry.sasTimer !== undefined || entry.sasStarted) return;
    entry.sasTimer = setTimeout(() => void this.startSasIfIdle(entry), this.opts.startSasAfterMs ?? 5000);
  }

  /** The requester accepted but waits for the other side: Tyr starts the SAS (issue #18). */
  private async startSasIfIdle(entry: Entry): Promise<void> {
    const req = entry.request;
    if (entry.finished || entry.sasStarted || req.phase() !== VerificationRequestPhase.Ready) return;
    if (!(req.theirSupportedMethods ?? []).includes(VerificationMethod.SasV1)) return;
    entry.sasStarted = true;
    try {
      const started = await req.startSas();
      if (started) {
        this.engine.logger.info(
          { flowId: entry.view.flowId },
          "crypto: the requester did not start SAS; Tyr did",
        );
        await this.send(started[1]);
        await this.onSas(entry, started[0]);
      }
    } catch (e) {
      this.engine.logger.warn(
        { flowId: entry.view.flowId, err: errorMessage(e) },
        "crypto: starting SAS failed",
      );
    }
    await this.update(entry);
  }

  /** Tell onUpdate; an end (done, cancelled) only once, however many callbacks see it. */
  private async report(entry: Entry): Promise<void> {
    const state = entry.view.state;
    if (state === "done" || state === "cancelled") {
      if (entry.reportedEnd) return;
      entry.reportedEnd = true;
    }
    try {
      await this.opts.onUpdate?.({ ...entry.view });
    } catch (e) {
      this.engine.logger.warn({ err: errorMessage(e) }, "crypto: verification onUpdate handler failed");
    }
  }

  private setCancelled(entry: Entry, reason: string): void {
    entry.view.state = "cancelled";
    entry.view.cancelReason = reason;
  }

  private async onSas(entry: Entry, sas: Sas): Promise<void> {
    entry.sas = sas;
    if (!entry.watchedSas) {
      entry.watchedSas = true;
      sas.registerChangesCallback(async () => {
        setImmediate(() => void this.update(entry));
      });
    }
    if (sas.isCancelled()) {
      this.setCancelled(entry, sas.cancelInfo()?.reason() ?? "cancelled");
      return;
    }
    if (sas.isDone()) {
      entry.view.state = "done";
      return;
    }
    if (!sas.weStarted() && !entry.sasAccepted && !sas.hasBeenAccepted()) {
      entry.sasAccepted = true;
      await this.send(sas.accept());
    }
    if (
      entry.view.state === "requested" ||
      entry.view.state === "ready" ||
      entry.view.state.startsWith("qr")
    ) {
      entry.view.state = "started";
    }
    if (sas.canBePresented() && entry.view.emoji === undefined) {
      entry.view.emoji = (sas.emoji() ?? []).map((e) => ({ symbol: e.symbol, description: e.description }));
      entry.view.state = "emoji";
      if (this.opts.autoConfirm) await this.confirmEntry(entry);
    }
    if (sas.haveWeConfirmed() && entry.view.state === "emoji") entry.view.state = "confirmed";
  }

  private async maybeShowQr(entry: Entry): Promise<void> {
    if (this.opts.qr === false || entry.qr) return;
    const theirs = entry.request.theirSupportedMethods ?? [];
    if (!theirs.includes(VerificationMethod.QrCodeScanV1)) return;
    const qr = await entry.request.generateQrCode();
    if (!qr) return;
    this.onQr(entry, qr);
  }

  private onQr(entry: Entry, qr: Qr): void {
    entry.qr = qr;
    if (!entry.watchedQr) {
      entry.watchedQr = true;
      qr.registerChangesCallback(async () => {
        setImmediate(() => void this.update(entry));
      });
    }
    switch (qr.state()) {
      case QrState.Created:
        if (entry.view.state === "ready" || entry.view.state === "requested") entry.view.state = "qr-shown";
        break;
      case QrState.Scanned:
        entry.view.state = "qr-scanned";
        break;
      case QrState.Confirmed:
      case QrState.Reciprocated:
        entry.view.state = "confirmed";
        break;
      case QrState.Done:
        entry.view.state = "done";
        break;
      case QrState.Cancelled:
        this.setCancelled(entry, qr.cancelInfo()?.reason() ?? "cancelled");
        break;
    }
  }

  private pick(flowId: string | undefined, states: readonly VerificationState[]): Entry {
    if (flowId !== undefined) {
      const e = this.entries.get(flowId);
      if (!e) throw new UserFacingError(`no verification ${flowId}`);
      return e;
    }
    const open = [...this.entries.values()].filter((e) => states.includes(e.view.state));
    if (open.length === 0) throw new UserFacingError("no verification is waiting for that");
    if (open.length > 1)
      throw new UserFacingError(`${open.length} verifications are waiting; say which (flow ID)`);
    return open[0] as Entry;
  }

  /** "The emoji match" / "the other device scanned our QR code". */
  async confirm(flowId?: string): Promise<VerificationView> {
    const entry = this.pick(flowId, CONFIRMABLE_STATES);
    await this.confirmEntry(entry);
    await this.update(entry);
    return { ...entry.view };
  }

  private async confirmEntry(entry: Entry): Promise<void> {
    // "confirmed" only while nothing moved on: sending takes a while, and the other side's
    // answers may finish the verification meanwhile (done must not turn back into confirmed).
    const markConfirmed = (): void => {
      if ((CONFIRMABLE_STATES as readonly string[]).includes(entry.view.state))
        entry.view.state = "confirmed";
    };
    if (entry.sas && entry.sas.canBePresented()) {
      const reqs = (await entry.sas.confirm()) as AnyOutgoingRequest[];
      markConfirmed();
      for (const r of reqs) await this.send(r);
    } else if (entry.qr && entry.qr.hasBeenScanned()) {
      markConfirmed();
      await this.send(entry.qr.confirmScanning());
    } else {
      throw new UserFacingError("nothing to confirm yet");
    }
    this.engine.kickOutgoing();
  }

  /** Cancel a verification (the only open one if no flow ID is given). */
  async cancel(flowId?: string): Promise<VerificationView> {
    const entry = this.pick(flowId, CANCELLABLE_STATES);
    // Finished before the cancel goes out: the change callbacks it triggers must not report the
    // same cancellation a second time ("the user cancelled", as crypto-wasm words it).
    this.setCancelled(entry, "cancelled by Tyr");
    this.finish(entry);
    const out = entry.sas?.cancel() ?? entry.qr?.cancel() ?? entry.request.cancel();
    await this.send(out);
    await this.report(entry);
    return { ...entry.view };
  }

  /**
   * Tyr starts verifying a user: to one of their devices (to-device), or in a room (in-room
   * request, e.g. the management room). Then SAS proceeds as for incoming requests.
   */
  async requestVerification(
    userId: string,
    where: { deviceId: string } | { roomId: string },
  ): Promise<VerificationView> {
    const m = this.engine.machine;
    await this.engine.sendAndMark(m.queryKeysForUsers([new UserId(userId)]));
    // crypto-wasm cancels a new request (and the old one) while another request with the same user
    // is in its cache; finished ones leave the cache only at the next sync: collect them now.
    const ongoing = () =>
      m.getVerificationRequests(new UserId(userId)).filter((r) => !r.isCancelled() && !r.isDone());
    if (m.getVerificationRequests(new UserId(userId)).some((r) => !r.isCancelled())) {
      await this.engine.collectGarbage();
    }
    if (ongoing().length > 0) {
      throw new UserFacingError(
        `a verification with ${userId} is already in progress: finish or cancel it first`,
      );
    }
    let request: VerificationRequest;
    if ("deviceId" in where) {
      const device = await m.getDevice(new UserId(userId), new DeviceId(where.deviceId));
      if (!device) throw new UserFacingError(`${userId} has no device ${where.deviceId}`);
      const [req, out] = device.requestVerification(this.methods());
      await this.send(out);
      request = req;
    } else {
      const identity = await m.getIdentity(new UserId(userId));
      if (!(identity instanceof OtherUserIdentity)) {
        throw new UserFacingError(
          `${userId} has no cross-signing identity to verify in a room (verify one of their devices instead)`,
        );
      }
      const content: unknown = JSON.parse(identity.verificationRequestContent(this.methods()));
      if (!isRecord(content)) throw new Error("bad verification request content");
      // crypto-wasm leaves out the msgtype that marks the message as a verification request.
      content["msgtype"] = "m.key.verification.request";
      if (!this.opts.sendToRoom) throw new Error("in-room verification needs the sendToRoom option");
      // Through Tyr's one sending gate: encrypted whenever the room is (or may be).
      const eventId = await this.opts.sendToRoom(where.roomId, "m.room.message", content);
      if (!eventId) throw new Error("the server did not return an event ID for the verification request");
      request = identity.requestVerification(new RoomId(where.roomId), new EventId(eventId), this.methods());
    }
    const entry = this.track(request);
    await this.update(entry);
    return { ...entry.view };
  }

  /**
   * Start SAS on a ready request that Tyr initiated (Element waits for the initiator to pick the
   * method when both sides could start).
   */
  async startSas(flowId?: string): Promise<VerificationView> {
    const entry = this.pick(flowId, ["ready", "qr-shown"]);
    entry.sasStarted = true;
    const started = await entry.request.startSas();
    if (!started) throw new UserFacingError("SAS cannot start yet");
    const [sas, out] = started;
    await this.send(out);
    await this.onSas(entry, sas);
    await this.update(entry);
    return { ...entry.view };
  }

  /** The raw payload of Tyr's QR code (for clients that render it themselves), if there is one. */
  qrCodeBytes(flowId?: string): Uint8ClampedArray | undefined {
    const entry = this.pick(flowId, ["qr-shown", "ready"]);
    return entry.qr?.toBytes();
  }

  /** Tyr's QR code of a verification as a PNG image (to upload and show), if there is one. */
  qrCodePng(flowId?: string, scale = 8): Uint8Array | undefined {
    const entry = this.pick(flowId, ["qr-shown", "ready"]);
    if (!entry.qr) return undefined;
    return renderPng(entry.qr.toQrCode().renderIntoBuffer(), scale);
  }
}

// ------------------------------------------------------------------------------------------------
// A minimal PNG encoder for QR modules (grayscale, 8-bit), with a 4-module quiet zone.

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = (CRC_TABLE[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "ascii"), Buffer.from(data)]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

export function renderPng(modules: Uint8ClampedArray, scale = 8): Uint8Array {
  const n = Math.round(Math.sqrt(modules.length));
  if (n * n !== modules.length) throw new Error("QR buffer is not square");
  const quiet = 4;
  const size = (n + 2 * quiet) * scale;
  const raw = Buffer.alloc((size + 1) * size, 255);
  for (let y = 0; y < size; y++) {
    raw[y * (size + 1)] = 0; // filter: none
    const my = Math.floor(y / scale) - quiet;
    for (let x = 0; x < size; x++) {
      const mx = Math.floor(x / scale) - quiet;
      const dark = mx >= 0 && my >= 0 && mx < n && my < n && modules[my * n + mx] === 1;
      raw[y * (size + 1) + 1 + x] = dark ? 0 : 255;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", new Uint8Array(0)),
  ]);
}
