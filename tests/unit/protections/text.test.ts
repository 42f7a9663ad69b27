import { describe, expect, it } from "vitest";
import { scanHtml } from "../../../src/protections/html.ts";
import {
  confusableSkeleton,
  findLinks,
  findUserIds,
  foldForMatching,
} from "../../../src/protections/text.ts";

describe("findLinks", () => {
  it.each<[string, string[]]>([
    ["see https://example.com/page", ["https://example.com/page"]],
    ["(http://x.org/a).", ["http://x.org/a"]],
    ["go to www.spam-site.net now", ["www.spam-site.net"]],
    ["free crypto at t.me/joinchat123", ["t.me/joinchat123"]],
    ["visit cheap-pills.xyz", ["cheap-pills.xyz"]],
    ["discord.gg/abcdef!", ["discord.gg/abcdef"]],
    ["join matrix:r/spam:evil.org", ["matrix:r/spam:evil.org"]],
    ["ftp://files.example.org/x", ["ftp://files.example.org/x"]],
    ["glued:https://evil.example/x", ["https://evil.example/x"]],
    ["hello,https://evil.example", ["https://evil.example"]],
    // normal chat
    ["hello there, how are you?", []],
    ["I'm at 3.14 on version 1.2.3", []],
    ["e.g. this, i.e. that", []],
    ["open file.txt and config.yaml", []],
    ["talk to @bob:example.org", []],
    ["email me at bob@example.com", []],
    ["matrix:u/bob:example.org is a user", []],
  ])("%s → %j", (input, expected) => {
    expect(findLinks(input)).toEqual(expected);
  });

  it("finds a link hidden in a very long token", () => {
    const long = "https://evil.example/" + "a".repeat(10_000);
    expect(findLinks(`x ${long}`)[0]?.startsWith("https://evil.example/")).toBe(true);
  });

  it("is bounded and linear on hostile input", () => {
    const t0 = performance.now();
    findLinks("a.".repeat(100_000));
    findLinks("http://" + "x".repeat(200_000));
    expect(findLinks("x.com ".repeat(1000), 50)).toHaveLength(50);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});

describe("findUserIds", () => {
  it.each<[string, string[]]>([
    ["hey @alice:example.org!", ["@alice:example.org"]],
    ["@a:x.org @b:x.org @a:x.org", ["@a:x.org", "@b:x.org"]],
    ["local @bot:localhost:8448.", ["@bot:localhost:8448"]],
    ["mail bob@example.org", []],
    ["just an @ sign", []],
    ["@nocolon here", []],
  ])("%s → %j", (input, expected) => {
    expect(findUserIds(input)).toEqual(expected);
  });
});

describe("confusableSkeleton", () => {
  const same: [string, string][] = [
    ["Alice", "alice"],
    ["Alice", "ALICE"],
    ["Alice", "Аlice"], // Cyrillic А
    ["Alice", "Al\u200bice"], // zero-width space
    ["Alice", "Álíce"], // diacritics
    ["Alice", "Ａｌｉｃｅ"], // full width
    ["Alice", "A l i c e"],
    ["Moderator", "Moderat0r"],
    ["Moderator", "M\u200dоdеrаtоr"], // joiner and Cyrillic о, е, а
    ["Bill", "BiII"], // capital I as l
    ["Martin", "rnartin"], // rn looks like m
    ["𝐀𝐝𝐦𝐢𝐧", "Admin"], // mathematical bold
  ];
  it.each(same)("%s looks like %s", (a, b) => {
    expect(confusableSkeleton(a)).toBe(confusableSkeleton(b));
  });
  it.each([
    ["Alice", "Alicia"],
    ["Bob", "Rob"],
    ["Moderator", "Mediator"],
  ])("%s does not look like %s", (a, b) => {
    expect(confusableSkeleton(a)).not.toBe(confusableSkeleton(b));
  });
});

describe("foldForMatching", () => {
  it("folds case, width, diacritics and invisible characters", () => {
    expect(foldForMatching("ＦＲＥＥ Crýpto\u200b Gíveaway")).toBe("free crypto giveaway");
  });
});

describe("scanHtml", () => {
  it.each<[string, string]>([
    ["<p>Hello <b>world</b></p>", "\nHello world\n"],
    ["a &lt; b &amp;&amp; c &gt; d &#65;&#x42; &bogus; &", "a < b && c > d AB &bogus; &"],
    ["x < y", "x < y"],
    ["bad<b></b>word", "badword"],
    ["<mx-reply><blockquote>quoted</blockquote></mx-reply>reply", "reply"],
    ["<!-- hidden -->shown", "shown"],
    ["<script>alert(1)</script>ok", "ok"],
    ['<a href="x">unterminated', "unterminated"],
    ['text <a href="never closed', "text "],
    ["text <img", "text "],
    ["<<<>>>", "<<<>>>"],
  ])("%s → text %j", (input, expected) => {
    expect(scanHtml(input).text).toBe(expected);
  });

  it("collects hrefs and counts images", () => {
    const s = scanHtml(
      `<a href='https://a.org'>a</a><a HREF="https://b.org?x=1&amp;y=2">b</a><img src=x><IMG>`,
    );
    expect(s.hrefs).toEqual(["https://a.org", "https://b.org?x=1&y=2"]);
    expect(s.images).toBe(2);
  });

  it("ignores links and images inside the reply fallback", () => {
    const s = scanHtml('<mx-reply><a href="https://q.org">q</a><img src=x></mx-reply>hi');
    expect(s.hrefs).toEqual([]);
    expect(s.images).toBe(0);
  });

  it.each([
    ["many ampersands", "&".repeat(300_000)],
    ["many open brackets", "<".repeat(300_000)],
    ["many tags", "<b>".repeat(100_000)],
    ["many attributes", "<a " + "x=1 ".repeat(100_000) + ">"],
    ["unclosed quote", '<a href="' + "x".repeat(300_000)],
    ["unclosed comment", "<!--" + "-".repeat(300_000)],
    ["nested replies", "<mx-reply>".repeat(50_000) + "x"],
  ])("stays fast on %s", (_what, input) => {
    const t0 = performance.now();
    scanHtml(input);
    expect(performance.now() - t0).toBeLessThan(300);
  });
});
