// Splits long replies into several notices, each of which fits the event size limit
// (see DESIGN: `rules` output over 64 KiB is a known failure of the existing bots).
//
// Sizes are computed exactly on the serialised JSON: every piece appended to a page is
// measured as a JSON string fragment, and the sum of the pieces is an upper bound of the
// serialised page (escaping is per character). Splits happen only between items, so never
// inside a tag, an entity or a character; an item that cannot fit even on an empty page is
// cut with `truncateFragment`, which closes the tags it leaves open.
import { contentBytes, jsonStringBytes } from "./bytes.ts";
import { DEFAULT_CONTENT_BUDGET, notice, type NoticeContent, type NoticeOptions } from "./content.ts";
import { isFragment, type Fragment } from "./fragment.ts";
import { escapeHtml, plainText } from "./html.ts";
import { truncateFragment } from "./truncate.ts";

export { TRUNCATION_MARKER, truncateFragment, truncateHtml, truncateText } from "./truncate.ts";

export type SectionStyle = "bullets" | "numbered" | "lines";

export interface Section {
  /** Shown above the items; repeated with "(continued)" when the section spans pages. */
  readonly title?: string;
  readonly items: readonly Fragment[];
  readonly style?: SectionStyle;
}

export interface PagedReply {
  /** First page only. */
  readonly header?: Fragment;
  readonly sections: readonly Section[];
  /** Last page only. */
  readonly footer?: Fragment;
}

/** What a command may return: a single fragment or a structured, pageable reply. */
export type Reply = Fragment | PagedReply;

export interface PaginateOptions extends NoticeOptions {
  /** Maximum serialised content size per page in bytes. */
  readonly budget?: number;
}

interface Piece {
  readonly text: string;
  readonly html: string;
}

const pieceCost = (p: Piece): number => jsonStringBytes(p.text) + jsonStringBytes(p.html);

/** Widest page label we reserve room for, so numbering can be added after splitting. */
function pageLabel(page: number, total: number): Piece {
  return { text: `\n(page ${page} of ${total})`, html: `<p><em>(page ${page} of ${total})</em></p>` };
}

/** Indent continuation lines of an item's plain text to line up under its bullet/number. */
function indentItem(item: Fragment, style: SectionStyle): Fragment {
  const pad = style === "bullets" ? "\n  " : style === "numbered" ? "\n   " : "\n";
  return pad === "\n" ? item : { text: item.text.replace(/\n/g, pad), html: item.html };
}

function itemPiece(
  item: Fragment,
  style: SectionStyle,
  index: number,
  newline: boolean,
  first: boolean,
): Piece {
  const sep = newline ? "\n" : "";
  switch (style) {
    case "bullets":
      return { text: `${sep}• ${item.text}`, html: `<li>${item.html}</li>` };
    case "numbered":
      return { text: `${sep}${index + 1}. ${item.text}`, html: `<li>${item.html}</li>` };
    case "lines":
      return { text: `${sep}${item.text}`, html: `${first ? "" : "<br>"}${item.html}` };
  }
}

function sectionOpen(section: Section, style: SectionStyle, startIndex: number, continued: boolean): Piece {
  let text = "";
  let html = "";
  if (section.title !== undefined) {
    const title = continued ? `${section.title} (continued)` : section.title;
    text = `${plainText(title)}\n`;
    html = `<h4>${escapeHtml(title)}</h4>`;
  }
  if (style === "bullets") html += "<ul>";
  else if (style === "numbered") html += startIndex === 0 ? "<ol>" : `<ol start="${startIndex + 1}">`;
  else html += "<p>";
  return { text, html };
}

function sectionClose(style: SectionStyle): Piece {
  return { text: "", html: style === "bullets" ? "</ul>" : style === "numbered" ? "</ol>" : "</p>" };
}

class PageBuilder {
  text = "";
  html = "";
  used = 0;
  hasContent = false;

