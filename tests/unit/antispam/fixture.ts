// A realistic in-memory world for the antispam decisions: a real Matcher with rules, a real
// protections pipeline (built-in protections), and the Knowledge/handler wiring the feature uses.
import { Matcher, sha256Base64 } from "../../../src/banlists/matcher.ts";
import type { Recommendation, Rule, RuleKind } from "../../../src/banlists/rule.ts";
import {
  defaultConfig,
  setDryRun,
  setEnabled,
  setSetting,
  type ProtectionsConfig,
} from "../../../src/protections/config.ts";
import { ProtectionPipeline } from "../../../src/protections/pipeline.ts";
import { BUILTIN_PROTECTIONS } from "../../../src/protections/registry.ts";
import { enforcedAtServer } from "../../../src/protections/enforce.ts";
import type { Knowledge } from "../../../src/antispam/decide.ts";
import { AntispamHandler, type AntispamDeps, type Refusal } from "../../../src/antispam/handler.ts";
import { bearerSecret } from "../../../src/http/auth.ts";

export const BOT = "@tyr:example.org";
export const MOD = "@mod:example.org";
export const LIST = "!list:example.org";
export const ROOM = "!protected:example.org";
export const OPEN_ROOM = "!elsewhere:example.org";
export const SECRET = "antispam-test-secret-0123456789";

let seq = 0;
export function rule(
  kind: RuleKind,
  entity: string | { sha256: string },
  recommendation: Recommendation = "ban",
  reason = "spam",
): Rule {
  return {
    list: LIST,
    kind,
    ...(typeof entity === "string" ? { entity } : { sha256: entity.sha256 }),
    recommendation,
    reason,
    eventType: `m.policy.rule.${kind}`,
    stateKey: `r${++seq}`,
  };
}

export const hashed = (entity: string) => ({ sha256: sha256Base64(entity) });

function ok(r: { ok: true; config: ProtectionsConfig } | { ok: false; error: string }): ProtectionsConfig {
  if (!r.ok) throw new Error(r.error);
  return r.config;
}

/** word-list on with "buy crypto", enforced at the server unless told otherwise. */
export function wordListConfig(
  opts: { enforce?: boolean; dryRun?: boolean; action?: string } = {},
): ProtectionsConfig {
  const R = BUILTIN_PROTECTIONS;
  let c = ok(setEnabled(defaultConfig(), R, "word-list", true));
  c = ok(setSetting(c, R, "word-list", "patterns", ["buy crypto"]));
  if (opts.enforce ?? true) c = ok(setSetting(c, R, "word-list", "enforceAtServer", "on"));
  if (opts.action) c = ok(setSetting(c, R, "word-list", "action", opts.action));
  if (opts.dryRun) c = ok(setDryRun(c, R, "word-list", true));
  return c;
}

export interface World {
  matcher: Matcher;
  protectedRooms: Set<string>;
  livePipeline: ProtectionPipeline;
  serverPipeline: ProtectionPipeline;
  roomBans: Map<string, string>;
  knowledge: Knowledge;
  refusals: Refusal[];
  ready: boolean;
  handler: AntispamHandler;
}

export function world(
  opts: {
    rules?: Rule[];
    config?: ProtectionsConfig;
    dryRun?: boolean;
    whenNotReady?: "allow" | "deny";
    roomBanOption?: boolean;
  } = {},
): World {
  const matcher = new Matcher({ listOrder: [LIST], serverRulesApplyToUsers: false });
  matcher.addAll(opts.rules ?? []);
  const config = opts.config ?? wordListConfig();
  const protectedRooms = new Set([ROOM]);
  const livePipeline = new ProtectionPipeline({ botUserId: BOT, protections: BUILTIN_PROTECTIONS, config });
  const serverPipeline = new ProtectionPipeline({ botUserId: BOT, protections: BUILTIN_PROTECTIONS, config });
  const roomBans = new Map<string, string>();
  const knowledge: Knowledge = {
    botUserId: BOT,
    ownServer: "example.org",
    moderators: new Set([MOD]),
    isProtected: (r) => protectedRooms.has(r),
    decideUser: (u) => matcher.decideUser(u),
    decideServer: (s) => matcher.decideServer(s),
    decideRoom: (r) => matcher.decideRoom(r),
    flaggedBy: (room, user) => livePipeline.incidentOf(room, user, Date.now()),
    ...(opts.roomBanOption ? { roomBanOf: (u: string) => roomBans.get(u) } : {}),
  };
  const w: World = {
    matcher,
    protectedRooms,
    livePipeline,
    serverPipeline,
    roomBans,
    knowledge,
    refusals: [],
    ready: true,
    handler: undefined as unknown as AntispamHandler,
  };
  w.handler = new AntispamHandler({
    pathPrefix: "/_tyr/antispam",
    whenNotReady: opts.whenNotReady ?? "allow",
    dryRun: opts.dryRun ?? false,
    auth: bearerSecret(SECRET),
    now: () => Date.now(),
  });
  w.handler.botUserId = BOT;
  const deps: AntispamDeps = {
    ready: () => w.ready,
    knowledge: () => knowledge,
    judgeEvent: (ev, now) =>
      serverPipeline.handleRaw(ev.raw, ev.roomId, {}, now, (e) => enforcedAtServer(e.settings)),
    onRefusal: (r) => w.refusals.push(r),
  };
  w.handler.attach(deps);
  return w;
}

let eventSeq = 0;
export function message(
  sender: string,
  body: string,
  room = ROOM,
  type = "m.room.message",
): Record<string, unknown> {
  return {
    event: {
      event_id: `$ev${++eventSeq}`,
      room_id: room,
      sender,
      type,
      origin_server_ts: Date.now(),
      content:
        type === "m.room.encrypted"
          ? { algorithm: "m.megolm.v1.aes-sha2", ciphertext: body }
          : { msgtype: "m.text", body },
      unsigned: {},
    },
  };
}
