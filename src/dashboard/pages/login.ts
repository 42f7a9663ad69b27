// The login page: confirm a one-time link (a POST, so chat clients that preview links cannot use
// it up), or "log in with Matrix" (the script asks the moderator's homeserver for an OpenID token
// in the browser; Tyr sees only that token). Pure.
import { h } from "../html.ts";
import { BASE, layout, type Flash } from "../layout.ts";

export function loginPage(opts: {
  prefix: string;
  flash?: Flash;
  link?: { token: string; user: string };
}): string {
  const link = opts.link
    ? h`<section class="panel" aria-labelledby="link-h">
<h2 id="link-h">Log in with your link</h2>
<form method="post" action="${BASE}/login/link">
<input type="hidden" name="token" value="${opts.link.token}">
<p>This one-time link logs you in as <strong>${opts.link.user}</strong>.</p>
<button type="submit">Log in as ${opts.link.user}</button>
</form>
</section>`
    : h``;
  const body = h`${link}
<section class="panel" aria-labelledby="chat-h">
<h2 id="chat-h">Log in from the management room</h2>
<p>Send <code>${opts.prefix} dashboard</code> in Tyr's management room: Tyr answers you with a link that logs you in once, within five minutes.</p>
</section>
<section class="panel" aria-labelledby="mx-h">
<h2 id="mx-h">Log in with Matrix</h2>
<p>Your browser asks your own homeserver for a short-lived OpenID token and hands Tyr only that token: your password and access token never reach Tyr. Needs JavaScript.</p>
<form id="matrix-login" novalidate>
<div class="row">
<div><label for="mx-user">Matrix ID</label><input id="mx-user" name="user" type="text" autocomplete="username" placeholder="@you:example.org" required></div>
<div><label for="mx-pass">Password</label><input id="mx-pass" name="password" type="password" autocomplete="current-password"></div>
</div>
<details><summary>Other options</summary>
<div class="row">
<div><label for="mx-hs">Homeserver URL (when your server has no .well-known)</label><input id="mx-hs" name="homeserver" type="text" placeholder="https://matrix.example.org"></div>
<div><label for="mx-token">Or an access token instead of the password</label><input id="mx-token" name="accessToken" type="password" autocomplete="off"></div>
</div>
</details>
<p><button type="submit">Log in with Matrix</button></p>
<p id="matrix-status" role="status" aria-live="polite"></p>
</form>
<form id="openid-form" method="post" action="${BASE}/login/matrix" hidden>
<input type="hidden" name="openid_token"><input type="hidden" name="server_name">
</form>
</section>`;
  return layout(undefined, "Log in", body, opts.flash);
}
