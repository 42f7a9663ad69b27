// The frame every dashboard page shares: navigation, the logout button, flash messages. Pure.
import { h, type Html } from "./html.ts";

export const BASE = "/dashboard";

export interface Viewer {
  readonly user: string;
  readonly csrf: string;
  /** The path of the page, to mark it in the navigation. */
  readonly path: string;
  /** The command prefix (commands.prefix), for hints such as "!tyr watch". */
  readonly prefix: string;
}

export interface Flash {
  readonly text: Html | string;
  readonly error?: boolean;
}

const NAV: readonly [string, string][] = [
  ["", "Overview"],
  ["/log", "Action log"],
  ["/lists", "Lists & rules"],
  ["/protections", "Protections"],
  ["/rooms", "Rooms"],
  ["/encryption", "Encryption"],
  ["/reports", "Reports"],
  ["/sessions", "Sessions"],
];

/** The hidden field every state-changing form carries (the server checks it on every POST). */
export function csrfField(v: Viewer): Html {
  return h`<input type="hidden" name="csrf" value="${v.csrf}">`;
}

export function flashBox(f: Flash | undefined): Html {
  if (f === undefined) return h``;
  return h`<div class="flash${f.error ? " error" : ""}" role="${f.error ? "alert" : "status"}">${f.text}</div>`;
}

export function layout(viewer: Viewer | undefined, title: string, body: Html, flash?: Flash): string {
  const nav =
    viewer === undefined
      ? h``
      : h`<nav aria-label="Dashboard"><ul>${NAV.map(
          ([p, label]) =>
            h`<li><a href="${BASE}${p}"${viewer.path === `${BASE}${p}` ? h` aria-current="page"` : ""}>${label}</a></li>`,
        )}</ul></nav>
<form method="post" action="${BASE}/logout" class="inline"><span class="muted">${viewer.user}</span> ${csrfField(viewer)}<button type="submit" class="secondary">Log out</button></form>`;
  return h`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Tyr</title>
<link rel="stylesheet" href="${BASE}/static/app.css">
<script src="${BASE}/static/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header><a class="brand" href="${BASE}">Tyr</a>${nav}</header>
<main id="main">
<h1>${title}</h1>
${flashBox(flash)}
${body}
</main>
</body>
</html>
`.value;
}
