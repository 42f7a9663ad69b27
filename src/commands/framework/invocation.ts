// Is a message addressed to the bot, and if so, what is the command text? Pure.
//
// Accepted forms (case-insensitive, leading whitespace ignored):
//   !tyr ban …                      the configured prefix, then whitespace or the end
//   tyr: ban …   tyr, ban …         the bot's localpart followed by ":" or ","
//   Tyr Bot: ban …                  its display name followed by ":" or ","
//   @tyr:example.org: ban …         its full user ID, followed by ":", "," or whitespace
// An HTML mention pill of the bot arrives with the display name at the start of `body` and a
// matrix.to link in `formatted_body`; both forms are recognised.
import { parseMatrixLink } from "./matrix-ids.ts";
import { closest } from "./suggest.ts";
import { isSpace, trimSpace } from "./text.ts";
import { decodeEntities, decodeEntityAt } from "../../format/entities.ts";

export const DEFAULT_PREFIX = "!tyr";

export interface BotIdentity {
  readonly userId: string;
  readonly displayName?: string | null;
}

function startsWithFold(s: string, prefix: string): boolean {
  return (
    prefix !== "" &&
    s.length >= prefix.length &&
    s.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase()
  );
}

/** Length of `name` + optional spaces + one of `seps` at the start of `s`, or -1. */
function addressedBy(s: string, name: string, seps: string, allowSpace: boolean): number {
  if (!startsWithFold(s, name)) return -1;
  let i = name.length;
  if (i === s.length) return i;
  if (allowSpace && isSpace(s[i] as string)) return i;
  while (i < s.length && (s[i] === " " || s[i] === "\u00a0")) i++;
  if (i < s.length && seps.includes(s[i] as string)) {
    // After ":" require a space (or the end): "tyr:example.org" is not an address.
    const next = s[i + 1];
    if (next === undefined || isSpace(next) || s[i] === ",") return i + 1;
  }
  return -1;
}

/**
 * The command text if `body` addresses the bot, "" if it addresses the bot with nothing
 * after it, or null if the message is not for the bot.
 */
export function detectInvocation(
  body: string,
  bot: BotIdentity,
  prefix: string = DEFAULT_PREFIX,
): string | null {
  let lead = 0;
  while (lead < body.length && isSpace(body[lead] as string)) lead++;
  const s = body.slice(lead);
  if (startsWithFold(s, prefix)) {
    const next = s[prefix.length];
    if (next === undefined || isSpace(next)) return trimSpace(s.slice(prefix.length));
  }
  const { localpart, display } = namesOf(bot);
  const names: { name: string; allowSpace: boolean }[] = [{ name: bot.userId, allowSpace: true }];
  if (localpart !== "")
    names.push({ name: localpart, allowSpace: false }, { name: `@${localpart}`, allowSpace: false });
  if (display !== "") names.push({ name: display, allowSpace: false });
  let best = -1;
  for (const { name, allowSpace } of names) {
    if (name === "") continue;
    best = Math.max(best, addressedBy(s, name, ":,", allowSpace));
  }
  return best < 0 ? null : trimSpace(s.slice(best));
}

/** The bot's localpart and display name ("" when it has none usable). */
function namesOf(bot: BotIdentity): { localpart: string; display: string } {
  const colon = bot.userId.indexOf(":");
  const localpart = bot.userId.startsWith("@") && colon > 1 ? bot.userId.slice(1, colon) : "";
  const display = trimSpace(bot.displayName ?? "");
  return { localpart, display: display.length <= 256 ? display : "" };
}

// ---- near misses: a command for Tyr under a name it does not answer to --------------------------

/** What people call the bot whatever its account is named: the product name. */
const PRODUCT_NAME = "tyr";

export interface NearMiss {
  /** The name as typed ("tyr", "!tir"). */
  readonly name: string;
  /** What followed it: the would-be command text. */
  readonly rest: string;
}

/**
 * A message that addresses the bot under a name close to one it answers to but not equal: a
 * near-miss prefix followed by whitespace ("!tir status" for "!tyr"), or a near-miss name followed
 * by ":" or "," ("tyr: status" when the account is @tyrbot). Pure; whether `rest` starts with a
 * command word is for the caller (the registry) to decide. `isOtherMember` tells whether a name
 * belongs to someone else in the room: addressing them is never a near miss.
 */
export function nearMissAddress(
  body: string,
  bot: BotIdentity,
  prefix: string,
  isOtherMember: (name: string) => boolean = () => false,
): NearMiss | null {
  if (detectInvocation(body, bot, prefix) !== null) return null;
  const s = trimSpace(body);
  const { localpart, display } = namesOf(bot);
  const names = [localpart, display, bot.userId, `@${localpart}`, PRODUCT_NAME].filter((n) => n.length > 1);

  const sigil = /^[^\p{L}\p{N}]/u.test(prefix) ? prefix[0]! : "";
  // Names are at most 64 characters: anything longer before the separator is a sentence.
  const word = /^(\S{2,64})\s+(\S[\s\S]*)$/u.exec(s);
  if (sigil !== "" && word !== null && word[1]!.startsWith(sigil)) {
    const prefixes = [prefix, ...names.filter((n) => !n.startsWith("@")).map((n) => sigil + n)];
    if (closest(word[1]!, prefixes, 1).length > 0) return { name: word[1]!, rest: word[2]! };
  }
  // ":" needs a space after it (or "tyr:example.org" would read as an address), "," does not.
  const named = /^([^:,\n]{1,64}?)\s*(?::\s+|,\s*)(\S[\s\S]*)$/u.exec(s);
  if (named === null) return null;
  const name = trimSpace(named[1]!);
  if (name === "" || closest(name, names, 1).length === 0 || isOtherMember(name)) return null;
  return { name, rest: named[2]! };
}

