// Declarative command definitions. See index.ts for the overview and an example.
import type { Fragment } from "../../format/fragment.ts";
import type { Reply } from "../../format/paginate.ts";
import type { ArgType } from "./types.ts";

export interface ArgSpec<N extends string = string, T = unknown> {
  readonly name: N;
  readonly type: ArgType<T>;
  readonly optional?: boolean;
  /** Last argument only: everything left on the line, as typed (a reason). */
  readonly rest?: boolean;
  /** Last argument only: one or more values (zero or more when also optional). */
  readonly variadic?: boolean;
  readonly description?: string;
}

export interface BooleanFlag {
  readonly type: "boolean";
  readonly description: string;
  /** One-letter alias: `-y`. */
  readonly short?: string;
}

export interface ValueFlag<T = unknown> {
  readonly type: ArgType<T>;
  readonly description: string;
  readonly short?: string;
  readonly default?: T;
}

export type FlagSpec = BooleanFlag | ValueFlag<unknown>;
export type FlagSpecs = { readonly [name: string]: FlagSpec };
/** The flags of a command that declares none. */
export type NoFlags = Record<never, FlagSpec>;

type ArgValue<S> =
  S extends ArgSpec<string, infer T>
    ? S extends { readonly variadic: true }
      ? T[]
      : S extends { readonly optional: true }
        ? T | undefined
        : T
    : never;

export type ArgValues<A extends readonly ArgSpec[]> = { [S in A[number] as S["name"]]: ArgValue<S> };

type FlagValue<F> = F extends { readonly type: "boolean" }
  ? boolean
  : F extends ValueFlag<infer T>
    ? F extends { readonly default: unknown }
      ? T
      : T | undefined
    : never;

export type FlagValues<F extends FlagSpecs> = { [K in keyof F]: FlagValue<F[K]> };

/** What `run` receives: positional arguments and flags, by name. */
export type Values<A extends readonly ArgSpec[], F extends FlagSpecs> = ArgValues<A> & FlagValues<F>;

/** Facts about this particular invocation. */
export interface Invocation {
  /** The prefix in use, for messages ("!tyr"). */
  readonly prefix: string;
  /** Canonical command name ("rules matching"), even when invoked through an alias. */
  readonly command: string;
  /** The command text after the bot was addressed ("ban spam @x:y"). */
  readonly text: string;
  /** `--yes` was given: skip the confirmation step. */
  readonly yes: boolean;
}

/** Returning nothing means the command replied (or reacted) by itself. */
export type CommandResult = Reply | undefined | void;

/** What a confirmation check answers: nothing (go ahead) or a preview to confirm. */
export type ConfirmDecision = Fragment | string | null | undefined | false;

export interface CommandSpec<Ctx, A extends readonly ArgSpec[], F extends FlagSpecs> {
  /** One or more lower-case words: "ban", "rules matching", "list create". */
  readonly name: string;
  readonly aliases?: readonly string[];
  /** Heading the command is listed under in `help`. */
  readonly group: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Longer explanation for `help <command>`. */
  readonly description?: string;
  /** Command lines without the prefix: "ban spam @bad:evil.org spamming". */
  readonly examples?: readonly string[];
  readonly args?: A;
  readonly flags?: F;
  /**
   * Destructive or wide commands: `true` always asks; a function decides per invocation
   * (e.g. only for globs matching many users) and returns the preview to show. Either way
   * the command gains a `--yes` flag that skips the question.
   */
  readonly confirm?: boolean | ((ctx: Ctx, args: Values<A, F>) => ConfirmDecision | Promise<ConfirmDecision>);
  run(ctx: Ctx, args: Values<A, F>, invocation: Invocation): CommandResult | Promise<CommandResult>;
}

/** A defined command with its argument types erased, as the registry stores it. */
export interface Command<Ctx> {
  readonly name: string;
  readonly words: readonly string[];
  readonly aliases: readonly string[];
  readonly group: string;
  readonly summary: string;
  readonly description?: string;
  readonly examples: readonly string[];
  readonly args: readonly ArgSpec[];
  /** Declared flags plus `yes` for commands that confirm. */
  readonly flags: FlagSpecs;
  readonly confirm?:
    boolean | ((ctx: Ctx, args: Record<string, unknown>) => ConfirmDecision | Promise<ConfirmDecision>);
  run(
    ctx: Ctx,
    args: Record<string, unknown>,
    invocation: Invocation,
  ): CommandResult | Promise<CommandResult>;
}

