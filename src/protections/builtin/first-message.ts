// A new member whose first message is media or a link: the classic join-and-spam pattern.
import { MEDIA_KINDS } from "../event.ts";
import { ban, defineProtection, redact } from "../framework.ts";
import { Lru } from "../lru.ts";
import { boolean, duration, formatDuration, stringList } from "../settings.ts";

interface FirstMessage {
  readonly joinedAt: number;
  readonly eventId: string;
}

const MAX_USERS = 20_000;

export const firstMessage = defineProtection({
  name: "first-message",
  aliases: ["FirstMessageIsImageProtection"],
  description:
    "Redacts (and optionally bans) a new member whose first message after joining is media or contains a link, including an edit of that first message.",
  settings: {
    window: duration({
      description: "How long after joining a member counts as new",
      default: 3_600_000,
      min: 60_000,
      max: 30 * 86_400_000,
    }),
    mediaTypes: stringList({
      description: "Media that may not be a first message",
      default: ["image", "video", "file", "sticker", "inlineImage"],
      maxItems: MEDIA_KINDS.length,
      maxItemLength: 16,
      oneOf: MEDIA_KINDS,
    }),
    links: boolean({ description: "A link may not be a first message", default: true }),
    ban: boolean({ description: "Also ban the member", default: false }),
  },
  createState: () => new Lru<string, FirstMessage>(MAX_USERS),
  onMessage(ev, ctx) {
    const joined = ctx.joinedAt(ev.sender);
    if (joined === undefined || ctx.now - joined > ctx.settings.window) return [];
    const seen = ctx.state.get(ev.sender);
    if (seen === undefined || seen.joinedAt !== joined) {
      ctx.state.set(ev.sender, { joinedAt: joined, eventId: ev.eventId });
    } else if (!(ev.isEdit && ev.editOf === seen.eventId)) {
      return []; // not the first message, nor an edit turning the first message into spam
    }
    const media = ev.media.filter((m) => ctx.settings.mediaTypes.includes(m));
    const what =
      media.length > 0 ? media.join("/") : ctx.settings.links && ev.links.length > 0 ? "a link" : null;
    if (what === null) return [];
    const reason = `first-message: first message within ${formatDuration(ctx.settings.window)} of joining is ${what}`;
    const out = [redact(ctx, ev.eventId, reason)];
    if (ctx.settings.ban) out.push(ban(ctx, ev.sender, reason));
    return out;
  },
});