  add(p: Piece): void {
    // The first text on a page needs no leading newline.
    const t = this.text === "" ? p.text.replace(/^\n/, "") : p.text;
    this.text += t;
    this.html += p.html;
    this.used += pieceCost(p);
  }
}

/**
 * Turn a reply into notices that each serialise to at most `budget` bytes (default
 * DEFAULT_CONTENT_BUDGET). Pages get "(page i of n)" when there is more than one.
 */
export function paginate(reply: Reply, opts: PaginateOptions = {}): NoticeContent[] {
  const budget = opts.budget ?? DEFAULT_CONTENT_BUDGET;
  const structured: PagedReply = isFragment(reply) ? { header: reply, sections: [] } : reply;
  const base = contentBytes(notice({ text: "", html: "" }, opts));
  const maxPages = 9_999_999;
  const labelReserve = pieceCost(pageLabel(maxPages, maxPages));
  const capacity = budget - base - labelReserve;
  if (capacity < 256) throw new RangeError(`page budget ${budget} is too small`);

  const pages: { text: string; html: string }[] = [];
  let page = new PageBuilder();
  const flush = (): void => {
    pages.push({ text: page.text, html: page.html });
    page = new PageBuilder();
  };

  // A piece that can never fit on an empty page is cut to what an empty page holds.
  const fit = (f: Fragment, overhead: number): Fragment => truncateFragment(f, capacity - overhead);

  if (structured.header !== undefined) {
    const h = fit(structured.header, 0);
    page.add({ text: h.text, html: h.html });
    page.hasContent = true;
  }

  for (const section of structured.sections) {
    const style = section.style ?? "bullets";
    let open = false; // is this section's list open on the current page?
    const close = sectionClose(style);
    const safeSection: Section =
      section.title !== undefined && section.title.length > 200
        ? { ...section, title: `${section.title.slice(0, 200)}…` }
        : section;
    section.items.forEach((original, index) => {
      const raw = indentItem(original, style);
      for (;;) {
        const opening = open ? { text: "", html: "" } : sectionOpen(safeSection, style, index, index > 0);
        const openPiece = {
          text: opening.text === "" || page.text === "" ? opening.text : `\n${opening.text}`,
          html: opening.html,
        };
        const newline = openPiece.text === "" && page.text !== "";
        const piece = itemPiece(raw, style, index, newline, !open);
        const need = pieceCost(openPiece) + pieceCost(piece) + pieceCost(close);
        if (page.used + need <= capacity) {
          if (!open) page.add(openPiece);
          open = true;
          page.add(piece);
          page.hasContent = true;
          return;
        }
        if (page.hasContent) {
          if (open) page.add(close);
          open = false;
          flush();
          continue;
        }
        // Empty page and still too big: truncate this one item.
        const wrapper = itemPiece({ text: "", html: "" }, style, index, newline, !open);
        const cut = fit(raw, pieceCost(openPiece) + pieceCost(close) + pieceCost(wrapper));
        if (!open) page.add(openPiece);
        page.add(itemPiece(cut, style, index, newline, !open));
        open = true;
        page.hasContent = true;
        return;
      }
    });
    if (open) page.add(close);
  }

  if (structured.footer !== undefined) {
    const f = fit(structured.footer, 2);
    const piece = { text: `\n${f.text}`, html: f.html };
    if (page.hasContent && page.used + pieceCost(piece) > capacity) flush();
    page.add(piece);
    page.hasContent = true;
  }
  if (page.hasContent || pages.length === 0) flush();

  const total = pages.length;
  return pages.map((p, i) => {
    const label = total > 1 ? pageLabel(i + 1, total) : { text: "", html: "" };
    const content = notice({ text: p.text + label.text, html: p.html + label.html }, opts);
    // The arithmetic above is an upper bound; this is a last line of defence, never expected.
    if (contentBytes(content) > budget) {
      const room = capacity;
      return notice(truncateFragment({ text: content.body, html: content.formatted_body }, room), opts);
    }
    return content;
  });
}
