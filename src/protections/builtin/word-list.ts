// Moderators' word list: literal text or /regex/flags, matched with re2js (linear time) against
// the body, the visible HTML text and edits — and against a folded form (case, width,
// diacritics, invisible characters) so trivial obfuscation doesn't slip through.
import type { Consequence } from "../../consequences/types.ts";
import { ban, defineProtection, kick, redact, warn } from "../framework.ts";
import { boolean, duration, oneOf, patternList, string } from "../settings.ts";
import { foldForMatching } from "../text.ts";

export const wordList = defineProtection({
  name: "word-list",
  aliases: ["WordList", "WordListProtection"],
  description:
    "Acts on messages (and edits) matching any pattern: literal text (case-insensitive) or /regex/flags, evaluated in linear time. Optionally only for new members.",
  settings: {
    patterns: patternList({
      description: "Literal text or /regex/flags (flags: i, m, s)",
      default: [],
      maxItems: 1000,
      maxItemLength: 500,
    }),
    action: oneOf({
      description: "What happens on a match (the message is always redacted)",
      values: ["redact", "redact+warn", "kick", "ban"],
      default: "redact",
    }),
    newMembersOnly: boolean({
      description: "Only check members who joined within newMemberWindow",
      default: false,
    }),
    newMemberWindow: duration({
      description: "How long after joining a member counts as new",
      default: 3_600_000,
      min: 60_000,
      max: 30 * 86_400_000,
    }),
    matchFolded: boolean({
      description:
        "Also match a folded copy of the text (lower case, NFKC, no diacritics or invisible characters)",
      default: true,
    }),
    warnText: string({
      description: "The warning for redact+warn ({user} is replaced by the sender)",
      default: "{user}: your message was removed because it matched this room's word list.",
      maxLength: 500,
    }),
  },
  createState: () => null,
  onMessage(ev, ctx) {
    const s = ctx.settings;
    if (s.patterns.size === 0) return [];
    if (s.newMembersOnly) {
      const joined = ctx.joinedAt(ev.sender);
      if (joined === undefined || ctx.now - joined > s.newMemberWindow) return [];
    }
    let hit = s.patterns.firstMatch(ev.body);
    if (hit === null && ev.htmlText.length > 0 && ev.htmlText !== ev.body)
      hit = s.patterns.firstMatch(ev.htmlText);
    if (hit === null && s.matchFolded) {
      const folded = foldForMatching(ev.body);
      if (folded !== ev.body) hit = s.patterns.firstMatch(folded);
      if (hit === null && ev.htmlText.length > 0) {
        const foldedHtml = foldForMatching(ev.htmlText);
        if (foldedHtml !== folded) hit = s.patterns.firstMatch(foldedHtml);
      }
    }
    if (hit === null) return [];
    const reason = `word-list: matched ${JSON.stringify(hit.length > 60 ? hit.slice(0, 60) + "…" : hit)}`;
    const out: Consequence[] = [redact(ctx, ev.eventId, reason)];
    if (s.action === "redact+warn") out.push(warn(ctx, s.warnText.replaceAll("{user}", ev.sender)));
    else if (s.action === "kick") out.push(kick(ctx, ev.sender, reason));
    else if (s.action === "ban") out.push(ban(ctx, ev.sender, reason));
    return out;
  },
});
