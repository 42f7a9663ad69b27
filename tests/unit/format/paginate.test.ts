import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  contentBytes,
  DEFAULT_CONTENT_BUDGET,
  threadReply,
  type NoticeContent,
} from "../../../src/format/content.ts";
import { bold, code, fmt, link, text, type Fragment } from "../../../src/format/fragment.ts";
import {
  paginate,
  TRUNCATION_MARKER,
  truncateHtml,
  truncateText,
  type PagedReply,
  type SectionStyle,
} from "../../../src/format/paginate.ts";

const VOID = new Set(["br", "hr", "img"]);

/** Every tag closed in order, no tag or entity cut in half. */
function wellFormed(html: string): boolean {
  const stack: string[] = [];
  const re = /<(\/?)([a-zA-Z][a-zA-Z0-9]*)[^<>]*>|<|>|&(?:[a-z]+|#\d+|#x[0-9a-f]+);|&/gi;
  for (const m of html.matchAll(re)) {
    const s = m[0];
    if (s === "<" || s === ">") return false; // stray angle bracket = a cut tag
    if (s === "&") return false; // a cut entity
    if (m[2] === undefined) continue;
    const name = m[2].toLowerCase();
    if (VOID.has(name)) continue;
    if (m[1] === "/") {
      if (stack.pop() !== name) return false;
    } else stack.push(name);
  }
  return stack.length === 0;
}

const hasLoneSurrogate = (s: string): boolean =>
  /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

function checkPages(pages: NoticeContent[], budget: number): void {
  expect(pages.length).toBeGreaterThan(0);
  for (const p of pages) {
    expect(contentBytes(p)).toBeLessThanOrEqual(budget);
    expect(wellFormed(p.formatted_body)).toBe(true);
    expect(hasLoneSurrogate(p.body)).toBe(false);
    expect(hasLoneSurrogate(p.formatted_body)).toBe(false);
  }
}

const rule = (i: number): Fragment =>
  fmt`${code(`@spammer${i}:evil${i % 100}.org`)} — ${bold("ban")}: spam wave ${i}`;

describe("paginate", () => {
  it("a short reply is one page without numbering", () => {
    const pages = paginate({ header: text("Rules"), sections: [{ items: [rule(1), rule(2)] }] });
    expect(pages).toHaveLength(1);
    expect(pages[0]!.body).toBe(
      "Rules\n• `@spammer1:evil1.org` — ban: spam wave 1\n• `@spammer2:evil2.org` — ban: spam wave 2",
    );
    expect(pages[0]!.formatted_body).toBe(
      "Rules<ul><li><code>@spammer1:evil1.org</code> — <strong>ban</strong>: spam wave 1</li><li><code>@spammer2:evil2.org</code> — <strong>ban</strong>: spam wave 2</li></ul>",
    );
  });

  it("splits 20,000 rules into pages under the limit, in order, nothing lost", { timeout: 30_000 }, () => {
    const items = Array.from({ length: 20_000 }, (_, i) => rule(i));
    const reply: PagedReply = {
      header: text("20,000 rules"),
      sections: [{ title: "spam-list", items, style: "numbered" }],
      footer: text("end"),
    };
    const pages = paginate(reply, { relatesTo: threadReply("$cmd") });
    checkPages(pages, DEFAULT_CONTENT_BUDGET);
    expect(pages.length).toBeGreaterThan(20);
    expect(pages[0]!.body.startsWith("20,000 rules\nspam-list\n1. ")).toBe(true);
    expect(pages[1]!.body.startsWith("spam-list (continued)\n")).toBe(true);
    expect(pages[1]!.formatted_body).toMatch(/^<h4>spam-list \(continued\)<\/h4><ol start="\d+">/);
    expect(pages.at(-1)!.body).toMatch(/\nend\n\(page \d+ of \d+\)$/);
    for (const [i, p] of pages.entries()) {
      expect(p.body.endsWith(`(page ${i + 1} of ${pages.length})`)).toBe(true);
      expect(p["m.relates_to"]).toEqual(threadReply("$cmd"));
    }
    const all = pages.map((p) => p.body).join("\n");
    let from = 0;
    for (let i = 0; i < 20_000; i += 997) {
      const at = all.indexOf(`${i + 1}. \`@spammer${i}:`, from);
      expect(at).toBeGreaterThanOrEqual(from);
      from = at;
    }
    expect(all.match(/^\d+\. /gm)).toHaveLength(20_000);
  });

  it("truncates a single absurd item with a marker and keeps the HTML well-formed", () => {
    const huge = fmt`${bold(`<x>${"é".repeat(40_000)}`)} and ${link("https://matrix.to/#/@a:b.c", "😀".repeat(20_000))}`;
    const pages = paginate({ sections: [{ items: [rule(1), huge, rule(2)] }] }, { budget: 20_000 });
    checkPages(pages, 20_000);
    expect(pages).toHaveLength(3);
    expect(pages[1]!.body).toContain(TRUNCATION_MARKER);
    expect(pages[1]!.formatted_body).toContain("&lt;");
    expect(pages[2]!.body).toContain("spam wave 2");
  });

  it("a single huge fragment is truncated into one page", () => {
    const pages = paginate(text("x".repeat(200_000)));
    checkPages(pages, DEFAULT_CONTENT_BUDGET);
    expect(pages).toHaveLength(1);
  });

  it("an empty reply is one empty page", () => {
    expect(paginate({ sections: [] })).toHaveLength(1);
  });

  it("truncateText never splits a character", () => {
    expect(truncateText("😀😀😀", 11, "…")).toBe("😀😀…");
    expect(truncateText("😀😀😀", 12, "…")).toBe("😀😀😀");
    expect(truncateText("short", 100)).toBe("short");
  });

  it("truncateHtml never splits a tag or entity and closes what it opened", () => {
    const h = "<ul><li><strong>a&amp;b</strong> tail</li><li>next</li></ul>";
    for (let n = 0; n <= h.length + 20; n++) {
      const cut = truncateHtml(h, n, "…");
      expect(wellFormed(cut)).toBe(true);
      expect(Buffer.byteLength(JSON.stringify(cut)) - 2).toBeLessThanOrEqual(Math.max(n, 0));
    }
    expect(truncateHtml(h, 40, "…")).toBe("<ul><li><strong>a</strong></li></ul>…");
    expect(truncateHtml(h, 45, "…")).toBe("<ul><li><strong>a&amp;b</strong></li></ul>…");
  });

  it(
    "property: no page is ever over the budget, pages are well-formed, small items are never lost",
    { timeout: 60_000 },
    () => {
      const piece = fc.oneof(
        fc.string({ unit: "grapheme", maxLength: 40 }),
        fc.string({ unit: "binary", maxLength: 40 }),
        fc.constantFrom("<script>", "&amp;", '"quoted"', "\n", "\u202e", "😀", "é", "\u0000", "\ud800", "`"),
        fc.string({ unit: fc.constantFrom("a", "é", "😀", "<", "&", "\n"), maxLength: 3000 }),
      );
      const fragment = fc
        .tuple(piece, fc.constantFrom("text", "bold", "code", "link", "fmt"))
        .map(([s, kind]): Fragment => {
          switch (kind) {
            case "bold":
              return bold(s);
            case "code":
              return code(s);
            case "link":
              return link("https://matrix.to/#/@a:b.c", s);
            case "fmt":
              return fmt`${bold(s)} — ${code(s)}`;
            default:
              return text(s);
          }
        });
      const section = fc.record({
        title: fc.option(piece, { nil: undefined }),
        items: fc.array(fragment, { maxLength: 60 }),
        style: fc.constantFrom<SectionStyle>("bullets", "numbered", "lines"),
      });
      const reply = fc.record({
        header: fc.option(fragment, { nil: undefined }),
        sections: fc.array(section, { maxLength: 4 }),
        footer: fc.option(fragment, { nil: undefined }),
      });
      fc.assert(
        fc.property(reply, fc.integer({ min: 1_000, max: 65_536 }), (r, budget) => {
          const pages = paginate(r, { budget, relatesTo: threadReply("$cmd") });
          checkPages(pages, budget);
          // Items that fit comfortably are never truncated and appear in order.
          const bodies = pages.map((p) => p.body).join("\n");
          if (!bodies.includes(TRUNCATION_MARKER)) {
            let from = 0;
            for (const s of r.sections)
              for (const item of s.items) {
                if (item.text === "") continue;
                const at = bodies.indexOf(item.text.split("\n")[0]!, from);
                expect(at).toBeGreaterThanOrEqual(0);
                from = at;
              }
          }
        }),
        { numRuns: 300 },
      );
    },
  );
});
