// Reply formatting: fragments (escaped by construction), notices, edits, reactions, threads,
// and pagination under the event size limit.
export * from "./content.ts";
export * from "./fragment.ts";
export { codePointLabel, escapeHtml, escapeHtmlMultiline, neutraliseInvisible, plainText } from "./html.ts";
export * from "./paginate.ts";
