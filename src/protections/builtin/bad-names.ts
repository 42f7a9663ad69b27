// Display names and avatars that match moderators' patterns, or that imitate a protected name
// (moderators' display names supplied by the caller, plus a configured list) once case, width,
// diacritics, invisible characters and common look-alike letters are folded away.
import { ban, defineProtection, kick } from "../framework.ts";
import { Lru } from "../lru.ts";
import { boolean, integer, oneOf, patternList, stringList } from "../settings.ts";
import { confusableSkeleton, foldForMatching } from "../text.ts";

const MAX_CACHED_SKELETONS = 2_000;

export const badNames = defineProtection({
  name: "bad-names",
  description:
    "Kicks or bans members whose display name or avatar URL matches a pattern, or whose display name imitates a protected name (moderators' names and protectedNames).",
  settings: {
    namePatterns: patternList({
      description: "Display-name patterns: literal text (case-insensitive) or /regex/flags",
      default: [],
      maxItems: 1000,
      maxItemLength: 500,
    }),
    avatarPatterns: patternList({
      description: "Avatar URL patterns (e.g. mxc://spam.example/)",
      default: [],
      maxItems: 1000,
      maxItemLength: 500,
    }),
    impersonation: boolean({ description: "Act on names that look like a protected name", default: true }),
    protectedNames: stringList({
      description: "Names to protect in addition to the moderators' display names",
      default: [],
      maxItems: 500,
      maxItemLength: 256,
    }),
    minNameLength: integer({
      description: "Protected names shorter than this (after folding) are not checked for imitation",
      default: 3,
      min: 1,
      max: 256,
    }),
    action: oneOf({
      description: "What happens to a matching member",
      values: ["kick", "ban"],
      default: "kick",
    }),
  },
  createState: () => new Lru<string, string>(MAX_CACHED_SKELETONS),
  onMembership(ev, ctx) {
    if (ev.membership !== "join") return [];
    const changed =
      ev.prevMembership !== "join" ||
      ev.displayname !== ev.prevDisplayname ||
      ev.avatarUrl !== ev.prevAvatarUrl;
    if (!changed) return [];
    const s = ctx.settings;
    let why: string | null = null;
    const name = ev.displayname;
    if (name !== null && s.namePatterns.size > 0) {
      const hit = s.namePatterns.firstMatch(name) ?? s.namePatterns.firstMatch(foldForMatching(name));
      if (hit !== null) why = `display name matches ${JSON.stringify(hit.slice(0, 60))}`;
    }
    if (why === null && ev.avatarUrl !== null && s.avatarPatterns.size > 0) {
      const hit = s.avatarPatterns.firstMatch(ev.avatarUrl);
      if (hit !== null) why = `avatar matches ${JSON.stringify(hit.slice(0, 60))}`;
    }
    if (why === null && name !== null && s.impersonation) {
      const skeleton = confusableSkeleton(name);
      const skeletonOf = (n: string) => ctx.state.getOrCreate(n, () => confusableSkeleton(n));
      for (const candidate of [...(ctx.roomInfo.protectedNames ?? []), ...s.protectedNames]) {
        const target = skeletonOf(candidate);
        if (target.length >= s.minNameLength && target === skeleton) {
          why = `display name imitates ${JSON.stringify(candidate.slice(0, 60))}`;
          break;
        }
      }
    }
    if (why === null) return [];
    const reason = `bad-names: ${why}`;
    return [s.action === "ban" ? ban(ctx, ev.user, reason) : kick(ctx, ev.user, reason)];
  },
});
