// ≥ 1,000 random and malformed command messages through the whole pure pipeline
// (content → command text → addressed? → tokenize → resolve → parse): nothing throws, and
// every message ends as exactly one of: null (documented silence: not addressed to the bot,
// a notice, an edit, malformed content), a parsed command, or a short, non-empty error.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { interpretMessage } from "../../../src/commands/framework/registry.ts";
import { contentBytes, DEFAULT_CONTENT_BUDGET } from "../../../src/format/content.ts";
import { text } from "../../../src/format/fragment.ts";
import { paginate } from "../../../src/format/paginate.ts";
import { makeCtx, makeRegistry } from "./fixtures.ts";

const registry = makeRegistry();
const bot = { userId: "@tyr:example.org", displayName: "Tyr Bot" };
const V4_EVENT = "$" + "Ab-_".repeat(10) + "xyz";

const address = fc.constantFrom(
  "!tyr ",
  "!TYR ",
  "tyr: ",
  "Tyr Bot, ",
  "@tyr:example.org ",
  "@tyr:example.org: ",
  "!tyr",
  "",
  "tyr ",
  "!tyrx ",
  " \u3000!tyr\u00a0",
);
const names = fc.constantFrom(
  ...registry.commands.flatMap((c) => [c.name, ...c.aliases]),
  "bna",
  "rule matching",
  "list",
  "ACL SYNC",
  "hlep",
  "bаn",
  "",
  "--yes",
  '"ban',
  "“ban”",
);
const argument = fc.oneof(
  fc.constantFrom(
    "@spam:evil.org",
    "@*:evil.org",
    "*.evil.org",
    "*",
    "evil.org",
    "foo",
    "#room:example.org",
    "!abc:example.org",
    `https://matrix.to/#/!abc:example.org/${V4_EVENT}?via=example.org`,
    "https://matrix.to/#/%E0%A4%A",
    "matrix:u/a:b.c",
    "--yes",
    "-y",
    "--room",
    "--room=#r:x.y",
    "—room",
    "--limit",
    "--limit=0",
    "--limit=5",
    "--bogus",
    "--",
    "-",
    "1h30m",
    "0",
    "-5m",
    "99999999999999999999d",
    '"',
    "'",
    "“",
    '"quoted words"',
    "'it''s'",
    "don't",
    "<script>alert(1)</script>",
    "**md**",
    "@room",
    "\u202e",
    "\u0000",
    "\ud800",
    "👍🏽",
    "exаmple.org",
    "@аdmin:example.org",
  ),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.string({
    unit: fc.constantFrom("a", " ", '"', "'", "-", "@", ":", ".", "*", "!", "#", "\t"),
    maxLength: 40,
  }),
  fc.constant("x".repeat(10_001)),
  fc.integer({ min: 1, max: 12_000 }).map((n) => "y".repeat(n)),
);
const commandLine = fc
  .tuple(address, names, fc.array(argument, { maxLength: 8 }), fc.constantFrom(" ", "  ", "\t", "\u00a0"))
  .map(([a, n, args, sep]) => `${a}${[n, ...args].join(sep)}`);

// Valid commands, lightly mangled (case, spacing, trailing noise), so parses are common too.
const validLine = fc
  .tuple(
    address,
    fc.constantFrom(
      "ban spam @spam:evil.org spamming a lot",
      "ban spam *.evil.org --yes",
      "unban spam @a:b.c",
      "rules",
      "rules spam",
      "rules matching @a:b.c",
      "acl",
      "acl sync",
      "kick @*:evil.org --room #r:x.y being rude",
      "redact @a:b.c --limit 5",
      `redact https://matrix.to/#/!abc:example.org/${V4_EVENT}`,
      "mute @a:b.c 1h30m flooding",
      "silence @a:b.c",
      "rooms add #a:b.c !x:y.z",
      "help",
      "help ban",
      "help rules matching",
      "help nonsense",
      "shutdown #r:x.y -y",
      "protections set flood max 10 per minute",
      "list create spam spam-list",
    ),
    fc.constantFrom("", " ", "  extra", " 'quoted tail'", ' "unclosed', " <b>x</b>", " ‮", " --yes"),
    fc.boolean(),
  )
  .map(
    ([a, line, tail, upper]) =>
      `${["", "tyr ", "!tyrx ", "!tyr"].includes(a) ? "!tyr " : a}${upper ? line.toUpperCase() : line}${tail}`,
  );

const content = fc.oneof(
  { weight: 4, arbitrary: validLine.map((body) => ({ msgtype: "m.text", body })) },
  { weight: 6, arbitrary: commandLine.map((body) => ({ msgtype: "m.text", body })) },
  {
    weight: 2,
    arbitrary: fc.tuple(commandLine, argument).map(([body, label]) => ({
      msgtype: "m.text",
      body,
      format: "org.matrix.custom.html",
      formatted_body: `${body} <a href="https://matrix.to/#/@spam:evil.org">${label}</a> <a href='${label}'>x</a> &amp; <b>`,
    })),
  },
  { weight: 1, arbitrary: commandLine.map((body) => ({ msgtype: "m.notice", body })) },
  { weight: 1, arbitrary: fc.anything() },
  { weight: 1, arbitrary: fc.string().map((body) => ({ msgtype: "m.text", body })) },
);

describe("fuzz: detection + tokenize + registry parse", () => {
  it("never throws; always null, a command, or a short error", { timeout: 60_000 }, async () => {
    const seen = { silent: 0, parsed: 0, errors: 0 };
    await fc.assert(
      fc.asyncProperty(content, async (c) => {
        const outcome = interpretMessage(registry, c, bot, "!tyr");
        if (outcome === null) {
          seen.silent++;
          return;
        }
        if (!outcome.ok) {
          seen.errors++;
          expect(typeof outcome.error).toBe("string");
          expect(outcome.error.length).toBeGreaterThan(0);
          expect(outcome.error.length).toBeLessThan(700);
          // The error is sendable: one page, within budget.
          const pages = paginate(text(outcome.error));
          expect(pages).toHaveLength(1);
          expect(contentBytes(pages[0])).toBeLessThanOrEqual(DEFAULT_CONTENT_BUDGET);
          return;
        }
        seen.parsed++;
        expect(registry.find(outcome.command.name)).toBe(outcome.command);
        const ctx = makeCtx(5);
        await outcome.confirmation(ctx);
        const reply = await outcome.run(ctx);
        if (reply !== undefined) {
          for (const page of paginate(reply))
            expect(contentBytes(page)).toBeLessThanOrEqual(DEFAULT_CONTENT_BUDGET);
        }
      }),
      { numRuns: 2_000 },
    );
    // The generator must exercise all three outcomes, or the test proves little.
    expect(seen.silent).toBeGreaterThan(50);
    expect(seen.parsed).toBeGreaterThan(150);
    expect(seen.errors).toBeGreaterThan(500);
  });

  it("random unicode soup as a command never throws", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 400 }), (s) => {
        const r = registry.parse(s);
        expect(r.ok || r.error.length > 0).toBe(true);
      }),
      { numRuns: 1_000 },
    );
  });
});
