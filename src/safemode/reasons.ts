// Safe mode: when start-up fails because of Tyr's own settings (a list or protected room it cannot
// join, broken protection settings), Tyr still starts, so moderators can repair it from the
// management room, but it applies no moderation until restarted with the settings fixed.
// This module is the pure part: which failures were recorded, and what a command may do meanwhile.
import type { Consequence } from "../consequences/types.ts";

/** The commands that diagnose or repair Tyr's settings: the only ones safe mode answers. */
export const SAFE_MODE_COMMANDS: readonly string[] = [
  "status",
  "help",
  "lists",
  "unwatch",
  "rooms remove",
  "protections reset",
  "restart",
];

export interface SafeModeReason {
  /** Identifies the failure (one reason per key). */
  readonly key: string;
  /** What failed, in words a moderator understands. */
  readonly what: string;
  /** The command (or action) that fixes it. */
  readonly fix: string;
}

export class SafeModeReasons {
  private readonly reasons = new Map<string, SafeModeReason>();
  private readonly listeners: ((r: SafeModeReason) => void)[] = [];

  /** Records a start-up failure caused by Tyr's settings; returns false if it was known already. */
  add(reason: SafeModeReason): boolean {
    if (this.reasons.has(reason.key)) return false;
    this.reasons.set(reason.key, reason);
    for (const l of this.listeners) l(reason);
    return true;
  }

  /** Called with every new reason (the management-room notice). */
  onAdd(listener: (r: SafeModeReason) => void): void {
    this.listeners.push(listener);
  }

  get active(): boolean {
    return this.reasons.size > 0;
  }

  list(): SafeModeReason[] {
    return [...this.reasons.values()];
  }

  /** Whether `command` (its full name, e.g. "rooms remove") may run now. */
  allows(command: string): boolean {
    return !this.active || SAFE_MODE_COMMANDS.includes(command);
  }

  /** The answer to a command safe mode does not run. */
  refusal(command: string): string {
    return `${command} is not available: Tyr is in safe mode because ${this.summary()}. Only ${SAFE_MODE_COMMANDS.join(", ")} work until then`;
  }

  /** "X (fix: Y); Z (fix: W)", then what to do once fixed. */
  summary(): string {
    const parts = this.list().map((r) => `${r.what} (fix it with: ${r.fix})`);
    return `${parts.join("; ")}; after fixing, send restart`;
  }
}

/**
 * Whether the consequence queue may execute `c` in safe mode: only Tyr talking in the management
 * room (notices, command replies, reactions, tidying its own messages there); no moderation at all.
 */
export function allowedInSafeMode(c: Consequence, managementRoomId: string): boolean {
  if (c.kind === "notify") return true;
  return (c.kind === "send" || c.kind === "redact") && c.room === managementRoomId;
}
