// Pure part of `import <room> <list>`: turn a room's bans and ACL deny entries into policy rules,
// so a community adopting Tyr keeps its moderation history. Input is the room's state as returned
// by /rooms/{roomId}/state (untrusted JSON); output is the state events to send to the list.

import {
  clip,
  entryMatchesServer,
  firstControlChar,
  parseOwnServer,
  parseServerEntity,
} from "./serverName.ts";
import { ruleStateKey } from "../banlists/stateKey.ts";

/** Longest reason copied into a rule; longer ones are cut (policy parsers cap reasons too). */
export const MAX_IMPORT_REASON_LENGTH = 1024;
const MAX_USER_ID_BYTES = 255;

export interface PolicyRuleToSend {
  readonly type: "m.policy.rule.user" | "m.policy.rule.server";
  readonly stateKey: string;
  readonly content: { readonly entity: string; readonly recommendation: "m.ban"; readonly reason: string };
}

export interface ImportSkip {
  /** As found, cut to 300 characters. */
  readonly entity: string;
  readonly source: "ban" | "acl";
  readonly reason: string;
}

export interface ImportPlan {
  /** Sorted by type, then entity; one per distinct (type, entity). */
  readonly rules: readonly PolicyRuleToSend[];
  readonly skipped: readonly ImportSkip[];
}

export interface ImportOptions {
  /** The room imported from; named in default reasons. */
  readonly roomId: string;
  /** When given, ACL entries that would deny this server are skipped (the ACL builder would
   *  refuse them anyway, and other subscribers of the list would not want them either). */
  readonly ownServer?: string;
}

function record(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

function userIdProblem(userId: string): string | undefined {
  if (!userId.startsWith("@")) return "not a user ID";
  if (Buffer.byteLength(userId, "utf8") > MAX_USER_ID_BYTES) return "user ID longer than 255 bytes";
  if (/\s/.test(userId) || firstControlChar(userId) !== undefined) {
    return "user ID contains whitespace or control characters";
  }
  // A rule entity is a glob: importing `@a*:x.org` literally would ban far more than one user.
  if (/[*?]/.test(userId)) return "user ID contains a glob character";
  const colon = userId.indexOf(":");
  if (colon < 2) return "user ID has no localpart or no server";
  const server = parseServerEntity(userId.slice(colon + 1));
  if (!server.ok) return `user ID has an invalid server: ${server.reason}`;
  return undefined;
}

function cutReason(reason: string): string {
  if (reason.length <= MAX_IMPORT_REASON_LENGTH) return reason;
  // Never split a surrogate pair: a lone surrogate is not valid UTF-8 and would be rejected.
  const end = MAX_IMPORT_REASON_LENGTH;
  const last = reason.charCodeAt(end - 1);
  return reason.slice(0, last >= 0xd800 && last <= 0xdbff ? end - 1 : end);
}

export function importRoomRules(state: Iterable<unknown>, options: ImportOptions): ImportPlan {
  const own = options.ownServer !== undefined ? parseOwnServer(options.ownServer) : undefined;
  const rules = new Map<string, PolicyRuleToSend>();
  const skipped: ImportSkip[] = [];

  const add = (type: PolicyRuleToSend["type"], entity: string, reason: string): void => {
    const kind = type === "m.policy.rule.user" ? "user" : "server";
    const stateKey = ruleStateKey(kind, entity, "ban");
    const key = `${type}\n${stateKey}`;
    if (!rules.has(key)) {
      rules.set(key, {
        type,
        stateKey,
        content: { entity, recommendation: "m.ban", reason: cutReason(reason) },
      });
    }
  };

  for (const raw of state) {
    const ev = record(raw);
    if (ev === undefined || typeof ev["state_key"] !== "string") continue;
    const content = record(ev["content"]);
    if (content === undefined) continue;
    const stateKey = ev["state_key"];

    if (ev["type"] === "m.room.member") {
      if (content["membership"] !== "ban") continue;
      const problem = userIdProblem(stateKey);
      if (problem !== undefined) {
        skipped.push({ entity: clip(stateKey), source: "ban", reason: problem });
        continue;
      }
      const given = typeof content["reason"] === "string" ? content["reason"].trim() : "";
      add("m.policy.rule.user", stateKey, given.length > 0 ? given : `banned in ${options.roomId}`);
    } else if (ev["type"] === "m.room.server_acl" && stateKey === "") {
      const deny = content["deny"];
      if (!Array.isArray(deny)) continue;
      for (const entry of deny as unknown[]) {
        const shown = clip(typeof entry === "string" ? entry : (JSON.stringify(entry) ?? String(entry)));
        const parsed = parseServerEntity(entry);
        if (!parsed.ok) {
          skipped.push({ entity: shown, source: "acl", reason: parsed.reason });
          continue;
        }
        if (parsed.value === "*") {
          skipped.push({ entity: shown, source: "acl", reason: "`*` would deny every server" });
          continue;
        }
        if (own !== undefined && entryMatchesServer(parsed.value, parsed.glob, own.host)) {
          skipped.push({ entity: shown, source: "acl", reason: `would deny our own server ${own.host}` });
          continue;
        }
        add("m.policy.rule.server", parsed.value, `denied by the server ACL of ${options.roomId}`);
      }
    }
  }

  const sorted = [...rules.values()].sort((a, b) =>
    a.type !== b.type ? (a.type < b.type ? -1 : 1) : a.content.entity < b.content.entity ? -1 : 1,
  );
  return { rules: sorted, skipped };
}
