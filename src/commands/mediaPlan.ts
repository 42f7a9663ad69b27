// Pure parts of `media quarantine`: what the moderator named (an upload, a local account, a room)
// and what the confirmation of the wide forms says.
import { blocks, code, fmt, heading, text, type Fragment } from "../format/fragment.ts";
import type { MediaTarget } from "../matrix/mediaAdmin.ts";
import { parseRoomId, parseUserId } from "./framework/matrix-ids.ts";

/** Synapse's media IDs (and the spec's) are URL-safe: nothing else is accepted. */
const MEDIA_ID = /^[A-Za-z0-9_-]{1,255}$/;
const SERVER = /^[A-Za-z0-9.:[\]-]{1,255}$/;

/** `mxc://server/id`, `@user:server` or `!room:server` (an alias is resolved before this). */
export function parseMediaTarget(s: string): MediaTarget | { error: string } {
  if (s.startsWith("mxc://")) {
    const [server = "", mediaId = "", ...more] = s.slice("mxc://".length).split("/");
    if (!SERVER.test(server) || !MEDIA_ID.test(mediaId) || more.length > 0)
      return { error: `${s} is not an mxc URI of the form mxc://<server>/<media id>` };
    return { scope: "media", id: s };
  }
  const parsed = s.startsWith("@") ? parseUserId(s) : s.startsWith("!") ? parseRoomId(s) : undefined;
  if (parsed === undefined) return { error: `${s} is not an mxc URI, a user ID or a room` };
  if (!parsed.ok) return { error: parsed.error };
  return { scope: s.startsWith("@") ? "user" : "room", id: parsed.value };
}

/** What the moderator confirms before a wide quarantine (`count`: what the server lists now). */
export function quarantinePreview(
  t: MediaTarget,
  count: { local: number; remote?: number } | undefined,
  opts: { server: string; reason?: string | undefined },
): Fragment {
  const what =
    t.scope === "user"
      ? fmt`every file ${code(t.id)} uploaded to ${code(opts.server)}${count ? ` (${count.local} now)` : ""}`
      : fmt`every file the room ${code(t.id)} refers to${count ? ` (${count.local} uploaded here, ${count.remote ?? 0} from other servers)` : ""}`;
  return blocks(
    heading(4, fmt`Quarantine ${what}?`),
    text(
      `Quarantined media is no longer served by ${opts.server} to anyone, its uploaders included. Synapse's admin API can lift a quarantine file by file.`,
    ),
    opts.reason ? fmt`Reason (kept in Tyr's action log): ${opts.reason}` : false,
  );
}
