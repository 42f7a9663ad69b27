// Persisted protection configuration and its resolution into effective settings.
//
// Account data (the bot's own, so Matrix stays the source of truth):
//   org.matrix.mjolnir.enabled_protections  { "enabled": ["flooding", "BasicFloodingProtection", …] }
//     Authoritative for "enabled globally" when present (Mjolnir/Draupnir compatible; we write our
//     names plus each protection's Mjolnir alias, and keep names we don't know).
//   org.matrix.tyr.protections
//     { "version": 1,
//       "options": { "exemptPowerLevel": 50, "incidentDurationMs": 600000, … },
//       "protections": { "<name>": { "enabled": bool, "dryRun": bool, "settings": { … },
//                                    "rooms": { "<roomId>": { "enabled"?, "dryRun"?, "settings"? } } } } }
// Settings hold only values that differ from the defaults, as JSON. Everything read back is
// validated; a bad value is dropped (so the default applies) and reported, never fatal.
import type { AnyProtection } from "./framework.ts";
import {
  defaultsOf,
  describeType,
  duration,
  formatValue,
  integer,
  oneOf,
  resolveValue,
  validateSetting,
  type SettingSpec,
  type SettingsSchema,
  type StoredValue,
} from "./settings.ts";

export const TYR_PROTECTIONS_KEY = "org.matrix.tyr.protections";
export const MJOLNIR_ENABLED_KEY = "org.matrix.mjolnir.enabled_protections";
const MAX_ROOM_OVERRIDES = 10_000;
const MAX_FOREIGN_NAMES = 200;

/** Options of the pipeline itself, stored next to the protections and validated the same way. */
export const PIPELINE_OPTIONS = {
  exemptPowerLevel: integer({
    description: "Users at or above this power level in a room are never acted against",
    default: 50,
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
  }),
  incidentDurationMs: duration({
    description:
      "After a protection acts against a user, their later messages in the room are redacted for this long",
    default: 10 * 60_000,
    min: 0,
    max: 7 * 86_400_000,
  }),
  cleanupWindowMs: duration({
    description: "When an incident opens, also redact the user's messages from this far back",
    default: 2 * 60_000,
    min: 0,
    max: 60 * 60_000,
  }),
  incidentOn: oneOf({
    description: "What opens an incident: a sanction (ban, kick, mute) or any action (including a redaction)",
    values: ["sanction", "any"],
    default: "sanction",
  }),
} as const satisfies SettingsSchema;

export interface PipelineOptionValues {
  readonly exemptPowerLevel: number;
  readonly incidentDurationMs: number;
  readonly cleanupWindowMs: number;
  readonly incidentOn: "sanction" | "any";
}

export interface RoomOverride {
  readonly enabled?: boolean;
  readonly dryRun?: boolean;
  readonly settings: Readonly<Record<string, StoredValue>>;
}

export interface ProtectionConfig {
  readonly enabled: boolean;
  readonly dryRun: boolean;
  /** Only values differing from defaults (validated). */
  readonly settings: Readonly<Record<string, StoredValue>>;
  readonly rooms: Readonly<Record<string, RoomOverride>>;
}

export interface ProtectionsConfig {
  readonly options: PipelineOptionValues;
  /** Keyed by canonical protection name; a protection without an entry is disabled with defaults. */
  readonly protections: Readonly<Record<string, ProtectionConfig>>;
  /** Entries for protections this build doesn't know, kept verbatim so nothing is lost on save. */
  readonly unknownProtections: Readonly<Record<string, unknown>>;
  /** Names in the Mjolnir enabled list that match no protection here (e.g. Mjolnir-only ones). */
  readonly foreignEnabled: readonly string[];
}

export const EMPTY_PROTECTION_CONFIG: ProtectionConfig = {
  enabled: false,
  dryRun: false,
  settings: {},
  rooms: {},
};

