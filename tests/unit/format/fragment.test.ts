import { describe, expect, it } from "vitest";
import {
  blocks,
  bold,
  bullets,
  code,
  codeBlock,
  fmt,
  formatNumber,
  heading,
  join,
  keyValue,
  link,
  numbered,
  permalink,
  progress,
  table,
  text,
  trusted,
} from "../../../src/format/fragment.ts";
import { escapeHtml, neutraliseInvisible } from "../../../src/format/html.ts";

describe("escaping of user input", () => {
  it.each<[string, string, string]>([
    ["<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;", "<script>alert(1)</script>"],
    [
      '<a href="https://evil.example">click</a>',
      "&lt;a href=&quot;https://evil.example&quot;&gt;click&lt;/a&gt;",
      '<a href="https://evil.example">click</a>',
    ],
    ["<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;", "<img src=x onerror=alert(1)>"],
    ['Tom & Jerry\'s "show"', "Tom &amp; Jerry&#39;s &quot;show&quot;", 'Tom & Jerry\'s "show"'],
    [
      "**bold** _it_ [x](https://evil.example) `code`",
      "**bold** _it_ [x](https://evil.example) `code`",
      "**bold** _it_ [x](https://evil.example) `code`",
    ],
    ["@room please look", "@room please look", "@room please look"],
    ["раypal.com", "раypal.com", "раypal.com"], // Cyrillic "ра": kept, not "fixed"
    ["evil\u202Egro.live", "evil&lt;U+202E&gt;gro.live", "evil<U+202E>gro.live"],
    [
      "a\u2066b\u2069c\u200fd",
      "a&lt;U+2066&gt;b&lt;U+2069&gt;c&lt;U+200F&gt;d",
      "a<U+2066>b<U+2069>c<U+200F>d",
    ],
    [
      "bell\u0007 nul\u0000 esc\u001b",
      "bell&lt;U+0007&gt; nul&lt;U+0000&gt; esc&lt;U+001B&gt;",
      "bell<U+0007> nul<U+0000> esc<U+001B>",
    ],
    ["line1\nline2", "line1<br>line2", "line1\nline2"],
    ["cr\r\nlf", "cr<br>lf", "cr\nlf"],
    ["lone \ud800 surrogate", "lone \ufffd surrogate", "lone \ufffd surrogate"],
    ["emoji 👍🏽 ok", "emoji 👍🏽 ok", "emoji 👍🏽 ok"],
  ])("%j", (input, html, plain) => {
    expect(text(input)).toEqual({ text: plain, html });
  });

  it("fmt escapes static parts and strings, keeps fragments", () => {
    const reason = "<b>gotcha</b>";
    const f = fmt`Banned ${code("@x:y")} <for> ${reason} in ${1234} rooms`;
    expect(f.html).toBe("Banned <code>@x:y</code> &lt;for&gt; &lt;b&gt;gotcha&lt;/b&gt; in 1,234 rooms");
    expect(f.text).toBe("Banned `@x:y` <for> <b>gotcha</b> in 1,234 rooms");
  });

  it("no helper lets user text become markup", () => {
    const evil = '</code><script>x</script><a href="javascript:alert(1)">';
    for (const f of [
      code(evil),
      codeBlock(evil),
      bold(evil),
      heading(4, evil),
      bullets([evil]),
      keyValue([[evil, evil]]),
      table([evil], [[evil]]),
    ]) {
      expect(f.html).not.toMatch(/<script|<a |<\/code><script/);
    }
  });

  it("links only to safe schemes and escapes the href", () => {
    expect(link("https://matrix.to/#/@a:b.c", "A")).toEqual({
      text: "A (https://matrix.to/#/@a:b.c)",
      html: '<a href="https://matrix.to/#/@a:b.c">A</a>',
    });
    expect(link('https://x.example/"><script>').html).toBe(
      '<a href="https://x.example/&quot;&gt;&lt;script&gt;">https://x.example/&quot;&gt;&lt;script&gt;</a>',
    );
    expect(link("javascript:alert(1)", "click").html).toBe("click (javascript:alert(1))");
    expect(link("JaVaScRiPt:alert(1)").html).toBe("JaVaScRiPt:alert(1)");
    expect(link("data:text/html,<b>x</b>").html).toBe("data:text/html,&lt;b&gt;x&lt;/b&gt;");
    expect(permalink("#room:example.org", "$ev", ["example.org"])).toBe(
      "https://matrix.to/#/%23room%3Aexample.org/%24ev?via=example.org",
    );
  });

  it("escapeHtml and neutraliseInvisible", () => {
    expect(escapeHtml(`&<>"'`)).toBe("&amp;&lt;&gt;&quot;&#39;");
    expect(neutraliseInvisible("tab\tkept")).toBe("tab\tkept");
    expect(neutraliseInvisible("ls\u2028ps\u2029")).toBe("ls\nps\n");
  });
});

describe("structures", () => {
  it("lists, headings, tables as lists", () => {
    expect(bullets(["a", "b\nc"])).toEqual({
      text: "• a\n• b\n  c",
      html: "<ul><li>a</li><li>b<br>c</li></ul>",
    });
    expect(numbered(["x", "y"], 3)).toEqual({
      text: "3. x\n4. y",
      html: '<ol start="3"><li>x</li><li>y</li></ol>',
    });
    expect(keyValue([["Rooms", 3]])).toEqual({
      text: "• Rooms: 3",
      html: "<ul><li><strong>Rooms</strong>: 3</li></ul>",
    });
    expect(table(["room", "state"], [["#a:b.c", "in sync"]]).text).toBe("• room: #a:b.c · state: in sync");
    expect(join(["a", bold("b")], " | ").html).toBe("a | <strong>b</strong>");
    expect(formatNumber(-1234567.5)).toBe("-1,234,567.5");
    expect(progress("banning 340 users in 12 rooms", 120, 4080).text).toBe(
      "banning 340 users in 12 rooms: 120/4,080 (2%)",
    );
    expect(progress("<x>", 5, 0).html).toBe("&lt;x&gt;: 0/0 (100%)");
  });

  it("blocks put inline runs on separate lines but not after block elements", () => {
    const f = blocks(
      heading(4, "T"),
      text("one"),
      text("two"),
      bullets(["x"]),
      text("after"),
      false,
      undefined,
    );
    expect(f.html).toBe("<h4>T</h4>one<br>two<ul><li>x</li></ul>after");
    expect(f.text).toBe("T\none\ntwo\n• x\nafter");
    expect(blocks(trusted("<b>x</b>", "x")).html).toBe("<b>x</b>");
  });
});
