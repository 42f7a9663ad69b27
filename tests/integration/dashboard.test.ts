// The web dashboard in a real browser (Debian's chromium via playwright-core) against a running
// Tyr on the real Synapse: login by one-time link and with Matrix (OpenID), refusals (used link,
// non-moderator, missing CSRF token, lost power), the action log search, a rule added in the
// browser banning a member of a protected room, a protection setting changed in the browser and
// read back with `!tyr protections show`, screenshots of every page at phone and desktop widths
// checked for horizontal overflow, and a fuzz of the routes (never a 500, Tyr keeps answering).
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { Synapse, freePort } from "../harness/synapse.ts";
import { TestUser, eventually } from "../harness/user.ts";
import { runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";
import { ARTIFACTS, launchBrowser } from "../harness/browser.ts";
import { mulberry32 } from "../harness/prng.ts";

const synapse = Synapse.attach(inject("synapse"));
const LINK = /https?:\/\/\S+?\/dashboard\/login\?token=[A-Za-z0-9_-]{43}/;

/**
 * Evaluated in the page (a string, so the test needs no DOM types): what a keyboard or screen-reader
 * user would trip over. Every form control has an accessible name, every button and link has text,
 * the document has a language and one h1, and visible text has WCAG AA contrast (4.5:1) against
 * the nearest opaque background.
 */
const A11Y_AUDIT = `(() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push("html without lang");
  if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
  const named = (el) =>
    (el.id && document.querySelector('label[for="' + CSS.escape(el.id) + '"]')) || el.closest("label") ||
    el.getAttribute("aria-label") || el.getAttribute("aria-labelledby") || el.getAttribute("title");
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || el.type === "submit") continue;
    if (!named(el)) problems.push("unlabelled " + el.tagName.toLowerCase() + " " + (el.name || ""));
  }
  for (const el of document.querySelectorAll("button, a[href]"))
    if (!(el.textContent || "").trim() && !el.getAttribute("aria-label")) problems.push("empty " + el.tagName.toLowerCase());
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || seen.has(el) || !n.textContent.trim() || el.closest("svg")) continue;
    seen.add(el);
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const [l1, l2] = [lum(rgb(getComputedStyle(el).color).slice(0, 3)), lum(background(el))].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    if (ratio < 4.5) problems.push("contrast " + ratio.toFixed(2) + " for " + el.tagName.toLowerCase() + ": " + n.textContent.trim().slice(0, 30));
  }
  return [...new Set(problems)];
})()`;

describe("dashboard in a browser", () => {
  let bot: RunningBot;
  let browser: Browser;
  let base: string;
  let tyr: TestUser;
  let mod: TestUser;
  let mod2: TestUser;
  let outsider: TestUser;
  let spammer: TestUser;
  let maintainer: TestUser;
  let mgmt: string;
  let list: string;
  let room: string;
  let modContext: BrowserContext;
  let page: Page;

  /** Sends `!tyr <text>` as `who` and returns the body of Tyr's threaded reply. */
  async function command(who: TestUser, text: string): Promise<string> {
    const id = await who.sendText(mgmt, `!tyr ${text}`);
    const reply = await who.waitForReply(mgmt, tyr.userId, id, `the reply to "${text}"`);
    return String(reply.content.body);
  }

  async function loginLink(who: TestUser): Promise<string> {
    const body = await command(who, "dashboard");
    const m = LINK.exec(body);
    if (m === null) throw new Error(`no login link in: ${body}`);
    return m[0];
  }

  /** Logs a fresh browser context in as `who` through the one-time link. */
  async function loggedIn(who: TestUser): Promise<{ context: BrowserContext; page: Page; link: string }> {
    const link = await loginLink(who);
    const context = await browser.newContext();
    const p = await context.newPage();
    await p.goto(link);
    await p.getByRole("button", { name: `Log in as ${who.userId}` }).click();
    await p.waitForURL(`${base}/dashboard`);
    return { context, page: p, link };
  }

  beforeAll(async () => {
    browser = await launchBrowser();
    const user = (name: string, admin = false) => TestUser.register(synapse, name, { admin });
    // Tyr is a server admin here: relaying abuse reports reads Synapse's admin API.
    tyr = await user("tyr", true);
    mod = await user("mod");
    maintainer = await user("listmaint");
    mgmt = await mod.createRoom({ invite: [tyr.userId] });
    list = await maintainer.createRoom({
      preset: "public_chat",
      creation_content: { type: "m.policy" },
      name: "dash bans",
    });
    mod2 = await user("mod2");
    outsider = await user("outsider");
    spammer = await user("dashspam");
    await mod.invite(mgmt, mod2.userId);
    await mod2.join(mgmt);
    await mod.setPowerLevel(mgmt, mod2.userId, 50);
    room = await mod.createRoom({
      preset: "public_chat",
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 100 } },
    });
    await tyr.join(room);
    await tyr.join(mgmt);
    await tyr.join(list);
    await maintainer.setPowerLevel(list, tyr.userId, 50);
    await spammer.join(room);
    await watchAndProtect(tyr, { watchedLists: [list], protectedRooms: [room] });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    bot = await runBot(
      testConfig({
        url: synapse.url,
        accessToken: tyr.accessToken,
        managementRoom: mgmt,
        extra: {
          http: { port },
          dashboard: { enabled: true, publicBaseUrl: base },
          reports: { enabled: true, pollSeconds: 1 },
        },
      }),
    );
    for (const u of [mod, mod2, outsider]) await u.catchUp();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await bot?.stop();
  });

  it("logs a moderator in with a one-time link, and refuses the link a second time", async () => {
    const s = await loggedIn(mod);
    modContext = s.context;
    page = s.page;
    expect(await page.locator("h1").textContent()).toBe("Overview");
    expect(await page.locator("main").textContent()).toContain("Tyr status");
    const cookies = await modContext.cookies();
    const c = cookies.find((x) => x.name === "tyr_dashboard");
    expect(c).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/dashboard" });
    const res = await page.request.get(`${base}/dashboard`);
    expect(res.headers()["content-security-policy"]).toContain("default-src 'self'");
    expect(res.headers()["content-security-policy"]).not.toContain("unsafe-inline");

    // The same link again: refused, in a fresh browser.
    const other = await browser.newContext();
    const p2 = await other.newPage();
    await p2.goto(s.link);
    expect(await p2.locator(".flash.error").textContent()).toMatch(/expired or was already used/);
    const direct = await p2.request.post(`${base}/dashboard/login/link`, {
      form: { token: new URL(s.link).searchParams.get("token") ?? "" },
    });
    expect(direct.status()).toBe(403);
    await other.close();
    // Neither the link's token nor the session id ever reaches Tyr's log.
    const logged = JSON.stringify(bot.logs);
    expect(logged).not.toContain(new URL(s.link).searchParams.get("token"));
    expect(logged).not.toContain(c!.value);
  });

  it("refuses a non-moderator, and a moderator who lost the power level", async () => {
    await mod.invite(mgmt, outsider.userId);
    // Invited is enough to be a possible reader: no link is posted for anyone from now on.
    const whileInvited = await command(mod, "dashboard");
    expect(whileInvited).toMatch(
      new RegExp(`No login link: ${outsider.userId.replace(/[.]/g, "\\.")}.*Log in with Matrix`),
    );
    expect(LINK.test(whileInvited)).toBe(false);
    await outsider.join(mgmt);
    await eventually(
      async () => bot.bot.state.peek(mgmt)?.membership(outsider.userId) === "join",
      30_000,
      "Tyr to see the outsider join",
    );
    // A member of the management room without power: Tyr does not even answer with a link.
    const id = await outsider.sendText(mgmt, "!tyr dashboard");
    const refusal = await outsider.waitForReply(mgmt, tyr.userId, id, "the refusal");
    expect(String(refusal.content.body)).toMatch(/only members with power level 50/);
    expect(LINK.test(String(refusal.content.body))).toBe(false);
    // …and a moderator's link is not posted where the outsider could open it first.
    expect(LINK.test(await command(mod, "dashboard"))).toBe(false);
    // …and logging in with Matrix (a real OpenID token from Synapse, verified by Tyr) is refused.
    const openid = await outsider.api<{ access_token: string; matrix_server_name: string }>(
      "POST",
      `/_matrix/client/v3/user/${encodeURIComponent(outsider.userId)}/openid/request_token`,
      {},
    );
    const res = await fetch(`${base}/dashboard/login/matrix`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        openid_token: openid.access_token,
        server_name: openid.matrix_server_name,
      }),
      redirect: "manual",
    });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("may not use the dashboard");
    // A forged token is refused too.
    const forged = await fetch(`${base}/dashboard/login/matrix`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ openid_token: "forgedtoken123", server_name: openid.matrix_server_name }),
      redirect: "manual",
    });
    expect(forged.status).toBe(403);
    expect(JSON.stringify(bot.logs)).not.toContain(openid.access_token);
    await outsider.leave(mgmt);
    await eventually(
      async () => bot.bot.state.peek(mgmt)?.membership(outsider.userId) === "leave",
      30_000,
      "Tyr to see the outsider leave",
    );

    // mod2 logs in, then loses the power level: the next request ends the session.
    const s = await loggedIn(mod2);
    await mod.setPowerLevel(mgmt, mod2.userId, 0);
    await eventually(
      async () => {
        const r = await s.page.request.get(`${base}/dashboard/log`, { maxRedirects: 0 });
        return r.status() === 403 || r.status() === 303;
      },
      30_000,
      "mod2's session to end",
    );
    await s.page.goto(`${base}/dashboard`);
    expect(s.page.url()).toBe(`${base}/dashboard/login`);
    await s.context.close();
    // A demoted member can read the room too: out they go, so that links can be posted again.
    await mod2.leave(mgmt);
    await eventually(
      async () => bot.bot.state.peek(mgmt)?.membership(mod2.userId) === "leave",
      30_000,
      "Tyr to see mod2 leave",
    );
  });

  it("logs in with Matrix: the browser gets an OpenID token from Synapse, Tyr verifies it", async () => {
    const context = await browser.newContext();
    const p = await context.newPage();
    await p.goto(`${base}/dashboard/login`);
    await p.getByLabel("Matrix ID").fill(mod.userId);
    await p.getByLabel("Password", { exact: true }).fill(mod.password);
    await p.locator("summary").click();
    await p.getByLabel(/Homeserver URL/).fill(synapse.url);
    await p.getByRole("button", { name: "Log in with Matrix" }).click();
    await p.waitForURL(`${base}/dashboard`);
    expect(await p.locator("h1").textContent()).toBe("Overview");
    await context.close();
  });

  it("refuses a change without the CSRF token", async () => {
    const before = await command(mod, "protections show flooding");
    const res = await page.request.post(`${base}/dashboard/protections`, {
      form: { action: "set", protection: "flooding", setting: "maxMessages", value: "3" },
    });
    expect(res.status()).toBe(403);
    const wrong = await page.request.post(`${base}/dashboard/protections`, {
      form: {
        action: "set",
        protection: "flooding",
        setting: "maxMessages",
        value: "3",
        csrf: "x".repeat(43),
      },
    });
    expect(wrong.status()).toBe(403);
    expect(await command(mod, "protections show flooding")).toBe(before);
  });

  it("adds a rule in the browser; Tyr bans the member on Synapse and says so in the management room", async () => {
    await page.goto(`${base}/dashboard/lists`);
    await page.getByLabel("User, room or server (globs allowed)").fill(spammer.userId);
    await page.getByLabel("Reason", { exact: true }).fill("spam <b>links</b>");
    await page.getByRole("button", { name: "Add rule" }).click();
    await page.waitForLoadState();
    expect(await page.locator(".flash").first().textContent()).toMatch(/ban|rule/i);
    await eventually(async () => (await mod.membership(room, spammer.userId)) === "ban", 30_000, "the ban");
    const notice = await mod.waitForNotice(mgmt, tyr.userId, /Via the dashboard, @mod.* ran: `?ban /);
    expect(String(notice.content.body)).toContain(spammer.userId);
    // The rule is searchable, and shows its details.
    await page.goto(`${base}/dashboard/lists?q=${encodeURIComponent("dashspam")}`);
    await page.getByRole("link", { name: spammer.userId }).click();
    expect(await page.locator("dl").textContent()).toContain("spam <b>links</b>");
  });

  it("searches the action log: the ban is there, made via the dashboard by the moderator", async () => {
    await page.goto(`${base}/dashboard/log`);
    await page.getByLabel("Entity (exact)").fill(spammer.userId.toUpperCase());
    await page.getByLabel("Kind").selectOption("ban");
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForURL(/\/dashboard\/log\?/);
    const rows = page.locator("tbody tr");
    expect(await rows.count()).toBeGreaterThanOrEqual(1);
    const text = await rows.first().textContent();
    expect(text).toContain(room);
    await page.goto(`${base}/dashboard/log?text=${encodeURIComponent("dashspam")}`);
    expect(await page.locator("tbody").textContent()).toContain("ban");
    // Bad filters are explained, not a failure.
    const bad = await page.goto(`${base}/dashboard/log?from=2026-13-45&cause=nope`);
    expect(bad?.status()).toBe(200);
    expect(await page.locator(".flash.error").textContent()).toMatch(/from: expected a date/);
    // `!tyr log` reads the same store.
    // `!tyr log` reads the same store: the ban (by the rule) and the change (via the dashboard).
    expect(await command(mod, `log ${spammer.userId}`)).toMatch(/ban .*dashspam.* by policy/);
    expect(await command(mod, `log ${mod.userId}`)).toMatch(
      /command via dashboard by @mod.*: done — .*ban -- /,
    );
  });

  it("changes a protection setting in the browser, with validation, as `protections show` then says", async () => {
    await page.goto(`${base}/dashboard/protections`);
    const form = page.locator("form", { has: page.getByRole("button", { name: "Save setting" }) });
    await form.getByLabel("Protection").selectOption("flooding");
    await form.getByLabel("Setting").fill("maxMessages");
    await form.getByLabel("Value").fill("not-a-number");
    await form.getByRole("button", { name: "Save setting" }).click();
    await page.waitForLoadState();
    expect(await page.locator(".flash.error").textContent()).toMatch(/maxMessages/);
    await page
      .locator("form", { has: page.getByRole("button", { name: "Save setting" }) })
      .getByLabel("Setting")
      .fill("maxMessages");
    await page
      .locator("form", { has: page.getByRole("button", { name: "Save setting" }) })
      .getByLabel("Value")
      .fill("7");
    await page.getByRole("button", { name: "Save setting" }).click();
    await page.waitForLoadState();
    expect(await page.locator(".flash").first().getAttribute("class")).toBe("flash");
    expect((await command(mod, "protections show flooding")).replaceAll("`", "")).toMatch(/maxMessages = 7/);
    // Both changes are in the action log, the refused one as failed.
    await page.goto(`${base}/dashboard/log?kind=command&text=maxMessages`);
    const outcomes = await page.locator("tbody td[data-label=Outcome]").allTextContents();
    expect(outcomes.map((o) => o.split(" ")[0])).toEqual(["done", "failed"]);
  });

  it("triages an abuse report from the reports page: the reported message is redacted on Synapse", async () => {
    const troll = new TestUser(synapse.url, await synapse.register("dashtroll"));
    await troll.join(room);
    const reporter = new TestUser(synapse.url, await synapse.register("reporter"));
    await reporter.join(room);
    const bad = await troll.sendText(room, "<img src=x onerror=alert(1)> buy now");
    await reporter.api(
      "POST",
      `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/report/${encodeURIComponent(bad)}`,
      { reason: "spam <script>alert(2)</script>" },
    );
    await eventually(
      async () => {
        await page.goto(`${base}/dashboard/reports`);
        return (await page.locator("tbody").textContent())?.includes("buy now");
      },
      30_000,
      "the report on the reports page",
    );
    // Attacker-controlled text is shown as text.
    expect(await page.locator("tbody img").count()).toBe(0);
    expect(await page.locator("tbody").textContent()).toContain("<script>alert(2)</script>");
    const row = page.locator("tbody tr", { hasText: "buy now" });
    await row.getByRole("button", { name: /Redact: report/ }).click();
    await page.waitForLoadState();
    expect(await page.locator(".flash").first().getAttribute("class")).toBe("flash");
    await eventually(
      async () => {
        const ev = await mod.api<{ unsigned?: { redacted_because?: unknown } }>(
          "GET",
          `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/event/${encodeURIComponent(bad)}`,
        );
        return ev.unsigned?.redacted_because !== undefined;
      },
      30_000,
      "the reported event redacted",
    );
    await page.goto(`${base}/dashboard/log?kind=redact`);
    expect(await page.locator("tbody").textContent()).toMatch(/via dashboard by @mod/);
  });

  it("removes the rule in the browser; Tyr lifts the ban it made for it", async () => {
    await page.goto(`${base}/dashboard/lists?q=dashspam`);
    await page.getByRole("button", { name: `Remove the rule for ${spammer.userId}` }).click();
    await page.waitForLoadState();
    expect(await page.locator(".flash").first().getAttribute("class")).toBe("flash");
    await eventually(async () => (await mod.membership(room, spammer.userId)) !== "ban", 30_000, "the unban");
    await page.goto(`${base}/dashboard/lists?q=dashspam`);
    expect(await page.getByRole("button", { name: `Remove the rule for ${spammer.userId}` }).count()).toBe(0);
  });

  it("charts today's actions on the overview, and audits a protected room", async () => {
    await page.goto(`${base}/dashboard`);
    expect(await page.locator("figure.chart").first().locator("rect").count()).toBeGreaterThan(0);
    await page.goto(`${base}/dashboard/rooms`);
    await page.getByLabel("Room", { exact: true }).selectOption(room);
    await page.getByRole("button", { name: "Audit" }).click();
    await page.waitForURL(/audit=/);
    expect(await page.locator("main").textContent()).toContain(`Security audit of ${room}`);
  });

  it("renders every page at phone and desktop widths without horizontal overflow", async () => {
    const pages = ["", "/log", "/lists", "/protections", "/rooms", "/encryption", "/sessions", "/reports"];
    for (const width of [390, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      for (const p of pages) {
        const res = await page.goto(`${base}/dashboard${p}`);
        expect(res?.status(), p).toBe(200);
        const name = (p.slice(1) || "overview").replaceAll("/", "-");
        await page.screenshot({ path: join(ARTIFACTS, `dashboard-${name}-${width}.png`), fullPage: true });
        // A string, so the test needs no DOM types: evaluated in the page.
        const overflow = (await page.evaluate(
          "({ scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth })",
        )) as { scroll: number; inner: number };
        expect(overflow.scroll, `${p} at ${width}px`).toBeLessThanOrEqual(overflow.inner);
        if (width === 1280)
          expect(await page.evaluate(A11Y_AUDIT), `accessibility of ${p || "/"}`).toEqual([]);
      }
    }
    await page.goto(`${base}/dashboard/login`);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-login-1280.png"), fullPage: true });
  });

  it("lists the sessions, revokes one, and logs out", async () => {
    await page.goto(`${base}/dashboard/sessions`);
    const rows = page.locator("tbody tr");
    expect(await rows.count()).toBeGreaterThanOrEqual(2); // link and Matrix logins
    const other = rows.filter({ hasNot: page.getByText("(this one)") }).first();
    await other.getByRole("button", { name: /Revoke/ }).click();
    expect(await page.locator(".flash").textContent()).toContain("Session revoked");
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL(`${base}/dashboard/login`);
    await page.goto(`${base}/dashboard/log`);
    expect(page.url()).toBe(`${base}/dashboard/login`);
  });

  it("answers fuzzed requests with 4xx or a page, never a 500, and Tyr keeps working", async () => {
    const s = await loggedIn(mod);
    const cookie = (await s.context.cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
    const csrf = await s.page.locator('input[name="csrf"]').first().getAttribute("value");
    const rnd = mulberry32(0xd45b);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const junk = () =>
      pick([
        "",
        "%",
        "%00",
        "'\"<>",
        "😀",
        "a".repeat(3000),
        "../../etc/passwd",
        "--yes",
        "@x:y z",
        "!r:x",
        "\u202e",
        "-1",
        "1e309",
      ]);
    const paths = [
      "",
      "/",
      "/log",
      "/lists",
      "/lists/add",
      "/lists/remove",
      "/protections",
      "/rooms",
      "/encryption",
      "/sessions",
      "/sessions/revoke",
      "/logout",
      "/login",
      "/login/link",
      "/login/matrix",
      "/static/app.js",
      "/nope",
      "x",
      "/%ff",
    ];
    const fields = [
      "q",
      "report",
      "which",
      "rule",
      "text",
      "entity",
      "room",
      "actor",
      "cause",
      "kind",
      "outcome",
      "from",
      "to",
      "before",
      "show",
      "audit",
      "token",
      "list",
      "reason",
      "for",
      "protection",
      "action",
      "setting",
      "value",
      "session",
      "openid_token",
      "server_name",
    ];
    const statuses = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const params = new URLSearchParams();
      for (let k = Math.floor(rnd() * 5); k > 0; k--) params.append(pick(fields), junk());
      const post = rnd() < 0.5;
      if (post && rnd() < 0.7 && csrf) params.set("csrf", csrf);
      // Never log this session out or revoke it: the fuzz keeps using it.
      const path = pick(paths);
      if (post && (path === "/logout" || path === "/sessions/revoke")) continue;
      const res = await fetch(`${base}/dashboard${path}${post ? "" : `?${params}`}`, {
        method: post ? "POST" : "GET",
        headers: {
          ...(rnd() < 0.8 ? { cookie } : {}),
          ...(post
            ? { "Content-Type": rnd() < 0.9 ? "application/x-www-form-urlencoded" : "text/plain" }
            : {}),
        },
        ...(post ? { body: params.toString() } : {}),
        redirect: "manual",
      });
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expect(res.status, `${post ? "POST" : "GET"} ${path} ${params}`).toBeLessThan(500);
    }
    expect(statuses.get(200) ?? 0).toBeGreaterThan(10);
    expect([...statuses.keys()].some((s) => s >= 400)).toBe(true);
    expect(await command(mod, "status")).toMatch(/Tyr status/);
    await s.context.close();
  });
});
