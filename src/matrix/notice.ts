// m.notice content with both a plain-text body and HTML, the shape every bot reply uses.
export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

export function noticeContent(text: string, html?: string): Record<string, unknown> {
  return {
    msgtype: "m.notice",
    body: text,
    format: "org.matrix.custom.html",
    formatted_body: html ?? escapeHtml(text).replace(/\n/g, "<br>"),
  };
}
