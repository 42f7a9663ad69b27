// `enforceAtServer`: one setting every message protection gets, so `protections set <name>
// enforceAtServer on` (globally or per room) makes the homeserver refuse what the protection
// would redact or ban, before delivery (src/antispam/). Only message protections get it: Synapse
// asks its spam checker about messages, not about membership changes.
import type { AnyProtection } from "./framework.ts";
import { boolean } from "./settings.ts";

export const ENFORCE_AT_SERVER = "enforceAtServer";

const enforceAtServer = boolean({
  description:
    "Have the homeserver refuse what this protection would redact or ban, before anyone sees it (needs antispam in Tyr's config and the synapse-http-antispam module; encrypted messages pass)",
  default: false,
});

/** The protection with the `enforceAtServer` setting added (message protections only). */
export function withServerEnforcement(p: AnyProtection): AnyProtection {
  if (p.onMessage === undefined || Object.hasOwn(p.settings, ENFORCE_AT_SERVER)) return p;
  return { ...p, settings: { ...p.settings, [ENFORCE_AT_SERVER]: enforceAtServer } };
}

/** Whether an enabled protection's resolved settings ask for enforcement at the server. */
export function enforcedAtServer(settings: Readonly<Record<string, unknown>>): boolean {
  return settings[ENFORCE_AT_SERVER] === true;
}
