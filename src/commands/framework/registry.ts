// The command registry: resolves the longest matching (multi-word) command name, splits
// flags from positional arguments, parses each with its declared type, and answers every
// mistake with one precise sentence that points at the command's help.
import { code, fmt, text as textFragment, type Fragment } from "../../format/fragment.ts";
import type { ArgSpec, Command, CommandResult, FlagSpec, Invocation } from "./command.ts";
import {
  addressForms,
  commandText,
  detectInvocation,
  DEFAULT_PREFIX,
  nearMissAddress,
  type BotIdentity,
  type NearMiss,
} from "./invocation.ts";
import { closest } from "./suggest.ts";
import { describeChar, nonAsciiChar, quote } from "./text.ts";
import { scan, tooLongError, unclosedQuoteError, type Token } from "./tokenizer.ts";

export interface ParseOptions {
  /** Prefix shown in messages ("see "!tyr help ban""). Default "!tyr". */
  readonly prefix?: string;
}

export interface ParsedCommand<Ctx> {
  readonly ok: true;
  readonly command: Command<Ctx>;
  /** Argument and flag values by name. */
  readonly args: Record<string, unknown>;
  readonly invocation: Invocation;
  /** The preview to confirm before running, or null when the command may run now
   *  (no confirmation declared, the check said no, or `--yes` was given). */
  confirmation(ctx: Ctx): Promise<Fragment | null>;
  run(ctx: Ctx): Promise<CommandResult>;
}

export interface ParseFailure<Ctx> {
  readonly ok: false;
  /** One plain-text sentence for the user (escape it when building HTML). */
  readonly error: string;
  /** The command, when the name was recognised and its arguments were wrong. */
  readonly command?: Command<Ctx>;
}

export type ParseOutcome<Ctx> = ParsedCommand<Ctx> | ParseFailure<Ctx>;

/** Usage line generated from a definition: `!tyr kick <user> [reason…] [--room <room>] [--yes]`. */
export function usageLine<Ctx>(cmd: Command<Ctx>, prefix: string = DEFAULT_PREFIX): string {
  const parts = [prefix, cmd.name];
  for (const a of cmd.args) parts.push(argUsage(a));
  for (const [name, f] of Object.entries(cmd.flags)) {
    parts.push(f.type === "boolean" ? `[--${name}]` : `[--${name} <${f.type.placeholder}>]`);
  }
  return parts.join(" ");
}

export function argUsage(a: ArgSpec): string {
  const dots = a.rest === true || a.variadic === true ? "…" : "";
  return a.optional === true ? `[${a.name}${dots}]` : `<${a.name}>${dots}`;
}

function joinQuotedOr(names: readonly string[]): string {
  const q = names.map((n) => `"${n}"`);
  if (q.length <= 1) return q.join("");
  return `${q.slice(0, -1).join(", ")} or ${q[q.length - 1]}`;
}

interface Resolved<Ctx> {
  readonly command: Command<Ctx>;
  /** Number of tokens the name took. */
  readonly consumed: number;
}

export class CommandRegistry<Ctx> {
  readonly #commands: Command<Ctx>[] = [];
  readonly #byName = new Map<string, Command<Ctx>>();
  #maxWords = 1;

  constructor(commands: Iterable<Command<Ctx>> = []) {
    for (const c of commands) this.register(c);
  }

