// Replay protection for Megolm messages: crypto-wasm decrypts the same ciphertext again under any
// event ID, so a malicious homeserver could replay a moderator's command as a new event. We
// remember which event used each (session, message index) and refuse another event ID for it.
// The record lives in a small IndexedDB database beside crypto-wasm's, so it is saved in the same
// snapshot (see idb-snapshot.ts) and survives restarts.

import { KvStore } from "./idb-snapshot.ts";

const DEFAULT_CAPACITY = 50_000;

/** The message index of a Megolm v1 ciphertext (base64), or undefined if it cannot be read. */
export function megolmMessageIndex(ciphertextB64: string): number | undefined {
  const b = Buffer.from(ciphertextB64, "base64");
  // version 3, then protobuf field 1 (tag 0x08) holding the index as a varint
  if (b.length < 3 || b[0] !== 0x03 || b[1] !== 0x08) return undefined;
  let value = 0;
  let shift = 0;
  for (let i = 2; i < Math.min(b.length, 8); i++) {
    const byte = b[i] ?? 0;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return value;
    shift += 7;
  }
  return undefined;
}

export class ReplayGuard {
  private readonly kv: KvStore;
  private readonly capacity: number;
  /** `${sessionId}|${index}` → event ID, oldest first. */
  private readonly seen = new Map<string, string>();
  private readonly pendingPuts = new Map<string, string>();
  private readonly pendingDeletes = new Set<string>();

  private constructor(kv: KvStore, capacity: number) {
    this.kv = kv;
    this.capacity = capacity;
  }

  static async open(dbName: string, capacity = DEFAULT_CAPACITY): Promise<ReplayGuard> {
    const kv = await KvStore.open(dbName);
    const guard = new ReplayGuard(kv, capacity);
    const entries = await kv.entries();
    // Values are [eventId, sequence]; restore the insertion order.
    const rows = entries
      .map(([k, v]) => ({ k, v: Array.isArray(v) ? v : [] }))
      .filter((r) => typeof r.v[0] === "string" && typeof r.v[1] === "number")
      .sort((a, b) => (a.v[1] as number) - (b.v[1] as number));
    for (const r of rows) guard.seen.set(r.k, r.v[0] as string);
    guard.sequence = rows.length > 0 ? ((rows[rows.length - 1]?.v[1] as number) ?? 0) + 1 : 0;
    return guard;
  }

  private sequence = 0;

  /**
   * Record that `eventId` used message `index` of `sessionId`. Returns false when another event
   * already used it (a replay).
   */
  check(sessionId: string, index: number, eventId: string): boolean {
    const key = `${sessionId}|${index}`;
    const prev = this.seen.get(key);
    if (prev !== undefined) return prev === eventId;
    this.seen.set(key, eventId);
    this.pendingPuts.set(key, eventId);
    this.pendingDeletes.delete(key);
    while (this.seen.size > this.capacity) {
      const oldest = this.seen.keys().next().value;
      if (oldest === undefined) break;
      this.seen.delete(oldest);
      this.pendingPuts.delete(oldest);
      this.pendingDeletes.add(oldest);
    }
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  /** Write what changed since the last flush (call before saving the snapshot). */
  async flush(): Promise<void> {
    if (this.pendingPuts.size === 0 && this.pendingDeletes.size === 0) return;
    const puts: [string, unknown][] = [];
    for (const [k, eventId] of this.pendingPuts) puts.push([k, [eventId, this.sequence++]]);
    const deletes = [...this.pendingDeletes];
    this.pendingPuts.clear();
    this.pendingDeletes.clear();
    await this.kv.write(puts, deletes);
  }

  close(): void {
    this.kv.close();
  }
}
