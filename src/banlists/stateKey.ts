// State keys for policy rules Tyr writes.
//
// A state key starting with `@` is rejected unless it equals the sender, and state keys are
// limited to 255 bytes, so the entity itself can never be used. The key is instead derived from
// a hash: `rule:` + unpadded base64url SHA-256 of "<kind>\n<entity>\n<recommendation>" (48 bytes).
// The entity is lower-cased first because policy globs ignore case: writing the same rule for
// `Evil.org` and `evil.org` then updates one state event instead of creating two.

import { createHash } from "node:crypto";
import type { Recommendation, RuleKind } from "./rule.ts";

export function ruleStateKey(kind: RuleKind, entity: string, recommendation: Recommendation): string {
  const digest = createHash("sha256")
    .update(`${kind}\n${entity.toLowerCase()}\n${recommendation}`, "utf8")
    .digest("base64url");
  return `rule:${digest}`;
}