  /** Add commands; duplicate names or aliases are programming errors and throw. */
  register(...commands: readonly Command<Ctx>[]): this {
    for (const c of commands) {
      for (const n of [c.name, ...c.aliases]) {
        if (this.#byName.has(n)) throw new Error(`command name "${n}" is registered twice`);
        this.#byName.set(n, c);
        this.#maxWords = Math.max(this.#maxWords, n.split(" ").length);
      }
      this.#commands.push(c);
    }
    return this;
  }

  get commands(): readonly Command<Ctx>[] {
    return this.#commands;
  }

  /** By canonical name or alias, case-insensitive. */
  find(name: string): Command<Ctx> | undefined {
    return this.#byName.get(name.trim().toLowerCase().split(/\s+/u).join(" "));
  }

  /** Commands by group, in registration order. */
  groups(): { group: string; commands: Command<Ctx>[] }[] {
    const m = new Map<string, Command<Ctx>[]>();
    for (const c of this.#commands) {
      const list = m.get(c.group) ?? [];
      list.push(c);
      m.set(c.group, list);
    }
    return [...m].map(([group, commands]) => ({ group, commands }));
  }

  /** Longest command name formed by the leading unquoted tokens. */
  resolve(tokens: readonly Token[]): Resolved<Ctx> | undefined {
    const words: string[] = [];
    for (const t of tokens.slice(0, this.#maxWords)) {
      if (t.quoted) break;
      words.push(t.value.toLowerCase());
    }
    for (let k = words.length; k >= 1; k--) {
      const c = this.#byName.get(words.slice(0, k).join(" "));
      if (c !== undefined) return { command: c, consumed: k };
    }
    return undefined;
  }

  /** Commands whose name (or alias) starts with the given words ("list" → "list create", …). */
  startingWith(words: readonly string[]): Command<Ctx>[] {
    const p = words.join(" ").toLowerCase();
    return this.#commands.filter(
      (c) => c.name.startsWith(`${p} `) || c.aliases.some((a) => a.startsWith(`${p} `)),
    );
  }

  /** Suggestions for a name that matched nothing: the first k typed words against every
   *  k-word name, longest k first. */
  suggest(words: readonly string[]): string[] {
    return this.#suggestions(words).map((s) => s.name);
  }

  #suggestions(words: readonly string[]): { name: string; words: number }[] {
    const names = [...this.#byName.keys()];
    const out: { name: string; words: number }[] = [];
    for (let k = Math.min(words.length, this.#maxWords); k >= 1; k--) {
      const typed = words.slice(0, k).join(" ");
      for (const n of closest(
        typed,
        names.filter((x) => x.split(" ").length === k),
      )) {
        const canonical = this.#byName.get(n)?.name ?? n;
        if (!out.some((o) => o.name === canonical)) out.push({ name: canonical, words: k });
      }
    }
    return out.slice(0, 3);
  }

  /** Parse command text (after the bot was addressed). Never throws. */
  parse(input: string, opts: ParseOptions = {}): ParseOutcome<Ctx> {
    const prefix = opts.prefix ?? DEFAULT_PREFIX;
    try {
      return this.#parse(input, prefix);
    } catch (e) {
      // Parsers are pure and tested; should one still throw, the user gets a message and the
      // bot keeps going.
      return {
        ok: false,
        error: `Sorry, I could not read that command (${e instanceof Error ? e.message : "internal error"}).`,
      };
    }
  }

  #parse(input: string, prefix: string): ParseOutcome<Ctx> {
    const long = tooLongError(input);
    if (long !== undefined) return { ok: false, error: long };
    const scanned = scan(input);
    const tokens = scanned.tokens;
    const helpHint = `"${prefix} help"`;
    if (tokens.length === 0)
      return { ok: false, error: `No command given. Type ${helpHint} to see what I can do.` };

    const resolved = this.resolve(tokens);
    if (resolved === undefined) {
      if (scanned.unclosedQuote !== undefined)
        return { ok: false, error: unclosedQuoteError(input, scanned.unclosedQuote) };
      return { ok: false, error: this.#unknown(tokens, prefix) };
    }
    const cmd = resolved.command;
    const fail = (msg: string): ParseFailure<Ctx> => ({
      ok: false,
      error: `${cmd.name}: ${msg} — see "${prefix} help ${cmd.name}"`,
      command: cmd,
    });

    // Flags first: they may appear anywhere after the name.
    const values: Record<string, unknown> = {};
    const positional: { token: Token; index: number }[] = [];
    const seen = new Set<string>();
    let literal = false;
    for (let i = resolved.consumed; i < tokens.length; i++) {
      const t = tokens[i] as Token;
      if (literal || t.quoted) {
        positional.push({ token: t, index: i });
        continue;
      }
      if (t.value === "--") {
        literal = true;
        continue;
      }
      const flag = this.#flagOf(cmd, t.value);
      if (flag === undefined) {
        positional.push({ token: t, index: i });
        continue;
      }
      if (flag.error !== undefined) return fail(flag.error);
      const { name, spec, inlineValue } = flag;
      if (seen.has(name)) return fail(`--${name} was given twice`);
      seen.add(name);
      if (spec.type === "boolean") {
        if (inlineValue !== undefined) return fail(`--${name} does not take a value`);
        values[name] = true;
        continue;
      }
      let raw = inlineValue;
      if (raw === undefined) {
        const next = tokens[i + 1];
        if (next === undefined || (!next.quoted && /^(--|[—–])./u.test(next.value)))
          return fail(`--${name} needs a value (${spec.type.expected})`);
        raw = next.value;
        i++;
      }
      const r = spec.type.parse(raw);
      if (!r.ok)
        return fail(
          `--${name} should be ${spec.type.expected}, got ${quote(raw)}${r.detail ? `: ${r.detail}` : ""}`,
        );
      values[name] = r.value;
    }
    for (const [name, spec] of Object.entries(cmd.flags)) {
      if (name in values) continue;
      values[name] = spec.type === "boolean" ? false : spec.default;
    }

    // Positional arguments in order. An optional argument that does not parse, and does not
    // even look like its type, is skipped so the token can fill the next one
    // (`mute @x spamming` with [duration] [reason…]); one that looks like its type but is
    // wrong (`mute @x 5x`) is an error rather than silently becoming part of a reason.
    let p = 0;
    let restStart: number | undefined;
    let argError: string | undefined;
    const usage = usageLine(cmd, prefix);
    for (let a = 0; a < cmd.args.length && argError === undefined; a++) {
      const spec = cmd.args[a] as ArgSpec;
      // Numbered as the user typed them, which differs from the slot after a skipped optional.
      const n = p + 1;
      const remaining = positional.slice(p);
      if (remaining.length === 0) {
        if (spec.optional === true) {
          values[spec.name] = spec.variadic === true ? [] : undefined;
          continue;
        }
        argError = `missing argument ${n}, ${argUsage(spec)} (${spec.type.expected}) — usage: ${usage}`;
        break;
      }
      if (spec.rest === true) {
        restStart = remaining[0]!.token.start;
        const raw = restText(input, remaining);
        const r = spec.type.parse(raw);
        if (!r.ok) argError = typeError(n, spec, raw, r.detail);
        else values[spec.name] = r.value;
        p = positional.length;
        continue;
      }
      if (spec.variadic === true) {
        const list: unknown[] = [];
        for (const [k, { token }] of remaining.entries()) {
          const r = spec.type.parse(token.value);
          if (!r.ok) {
            argError = typeError(n + k, spec, token.value, r.detail);
            break;
          }
          list.push(r.value);
        }
        values[spec.name] = list;
        p = positional.length;
        continue;
      }
      const token = remaining[0]!.token;
      const r = spec.type.parse(token.value);
      if (r.ok) {
        values[spec.name] = r.value;
        p++;
        continue;
      }
      const later = cmd.args.slice(a + 1).length > 0;
      const meant = spec.type.recognises === undefined || spec.type.recognises(token.value);
      if (spec.optional === true && later && !meant) {
        values[spec.name] = undefined;
        continue;
      }
      argError = typeError(n, spec, token.value, r.detail);
    }

    // An unclosed quote is harmless inside a free-text reason (it is kept as typed); anywhere
    // else it probably swallowed or split an argument, so say that first.
    const q = scanned.unclosedQuote;
    if (q !== undefined && !(restStart !== undefined && q.index >= restStart))
      return fail(unclosedQuoteError(input, q).replace(/\.$/, ""));
    if (argError !== undefined) return fail(argError);
    if (p < positional.length) {
      const extra = positional[p]!.token;
      return fail(`too many arguments: ${quote(extra.value)} was not expected — usage: ${usage}`);
    }

    const invocation: Invocation = { prefix, command: cmd.name, text: input, yes: values.yes === true };
    return {
      ok: true,
      command: cmd,
      args: values,
      invocation,
      confirmation: async (ctx) => {
        if (invocation.yes || cmd.confirm === undefined || cmd.confirm === false) return null;
        if (cmd.confirm === true) return fmt`About to run ${code(`${prefix} ${input}`)}.`;
        const d = await cmd.confirm(ctx, values);
        if (d === null || d === undefined || d === false || d === "") return null;
        return typeof d === "string" ? textFragment(d) : d;
      },
      run: async (ctx) => cmd.run(ctx, values, invocation),
    };

    function typeError(n: number, spec: ArgSpec, raw: string, detail: string | undefined): string {
      return `argument ${n} should be ${spec.type.expected}, got ${quote(raw)}${detail ? `: ${detail}` : ""}`;
    }
  }

  /** Recognise `--name`, `--name=value`, `—name` (phones turn -- into an em dash) and
   *  declared one-letter `-y`. Undefined: not a flag at all (a positional token). */
  #flagOf(
    cmd: Command<Ctx>,
    token: string,
  ):
    | { name: string; spec: FlagSpec; inlineValue?: string; error?: undefined }
    | { error: string }
    | undefined {
    const short = /^-([a-zA-Z])$/.exec(token);
    if (short !== null) {
      const hit = Object.entries(cmd.flags).find(([, f]) => f.short === short[1]);
      return hit === undefined ? undefined : { name: hit[0], spec: hit[1] };
    }
    const m = /^(?:--|[—–])([^=]+)(?:=([\s\S]*))?$/u.exec(token);
    if (m === null) return undefined;
    const name = (m[1] ?? "").toLowerCase();
    const spec = cmd.flags[name];
    if (spec === undefined) {
      const names = Object.keys(cmd.flags);
      const near = closest(name, names);
      const known =
        names.length === 0 ? "it takes no flags" : `its flags are ${names.map((n) => `--${n}`).join(", ")}`;
      const hint = near.length > 0 ? `did you mean --${near[0]}?` : known;
      return {
        error: `unknown flag ${quote(token, 40)} (${hint}; put -- before text that starts with dashes)`,
      };
    }
    return m[2] === undefined ? { name, spec } : { name, spec, inlineValue: m[2] };
  }

  #unknown(tokens: readonly Token[], prefix: string): string {
    const words: string[] = [];
    for (const t of tokens.slice(0, this.#maxWords)) {
      if (t.quoted) break;
      words.push(t.value.toLowerCase());
    }
    const first = tokens[0]!.value;
    const helpHint = `Type "${prefix} help" for the list of commands.`;
    if (words.length === 0) return `Unknown command ${quote(first)}. ${helpHint}`;

    // "list" alone, or "list creat": the first word starts some multi-word commands.
    const family = this.startingWith([words[0]!]);
    if (family.length > 0) {
      const subs = family.map((c) => c.name);
      if (words.length === 1) {
        return `"${words[0]}" needs more: ${joinQuotedOr(subs)}. See "${prefix} help ${words[0]}".`;
      }
      const typed = words.slice(0, 2).join(" ");
      const near = closest(typed, subs);
      if (near.length > 0) return `Unknown command ${quote(typed)}. Did you mean ${joinQuotedOr(near)}?`;
    }

    const suggestions = this.#suggestions(words);
    const odd = nonAsciiChar(first);
    const lookalike =
      odd === undefined ? "" : ` (it contains ${describeChar(odd)}, which is not a Latin letter)`;
    if (suggestions.length > 0) {
      // Echo as many words as the best suggestion has ("rule matching" → "rules matching").
      const typed = words.slice(0, suggestions[0]!.words).join(" ");
      const names = suggestions.map((s) => s.name);
      return `Unknown command ${quote(typed)}${lookalike}. Did you mean ${joinQuotedOr(names)}?`;
    }
    return `Unknown command ${quote(words[0]!)}${lookalike}. ${helpHint}`;
  }
}

/**
 * The text of a rest-of-line argument: a single token as its (unquoted) value; several as
 * typed, so inner quotes and spacing survive. Runs of tokens interrupted by flags are joined
 * with one space.
 */
function restText(input: string, items: readonly { token: Token; index: number }[]): string {
  if (items.length === 1) return items[0]!.token.value;
  const segments: string[] = [];
  let segStart = items[0]!.token.start;
  let segEnd = items[0]!.token.end;
  let prevIndex = items[0]!.index;
  for (const { token, index } of items.slice(1)) {
    if (index === prevIndex + 1) {
      segEnd = token.end;
    } else {
      segments.push(input.slice(segStart, segEnd));
      segStart = token.start;
      segEnd = token.end;
    }
    prevIndex = index;
  }
  segments.push(input.slice(segStart, segEnd));
  return segments.join(" ");
}

/**
 * The whole pure pipeline for one message: event content → command text → addressed to
 * the bot? → parsed command or error. Returns null when the message is not a command for
 * the bot (documented silence: other messages, notices, edits, malformed content).
 */
export function interpretMessage<Ctx>(
  registry: CommandRegistry<Ctx>,
  content: unknown,
  bot: BotIdentity,
  prefix: string = DEFAULT_PREFIX,
): ParseOutcome<Ctx> | null {
  const body = commandText(content);
  if (body === null) return null;
  const rest = detectInvocation(body, bot, prefix);
  if (rest === null) return null;
  return registry.parse(rest, { prefix });
}

/** A message that looks like a command for the bot under a near-miss name, with the right forms. */
export interface Misaddressed extends NearMiss {
  /** The exact ways to send it (see `addressForms`). */
  readonly forms: string[];
}

/** Longest command text repeated in a hint. */
const MAX_HINT_COMMAND = 100;

/**
 * A message not addressed to the bot that would have been a command had it used a name the bot
 * answers to: a near-miss name or prefix (see `nearMissAddress`) followed by a known command
 * word. Conservative by design: ordinary chat that merely mentions the bot stays unanswered.
 */
export function misaddressedCommand<Ctx>(
  registry: CommandRegistry<Ctx>,
  content: unknown,
  bot: BotIdentity,
  prefix: string = DEFAULT_PREFIX,
  isOtherMember?: (name: string) => boolean,
): Misaddressed | null {
  const body = commandText(content);
  if (body === null) return null;
  const miss = nearMissAddress(body, bot, prefix, isOtherMember);
  if (miss === null || registry.resolve(scan(miss.rest).tokens) === undefined) return null;
  const command =
    miss.rest.length > MAX_HINT_COMMAND ? `${miss.rest.slice(0, MAX_HINT_COMMAND)}…` : miss.rest;
  return { ...miss, forms: addressForms(bot, prefix, command) };
}
