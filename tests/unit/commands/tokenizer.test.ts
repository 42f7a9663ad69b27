import { describe, expect, it } from "vitest";
import { MAX_COMMAND_LENGTH, scan, tokenize } from "../../../src/commands/framework/tokenizer.ts";

const values = (input: string): string[] => {
  const r = tokenize(input);
  if (!r.ok) throw new Error(r.error);
  return r.value.map((t) => t.value);
};

describe("tokenize", () => {
  it.each<[string, string[]]>([
    ["", []],
    ["   ", []],
    ["ban spam @x:y", ["ban", "spam", "@x:y"]],
    ["  ban   spam\t@x:y\n", ["ban", "spam", "@x:y"]],
    ['ban "two words" end', ["ban", "two words", "end"]],
    ["ban 'two words' end", ["ban", "two words", "end"]],
    ['say "it\'s fine"', ["say", "it's fine"]],
    ["say 'he said \"hi\"'", ["say", 'he said "hi"']],
    ["don't stop", ["don't", "stop"]],
    ["l'été arrive", ["l'été", "arrive"]],
    ['"" empty', ["", "empty"]],
    ['a "b c "d e"', ["a", 'b c "d e']],
    ["“smart quotes” too", ["smart quotes", "too"]],
    ["‘single smart’ too", ["single smart", "too"]],
    ["„German“ style", ["German", "style"]],
    ["«French» style", ["French", "style"]],
    ["--flag --room=!a:b --room !a:b", ["--flag", "--room=!a:b", "--room", "!a:b"]],
    ["a\u00a0b\u3000c\u2003d\u200be", ["a", "b", "c", "d", "e"]],
    ["emoji 👍🏽 ok", ["emoji", "👍🏽", "ok"]],
    ['x "quoted at end"', ["x", "quoted at end"]],
  ])("%j", (input, expected) => {
    expect(values(input)).toEqual(expected);
  });

  it("records spans and quoting", () => {
    const r = tokenize('ban "a b" c');
    expect(r.ok && r.value).toEqual([
      { value: "ban", start: 0, end: 3, quoted: false },
      { value: "a b", start: 4, end: 9, quoted: true },
      { value: "c", start: 10, end: 11, quoted: false },
    ]);
  });

  it.each<[string, string]>([
    [
      'ban "spam',
      'Unclosed quote " at character 5, before "spam": add a closing " followed by a space, or remove it.',
    ],
    [
      "ban 'it",
      `Unclosed quote ' at character 5, before "it": add a closing ' followed by a space, or remove it.`,
    ],
    [
      "日本 “quote",
      'Unclosed quote “ at character 4, before "quote": add a closing ” followed by a space, or remove it.',
    ],
    ['end "', 'Unclosed quote " at character 5: add a closing " followed by a space, or remove it.'],
  ])("unclosed quote %j", (input, message) => {
    const r = tokenize(input);
    expect(r).toEqual({ ok: false, error: message });
  });

  it("lenient scan keeps an unclosed quote as a literal character and reports it", () => {
    const r = scan('ban list @x "spam and more');
    expect(r.tokens.map((t) => t.value)).toEqual(["ban", "list", "@x", '"spam', "and", "more"]);
    expect(r.unclosedQuote).toEqual({ index: 12, quote: '"' });
  });

  it("rejects absurdly long input with a message", () => {
    const r = tokenize("a".repeat(MAX_COMMAND_LENGTH + 1));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toBe("That command is too long (10,001 characters; the limit is 10,000).");
    expect(tokenize("a ".repeat(MAX_COMMAND_LENGTH / 2)).ok).toBe(true);
  });

  it("stays linear on inputs full of unmatched quotes", () => {
    const nasty = '"a '.repeat(3300);
    const t0 = performance.now();
    const r = scan(nasty);
    expect(performance.now() - t0).toBeLessThan(200);
    expect(r.tokens.length).toBe(3300);
  });
});
