// Rooms that allow no media of some kinds (images, video, audio/voice, files, stickers,
// images inlined in HTML).
import { MEDIA_KINDS } from "../event.ts";
import { defineProtection, redact, warn } from "../framework.ts";
import { boolean, string, stringList } from "../settings.ts";

export const mediaFilter = defineProtection({
  name: "media-filter",
  aliases: ["MessageIsMediaProtection"],
  description:
    "Redacts messages carrying disallowed media: image, video, audio, voice, file, sticker, inlineImage (an <img> in the message HTML). Edits are checked too.",
  settings: {
    blocked: stringList({
      description: "Media kinds that are removed (audio includes voice messages)",
      default: ["image", "video", "sticker", "inlineImage"],
      maxItems: MEDIA_KINDS.length,
      maxItemLength: 16,
      oneOf: MEDIA_KINDS,
    }),
    warn: boolean({ description: "Post a warning in the room after removing", default: false }),
    warnText: string({
      description: "The warning ({user} is replaced by the sender; {media} by the kind)",
      default: "{user}: {media} messages are not allowed in this room.",
      maxLength: 500,
    }),
  },
  createState: () => null,
  onMessage(ev, ctx) {
    const hit = ev.media.find((m) => ctx.settings.blocked.includes(m));
    if (hit === undefined) return [];
    const out = [redact(ctx, ev.eventId, `media-filter: ${hit} is not allowed`)];
    if (ctx.settings.warn) {
      out.push(warn(ctx, ctx.settings.warnText.replaceAll("{user}", ev.sender).replaceAll("{media}", hit)));
    }
    return out;
  },
});
