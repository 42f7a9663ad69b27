// Mass mentions (pinging many users at once) are a favourite of spam waves: count every user a
// message mentions — m.mentions, HTML pills and IDs written in the text, edits included.
import { ban, defineProtection, redact, warn } from "../framework.ts";
import { Lru, TimeWindow } from "../lru.ts";
import { boolean, duration, integer, string } from "../settings.ts";

const MAX_USERS = 10_000;

export const mentionSpam = defineProtection({
  name: "mention-spam",
  aliases: ["MentionLimitProtection"],
  description:
    "Redacts messages (and edits) mentioning more than maxMentions distinct users and warns the sender; bans on a repeat within repeatWindow.",
  settings: {
    maxMentions: integer({
      description: "Distinct users one message may mention",
      default: 10,
      min: 1,
      max: 1000,
    }),
    warn: boolean({ description: "Warn the sender in the room", default: true }),
    warnText: string({
      description: "The warning ({user} is replaced by the sender)",
      default: "{user}: please don't mention that many people at once.",
      maxLength: 500,
    }),
    banOnRepeat: boolean({ description: "Ban on a second offence within repeatWindow", default: true }),
    repeatWindow: duration({
      description: "How long an offence is remembered",
      default: 3_600_000,
      min: 60_000,
      max: 30 * 86_400_000,
    }),
  },
  createState: () => new Lru<string, TimeWindow>(MAX_USERS),
  onMessage(ev, ctx) {
    const s = ctx.settings;
    const n = ev.mentioned.length;
    if (n <= s.maxMentions) return [];
    const reason = `mention-spam: ${n >= 1000 ? "1000+" : n} users mentioned (limit ${s.maxMentions})`;
    const offences = ctx.state.getOrCreate(ev.sender, () => new TimeWindow(2));
    const repeat = offences.countAfter(ctx.now - s.repeatWindow) >= 1;
    offences.push(ctx.now);
    const out = [redact(ctx, ev.eventId, reason)];
    if (s.banOnRepeat && repeat) out.push(ban(ctx, ev.sender, `${reason}, repeatedly`));
    else if (s.warn) out.push(warn(ctx, s.warnText.replaceAll("{user}", ev.sender)));
    return out;
  },
});
