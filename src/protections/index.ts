// Public surface of the protections core (pure: no network).
export * from "./config.ts";
export { normaliseEvent, userIdFromPermalink, MEDIA_KINDS, MAX_ANALYSED_CHARS } from "./event.ts";
export type {
  MediaKind,
  Membership,
  MembershipChange,
  NormaliseResult,
  ProtectionEvent,
  Reaction,
  RoomMessage,
} from "./event.ts";
export { isExempt, parsePowerLevels, powerLevelOf, roomCreators, type PowerLevels } from "./exemptions.ts";
export * from "./framework.ts";
export { compilePattern, compilePatternList, type PatternList } from "./patterns.ts";
export * from "./pipeline.ts";
export { BUILTIN_PROTECTIONS } from "./registry.ts";
export * from "./settings.ts";
