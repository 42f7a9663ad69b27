// Your dashboard sessions, with revoke. Pure.
import { h, when } from "../html.ts";
import { BASE, csrfField, layout, type Flash, type Viewer } from "../layout.ts";
import type { SessionInfo } from "../secrets.ts";

export function sessionsPage(
  v: Viewer,
  data: { sessions: readonly SessionInfo[]; current: string; flash?: Flash },
): string {
  const rows = data.sessions.map(
    (s) => h`<tr>
<td data-label="Started">${when(s.created)}${s.handle === data.current ? h` <strong>(this one)</strong>` : ""}</td>
<td data-label="Last used">${when(s.lastSeen)}</td>
<td data-label="Ends">${when(s.expires)}</td>
<td data-label="Login">${s.method}</td>
<td data-label="Browser">${s.userAgent}</td>
<td data-label="Revoke"><form method="post" action="${BASE}/sessions/revoke" class="inline">${csrfField(v)}<input type="hidden" name="session" value="${s.handle}"><button type="submit" class="danger" aria-label="Revoke the session started ${when(s.created)}">Revoke</button></form></td>
</tr>`,
  );
  const body = h`<p>Your sessions in this dashboard. A session ends when you log out or revoke it, when it expires, when Tyr restarts, or when you lose your power level in the management room.</p>
<div class="table-wrap"><table class="stack"><thead><tr><th scope="col">Started</th><th scope="col">Last used</th><th scope="col">Ends</th><th scope="col">Login</th><th scope="col">Browser</th><th scope="col"><span class="skip">Revoke</span></th></tr></thead>
<tbody>${rows}</tbody></table></div>`;
  return layout(v, "Sessions", body, data.flash);
}
