// The dashboard's pure parts: login links and sessions, CSRF secrets, command lines from forms,
// HTML escaping, the action-log query string, charts.
import { describe, expect, it } from "vitest";
import {
  LoginLinks,
  LOGIN_LINK_TTL_MS,
  Sessions,
  sameSecret,
  wellFormedToken,
} from "../../../src/dashboard/secrets.ts";
import { commandLine } from "../../../src/dashboard/commandLine.ts";
import { h, href } from "../../../src/dashboard/html.ts";
import { parseLogQuery } from "../../../src/dashboard/pages/log.ts";
import { dailySeries } from "../../../src/dashboard/pages/overview.ts";
import { stackedBars } from "../../../src/dashboard/charts.ts";
import { searchRules } from "../../../src/dashboard/pages/lists.ts";
import { userFromUserinfo } from "../../../src/dashboard/openid.ts";
import { layout } from "../../../src/dashboard/layout.ts";
import type { Rule } from "../../../src/banlists/rule.ts";

describe("one-time login links", () => {
  it("log in the moderator they were made for, once, within five minutes", () => {
    let now = 1_000;
    const links = new LoginLinks(() => now);
    const t = links.issue("@mod:x");
    expect(wellFormedToken(t)).toBe(true);
    expect(links.peek(t)).toBe("@mod:x");
    expect(links.redeem(t)).toBe("@mod:x");
    expect(links.redeem(t)).toBeUndefined();
    const late = links.issue("@mod:x");
    now += LOGIN_LINK_TTL_MS;
    expect(links.peek(late)).toBeUndefined();
    expect(links.redeem(late)).toBeUndefined();
    expect(links.redeem("not a token")).toBeUndefined();
    expect(links.redeem(undefined)).toBeUndefined();
  });
});

describe("sessions", () => {
  it("are found by the cookie id only, expire, and are revoked per session or per user", () => {
    let now = 0;
    const s = new Sessions(1_000, () => now);
    const a = s.create("@a:x", "link", "ua");
    const b = s.create("@a:x", "matrix", "ua");
    const c = s.create("@c:x", "link", "ua");
    expect(s.get(a.id)?.user).toBe("@a:x");
    expect(s.get(a.session.handle)).toBeUndefined(); // the stored digest is not a credential
    expect(a.session.csrf).not.toBe(b.session.csrf);
    expect(s.revoke("@c:x", a.session.handle)).toBe(false); // not someone else's
    expect(s.revoke("@a:x", a.session.handle)).toBe(true);
    expect(s.get(a.id)).toBeUndefined();
    expect(s.revokeAll("@a:x")).toBe(1);
    expect(s.get(b.id)).toBeUndefined();
    now = 1_000;
    expect(s.get(c.id)).toBeUndefined();
  });

  it("compare secrets in constant time by digest, whatever their length", () => {
    expect(sameSecret("abc", "abc")).toBe(true);
    expect(sameSecret("abc", "abd")).toBe(false);
    expect(sameSecret("abc", "abcdef")).toBe(false);
  });
});

describe("command lines from form fields", () => {
  it("puts flags before `--` so free text is never read as a flag", () => {
    expect(
      commandLine(
        "ban",
        [
          { label: "List", value: "spam" },
          { label: "Entity", value: "@x:y" },
        ],
        {
          flags: { for: "7d" },
          rest: "--yes  spamming\nlinks",
        },
      ),
    ).toEqual({ ok: true, text: "ban --for 7d -- spam @x:y --yes spamming links" });
  });

  it("refuses arguments that would split into several tokens or open a quote", () => {
    expect(commandLine("ban", [{ label: "Entity", value: "@x:y extra" }]).ok).toBe(false);
    expect(commandLine("ban", [{ label: "Entity", value: '"@x:y' }]).ok).toBe(false);
    expect(commandLine("ban", [{ label: "Entity", value: "" }])).toEqual({
      ok: false,
      error: "Entity: this field is required",
    });
    expect(commandLine("x", [], { flags: { room: "a b" } }).ok).toBe(false);
  });
});

