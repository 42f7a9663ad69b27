// The device side of a /sync response for the OlmMachine: validating to-device events, device-list
// changes, one-time-key counts and unused fallback key types, feeding them to crypto-wasm, and
// turning what it processed into plain ToDeviceEvents. Room state is read by rooms.ts.

import {
  DecryptionSettings,
  DeviceLists,
  ProcessedToDeviceEventType,
  TrustRequirement,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import type { OlmMachine, UserId } from "@matrix-org/matrix-sdk-crypto-wasm";

import type { ToDeviceEvent } from "./engine-types.ts";
import { toUserIds } from "./rooms.ts";
import { errorMessage, isRecord } from "./types.ts";
import type { Logger, LogOnce } from "./types.ts";

type ProcessedToDevice = Awaited<ReturnType<OlmMachine["receiveSyncChanges"]>>;

/** The validated device fields of one /sync response. */
export interface SyncDeviceInput {
  toDevice: Record<string, unknown>[];
  changed: UserId[];
  left: UserId[];
  /** The response's `device_one_time_keys_count`, if it is an object at all. */
  otkCountsPresent: boolean;
  otk: Map<string, number>;
  fallback: Set<string> | undefined;
}

function stringArray(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

export function readSyncDeviceInput(body: Record<string, unknown>, logger: Logger): SyncDeviceInput {
  const toDeviceRaw = isRecord(body["to_device"]) ? body["to_device"]["events"] : undefined;
  const toDevice = Array.isArray(toDeviceRaw) ? toDeviceRaw.filter(isRecord) : [];
  const lists = isRecord(body["device_lists"]) ? body["device_lists"] : {};
  const changed = toUserIds(stringArray(lists["changed"]), logger);
  const left = toUserIds(stringArray(lists["left"]), logger);
  const otkRaw = body["device_one_time_keys_count"];
  const otk = new Map<string, number>();
  if (isRecord(otkRaw)) {
    for (const [alg, n] of Object.entries(otkRaw)) {
      if (typeof n === "number" && Number.isFinite(n) && n >= 0) otk.set(alg, Math.floor(n));
    }
  }
  const fallbackRaw =
    body["device_unused_fallback_key_types"] ?? body["org.matrix.msc2732.device_unused_fallback_key_types"];
  const fallback = Array.isArray(fallbackRaw) ? new Set(stringArray(fallbackRaw)) : undefined;
  return { toDevice, changed, left, otkCountsPresent: isRecord(otkRaw), otk, fallback };
}

/**
 * Senders (other than us) of to-device verification requests: crypto-wasm drops a request from a
 * device it does not know, so their devices must be fetched before the batch is processed.
 */
export function verificationRequesters(toDevice: Record<string, unknown>[], ownUserId: string): Set<string> {
  const requesters = new Set<string>();
  for (const ev of toDevice) {
    if (
      ev["type"] === "m.key.verification.request" &&
      typeof ev["sender"] === "string" &&
      ev["sender"] !== ownUserId
    ) {
      requesters.add(ev["sender"]);
    }
  }
  return requesters;
}

/** Hand the input to the OlmMachine; a failure is logged and yields no events. */
export async function feedSyncChanges(
  machine: OlmMachine,
  input: SyncDeviceInput,
  logger: Logger,
): Promise<ProcessedToDevice> {
  const { toDevice, changed, left, otk, fallback } = input;
  let processed: ProcessedToDevice = [];
  const settings = new DecryptionSettings(TrustRequirement.Untrusted);
  try {
    // Sync v2: a missing algorithm in the counts means zero keys. If the whole field is missing
    // we know nothing, which is the MSC4186 ("unchanged") semantics.
    processed = input.otkCountsPresent
      ? await machine.receiveSyncChanges(
          JSON.stringify(toDevice),
          new DeviceLists(changed, left),
          otk,
          fallback,
          settings,
        )
      : await machine.receiveSyncChangesMsc4186(
          JSON.stringify(toDevice),
          new DeviceLists(changed, left),
          otk,
          fallback,
          settings,
        );
  } catch (e) {
    logger.error({ err: errorMessage(e) }, "crypto: processing the sync's to-device events failed");
  }
  return processed;
}

export interface ProcessedToDeviceDeps {
  logger: Logger;
  logOnce: LogOnce;
  deviceId: string;
  /** A to-device verification request, announced as soon as it is read. */
  onVerificationRequest: (sender: string, flowId: string) => void;
}

/** The events crypto-wasm processed, as ToDeviceEvents; invalid and undecryptable ones are logged. */
export function readProcessedToDevice(
  processed: ProcessedToDevice,
  deps: ProcessedToDeviceDeps,
): ToDeviceEvent[] {
  const out: ToDeviceEvent[] = [];
  for (const p of processed) {
    let ev: unknown;
    try {
      ev = JSON.parse(p.rawEvent);
    } catch {
      continue;
    }
    if (!isRecord(ev) || typeof ev["type"] !== "string" || typeof ev["sender"] !== "string") continue;
    const content = isRecord(ev["content"]) ? ev["content"] : {};
    if (p.type === ProcessedToDeviceEventType.Invalid) {
      deps.logger.debug(
        { type: ev["type"], sender: ev["sender"] },
        "crypto: ignored an invalid to-device event",
      );
      continue;
    }
    if (p.type === ProcessedToDeviceEventType.UnableToDecrypt) {
      const reason = "utdInfo" in p ? p.utdInfo.reason : undefined;
      deps.logOnce(
        `todevice-utd|${String(ev["sender"])}|${String(reason)}`,
        "warn",
        { sender: ev["sender"], senderKey: content["sender_key"], reason, deviceId: deps.deviceId },
        "crypto: could not decrypt a to-device event",
      );
      continue;
    }
    const item: ToDeviceEvent = {
      type: ev["type"],
      sender: ev["sender"],
      content,
      encrypted: p.type === ProcessedToDeviceEventType.Decrypted,
    };
    if (p.type === ProcessedToDeviceEventType.Decrypted && "encryptionInfo" in p) {
      item.senderDevice = p.encryptionInfo.senderDevice?.toString();
      item.senderVerified = p.encryptionInfo.isSenderVerified();
    }
    out.push(item);
    if (item.type === "m.key.verification.request" && typeof content["transaction_id"] === "string") {
      deps.onVerificationRequest(item.sender, content["transaction_id"]);
    }
  }
  return out;
}
