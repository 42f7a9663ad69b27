// Who protections never act against: the bot itself, members of the management room, and anyone
// at or above `exemptPowerLevel` in the room. Pure: the caller supplies the room's power levels.

export interface PowerLevels {
  readonly users: ReadonlyMap<string, number>;
  readonly usersDefault: number;
  /** Room version 12+ creators: infinite power, listed only in m.room.create. */
  readonly creators: ReadonlySet<string>;
}

const MAX_LEVEL = Number.MAX_SAFE_INTEGER;

function levelValue(v: unknown): number | null {
  // Old room versions allow levels as strings ("50").
  const n =
    typeof v === "number" ? v : typeof v === "string" && /^-?\d{1,16}$/.test(v.trim()) ? Number(v) : NaN;
  return Number.isInteger(n) ? Math.max(-MAX_LEVEL, Math.min(MAX_LEVEL, n)) : null;
}

/** Reads `m.room.power_levels` content (untrusted) into a lookup. Missing content → spec defaults. */
export function parsePowerLevels(content: unknown, creators: Iterable<string> = []): PowerLevels {
  const users = new Map<string, number>();
  let usersDefault = 0;
  if (typeof content === "object" && content !== null && !Array.isArray(content)) {
    const c = content as Record<string, unknown>;
    usersDefault = levelValue(c["users_default"]) ?? 0;
    const u = c["users"];
    if (typeof u === "object" && u !== null && !Array.isArray(u)) {
      for (const [id, v] of Object.entries(u as Record<string, unknown>)) {
        const l = levelValue(v);
        if (l !== null) users.set(id, l);
      }
    }
  }
  return { users, usersDefault, creators: new Set(creators) };
}

/** Room versions in which creators have infinite power (MSC4289). */
const CREATOR_POWER_VERSIONS = new Set(["12", "org.matrix.hydra.11"]);

/** Creators of a room from its `m.room.create` event, when the room version gives them power. */
export function roomCreators(createEvent: unknown): string[] {
  if (typeof createEvent !== "object" || createEvent === null) return [];
  const ev = createEvent as Record<string, unknown>;
  const content = ev["content"];
  if (typeof content !== "object" || content === null) return [];
  const c = content as Record<string, unknown>;
  const version = typeof c["room_version"] === "string" ? c["room_version"] : "1";
  const numeric = /^\d{1,4}$/.test(version) ? Number(version) : 0;
  if (!CREATOR_POWER_VERSIONS.has(version) && numeric < 12) return [];
  const out: string[] = [];
  if (typeof ev["sender"] === "string") out.push(ev["sender"]);
  const extra = c["additional_creators"];
  if (Array.isArray(extra)) for (const u of extra) if (typeof u === "string") out.push(u);
  return out;
}

export function powerLevelOf(levels: PowerLevels | undefined, user: string): number {
  if (levels === undefined) return 0;
  if (levels.creators.has(user)) return Number.POSITIVE_INFINITY;
  return levels.users.get(user) ?? levels.usersDefault;
}

export interface ExemptionInput {
  readonly user: string;
  readonly botUserId: string;
  readonly managementMembers: ReadonlySet<string>;
  readonly powerLevels?: PowerLevels;
  readonly exemptPowerLevel: number;
}

export function isExempt(i: ExemptionInput): boolean {
  if (i.user === i.botUserId || i.managementMembers.has(i.user)) return true;
  return powerLevelOf(i.powerLevels, i.user) >= i.exemptPowerLevel;
}
