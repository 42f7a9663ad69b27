// The dashboard's request handling with its Matrix side replaced by plain functions: redirects
// without a session, cookie attributes, rate-limited logins, CSRF, power checked on every request.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { DashboardApp, COOKIE, type DashboardDeps } from "../../../src/dashboard/app.ts";
import { LoginLinks, Sessions } from "../../../src/dashboard/secrets.ts";
import { ActionLog } from "../../../src/store/actionLog.ts";
import type { HttpRequest } from "../../../src/http/types.ts";
import { text } from "../../../src/format/fragment.ts";

function setup(opts: { secure?: boolean } = {}) {
  const allowed = new Set(["@mod:x"]);
  const ran: string[] = [];
  const links = new LoginLinks();
  const sessions = new Sessions(3_600_000);
  const deps: DashboardDeps = {
    log: pino({ level: "silent" }),
    sessions,
    links,
    openid: { verify: async () => ({ ok: true, user: "@outsider:x" }) },
    secure: opts.secure ?? false,
    homeserverOrigin: "http://127.0.0.1:8008",
    prefix: "!tyr",
    actionLog: new ActionLog(mkdtempSync(join(tmpdir(), "tyr-dash-"))),
    mayUse: (u) => (allowed.has(u) ? undefined : "not a moderator"),
    run: async (_u, command, o) => {
      // A wide ban asks first, as the `ban` command does in chat.
      if (o.change && command.includes("*") && o.confirmed !== true)
        return { ok: true, replies: [], preview: text(`would ban everyone: ${command}`) };
      ran.push(command);
      return { ok: true, replies: [text(`ran ${command}`)] };
    },
    record: () => {},
    reports: undefined,
    lists: () => [{ id: "!l:x", label: "spam", rules: 0, writable: true }],
    rules: () => [],
    protectionNames: () => ["flooding"],
    protectedRooms: () => [],
    encryption: false,
  };
  const app = new DashboardApp(deps);
  let n = 0;
  const req = (
    method: "GET" | "POST",
    path: string,
    o: { cookie?: string; form?: Record<string, string>; site?: string } = {},
  ) => {
    const [p, q] = path.split("?");
    return app.handle({
      method,
      path: p!,
      query: new URLSearchParams(q ?? ""),
      headers: {
        ...(o.cookie ? { cookie: `${COOKIE}=${o.cookie}` } : {}),
        ...(o.site ? { "sec-fetch-site": o.site } : {}),
        "user-agent": "test",
      },
      body: method === "POST" ? new URLSearchParams(o.form ?? {}) : undefined,
      remote: `10.0.0.${n++ % 1}`,
    } satisfies HttpRequest);
  };
  const login = async (user = "@mod:x") => {
    const res = await req("POST", "/dashboard/login/link", { form: { token: links.issue(user) } });
    const cookie = /tyr_dashboard=([^;]+)/.exec(res.headers?.["Set-Cookie"] ?? "")?.[1];
    return { res, cookie };
  };
  return { app, req, login, allowed, ran, sessions };
}

