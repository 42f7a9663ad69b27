// The OlmMachine as the rest of Tyr sees it: unusable once freed, and never freed under a call.
//
// crypto-wasm's async methods (getRoomSettings, shareRoomKey, ...) borrow the machine only when
// their future is first polled, in a microtask. Called on a freed machine, that poll throws
// "null pointer passed to rust" outside any promise: an uncaught exception that no caller can
// catch (it took the process down at shutdown while rate-limited sends were still checking
// whether their room is encrypted). So every use goes through this guard: from free() on, a call
// throws an ordinary error its caller sees, and free() waits for the calls already started before
// it releases the wasm memory.

import type { OlmMachine } from "@matrix-org/matrix-sdk-crypto-wasm";

export class CryptoEngineClosedError extends Error {
  constructor() {
    super("crypto engine is closed");
    this.name = "CryptoEngineClosedError";
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    (typeof v === "object" || typeof v === "function") &&
    v !== null &&
    typeof (v as { then?: unknown }).then === "function"
  );
}

export class MachineGuard {
  /** The guarded machine: hand this one out, never the raw one. */
  readonly machine: OlmMachine;
  private readonly raw: OlmMachine;
  private readonly inFlight = new Set<PromiseLike<unknown>>();
  /** Set by free(): no new calls (the memory itself is released once the calls under way end). */
  private closed = false;

  constructor(raw: OlmMachine) {
    this.raw = raw;
    this.machine = new Proxy(raw, {
      get: (target, prop) => {
        // `await`/Promise.resolve look up `then` on any value: the machine is no thenable.
        if (prop === "then") return undefined;
        if (this.closed) throw new CryptoEngineClosedError();
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== "function" || prop === "constructor") return value;
        const method = value as (...args: unknown[]) => unknown;
        return (...args: unknown[]): unknown => {
          // A method read before free() and called after it.
          if (this.closed) throw new CryptoEngineClosedError();
          const result = method.apply(target, args);
          if (isThenable(result)) this.track(result);
          return result;
        };
      },
      set: (target, prop, value) => {
        if (this.closed) throw new CryptoEngineClosedError();
        return Reflect.set(target, prop, value, target);
      },
    });
  }

  /**
   * Refuse new calls, wait for the calls under way, then free the wasm memory. New calls are
   * refused first so that a steady stream of them cannot hold the shutdown up.
   */
  async free(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    this.raw.close();
  }

  private track(p: PromiseLike<unknown>): void {
    this.inFlight.add(p);
    const done = (): void => void this.inFlight.delete(p);
    // (This also counts as handling a rejection; the caller awaits `p` and sees it anyway.)
    p.then(done, done);
  }
}
