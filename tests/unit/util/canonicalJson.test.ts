import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { canonicalJson, canonicalJsonBytes, jsonStringBytes } from "../../../src/util/canonicalJson.ts";

describe("canonicalJson", () => {
  it("sorts keys and drops whitespace", () => {
    expect(canonicalJson({ b: 1, a: [true, null, { d: "x", c: -2 }] })).toBe(
      '{"a":[true,null,{"c":-2,"d":"x"}],"b":1}',
    );
  });

  it("matches the spec's examples", () => {
    expect(canonicalJson({ one: 1, two: "Two" })).toBe('{"one":1,"two":"Two"}');
    expect(canonicalJson({ a: "日本語" })).toBe('{"a":"日本語"}');
    expect(canonicalJson({ 本: 2, 日: 1 })).toBe('{"日":1,"本":2}');
    expect(canonicalJson({ a: "\u65E5" })).toBe('{"a":"日"}');
    expect(canonicalJson({ a: null })).toBe('{"a":null}');
    expect(
      canonicalJson({
        auth: {
          success: true,
          mxid: "@john.doe:example.com",
          profile: {
            display_name: "John Doe",
            three_pids: [
              { medium: "email", address: "john.doe@example.org" },
              { medium: "msisdn", address: "123456789" },
            ],
          },
        },
      }),
    ).toBe(
      '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    );
  });

  it("escapes only what JSON requires and keeps non-ASCII raw", () => {
    expect(canonicalJson('a"b\\c\n\u0001\u007f é \u2028')).toBe('"a\\"b\\\\c\\n\\u0001\u007f é \u2028"');
  });

  it("orders keys by code point, not UTF-16 code unit", () => {
    // U+FF61 is above the surrogate range; U+1F600 is encoded with surrogates (0xD83D...).
    const text = canonicalJson({ "\uFF61": 1, "\u{1F600}": 2 });
    expect(text).toBe('{"\uFF61":1,"\u{1F600}":2}');
  });

  it("rejects values canonical JSON cannot hold", () => {
    expect(() => canonicalJson(1.5)).toThrow(TypeError);
    expect(() => canonicalJson(2 ** 53)).toThrow(TypeError);
    expect(() => canonicalJson(Number.NaN)).toThrow(TypeError);
    expect(() => canonicalJson([undefined])).toThrow(TypeError);
    expect(() => canonicalJson(() => 1)).toThrow(TypeError);
  });

  it("skips undefined object members like JSON", () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
  });

  it("counts UTF-8 bytes", () => {
    expect(canonicalJsonBytes("é")).toBe(4);
    expect(canonicalJsonBytes({ a: "\u{1F600}" })).toBe(12); // {"a":""} + 4 bytes
  });

  it("agrees with JSON.parse round trips and byte counts on random data", () => {
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.string({ unit: "grapheme" }),
        fc.string({ unit: "binary" }),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie("value"), { maxLength: 4 }),
        fc.dictionary(fc.string({ unit: "grapheme", maxLength: 4 }), tie("value"), { maxKeys: 4 }),
      ),
    })).value;
    fc.assert(
      fc.property(json, (v) => {
        const text = canonicalJson(v);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(v)));
        expect(canonicalJsonBytes(v)).toBe(Buffer.byteLength(text, "utf8"));
        // No insignificant whitespace outside strings, and canonical output is a fixed point.
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it("jsonStringBytes equals the size of the encoded string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        expect(jsonStringBytes(s)).toBe(Buffer.byteLength(JSON.stringify(s), "utf8"));
      }),
      { numRuns: 500 },
    );
  });
});
