// The protections enforced at the server (`enforceAtServer`), run on single events a server asks
// about before they exist: the homeserver antispam backend (src/antispam/) and the policy server
// (src/policyserver/) each own one, so live traffic is not counted twice (flooding, first
// message). Join times it did not see live come from the room state cache (first-message and
// similar need them).
import type { BotParts } from "../feature.ts";
import type { BatchMeta, TimelineEvent } from "../router.ts";
import { enforcedAtServer } from "./enforce.ts";
import type { ProtectionsFeature } from "./feature.ts";
import { ProtectionPipeline, type PipelineResult } from "./pipeline.ts";

export class ServerJudge {
  private readonly pipeline: ProtectionPipeline;
  private readonly protections: ProtectionsFeature;
  private readonly isProtected: (room: string) => boolean;

  constructor(
    bot: BotParts,
    protections: ProtectionsFeature,
    rooms: { isProtected: (room: string) => boolean },
  ) {
    this.protections = protections;
    this.isProtected = rooms.isProtected;
    this.pipeline = new ProtectionPipeline({
      botUserId: bot.session.userId,
      protections: protections.protections,
      config: protections.config,
      memberState: bot.state,
    });
    protections.configListeners.push((c) => this.pipeline.setConfig(c));
  }

  /** Runs the protections enforced at the server on `raw` (an event in client or PDU form). */
  judge(raw: unknown, roomId: string, now: number): PipelineResult {
    return this.pipeline.handleRaw(raw, roomId, this.protections.roomContext(roomId), now, (e) =>
      enforcedAtServer(e.settings),
    );
  }

  onTimeline(ev: TimelineEvent, meta: BatchMeta): void {
    if (ev.type !== "m.room.member" || meta.initial || !this.isProtected(ev.roomId)) return;
    this.pipeline.handleRaw(ev.raw, ev.roomId, {}, Date.now(), () => false);
  }

  onLeave(roomId: string): void {
    this.pipeline.forgetRoom(roomId);
  }
}