/** The exact ways to send `command` to the bot, for a hint. */
export function addressForms(bot: BotIdentity, prefix: string, command: string): string[] {
  const { localpart, display } = namesOf(bot);
  const forms = [`${prefix} ${command}`];
  if (localpart !== "") forms.push(`${localpart}: ${command}`);
  if (display !== "" && display.toLowerCase() !== localpart.toLowerCase())
    forms.push(`${display}: ${command}`);
  forms.push(`${bot.userId}: ${command}`);
  return forms;
}

// ---- from event content to command text ------------------------------------------------------

const BLOCK_END = /^<\/(p|div|li|h[1-6]|blockquote|pre|tr)\s*>$/i;

/**
 * Text of an HTML body with mention pills replaced by the identifiers they link to, so that
 * `!tyr ban <a href="https://matrix.to/#/@spam:evil.org">Spammer</a>` reads
 * `!tyr ban @spam:evil.org`. Links to events keep their URL (usable as a permalink).
 * Linear: one pass, no regular expression over the whole input.
 */
export function htmlToCommandText(html: string): string {
  const lower = html.toLowerCase();
  let out = "";
  let i = 0;
  while (i < html.length) {
    const c = html[i] as string;
    if (c === "<") {
      const end = html.indexOf(">", i);
      if (end < 0) {
        out += html.slice(i);
        break;
      }
      const tag = html.slice(i, end + 1);
      if (lower.startsWith("<mx-reply", i)) {
        // Rich-reply fallback: the quoted message is not part of the command.
        const close = lower.indexOf("</mx-reply>", end);
        i = close < 0 ? html.length : close + "</mx-reply>".length;
        continue;
      }
      const a = /^<a\s[^>]*?href\s*=\s*(?:"([^"]*)"|'([^']*)')/i.exec(tag);
      if (a !== null) {
        const href = decodeEntities(a[1] ?? a[2] ?? "");
        const close = lower.indexOf("</a>", end);
        const labelEnd = close < 0 ? html.length : close;
        const label = htmlToCommandText(html.slice(end + 1, labelEnd));
        const link = parseMatrixLink(href);
        if (link.ok && link.value.kind === "user") out += link.value.userId;
        else if (link.ok && link.value.kind === "room" && link.value.eventId === undefined) {
          const r = link.value.room;
          out += r.kind === "id" ? r.roomId : r.alias;
        } else if (link.ok) out += href;
        else out += label;
        i = close < 0 ? html.length : close + 4;
        continue;
      }
      if (/^<br\s*\/?>$/i.test(tag) || BLOCK_END.test(tag)) out += "\n";
      i = end + 1;
      continue;
    }
    if (c === "&") {
      const [decoded, next] = decodeEntityAt(html, i);
      out += decoded;
      i = next;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

/** Remove a rich-reply fallback ("> <@alice:x> quoted…" lines, then a blank line). */
export function stripReplyFallback(body: string): string {
  if (!body.startsWith("> ")) return body;
  const lines = body.split("\n");
  let k = 0;
  while (k < lines.length && (lines[k] as string).startsWith(">")) k++;
  if (k < lines.length && (lines[k] as string).trim() === "") k++;
  return lines.slice(k).join("\n");
}

const PILL_HREF = /href\s*=\s*["'](https?:\/\/matrix\.to\/#\/|matrix:)/i;

/**
 * The text to interpret as a command, from raw event content; null when the event cannot be
 * a command by design: not an `m.text` message (notices are ignored so bots never loop),
 * an edit (`m.replace` — re-running an edited ban would repeat it), or malformed content.
 */
export function commandText(content: unknown): string | null {
  if (typeof content !== "object" || content === null) return null;
  const c = content as Record<string, unknown>;
  if (c.msgtype !== "m.text" || typeof c.body !== "string") return null;
  const rel = c["m.relates_to"];
  if (typeof rel === "object" && rel !== null && (rel as Record<string, unknown>).rel_type === "m.replace")
    return null;
  if (c["m.new_content"] !== undefined) return null;
  const html =
    c.format === "org.matrix.custom.html" && typeof c.formatted_body === "string"
      ? c.formatted_body
      : undefined;
  // The HTML is used only when it carries pills; otherwise the plain body is what was typed
  // (markdown rendering would have eaten characters such as * and _ from globs).
  if (html !== undefined && PILL_HREF.test(html)) return htmlToCommandText(html);
  return stripReplyFallback(c.body);
}
