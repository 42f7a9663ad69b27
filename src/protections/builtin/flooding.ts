// Too many messages from one user in a short time: redact the excess, and after repeated
// excess within a longer window, mute or ban.
import { ban, defineProtection, mute, redact } from "../framework.ts";
import { Lru, TimeWindow } from "../lru.ts";
import { boolean, duration, formatDuration, integer, oneOf } from "../settings.ts";

interface UserState {
  messages: TimeWindow;
  infractions: TimeWindow;
  sanctionedAt: number;
}

const MAX_USERS = 10_000;

export const flooding = defineProtection({
  name: "flooding",
  aliases: ["BasicFloodingProtection"],
  description:
    "Redacts messages beyond maxMessages per window from one user; after maxInfractions such messages within infractionWindow, mutes or bans them.",
  settings: {
    maxMessages: integer({
      description: "Messages one user may send within the window",
      default: 10,
      min: 1,
      max: 1000,
    }),
    window: duration({
      description: "Length of the sliding window",
      default: 60_000,
      min: 1000,
      max: 3_600_000,
    }),
    redactExcess: boolean({ description: "Redact each message over the limit", default: true }),
    maxInfractions: integer({
      description: "Messages over the limit (within infractionWindow) before the sanction",
      default: 3,
      min: 1,
      max: 1000,
    }),
    infractionWindow: duration({
      description: "Window in which messages over the limit add up",
      default: 600_000,
      min: 10_000,
      max: 86_400_000,
    }),
    sanction: oneOf({
      description: "What happens after maxInfractions",
      values: ["mute", "ban", "none"],
      default: "mute",
    }),
    muteDuration: duration({
      description: "How long a mute lasts",
      default: 3_600_000,
      min: 60_000,
      max: 30 * 86_400_000,
    }),
  },
  createState: () => new Lru<string, UserState>(MAX_USERS),
  onMessage(ev, ctx) {
    const s = ctx.settings;
    let u = ctx.state.get(ev.sender);
    // Settings may have changed since the windows were sized: start over rather than misjudge.
    if (
      u === undefined ||
      u.messages.capacity !== s.maxMessages + 1 ||
      u.infractions.capacity !== s.maxInfractions
    ) {
      u = {
        messages: new TimeWindow(s.maxMessages + 1),
        infractions: new TimeWindow(s.maxInfractions),
        sanctionedAt: Number.NEGATIVE_INFINITY,
      };
      ctx.state.set(ev.sender, u);
    }
    u.messages.push(ctx.now);
    if (u.messages.countAfter(ctx.now - s.window) <= s.maxMessages) return [];
    const why = `flooding: more than ${s.maxMessages} messages in ${formatDuration(s.window)}`;
    const out = s.redactExcess ? [redact(ctx, ev.eventId, why)] : [];
    u.infractions.push(ctx.now);
    const repeated = u.infractions.countAfter(ctx.now - s.infractionWindow) >= s.maxInfractions;
    // One sanction per infraction window: in-flight messages after a mute must not re-mute.
    if (s.sanction !== "none" && repeated && u.sanctionedAt <= ctx.now - s.infractionWindow) {
      u.sanctionedAt = ctx.now;
      const reason = `${why}, ${s.maxInfractions} times`;
      out.push(
        s.sanction === "ban" ? ban(ctx, ev.sender, reason) : mute(ctx, ev.sender, s.muteDuration, reason),
      );
    }
    return out;
  },
});