export function defaultConfig(): ProtectionsConfig {
  return {
    options: defaultsOf(PIPELINE_OPTIONS) as unknown as PipelineOptionValues,
    protections: {},
    unknownProtections: {},
    foreignEnabled: [],
  };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export function findProtection(registry: readonly AnyProtection[], name: string): AnyProtection | undefined {
  const n = name.trim().toLowerCase();
  return registry.find((p) => p.name === n || (p.aliases ?? []).some((a) => a.toLowerCase() === n));
}

function isRoomId(s: string): boolean {
  return s.startsWith("!") && s.length > 1 && s.length <= 255 && !/\s/.test(s);
}

function readSettings(
  schema: SettingsSchema,
  raw: unknown,
  path: string,
  problems: string[],
  room?: string,
): Record<string, StoredValue> {
  const out: Record<string, StoredValue> = {};
  if (raw === undefined) return out;
  const where = room === undefined ? "" : ` (room ${room.slice(0, 80)})`;
  if (!isObj(raw)) {
    problems.push(
      `${path}${where}: expected an object of settings, got ${Array.isArray(raw) ? "a list" : typeof raw}; using defaults`,
    );
    return out;
  }
  for (const [key, value] of Object.entries(raw)) {
    const spec = Object.hasOwn(schema, key) ? schema[key] : undefined;
    if (spec === undefined) {
      problems.push(`${path}.${key}${where}: unknown setting, ignored`);
      continue;
    }
    const r = validateSetting(spec, value, `${path}.${key}`);
    if (r.ok) out[key] = r.value;
    else problems.push(`${r.error}${where}; using the default`);
  }
  return out;
}

function readBool(raw: Obj, key: string, path: string, problems: string[]): boolean | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  if (typeof v === "boolean") return v;
  problems.push(
    `${path}.${key}: expected true or false, got ${JSON.stringify(v)?.slice(0, 40) ?? typeof v}; ignored`,
  );
  return undefined;
}

/** Parses `org.matrix.mjolnir.enabled_protections` content into names (unvalidated strings). */
function readEnabledList(raw: unknown, problems: string[]): string[] | null {
  if (raw === undefined || raw === null) return null;
  if (!isObj(raw) || !Array.isArray(raw["enabled"])) {
    problems.push(`${MJOLNIR_ENABLED_KEY}: expected {"enabled": [names]}; ignored`);
    return null;
  }
  const names: string[] = [];
  for (const n of (raw["enabled"] as unknown[]).slice(0, 1000)) {
    if (typeof n === "string" && n.length > 0 && n.length <= 255) names.push(n);
    else problems.push(`${MJOLNIR_ENABLED_KEY}: ignored a non-name entry`);
  }
  return names;
}

export interface ParsedConfig {
  readonly config: ProtectionsConfig;
  readonly problems: readonly string[];
}

/**
 * Reads both account-data contents (either may be missing or garbage). Never throws; every value
 * that can't be used is reported and replaced by its default.
 */
