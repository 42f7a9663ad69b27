// Rooms: the protected rooms with their server ACL and its size budget (the `rooms` and `acl`
// replies), and a room's `audit` on request.
import { fragmentHtml, h } from "../html.ts";
import { BASE, layout, type Viewer } from "../layout.ts";
import type { Fragment } from "../../format/fragment.ts";

export function roomsPage(
  v: Viewer,
  data: {
    rooms: Fragment;
    acl: Fragment;
    protectedRooms: readonly string[];
    audit?: { room: string; reply: Fragment };
  },
): string {
  const body = h`<section class="panel reply" aria-labelledby="pr-h"><h2 id="pr-h">Protected rooms</h2>${fragmentHtml(data.rooms)}</section>
<section class="panel reply" aria-labelledby="acl-h"><h2 id="acl-h">Server ACL and its size budget</h2>${fragmentHtml(data.acl)}</section>
<section class="panel" aria-labelledby="audit-h"><h2 id="audit-h">Audit a room</h2>
<form method="get" action="${BASE}/rooms" class="row">
<div><label for="audit-room">Room</label><select id="audit-room" name="audit">${data.protectedRooms.map((r) => h`<option${r === data.audit?.room ? h` selected` : ""}>${r}</option>`)}</select></div>
<button type="submit">Audit</button>
</form>
${data.audit ? h`<div class="reply">${fragmentHtml(data.audit.reply)}</div>` : ""}
</section>`;
  return layout(v, "Rooms", body);
}
