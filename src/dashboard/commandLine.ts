// Chat command text from dashboard form fields, so a change made in the browser runs through the
// very command a moderator would type. Pure. Each argument must be one token (no whitespace, no
// leading quote); flags go before a `--`, after which nothing is read as a flag, so a reason that
// starts with "--yes" stays a reason.

export type CommandLine = { ok: true; text: string } | { ok: false; error: string };

const QUOTES = /^["'“‘„«]/u;

export function commandLine(
  name: string,
  args: readonly { label: string; value: string }[],
  opts: { flags?: Readonly<Record<string, string | undefined>>; rest?: string } = {},
): CommandLine {
  const parts = [name];
  for (const [flag, value] of Object.entries(opts.flags ?? {})) {
    if (value === undefined || value === "") continue;
    if (!oneToken(value)) return { ok: false, error: `${flag}: expected one word without spaces` };
    parts.push(`--${flag}`, value);
  }
  parts.push("--");
  for (const a of args) {
    const v = a.value.trim();
    if (v === "") return { ok: false, error: `${a.label}: this field is required` };
    if (!oneToken(v)) return { ok: false, error: `${a.label}: expected one word without spaces or quotes` };
    parts.push(v);
  }
  const rest = opts.rest?.replace(/\s+/gu, " ").trim();
  if (rest) parts.push(rest);
  return { ok: true, text: parts.join(" ") };
}

function oneToken(v: string): boolean {
  return v.length > 0 && v.length <= 512 && !/[\s\u200b]/u.test(v) && !QUOTES.test(v);
}
