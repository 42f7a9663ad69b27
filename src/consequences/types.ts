// Every change Tyr makes to the world is a Consequence. Pure code produces them; only the
// consequence queue executes them (rate limits, retries, de-duplication, dry-run, action log).
import type { Rule } from "../banlists/rule.ts";
import type { MediaTarget } from "../matrix/mediaAdmin.ts";

export type Cause =
  | { readonly by: "policy"; readonly rule: Rule }
  | { readonly by: "protection"; readonly name: string; readonly dryRun?: boolean }
  | {
      readonly by: "moderator";
      readonly user: string;
      readonly command: string;
      /** Asked for outside chat ("dashboard"); the action log says so. */
      readonly via?: string;
      /** The abuse report this action answers (triage by reaction), e.g. "event-12". */
      readonly report?: string;
    }
  | { readonly by: "system"; readonly what: string };

export type AccountRestrictionKind = "suspend" | "unsuspend" | "lock" | "unlock";
export const ACCOUNT_RESTRICTION_KINDS: ReadonlySet<string> = new Set<AccountRestrictionKind>([
  "suspend",
  "unsuspend",
  "lock",
  "unlock",
]);

export interface ServerAclContent {
  allow: string[];
  deny: string[];
  allow_ip_literals: boolean;
}

export type Consequence =
  | {
      readonly kind: "ban" | "unban" | "kick";
      readonly room: string;
      readonly user: string;
      readonly reason: string;
      readonly cause: Cause;
      /** Ask the server to redact the user's events too (MSC4293 `redact_events`; bans and kicks). */
      readonly redactEvents?: boolean;
    }
  /** Removes a user's events in a room: through the ban's `redact_events` when the server honoured
   *  it, else the per-user bulk endpoint (MSC4194), else one redaction per event in `events`. */
  | {
      readonly kind: "redactUser";
      readonly room: string;
      readonly user: string;
      readonly events: readonly string[];
      readonly reason: string;
      readonly cause: Cause;
    }
  | {
      readonly kind: "redact";
      readonly room: string;
      readonly event: string;
      readonly reason: string;
      readonly cause: Cause;
    }
  | {
      readonly kind: "setAcl";
      readonly room: string;
      readonly content: ServerAclContent;
      readonly cause: Cause;
    }
  | {
      readonly kind: "mute";
      readonly room: string;
      readonly user: string;
      readonly durationMs?: number;
      readonly reason: string;
      readonly cause: Cause;
    }
  /** Lifts a mute: restores `restoreLevel` (or removes the user's override when absent), but only
   *  while the user is still below `events_default` — a level changed since by a moderator stays. */
  | {
      readonly kind: "unmute";
      readonly room: string;
      readonly user: string;
      readonly restoreLevel?: number;
      readonly reason: string;
      readonly cause: Cause;
    }
  /** Sets one user's entry in `m.room.power_levels` (read fresh, modified, written back). */
  | {
      readonly kind: "setPowerLevel";
      readonly room: string;
      readonly user: string;
      readonly level: number;
      readonly reason: string;
      readonly cause: Cause;
    }
  | {
      readonly kind: "setJoinRule";
      readonly room: string;
      readonly joinRule: "invite" | "public" | "knock";
      readonly reason: string;
      readonly cause: Cause;
    }
  | { readonly kind: "warn"; readonly room: string; readonly text: string; readonly cause: Cause }
  /** Deactivates an account of Tyr's own homeserver (Synapse admin API; Tyr must be a server
   *  admin); `erase` also asks the server to hide the account's messages from new members. */
  | {
      readonly kind: "deactivate";
      readonly user: string;
      readonly erase: boolean;
      readonly reason: string;
      readonly cause: Cause;
    }
  /** Suspends (read-only account) or locks (no access at all) an account of Tyr's own homeserver,
   *  or lifts that again: the spec's admin endpoints where offered, Synapse's admin API otherwise. */
  | {
      readonly kind: AccountRestrictionKind;
      readonly user: string;
      readonly reason: string;
      readonly cause: Cause;
    }
  /** Takes a room down on Tyr's own homeserver (Synapse's delete-room API): blocks it so no
   *  local user can join again, removes its local members, and with `purge` also deletes it from
   *  the database. Executing it returns Synapse's delete_id. */
  | {
      readonly kind: "takedownRoom";
      readonly room: string;
      readonly purge: boolean;
      readonly reason: string;
      readonly cause: Cause;
    }
  /** Lifts the block of a room Tyr took down (Synapse's block-room API), so local users can
   *  join it again; its members removed by the takedown stay removed. */
  | {
      readonly kind: "unblockRoom";
      readonly room: string;
      readonly reason: string;
      readonly cause: Cause;
    }
  /** Quarantines media on Tyr's own homeserver (Synapse's media admin API): one upload, a local
   *  account's uploads, or the media a room refers to. Executing it returns how many items. */
  | {
      readonly kind: "quarantineMedia";
      readonly target: MediaTarget;
      readonly reason: string;
      readonly cause: Cause;
    }
  /** Any other state event Tyr writes, e.g. a policy rule into a ban list. */
  | {
      readonly kind: "setState";
      readonly room: string;
      readonly eventType: string;
      readonly stateKey: string;
      readonly content: Record<string, unknown>;
      /** What the state is about (a rule's entity), for the action log. */
      readonly target?: string;
      readonly reason: string;
      readonly cause: Cause;
    }
  | { readonly kind: "notify"; readonly text: string; readonly html?: string; readonly cause: Cause }
  /** Any other message the bot sends: command replies, progress edits, reactions. */
  | {
      readonly kind: "send";
      readonly room: string;
      readonly eventType: string;
      readonly content: Record<string, unknown>;
      readonly cause: Cause;
    };

/** Tyr tidying its own messages (replies, reactions, progress): not a moderation action, so it
 *  is not written to the action log. */
export const HOUSEKEEPING: Cause = { by: "system", what: "housekeeping" };