export const YES_FLAG: BooleanFlag = {
  type: "boolean",
  description: "Do it without asking for confirmation",
  short: "y",
};

const NAME_WORD = /^[a-z][a-z0-9-]*$/;
const FLAG_NAME = /^[a-z][a-z0-9-]*$/;

function check(cond: boolean, name: string, problem: string): void {
  // Definition mistakes are programming errors, caught at startup and by tests.
  if (!cond) throw new Error(`command "${name}": ${problem}`);
}

/**
 * Define a command. Types of `args` in `run` follow from the `args` and `flags` specs.
 * Prefer `commandsFor<Ctx>()` in group files so the context type is written once.
 */
export function defineCommand<
  Ctx,
  const A extends readonly ArgSpec[] = [],
  const F extends FlagSpecs = NoFlags,
>(spec: CommandSpec<Ctx, A, F>): Command<Ctx> {
  const words = spec.name.split(" ");
  check(
    words.every((w) => NAME_WORD.test(w)),
    spec.name,
    "names are lower-case words separated by single spaces",
  );
  for (const alias of spec.aliases ?? [])
    check(
      alias.split(" ").every((w) => NAME_WORD.test(w)),
      spec.name,
      `bad alias "${alias}"`,
    );
  const args: readonly ArgSpec[] = spec.args ?? [];
  const names = new Set<string>();
  args.forEach((a, i) => {
    check(!names.has(a.name), spec.name, `duplicate argument "${a.name}"`);
    names.add(a.name);
    const last = i === args.length - 1;
    check(
      !(a.rest === true || a.variadic === true) || last,
      spec.name,
      `"${a.name}" takes the rest, so it must be last`,
    );
    check(
      !(a.rest === true && a.variadic === true),
      spec.name,
      `"${a.name}" cannot be both rest and variadic`,
    );
    const prev = args[i - 1];
    check(
      a.optional === true || prev === undefined || prev.optional !== true,
      spec.name,
      "required argument after an optional one",
    );
  });
  const flags: Record<string, FlagSpec> = { ...(spec.flags ?? {}) };
  if (spec.confirm !== undefined && spec.confirm !== false && flags.yes === undefined) flags.yes = YES_FLAG;
  const shorts = new Set<string>();
  for (const [name, f] of Object.entries(flags)) {
    check(FLAG_NAME.test(name), spec.name, `bad flag name "${name}"`);
    check(!names.has(name), spec.name, `flag "${name}" has the same name as an argument`);
    if (f.short !== undefined) {
      check(
        /^[a-zA-Z]$/.test(f.short) && !shorts.has(f.short),
        spec.name,
        `bad or duplicate short flag "${f.short}"`,
      );
      shorts.add(f.short);
    }
  }
  const cmd: Command<Ctx> = {
    name: spec.name,
    words,
    aliases: spec.aliases ?? [],
    group: spec.group,
    summary: spec.summary,
    examples: spec.examples ?? [],
    args,
    flags,
    run: (ctx, values, inv) => spec.run(ctx, values as Values<A, F>, inv),
    ...(spec.description === undefined ? {} : { description: spec.description }),
  };
  const confirm = spec.confirm;
  if (typeof confirm === "function") {
    return { ...cmd, confirm: (ctx, values) => confirm(ctx, values as Values<A, F>) };
  }
  return confirm === undefined ? cmd : { ...cmd, confirm };
}

/**
 * Fix the context type once per group file:
 *   const { command } = commandsFor<BotContext>();
 *   export const banCommands = [command({ name: "ban", … })];
 */
export function commandsFor<Ctx>(): {
  command: <const A extends readonly ArgSpec[] = [], const F extends FlagSpecs = NoFlags>(
    spec: CommandSpec<Ctx, A, F>,
  ) => Command<Ctx>;
} {
  return { command: (spec) => defineCommand(spec) };
}
