// The long-lived parts commands talk to, filled in by src/main.ts as each feature starts.
import type { PolicyServerFeature } from "./policyserver/feature.ts";
import type { Feature, Reporting } from "./feature.ts";
import type { CryptoFeature } from "./matrix/crypto/feature.ts";
import type { PolicyFeature } from "./policy/feature.ts";
import type { AclFeature } from "./acl/feature.ts";
import type { RecentEvents } from "./matrix/recentEvents.ts";
import type { ScheduledConsequences } from "./consequences/scheduled.ts";
import type { ReportDesk } from "./reports/desk.ts";

export interface Services {
  /** Every feature that reports status, in start order. */
  readonly reporting: Reporting[];
  readonly features: Feature[];
  /** Watched lists, protected rooms, member bans (absent only in tests that don't need it). */
  policy?: PolicyFeature;
  /** Recent timeline events per room, for clean-ups such as `redact <user>`. */
  recent?: RecentEvents;
  /** Future effects that survive restarts (timed unmutes). */
  scheduled?: ScheduledConsequences;
  /** Server ACL sync: the computed ACL and each protected room's state. */
  acl?: AclFeature;
  /** End-to-end encryption: engine, verification, trust (absent when encryption is off). */
  crypto?: CryptoFeature;
  /** Relayed abuse reports and their triage (absent unless reports.enabled). */
  reports?: ReportDesk;
  /** Tyr as the MSC4284 policy server (absent unless policyServer.enabled). */
  policyServer?: PolicyServerFeature;
}