export function parsePersisted(
  tyrContent: unknown,
  mjolnirEnabled: unknown,
  registry: readonly AnyProtection[],
): ParsedConfig {
  const problems: string[] = [];
  const enabledList = readEnabledList(mjolnirEnabled, problems);
  const protections: Record<string, ProtectionConfig> = {};
  const unknownProtections: Record<string, unknown> = {};
  let options = defaultConfig().options;

  if (tyrContent !== undefined && tyrContent !== null && !isObj(tyrContent)) {
    problems.push(
      `${TYR_PROTECTIONS_KEY}: expected an object, got ${Array.isArray(tyrContent) ? "a list" : typeof tyrContent}; using defaults`,
    );
  }
  const root = isObj(tyrContent) ? tyrContent : {};
  if (root["version"] !== undefined && root["version"] !== 1) {
    problems.push(
      `${TYR_PROTECTIONS_KEY}: unknown version ${JSON.stringify(root["version"])?.slice(0, 20)}; reading it as version 1`,
    );
  }
  const opts = readSettings(PIPELINE_OPTIONS, root["options"], "options", problems);
  options = { ...options, ...(opts as Partial<PipelineOptionValues>) };

  const rawProtections = root["protections"];
  if (rawProtections !== undefined && !isObj(rawProtections)) {
    problems.push(`${TYR_PROTECTIONS_KEY}.protections: expected an object; using defaults`);
  }
  for (const [name, entry] of Object.entries(isObj(rawProtections) ? rawProtections : {})) {
    const p = findProtection(registry, name);
    if (p === undefined) {
      unknownProtections[name] = entry;
      problems.push(`${name}: unknown protection; kept as is`);
      continue;
    }
    if (!isObj(entry)) {
      problems.push(`${p.name}: expected an object, got ${typeof entry}; using defaults`);
      continue;
    }
    const rooms: Record<string, RoomOverride> = {};
    const rawRooms = entry["rooms"];
    if (rawRooms !== undefined && !isObj(rawRooms))
      problems.push(`${p.name}.rooms: expected an object; ignored`);
    let count = 0;
    for (const [roomId, ov] of Object.entries(isObj(rawRooms) ? rawRooms : {})) {
      const path = `${p.name}.rooms[${roomId.slice(0, 80)}]`;
      if (!isRoomId(roomId)) {
        problems.push(`${path}: not a room ID; ignored`);
        continue;
      }
      if (!isObj(ov)) {
        problems.push(`${path}: expected an object; ignored`);
        continue;
      }
      if (++count > MAX_ROOM_OVERRIDES) {
        problems.push(
          `${p.name}.rooms: more than ${MAX_ROOM_OVERRIDES} room overrides; the rest are ignored`,
        );
        break;
      }
      const enabled = readBool(ov, "enabled", path, problems);
      const dryRun = readBool(ov, "dryRun", path, problems);
      rooms[roomId] = {
        ...(enabled !== undefined ? { enabled } : {}),
        ...(dryRun !== undefined ? { dryRun } : {}),
        settings: readSettings(p.settings, ov["settings"], p.name, problems, roomId),
      };
    }
    protections[p.name] = {
      enabled: readBool(entry, "enabled", p.name, problems) ?? false,
      dryRun: readBool(entry, "dryRun", p.name, problems) ?? false,
      settings: readSettings(p.settings, entry["settings"], p.name, problems),
      rooms,
    };
  }

  // The Mjolnir-compatible list decides what is enabled globally when it exists.
  const foreignEnabled: string[] = [];
  if (enabledList !== null) {
    const on = new Set<string>();
    for (const n of enabledList) {
      const p = findProtection(registry, n);
      if (p !== undefined) on.add(p.name);
      else if (!foreignEnabled.includes(n) && foreignEnabled.length < MAX_FOREIGN_NAMES)
        foreignEnabled.push(n);
    }
    for (const p of registry) {
      const current = protections[p.name] ?? EMPTY_PROTECTION_CONFIG;
      if (current.enabled !== on.has(p.name)) protections[p.name] = { ...current, enabled: on.has(p.name) };
    }
  }
  return { config: { options, protections, unknownProtections, foreignEnabled }, problems };
}

export interface SerialisedConfig {
  readonly [TYR_PROTECTIONS_KEY]: Obj;
  readonly [MJOLNIR_ENABLED_KEY]: { enabled: string[] };
}

