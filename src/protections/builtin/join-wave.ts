// A sudden wave of joins (a raid) → close the room to invite-only and tell the moderators;
// optionally reopen it after a cool-down (via onTick).
import type { Consequence } from "../../consequences/types.ts";
import { defineProtection, notify, setJoinRule } from "../framework.ts";
import { TimeWindow } from "../lru.ts";
import { duration, formatDuration, integer } from "../settings.ts";

interface WaveState {
  joins: TimeWindow;
  /** While now < lockedUntil the room is considered locked down and joins aren't counted. */
  lockedUntil: number;
  /** Join rule to restore when the lockdown ends; null when it must be restored by hand. */
  restoreTo: "public" | "knock" | null;
}

export const joinWave = defineProtection({
  name: "join-wave",
  aliases: ["JoinWaveShortCircuit", "JoinWaveShortCircuitProtection"],
  description:
    "When more than maxJoins users join a room within window, sets its join rule to invite and tells the moderators; restores the previous rule after restoreAfter (0 = never).",
  settings: {
    maxJoins: integer({ description: "Joins allowed within the window", default: 30, min: 1, max: 100_000 }),
    window: duration({
      description: "Length of the sliding window",
      default: 300_000,
      min: 10_000,
      max: 86_400_000,
    }),
    restoreAfter: duration({
      description: "Reopen the room after this long (0 = leave it invite-only)",
      default: 1_800_000,
      min: 0,
      max: 7 * 86_400_000,
    }),
  },
  createState: (): WaveState => ({
    joins: new TimeWindow(1),
    lockedUntil: Number.NEGATIVE_INFINITY,
    restoreTo: null,
  }),
  onMembership(ev, ctx) {
    if (ev.membership !== "join" || ev.prevMembership === "join") return [];
    const s = ctx.settings;
    const st = ctx.state;
    if (ctx.now < st.lockedUntil) return [];
    if (st.joins.capacity !== s.maxJoins + 1) st.joins = new TimeWindow(s.maxJoins + 1);
    st.joins.push(ctx.now);
    if (st.joins.countAfter(ctx.now - s.window) <= s.maxJoins) return [];

    const current = ctx.roomInfo.joinRule;
    // Only rules a setJoinRule consequence can express are restored automatically; restricted
    // rooms need their allow list, which is the moderators' call.
    st.restoreTo =
      current === "knock" ? "knock" : current === undefined || current === "public" ? "public" : null;
    const auto = s.restoreAfter > 0 && st.restoreTo !== null;
    st.lockedUntil = ctx.now + (auto ? s.restoreAfter : s.window);
    if (!auto) st.restoreTo = null;
    st.joins.clear();
    const why = `join-wave: more than ${s.maxJoins} joins in ${formatDuration(s.window)}`;
    const then = auto
      ? `it will be reopened (${st.restoreTo}) in ${formatDuration(s.restoreAfter)}`
      : "reopen it by hand when the wave is over";
    return [
      setJoinRule(ctx, "invite", why),
      notify(ctx, `${why} in ${ctx.room}: the room is now invite-only; ${then}.`),
    ];
  },
  onTick(ctx): Consequence[] {
    const st = ctx.state;
    if (st.restoreTo === null || ctx.now < st.lockedUntil) return [];
    const rule = st.restoreTo;
    st.restoreTo = null;
    return [
      setJoinRule(ctx, rule, "join-wave: cool-down over"),
      notify(ctx, `join-wave: cool-down over in ${ctx.room}; join rule restored to ${rule}.`),
    ];
  },
});
