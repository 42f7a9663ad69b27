// Protections: the `protections` overview, one protection's settings (`protections show`), and
// forms that run `protections enable|disable|dryrun|set` (validation messages come back from
// the command, as in chat).
import { fragmentHtml, h, href } from "../html.ts";
import { BASE, csrfField, layout, type Flash, type Viewer } from "../layout.ts";
import type { Fragment } from "../../format/fragment.ts";

export function protectionsPage(
  v: Viewer,
  data: {
    names: readonly string[];
    overview: Fragment;
    shown?: { name: string; reply: Fragment };
    rooms: readonly string[];
    flash?: Flash;
  },
): string {
  const options = (selected?: string) =>
    data.names.map((n) => h`<option${n === selected ? h` selected` : ""}>${n}</option>`);
  const roomField = (id: string) =>
    h`<div><label for="${id}">Room (optional: default everywhere)</label><select id="${id}" name="room"><option value="">all protected rooms</option>${data.rooms.map((r) => h`<option>${r}</option>`)}</select></div>`;
  const sel = data.shown?.name;
  const body = h`<section class="panel" aria-labelledby="sw-h"><h2 id="sw-h">Switch a protection</h2>
<form method="post" action="${BASE}/protections">${csrfField(v)}
<div class="row">
<div><label for="sw-name">Protection</label><select id="sw-name" name="protection">${options(sel)}</select></div>
${roomField("sw-room")}
</div>
<p class="row"><button type="submit" name="action" value="enable" class="fit">Enable</button>
<button type="submit" name="action" value="disable" class="fit secondary">Disable</button>
<button type="submit" name="action" value="dryrun-on" class="fit secondary">Dry-run on</button>
<button type="submit" name="action" value="dryrun-off" class="fit secondary">Dry-run off</button></p>
</form></section>
<section class="panel" aria-labelledby="set-h"><h2 id="set-h">Change a setting</h2>
<form method="post" action="${BASE}/protections">${csrfField(v)}<input type="hidden" name="action" value="set">
<div class="row">
<div><label for="set-name">Protection</label><select id="set-name" name="protection">${options(sel)}</select></div>
<div><label for="set-key">Setting</label><input id="set-key" name="setting" type="text" required placeholder="maxMessages"></div>
<div><label for="set-value">Value</label><input id="set-value" name="value" type="text" required placeholder="5"></div>
${roomField("set-room")}
</div>
<p><button type="submit">Save setting</button></p>
</form></section>
${
  data.shown
    ? h`<section class="panel reply" aria-labelledby="show-h"><h2 id="show-h">Settings of ${data.shown.name}</h2>${fragmentHtml(data.shown.reply)}</section>`
    : ""
}
<h2>All protections</h2>
<p>Show the settings of: ${data.names.map((n) => h`<a href="${href(`${BASE}/protections`, { show: n })}">${n}</a> `)}</p>
<section class="panel reply">${fragmentHtml(data.overview)}</section>`;
  return layout(v, "Protections", body, data.flash);
}