/** Both account-data contents to write. Round-trips through parsePersisted. */
export function serialise(config: ProtectionsConfig, registry: readonly AnyProtection[]): SerialisedConfig {
  const protections: Obj = { ...config.unknownProtections };
  const enabled: string[] = [];
  for (const [name, pc] of Object.entries(config.protections)) {
    const rooms: Obj = {};
    for (const [roomId, ov] of Object.entries(pc.rooms))
      rooms[roomId] = { ...ov, settings: { ...ov.settings } };
    protections[name] = { enabled: pc.enabled, dryRun: pc.dryRun, settings: { ...pc.settings }, rooms };
    if (pc.enabled) {
      enabled.push(name);
      // So Mjolnir/Draupnir pick up the same protection if the account switches back.
      const p = findProtection(registry, name);
      const alias = p?.aliases?.[0];
      if (alias !== undefined) enabled.push(alias);
    }
  }
  for (const n of config.foreignEnabled) if (!enabled.includes(n)) enabled.push(n);
  return {
    [TYR_PROTECTIONS_KEY]: { version: 1, options: { ...config.options }, protections },
    [MJOLNIR_ENABLED_KEY]: { enabled },
  };
}

// ---- resolution ----

export type SettingSource = "default" | "global" | "room";

export interface EffectiveConfig {
  readonly enabled: boolean;
  readonly dryRun: boolean;
  /** Every setting, defaults filled in, room overrides applied. */
  readonly stored: Readonly<Record<string, StoredValue>>;
  readonly source: Readonly<Record<string, SettingSource>>;
}

/** Global settings + the room's overrides (if `room` is given) → effective configuration. */
export function effectiveConfig(
  config: ProtectionsConfig,
  protection: AnyProtection,
  room?: string,
): EffectiveConfig {
  const pc = config.protections[protection.name] ?? EMPTY_PROTECTION_CONFIG;
  const ov = room !== undefined && Object.hasOwn(pc.rooms, room) ? pc.rooms[room] : undefined;
  const stored: Record<string, StoredValue> = {};
  const source: Record<string, SettingSource> = {};
  for (const [key, spec] of Object.entries(protection.settings as SettingsSchema)) {
    if (ov !== undefined && Object.hasOwn(ov.settings, key)) {
      stored[key] = ov.settings[key] as StoredValue;
      source[key] = "room";
    } else if (Object.hasOwn(pc.settings, key)) {
      stored[key] = pc.settings[key] as StoredValue;
      source[key] = "global";
    } else {
      stored[key] = spec.default;
      source[key] = "default";
    }
  }
  return { enabled: ov?.enabled ?? pc.enabled, dryRun: ov?.dryRun ?? pc.dryRun, stored, source };
}

/** Stored values → the typed values handlers receive (pattern lists compiled with re2js). */
export function resolveSettings(
  protection: AnyProtection,
  stored: Readonly<Record<string, StoredValue>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(protection.settings as SettingsSchema)) {
    out[key] = resolveValue(spec, stored[key] ?? spec.default);
  }
  return out;
}

// ---- edits (for the `protections …` commands) ----

export type EditResult = { ok: true; config: ProtectionsConfig } | { ok: false; error: string };

function lookup(registry: readonly AnyProtection[], name: string): AnyProtection | string {
  const p = findProtection(registry, name);
  return (
    p ??
    `unknown protection ${JSON.stringify(name.slice(0, 60))}; known: ${registry.map((x) => x.name).join(", ")}`
  );
}

function withProtection(config: ProtectionsConfig, name: string, pc: ProtectionConfig): ProtectionsConfig {
  return { ...config, protections: { ...config.protections, [name]: pc } };
}

function editRoom(
  pc: ProtectionConfig,
  room: string,
  f: (ov: RoomOverride) => RoomOverride | null,
): ProtectionConfig {
  const current = Object.hasOwn(pc.rooms, room) ? (pc.rooms[room] as RoomOverride) : { settings: {} };
  const next = f(current);
  const rooms = { ...pc.rooms };
  if (
    next === null ||
    (next.enabled === undefined && next.dryRun === undefined && Object.keys(next.settings).length === 0)
  ) {
    delete rooms[room];
  } else rooms[room] = next;
  return { ...pc, rooms };
}

function checkRoom(room: string | undefined): string | null {
  return room === undefined || isRoomId(room)
    ? null
    : `${JSON.stringify(room.slice(0, 80))} is not a room ID (!…)`;
}

