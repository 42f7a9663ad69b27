// Brute-force references for the banlist tests: obviously-correct, slow implementations.
import { createHash } from "node:crypto";
import type { Rule, RuleKind } from "../../../src/banlists/rule.ts";

/** Textbook O(n·m) dynamic programme over the raw (unnormalised) pattern, case-insensitive. */
export function refGlob(pattern: string, input: string): boolean {
  const p = pattern.toLowerCase();
  const s = input.toLowerCase();
  // prev[j]: does p[0..i) match s[0..j)?
  let prev = new Array<boolean>(s.length + 1).fill(false);
  prev[0] = true;
  for (let i = 1; i <= p.length; i++) {
    const c = p[i - 1];
    const cur = new Array<boolean>(s.length + 1).fill(false);
    cur[0] = c === "*" && prev[0] === true;
    for (let j = 1; j <= s.length; j++) {
      if (c === "*") cur[j] = prev[j] === true || cur[j - 1] === true;
      else if (c === "?" || c === s[j - 1]) cur[j] = prev[j - 1] === true;
    }
    prev = cur;
  }
  return prev[s.length] === true;
}

export function refSha(s: string): string {
  return createHash("sha256").update(s, "utf8").digest("base64").replace(/=+$/, "");
}

/** Host of a server name: lower-cased, port dropped (after the `]` of an IPv6 literal). */
export function refServerHost(server: string): string {
  const s = server.toLowerCase();
  if (s.startsWith("[")) {
    const i = s.indexOf("]");
    return i < 0 ? s : s.slice(0, i + 1);
  }
  const i = s.indexOf(":");
  return i < 0 ? s : s.slice(0, i);
}

export function refUserHost(userId: string): string {
  const i = userId.indexOf(":");
  return i < 0 ? "" : refServerHost(userId.slice(i + 1));
}

/**
 * What a server rule's entity names, read independently of src/banlists/serverName.ts: the host
 * (port dropped, as a server ACL does), or undefined when the entity is not a server name or glob
 * (bracketed IPv6 or DNS-name characters, optional `:port` of up to 5 digits or wildcards, host ≤
 * 255 characters, entity ≤ 255 + 6).
 */
export function refServerRuleHost(entity: string): string | undefined {
  if (entity.length === 0 || entity.length > 261) return undefined;
  const m = /^(\[[0-9a-f:.*?]+\]|[a-z0-9.\-*?]+)(?::[0-9*?]{1,5})?$/.exec(entity.toLowerCase());
  return m === null || (m[1] as string).length > 255 ? undefined : m[1];
}

function ruleMatches(rule: Rule, subject: string, hashForms: string[]): boolean {
  if (rule.entity !== undefined) {
    const pattern = rule.kind === "server" ? refServerRuleHost(rule.entity) : rule.entity;
    return pattern !== undefined && refGlob(pattern, subject);
  }
  return rule.sha256 !== undefined && hashForms.some((f) => refSha(f) === rule.sha256);
}

/** Every rule (any kind) matching, as the matcher defines it, unordered. */
export function refMatch(
  rules: readonly Rule[],
  kind: RuleKind,
  entity: string,
  serverApplies: (list: string) => boolean = () => true,
): Rule[] {
  const out: Rule[] = [];
  for (const r of rules) {
    if (kind === "server") {
      const host = refServerHost(entity);
      if (r.kind === "server" && host !== "" && ruleMatches(r, host, [host])) out.push(r);
      continue;
    }
    if (r.kind === kind) {
      if (ruleMatches(r, entity, [entity, entity.toLowerCase()])) out.push(r);
    } else if (kind === "user" && r.kind === "server" && serverApplies(r.list)) {
      const host = refUserHost(entity);
      if (host !== "" && ruleMatches(r, host, [host])) out.push(r);
    }
  }
  return out;
}

export function ruleId(r: Rule): string {
  return `${r.list}|${r.kind}|${r.stateKey}`;
}
