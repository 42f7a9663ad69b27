// Remote servers' signing keys for authenticating federation requests, fetched on demand and
// cached. The network effect is injected (`fetchKeys`: the shell resolves the server and GETs
// /_matrix/key/v2/server), so this stays testable without one. Bounded on every axis a stranger
// controls: servers remembered (LRU), fetches in flight, and how often one server is re-fetched
// (an unknown key ID or a failing server does not turn every request into a fetch).
import { Lru } from "../protections/lru.ts";
import type { KeyObject } from "node:crypto";
import { isValidServerName } from "./serverName.ts";
import { parseServerKeys, type ServerKeys } from "./serverKeys.ts";

/** Returns the parsed JSON body of `GET https://<server>/_matrix/key/v2/server`; may throw. */
export type FetchServerKeys = (serverName: string) => Promise<unknown>;

export interface KeyCacheOptions {
  readonly fetchKeys: FetchServerKeys;
  readonly now?: () => number;
  /** Servers whose keys are remembered. Default 1,000. */
  readonly maxServers?: number;
  /** Fetches running at once; more are refused rather than queued. Default 32. */
  readonly maxInFlight?: number;
  /** A server is fetched again at most this often when a key is missing or a fetch failed. Default 60 s. */
  readonly minRefetchMs?: number;
  /** A fetch that has not answered by then counts as failed, so a hung server never blocks a slot. Default 10 s. */
  readonly fetchTimeoutMs?: number;
  /**
   * Whether keys of `serverName` may be fetched at all. The origin of a request is claimed by the
   * requester before anything is verified, so without this any stranger could make Tyr contact any
   * host (e.g. only servers with members in a protected room). Default: every valid server name.
   */
  readonly mayFetch?: (serverName: string) => boolean;
}

export type KeyLookup =
  { readonly ok: true; readonly key: KeyObject } | { readonly ok: false; readonly reason: string };

interface Entry {
  /** Last fetch attempt, successful or not. */
  readonly attemptedAt: number;
  readonly keys?: ServerKeys;
  readonly error?: string;
}

export class ServerKeyCache {
  readonly #fetch: FetchServerKeys;
  readonly #now: () => number;
  readonly #maxInFlight: number;
  readonly #minRefetchMs: number;
  readonly #fetchTimeoutMs: number;
  readonly #mayFetch: (serverName: string) => boolean;
  readonly #entries: Lru<string, Entry>;
  readonly #inFlight = new Map<string, Promise<Entry>>();
  /** Fetches actually started (for tests and status). */
  fetches = 0;

  constructor(opts: KeyCacheOptions) {
    this.#fetch = opts.fetchKeys;
    this.#now = opts.now ?? Date.now;
    this.#maxInFlight = opts.maxInFlight ?? 32;
    this.#minRefetchMs = opts.minRefetchMs ?? 60_000;
    this.#fetchTimeoutMs = opts.fetchTimeoutMs ?? 10_000;
    this.#mayFetch = opts.mayFetch ?? (() => true);
    this.#entries = new Lru(opts.maxServers ?? 1000);
  }

  /**
   * The key `keyId` of `serverName`, valid at `atTs` (default now). Fetches the server's keys when
   * they are not cached, or the key is missing or expired and the last fetch is old enough.
   * Never throws.
   */
  async verifyKey(serverName: string, keyId: string, atTs?: number): Promise<KeyLookup> {
    if (!isValidServerName(serverName)) return { ok: false, reason: "not a valid server name" };
    if (!this.#mayFetch(serverName))
      return { ok: false, reason: `${serverName} is not a server Tyr accepts requests from` };
    const at = atTs ?? this.#now();
    let entry = this.#entries.get(serverName);
    const cached = entry && this.#usable(entry, serverName, keyId, at);
    if (cached?.ok) return cached;
    if (entry !== undefined && this.#now() - entry.attemptedAt < this.#minRefetchMs)
      return cached ?? { ok: false, reason: `no key ${keyId} for ${serverName}` };
    entry = await this.#refresh(serverName);
    return this.#usable(entry, serverName, keyId, at);
  }

  #usable(entry: Entry, serverName: string, keyId: string, at: number): KeyLookup {
    if (entry.keys === undefined)
      return { ok: false, reason: `cannot get the keys of ${serverName}: ${entry.error ?? "unknown error"}` };
    const k = entry.keys.keys.get(keyId);
    if (k === undefined)
      return entry.error === undefined
        ? { ok: false, reason: `${serverName} publishes no key ${keyId}` }
        : { ok: false, reason: `no key ${keyId} for ${serverName}; the last fetch failed: ${entry.error}` };
    if (k.validUntilTs < at)
      return {
        ok: false,
        reason: `the key ${keyId} of ${serverName} expired at ${new Date(k.validUntilTs).toISOString()}`,
      };
    return { ok: true, key: k.key };
  }

  /** One fetch per server at a time: concurrent callers share it. */
  #refresh(serverName: string): Promise<Entry> {
    const running = this.#inFlight.get(serverName);
    if (running !== undefined) return running;
    if (this.#inFlight.size >= this.#maxInFlight)
      return Promise.resolve({ attemptedAt: this.#now(), error: "too many key fetches in progress" });
    const p = this.#load(serverName).finally(() => this.#inFlight.delete(serverName));
    this.#inFlight.set(serverName, p);
    return p;
  }

  async #load(serverName: string): Promise<Entry> {
    this.fetches++;
    const previous = this.#entries.peek(serverName);
    let entry: Entry;
    try {
      const body = await this.#fetchWithTimeout(serverName);
      const now = this.#now();
      const parsed = parseServerKeys(body, serverName, now);
      entry = parsed.ok
        ? { attemptedAt: now, keys: parsed.keys }
        : { attemptedAt: now, error: parsed.reason };
    } catch (e) {
      entry = { attemptedAt: this.#now(), error: e instanceof Error ? e.message : String(e) };
    }
    // A failed fetch keeps the keys we had (they carry their own expiry), so a server that is down
    // for a minute can still be authenticated with the keys it published before.
    if (entry.keys === undefined && previous?.keys !== undefined)
      entry = {
        attemptedAt: entry.attemptedAt,
        keys: previous.keys,
        ...(entry.error ? { error: entry.error } : {}),
      };
    this.#entries.set(serverName, entry);
    return entry;
  }

  async #fetchWithTimeout(serverName: string): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.#fetchTimeoutMs} ms`)),
        this.#fetchTimeoutMs,
      );
    });
    try {
      return await Promise.race([this.#fetch(serverName), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}