describe("HTML escaping", () => {
  it("escapes every interpolated string, in text and attributes, and keeps h-built markup", () => {
    const evil = `<script>alert(1)</script>" onmouseover="x' &`;
    const out = h`<p title="${evil}">${evil}${h`<b>ok</b>`}${[evil, 1]}</p>`.value;
    expect(out).not.toContain("<script>");
    expect(out).not.toContain('" onmouseover');
    expect(out).toContain("&lt;script&gt;");
    expect(out).toContain("<b>ok</b>");
    expect(href("/d/log", { text: "a&b c", none: undefined })).toBe("/d/log?text=a%26b+c");
  });

  it("escapes the user shown in the page frame", () => {
    const page = layout({ user: "@<img src=x>:x", csrf: "c", path: "/dashboard", prefix: "!tyr" }, "T", h``);
    expect(page).not.toContain("<img");
    expect(page).toContain('<meta name="viewport"');
  });
});

describe("the action log's query string", () => {
  const kinds = ["ban", "kick"];
  it("turns valid fields into a search and reports the invalid ones", () => {
    const q = parseLogQuery(
      new URLSearchParams(
        "text=spam&entity=@x:y&cause=policy&kind=ban&from=2026-12-01&to=2026-12-02&before=42",
      ),
      kinds,
    );
    expect(q.errors).toEqual([]);
    expect(q.search).toMatchObject({
      text: "spam",
      entity: "@x:y",
      cause: "policy",
      kind: "ban",
      since: Date.UTC(2026, 11, 1),
      until: Date.UTC(2026, 11, 3),
      before: 42,
      limit: 50,
    });
    const bad = parseLogQuery(
      new URLSearchParams(`cause=evil&kind=nope&from=2026-02-31&before=-1&outcome=x&text=${"a".repeat(300)}`),
      kinds,
    );
    expect(bad.errors.length).toBe(6);
    expect(bad.search).toEqual({ limit: 50 });
  });
});

describe("charts and rule search", () => {
  it("bins histogram rows per cause and draws one rect per non-empty bar", () => {
    const s = dailySeries([
      { bucket: 0, cause: "policy", n: 3 },
      { bucket: 13, cause: "protection", n: 2 },
      { bucket: 99, cause: "policy", n: 7 },
      { bucket: 1, cause: "weird", n: 1 },
    ]);
    expect(s.policy?.[0]).toBe(3);
    expect(s.protection?.[13]).toBe(2);
    expect(s.policy?.reduce((a, b) => a + b)).toBe(3);
    const svg = stackedBars("t<x>", ["a", "b"], [{ label: "l", cls: "c-mod", values: [1, 0] }]).value;
    expect(svg.match(/<rect/g)?.length).toBe(1);
    expect(svg).not.toContain("<x>");
  });

  it("searches rules by entity, reason or state key, bounded", () => {
    const rule = (entity: string, reason = ""): Rule => ({
      list: "!l",
      kind: "user",
      entity,
      recommendation: "ban",
      reason,
      eventType: "m.policy.rule.user",
      stateKey: `k-${entity}`,
    });
    const rules = [rule("@a:evil.org"), rule("@b:ok.org", "EVIL spam"), rule("@c:ok.org")];
    expect(searchRules(rules, "evil").found.length).toBe(2);
    expect(searchRules(rules, "", 2)).toMatchObject({ more: true });
  });
});

describe("OpenID userinfo", () => {
  it("accepts only a user of the server that was asked", () => {
    expect(userFromUserinfo({ sub: "@m:hs.example" }, "hs.example")).toEqual({
      ok: true,
      user: "@m:hs.example",
    });
    expect(userFromUserinfo({ sub: "@m:other.example" }, "hs.example").ok).toBe(false);
    expect(userFromUserinfo({}, "hs.example").ok).toBe(false);
    expect(userFromUserinfo(null, "hs.example").ok).toBe(false);
  });
});