function flag(
  config: ProtectionsConfig,
  registry: readonly AnyProtection[],
  name: string,
  key: "enabled" | "dryRun",
  value: boolean,
  room?: string,
): EditResult {
  const p = lookup(registry, name);
  if (typeof p === "string") return { ok: false, error: p };
  const roomError = checkRoom(room);
  if (roomError !== null) return { ok: false, error: roomError };
  const pc = config.protections[p.name] ?? EMPTY_PROTECTION_CONFIG;
  const next =
    room === undefined ? { ...pc, [key]: value } : editRoom(pc, room, (ov) => ({ ...ov, [key]: value }));
  return { ok: true, config: withProtection(config, p.name, next) };
}

export function setEnabled(
  config: ProtectionsConfig,
  registry: readonly AnyProtection[],
  name: string,
  enabled: boolean,
  room?: string,
): EditResult {
  return flag(config, registry, name, "enabled", enabled, room);
}

export function setDryRun(
  config: ProtectionsConfig,
  registry: readonly AnyProtection[],
  name: string,
  dryRun: boolean,
  room?: string,
): EditResult {
  return flag(config, registry, name, "dryRun", dryRun, room);
}

/** The setting a command names (case-insensitive) in one protection, or why there is none. */
interface SettingTarget {
  readonly p: AnyProtection;
  readonly spec: SettingSpec;
  /** The setting's name as the protection declares it. */
  readonly key: string;
}

function settingTarget(
  registry: readonly AnyProtection[],
  name: string,
  setting: string,
  room: string | undefined,
): SettingTarget | string {
  const p = lookup(registry, name);
  if (typeof p === "string") return p;
  const roomError = checkRoom(room);
  if (roomError !== null) return roomError;
  const schema = p.settings as SettingsSchema;
  const key = Object.keys(schema).find((k) => k.toLowerCase() === setting.trim().toLowerCase());
  if (key === undefined)
    return `${p.name} has no setting ${JSON.stringify(setting.slice(0, 60))}; settings: ${Object.keys(schema).join(", ")}`;
  return { p, spec: schema[key] as SettingSpec, key };
}

function store(
  config: ProtectionsConfig,
  p: AnyProtection,
  key: string,
  value: StoredValue,
  room?: string,
): ProtectionsConfig {
  const pc = config.protections[p.name] ?? EMPTY_PROTECTION_CONFIG;
  const next =
    room === undefined
      ? { ...pc, settings: { ...pc.settings, [key]: value } }
      : editRoom(pc, room, (ov) => ({ ...ov, settings: { ...ov.settings, [key]: value } }));
  return withProtection(config, p.name, next);
}

/** `protections set <name> <setting> <value> [--room R]`; `raw` is the text typed (or JSON). */
export function setSetting(
  config: ProtectionsConfig,
  registry: readonly AnyProtection[],
  name: string,
  setting: string,
  raw: unknown,
  room?: string,
): EditResult {
  const t = settingTarget(registry, name, setting, room);
  if (typeof t === "string") return { ok: false, error: t };
  const { p, spec, key } = t;
  const r = validateSetting(spec, raw, `${p.name}.${key}`);
  return r.ok ? { ok: true, config: store(config, p, key, r.value, room) } : { ok: false, error: r.error };
}