describe("dashboard requests", () => {
  it("sends a visitor without a session to the login page, and serves the assets to anyone", async () => {
    const { req } = setup();
    expect(await req("GET", "/dashboard/log")).toMatchObject({
      status: 303,
      headers: { Location: "/dashboard/login" },
    });
    expect((await req("POST", "/dashboard/protections", { form: { csrf: "x" } })).status).toBe(401);
    const css = await req("GET", "/dashboard/static/app.css");
    expect(css).toMatchObject({ status: 200, contentType: "text/css; charset=utf-8" });
    const page = await req("GET", "/dashboard/login");
    expect(page.headers?.["Content-Security-Policy"]).toMatch(/default-src 'self'.*script-src 'self'/);
    expect(page.headers?.["Content-Security-Policy"]).not.toContain("unsafe");
  });

  it("sets an HttpOnly SameSite=Strict cookie, Secure behind https, and refuses non-moderators", async () => {
    const plain = await setup().login();
    expect(plain.res.headers?.["Set-Cookie"]).toMatch(/HttpOnly; SameSite=Strict; Max-Age=3600$/);
    const secure = await setup({ secure: true }).login();
    expect(secure.res.headers?.["Set-Cookie"]).toMatch(/; Secure$/);
    const s = setup();
    expect((await s.login("@stranger:x")).res.status).toBe(403);
    const openid = await s.req("POST", "/dashboard/login/matrix", {
      form: { openid_token: "abcdefgh", server_name: "x" },
    });
    expect(openid.status).toBe(403);
    expect(String(openid.body)).toContain("@outsider:x may not use the dashboard");
  });

  it("refuses logins (and any form) posted from another site, before looking at the token", async () => {
    const s = setup();
    const token = (s.app as unknown as { deps: DashboardDeps }).deps.links.issue("@mod:x");
    for (const site of ["cross-site", "same-site"]) {
      const r = await s.req("POST", "/dashboard/login/link", { form: { token }, site });
      expect(r.status).toBe(403);
      expect(r.headers?.["Set-Cookie"]).toBeUndefined();
      expect(String(r.body)).toContain("posted from another site");
    }
    // The link was not spent by the refused posts: the dashboard's own form still logs in.
    const own = await s.req("POST", "/dashboard/login/link", { form: { token }, site: "same-origin" });
    expect(own.status).toBe(303);
    const cookie = /tyr_dashboard=([^;]+)/.exec(own.headers?.["Set-Cookie"] ?? "")?.[1];
    const page = await s.req("GET", "/dashboard/protections", { cookie: cookie! });
    const csrf = /name="csrf" value="([^"]+)"/.exec(String(page.body))?.[1] ?? "";
    expect(csrf).not.toBe("");
    const change = { csrf, action: "enable", protection: "flooding" };
    expect(
      (await s.req("POST", "/dashboard/protections", { cookie: cookie!, form: change, site: "cross-site" }))
        .status,
    ).toBe(403);
    expect(s.ran.filter((c) => c.includes("enable"))).toEqual([]);
  });

  it("limits login attempts per address", async () => {
    const { req } = setup();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++)
      statuses.push((await req("POST", "/dashboard/login/link", { form: { token: "nope" } })).status);
    expect(statuses.slice(0, 10).every((s) => s === 403)).toBe(true);
    expect(statuses.slice(10)).toEqual([429, 429]);
  });

  it("runs a change only with the session's CSRF token, and ends sessions when power is lost", async () => {
    const s = setup();
    const { cookie } = await s.login();
    const page = await s.req("GET", "/dashboard/protections", { cookie: cookie! });
    const csrf = /name="csrf" value="([^"]+)"/.exec(String(page.body))?.[1];
    expect(csrf).toBeDefined();
    const form = { action: "enable", protection: "flooding" };
    expect((await s.req("POST", "/dashboard/protections", { cookie: cookie!, form })).status).toBe(403);
    expect(s.ran).not.toContain("protections enable -- flooding");
    const ok = await s.req("POST", "/dashboard/protections", {
      cookie: cookie!,
      form: { ...form, csrf: csrf! },
    });
    expect(ok.status).toBe(200);
    expect(s.ran).toContain("protections enable -- flooding");
    s.allowed.delete("@mod:x");
    const ended = await s.req("GET", "/dashboard", { cookie: cookie! });
    expect(ended.status).toBe(403);
    expect(ended.headers?.["Set-Cookie"]).toMatch(/Max-Age=0/);
    expect(ended.headers?.["Content-Security-Policy"]).toContain("default-src 'self'");
    s.allowed.add("@mod:x");
    expect((await s.req("GET", "/dashboard", { cookie: cookie! })).status).toBe(303); // the session is gone
  });

  it("keeps pages that carry a login token or a CSRF token out of every cache, and sends HSTS behind https", async () => {
    const s = setup({ secure: true });
    const token = (s.app as unknown as { deps: DashboardDeps }).deps.links.issue("@mod:x");
    const login = await s.req("GET", `/dashboard/login?token=${token}`);
    expect(login.headers?.["Cache-Control"]).toBe("no-store");
    expect(login.headers?.["Referrer-Policy"]).toBe("no-referrer");
    const { res, cookie } = await s.login();
    expect(res.headers?.["Strict-Transport-Security"]).toMatch(/^max-age=\d{7,}/);
    for (const path of [
      "/dashboard",
      "/dashboard/log",
      "/dashboard/protections",
      "/dashboard/sessions",
      "/dashboard/nope",
    ]) {
      const page = await s.req("GET", path, { cookie: cookie! });
      expect(page.headers?.["Cache-Control"], path).toBe("no-store");
      expect(page.headers?.["Strict-Transport-Security"], path).toMatch(/^max-age=\d{7,}/);
    }
    const css = await s.req("GET", "/dashboard/static/app.css");
    expect(css.headers?.["X-Content-Type-Options"]).toBe("nosniff");
    expect(css.headers?.["Cache-Control"]).toBe("max-age=300");
    expect((await setup().login()).res.headers?.["Strict-Transport-Security"]).toBeUndefined();
  });

  it("shows a command's preview instead of running it, and runs it only when the preview's form is sent", async () => {
    const s = setup();
    const { cookie } = await s.login();
    const page = await s.req("GET", "/dashboard/lists", { cookie: cookie! });
    const csrf = /name="csrf" value="([^"]+)"/.exec(String(page.body))?.[1] ?? "";
    const form = { csrf, list: "!l:x", entity: "@*:*", reason: "wide" };
    const first = await s.req("POST", "/dashboard/lists/add", { cookie: cookie!, form });
    expect(s.ran).toEqual([]);
    const body = String(first.body);
    expect(body).toContain("would ban everyone");
    const again = /<form method="post">(.*?)<\/form>/s.exec(body)?.[1] ?? "";
    const fields = Object.fromEntries(
      [...again.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [
        m[1]!,
        m[2]!.replace(/&#64;/g, "@"),
      ]),
    );
    expect(fields).toMatchObject({ ...form, confirmed: "yes" });
    await s.req("POST", "/dashboard/lists/add", { cookie: cookie!, form: fields });
    expect(s.ran).toEqual(["ban -- !l:x @*:* wide"]);
  });
});
