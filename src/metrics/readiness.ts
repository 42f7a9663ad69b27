// What /readyz answers: ready when Tyr has synced recently and its last sync did not fail, every
// watched list is loaded, (with encryption on) the crypto engine is up, and Tyr is not in safe
// mode (it applies no moderation then, however healthy the rest looks). Pure.

export interface ReadinessInput {
  readonly now: number;
  readonly lastSyncAt: number | undefined;
  /** Failed /sync requests since the last success. */
  readonly syncFailures: number;
  readonly maxSyncAgeMs: number;
  /** undefined: the policy feature is not there (yet). */
  readonly listsLoaded: boolean | undefined;
  readonly encryption: boolean;
  readonly cryptoReady: boolean;
  /** Why Tyr is in safe mode (src/safemode/); empty when it is not. */
  readonly safeMode: readonly { readonly what: string; readonly fix: string }[];
}

export interface Readiness {
  readonly ready: boolean;
  /** One short sentence per reason it is not ready. */
  readonly notReady: string[];
}

export function readiness(i: ReadinessInput): Readiness {
  const notReady: string[] = [];
  if (i.lastSyncAt === undefined) notReady.push("sync: no sync with the homeserver yet");
  else if (i.syncFailures > 0)
    notReady.push(
      `sync: the last ${i.syncFailures} sync request(s) failed (homeserver unreachable or erroring)`,
    );
  else if (i.now - i.lastSyncAt > i.maxSyncAgeMs)
    notReady.push(`sync: the last successful sync was ${Math.round((i.now - i.lastSyncAt) / 1000)} s ago`);
  if (i.listsLoaded !== true) notReady.push("lists: the watched policy lists are not loaded yet");
  if (i.encryption && !i.cryptoReady) notReady.push("crypto: end-to-end encryption is not ready");
  for (const r of i.safeMode) notReady.push(`safe mode: ${r.what}; fix: ${r.fix}`);
  return { ready: notReady.length === 0, notReady };
}
