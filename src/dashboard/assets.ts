// The dashboard's only stylesheet and script, served by Tyr itself (no CDN; the CSP allows
// nothing else). The pages work without the script; it adds the "log in with Matrix" exchange
// (which needs the browser to talk to the moderator's homeserver) and small conveniences.

export const CSS = `
:root { --fg: #1a1a1a; --bg: #fff; --muted: #555; --line: #ccc; --accent: #0b57d0; --bad: #a50e0e;
  --ok: #146c2e; --panel: #f4f6f8; --mod: #0b57d0; --pol: #7b1fa2; --prot: #b3261e; --sys: #5f6368; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
a:focus, button:focus, input:focus, select:focus, textarea:focus { outline: 3px solid #f9ab00; outline-offset: 1px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 8px; top: 8px; background: var(--bg); padding: 4px 8px; z-index: 2; }
header { background: #202124; color: #fff; padding: 8px 16px; display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; }
header .brand { font-weight: 700; color: #fff; text-decoration: none; }
nav ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 12px; }
nav a { color: #e8eaed; text-decoration: none; padding: 2px 4px; }
nav a[aria-current="page"] { color: #fff; border-bottom: 2px solid #8ab4f8; }
header form { margin-left: auto; }
header .muted { color: #e8eaed; }
main { max-width: 1200px; margin: 0 auto; padding: 16px; overflow-wrap: anywhere; }
h1 { font-size: 1.5rem; margin: 0 0 12px; }
h2 { font-size: 1.2rem; margin: 24px 0 8px; }
.panel > h2:first-child, .panel > h4:first-child { margin-top: 0; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 12px; margin: 12px 0; overflow-x: auto; }
.flash { border-left: 4px solid var(--ok); background: #e6f4ea; padding: 8px 12px; margin: 12px 0; }
.flash.error { border-color: var(--bad); background: #fce8e6; }
form.filters { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 8px 12px; align-items: end; }
label { display: block; font-weight: 600; font-size: .9rem; }
input, select, textarea, button { font: inherit; max-width: 100%; }
input[type=text], input[type=password], input[type=search], input[type=datetime-local], select, textarea { width: 100%; padding: 6px 8px; border: 1px solid #767676; border-radius: 4px; background: #fff; color: var(--fg); }
button { padding: 6px 14px; border: 1px solid var(--accent); border-radius: 4px; background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
.inline { display: inline; }
.row { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; }
.row > * { flex: 1 1 180px; }
.row > button, .row > .fit { flex: 0 0 auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); }
td code, li code { overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; }
.muted { color: var(--muted); }
.pager { display: flex; gap: 12px; margin: 12px 0; }
.outcome-failed, .outcome-skipped { color: var(--bad); font-weight: 600; }
.chart svg { width: 100%; height: auto; background: #fff; border: 1px solid var(--line); }
.chart .axis { stroke: #767676; }
.chart .tick { font-size: 12px; fill: var(--muted); }
.c-mod { fill: var(--mod); } .c-pol { fill: var(--pol); } .c-prot { fill: var(--prot); } .c-sys { fill: var(--sys); }
.key::before { content: ""; display: inline-block; width: .8em; height: .8em; margin: 0 4px 0 8px; vertical-align: middle; }
.key.c-mod::before { background: var(--mod); } .key.c-pol::before { background: var(--pol); }
.key.c-prot::before { background: var(--prot); } .key.c-sys::before { background: var(--sys); }
.reply pre { white-space: pre-wrap; }
@media (max-width: 700px) {
  header form { margin-left: 0; }
  table.stack thead { display: none; }
  table.stack tr { display: block; border-bottom: 2px solid var(--line); padding: 4px 0; }
  table.stack td { display: block; border: 0; padding: 2px 4px; }
  table.stack td:empty { display: none; }
  table.stack td[data-label]::before { content: attr(data-label) ": "; font-weight: 600; }
}
`;

export const JS = `"use strict";
(function () {
  var form = document.getElementById("matrix-login");
  if (!form) return;
  var status = document.getElementById("matrix-status");
  function say(t) { status.textContent = t; }
  async function homeserverOf(userId, given) {
    if (given) return given.replace(/\\/$/, "");
    var server = userId.slice(userId.indexOf(":") + 1);
    try {
      var wk = await (await fetch("https://" + server + "/.well-known/matrix/client")).json();
      if (wk && wk["m.homeserver"] && wk["m.homeserver"].base_url) return wk["m.homeserver"].base_url.replace(/\\/$/, "");
    } catch (e) { /* no well-known: try the server name itself */ }
    return "https://" + server;
  }
  async function post(url, token, body) {
    var headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    var r = await fetch(url, { method: "POST", headers: headers, body: JSON.stringify(body || {}) });
    var j = await r.json().catch(function () { return {}; });
    if (!r.ok) throw new Error(j.error || ("HTTP " + r.status));
    return j;
  }
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var userId = form.elements.user.value.trim();
    var password = form.elements.password.value;
    var given = form.elements.accessToken.value.trim();
    if (!/^@[^:\\s]+:\\S+$/.test(userId)) { say("Enter your full Matrix ID, such as @you:example.org."); return; }
    try {
      say("Asking your homeserver…");
      var hs = await homeserverOf(userId, form.elements.homeserver.value.trim());
      var access = given, temporary = false;
      if (!access) {
        var login = await post(hs + "/_matrix/client/v3/login", null, { type: "m.login.password",
          identifier: { type: "m.id.user", user: userId }, password: password,
          initial_device_display_name: "Tyr dashboard login (signed out at once)" });
        access = login.access_token; userId = login.user_id || userId; temporary = true;
      }
      var openid = await post(hs + "/_matrix/client/v3/user/" + encodeURIComponent(userId) + "/openid/request_token", access, {});
      if (temporary) await post(hs + "/_matrix/client/v3/logout", access, {}).catch(function () {});
      var out = document.getElementById("openid-form");
      out.elements.openid_token.value = openid.access_token;
      out.elements.server_name.value = openid.matrix_server_name;
      out.submit();
    } catch (e) {
      say("Your homeserver refused: " + (e && e.message ? e.message : e) + ". Check your ID and password, or ask Tyr for a login link in the management room.");
    }
  });
})();
`;
