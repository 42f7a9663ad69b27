// A user joining and leaving over and over (notification spam, evading moderation): kick, and
// ban if they keep at it after a kick.
import { ban, defineProtection, kick } from "../framework.ts";
import { Lru, TimeWindow } from "../lru.ts";
import { boolean, duration, formatDuration, integer } from "../settings.ts";

interface ChurnState {
  joins: TimeWindow;
  kickedAt: number;
}

const MAX_USERS = 20_000;

export const membershipChurn = defineProtection({
  name: "membership-churn",
  description:
    "Kicks a user who joins more than maxJoins times within window (leaving in between); bans them if it happens again within repeatWindow of the kick.",
  settings: {
    maxJoins: integer({
      description: "Joins by one user allowed within the window",
      default: 3,
      min: 1,
      max: 1000,
    }),
    window: duration({
      description: "Length of the sliding window",
      default: 600_000,
      min: 10_000,
      max: 7 * 86_400_000,
    }),
    banOnRepeat: boolean({ description: "Ban when it happens again after a kick", default: true }),
    repeatWindow: duration({
      description: "How long a kick is remembered",
      default: 86_400_000,
      min: 60_000,
      max: 30 * 86_400_000,
    }),
  },
  createState: () => new Lru<string, ChurnState>(MAX_USERS),
  onMembership(ev, ctx) {
    // Only the user's own joins: invites, kicks and bans by others are not churn.
    if (ev.sender !== ev.user || ev.membership !== "join" || ev.prevMembership === "join") return [];
    const s = ctx.settings;
    let u = ctx.state.get(ev.user);
    if (u === undefined || u.joins.capacity !== s.maxJoins + 1) {
      u = { joins: new TimeWindow(s.maxJoins + 1), kickedAt: u?.kickedAt ?? Number.NEGATIVE_INFINITY };
      ctx.state.set(ev.user, u);
    }
    u.joins.push(ctx.now);
    if (u.joins.countAfter(ctx.now - s.window) <= s.maxJoins) return [];
    u.joins.clear();
    const reason = `membership-churn: joined more than ${s.maxJoins} times in ${formatDuration(s.window)}`;
    if (s.banOnRepeat && ctx.now - u.kickedAt < s.repeatWindow) {
      return [ban(ctx, ev.user, `${reason}, again after a kick`)];
    }
    u.kickedAt = ctx.now;
    return [kick(ctx, ev.user, reason)];
  },
});
