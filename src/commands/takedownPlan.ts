// Pure parts of `room takedown` / `room status`: what the preview says, and how block and
// deletion progress read (which rooms Tyr refuses: policy/roomTakedowns.ts).
import { blocks, code, fmt, heading, join, text, type Fragment } from "../format/fragment.ts";
import type { DeleteStatus, RoomDetails } from "../matrix/roomAdmin.ts";

/** Members of the room on `server` (user IDs end in `:server`). */
export function localMembers(members: readonly string[], server: string): string[] {
  const suffix = `:${server.toLowerCase()}`;
  return members.filter((m) => m.toLowerCase().endsWith(suffix));
}

const SHOWN_MEMBERS = 20;

/** What the moderator confirms: the room as the server knows it (undefined when it does not),
 *  and what will happen. */
export function takedownPreview(
  roomId: string,
  details: RoomDetails | undefined,
  local: readonly string[],
  opts: { purge: boolean; reason?: string | undefined; server: string },
): Fragment {
  const label = details?.canonicalAlias ?? roomId;
  const shown = local.slice(0, SHOWN_MEMBERS).map((m) => code(m));
  const more = local.length > SHOWN_MEMBERS ? ` and ${local.length - SHOWN_MEMBERS} more` : "";
  return blocks(
    heading(4, fmt`Take down ${code(label)}${opts.purge ? " and purge it" : ""}?`),
    details
      ? fmt`${details.name !== undefined ? `“${details.name}”, ` : ""}${code(roomId)}: ${details.joinedMembers} members, ${details.joinedLocalMembers} of them on ${code(opts.server)}.`
      : fmt`${code(opts.server)} does not know ${code(roomId)}; it will only be blocked, so nobody here can join it.`,
    shown.length > 0 ? fmt`Local members to be removed: ${join(shown)}${more}` : false,
    text(
      `The room is blocked on ${opts.server}: its local members are removed and no local account can join it again.${opts.purge ? " Purge: its history is deleted from the server's database; this cannot be undone." : " Its history stays in the database (add --purge to delete it)."}`,
    ),
    opts.reason
      ? fmt`Reason (shown to the removed members, kept in Tyr's action log): ${opts.reason}`
      : false,
  );
}

/** The answer to `room status`. */
export function takedownStatus(
  roomId: string,
  block: { block: boolean; by?: string | undefined },
  deletions: readonly DeleteStatus[],
): Fragment {
  const blocked = block.block
    ? fmt`${code(roomId)} is blocked on this server${block.by ? fmt` (by ${code(block.by)})` : ""}: no local account can join it.`
    : fmt`${code(roomId)} is not blocked on this server.`;
  const lines = deletions.map((d) => {
    const kicked = d.kickedUsers.length;
    const failed = d.failedToKickUsers.length;
    return fmt`Deletion ${code(d.deleteId)}: ${d.status}${d.error ? ` (${d.error})` : ""}, ${kicked} local member${kicked === 1 ? "" : "s"} removed${failed ? `, ${failed} could not be removed` : ""}.`;
  });
  return blocks(
    blocked,
    ...(lines.length > 0 ? lines : [text("No deletion of it that the server still remembers.")]),
  );
}