function editList(
  config: ProtectionsConfig,
  registry: readonly AnyProtection[],
  name: string,
  setting: string,
  item: string,
  add: boolean,
  room?: string,
): EditResult {
  const t = settingTarget(registry, name, setting, room);
  if (typeof t === "string") return { ok: false, error: t };
  const { p, spec, key } = t;
  if (spec.kind !== "stringList" && spec.kind !== "patternList") {
    return { ok: false, error: `${p.name}.${key} is not a list (it is ${describeType(spec)}); use set` };
  }
  const current = (effectiveConfig(config, p, room).stored[key] ?? []) as readonly string[];
  let next: string[];
  if (add) {
    if (current.includes(item))
      return { ok: false, error: `${p.name}.${key} already contains ${JSON.stringify(item)}` };
    next = [...current, item];
  } else {
    if (!current.includes(item))
      return { ok: false, error: `${p.name}.${key} does not contain ${JSON.stringify(item)}` };
    next = current.filter((x) => x !== item);
  }
  const r = validateSetting(spec, next, `${p.name}.${key}`);
  return r.ok ? { ok: true, config: store(config, p, key, r.value, room) } : { ok: false, error: r.error };
}

export function addListItem(
  config: ProtectionsConfig,
  registry: readonly AnyProtection[],
  name: string,
  setting: string,
  item: string,
  room?: string,
): EditResult {
  return editList(config, registry, name, setting, item, true, room);
}

export function removeListItem(
  config: ProtectionsConfig,
  registry: readonly AnyProtection[],
  name: string,
  setting: string,
  item: string,
  room?: string,
): EditResult {
  return editList(config, registry, name, setting, item, false, room);
}

/** Without a room: all global settings back to defaults (enabled/dry-run and room overrides kept).
 *  With a room: drops that room's override entirely. */
export function resetProtection(
  config: ProtectionsConfig,
  registry: readonly AnyProtection[],
  name: string,
  room?: string,
): EditResult {
  const p = lookup(registry, name);
  if (typeof p === "string") return { ok: false, error: p };
  const pc = config.protections[p.name] ?? EMPTY_PROTECTION_CONFIG;
  const next = room === undefined ? { ...pc, settings: {} } : editRoom(pc, room, () => null);
  return { ok: true, config: withProtection(config, p.name, next) };
}

export interface SettingDescription {
  readonly name: string;
  readonly description: string;
  readonly type: string;
  readonly value: string;
  readonly default: string;
  readonly source: SettingSource;
}

export interface ProtectionDescription {
  readonly name: string;
  readonly description: string;
  readonly enabled: boolean;
  readonly dryRun: boolean;
  /** Rooms with an override of any kind. */
  readonly overriddenRooms: readonly string[];
  readonly settings: readonly SettingDescription[];
}

/** Data for `protections show <name> [--room R]`. */
export function describeProtection(
  config: ProtectionsConfig,
  p: AnyProtection,
  room?: string,
): ProtectionDescription {
  const eff = effectiveConfig(config, p, room);
  const settings = Object.entries(p.settings as SettingsSchema).map(([key, spec]) => ({
    name: key,
    description: spec.description,
    type: describeType(spec),
    value: formatValue(spec, eff.stored[key] ?? spec.default),
    default: formatValue(spec, spec.default),
    source: eff.source[key] ?? "default",
  }));
  return {
    name: p.name,
    description: p.description,
    enabled: eff.enabled,
    dryRun: eff.dryRun,
    overriddenRooms: Object.keys((config.protections[p.name] ?? EMPTY_PROTECTION_CONFIG).rooms),
    settings,
  };
}

/** `options` edits: `protections set-option exemptPowerLevel 75` style commands. */
export function setOption(config: ProtectionsConfig, option: string, raw: unknown): EditResult {
  const key = Object.keys(PIPELINE_OPTIONS).find((k) => k.toLowerCase() === option.trim().toLowerCase()) as
    keyof typeof PIPELINE_OPTIONS | undefined;
  if (key === undefined) {
    return {
      ok: false,
      error: `no option ${JSON.stringify(option.slice(0, 60))}; options: ${Object.keys(PIPELINE_OPTIONS).join(", ")}`,
    };
  }
  const r = validateSetting(PIPELINE_OPTIONS[key], raw, `options.${key}`);
  return r.ok
    ? { ok: true, config: { ...config, options: { ...config.options, [key]: r.value } } }
    : { ok: false, error: r.error };
}
