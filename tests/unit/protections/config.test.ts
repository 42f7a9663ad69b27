import { describe, expect, it } from "vitest";
import {
  addListItem,
  defaultConfig,
  describeProtection,
  effectiveConfig,
  MJOLNIR_ENABLED_KEY,
  parsePersisted,
  removeListItem,
  resetProtection,
  resolveSettings,
  serialise,
  setDryRun,
  setEnabled,
  setOption,
  setSetting,
  TYR_PROTECTIONS_KEY,
  type ProtectionsConfig,
} from "../../../src/protections/config.ts";
import type { PatternList } from "../../../src/protections/patterns.ts";
import { BUILTIN_PROTECTIONS } from "../../../src/protections/registry.ts";
import { flooding } from "../../../src/protections/builtin/flooding.ts";
import { wordList } from "../../../src/protections/builtin/word-list.ts";
import { OTHER_ROOM, ROOM } from "./helpers.ts";

const R = BUILTIN_PROTECTIONS;

function ok(r: { ok: true; config: ProtectionsConfig } | { ok: false; error: string }): ProtectionsConfig {
  if (!r.ok) throw new Error(r.error);
  return r.config;
}

describe("parsePersisted", () => {
  it("nothing stored → defaults, everything disabled, no problems", () => {
    const { config, problems } = parsePersisted(undefined, undefined, R);
    expect(problems).toEqual([]);
    expect(config).toEqual(defaultConfig());
    for (const p of R) expect(effectiveConfig(config, p).enabled).toBe(false);
  });

  it.each<[string, unknown, unknown]>([
    ["a string", "garbage", undefined],
    ["an array", [1, 2], undefined],
    ["a number", 42, { enabled: "flooding" }],
    ["protections as a list", { protections: ["flooding"] }, { enabled: [5, "flooding"] }],
    ["entries of the wrong type", { protections: { flooding: "on", "word-list": null } }, null],
  ])("garbage (%s) never throws and is reported", (_what, tyr, mjolnir) => {
    const { config, problems } = parsePersisted(tyr, mjolnir, R);
    expect(problems.length).toBeGreaterThan(0);
    expect(config.options).toEqual(defaultConfig().options);
  });

  it("drops invalid setting values (falling back to defaults) and reports them by name", () => {
    const { config, problems } = parsePersisted(
      {
        version: 1,
        options: { exemptPowerLevel: "high", incidentDurationMs: 60_000 },
        protections: {
          flooding: {
            enabled: "yes",
            dryRun: true,
            settings: { maxMessages: "ten", window: 5000, bogus: 1 },
            rooms: {
              [ROOM]: { enabled: false, settings: { maxMessages: 3 } },
              "not-a-room": { enabled: true },
              [OTHER_ROOM]: "nope",
            },
          },
          "word-list": { enabled: true, settings: { patterns: ["ok", "/(/"] } },
          "future-protection": { enabled: true, settings: { x: 1 } },
        },
      },
      undefined,
      R,
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'options.exemptPowerLevel: expected an integer between 1 and 9007199254740991, got "high"; using the default',
        'flooding.maxMessages: expected an integer between 1 and 1000, got "ten"; using the default',
        "flooding.bogus: unknown setting, ignored",
        'flooding.enabled: expected true or false, got "yes"; ignored',
        "flooding.rooms[not-a-room]: not a room ID; ignored",
        `flooding.rooms[${OTHER_ROOM}]: expected an object; ignored`,
        "future-protection: unknown protection; kept as is",
      ]),
    );
    expect(problems.some((p) => p.startsWith('word-list.patterns: item 2 "/(/": invalid regex'))).toBe(true);
    expect(config.options.exemptPowerLevel).toBe(50);
    expect(config.options.incidentDurationMs).toBe(60_000);
    const f = effectiveConfig(config, flooding);
    expect(f).toMatchObject({ enabled: false, dryRun: true });
    expect(f.stored["maxMessages"]).toBe(10);
    expect(f.stored["window"]).toBe(5000);
    expect(effectiveConfig(config, flooding, ROOM).stored["maxMessages"]).toBe(3);
    expect(effectiveConfig(config, wordList).stored["patterns"]).toEqual([]);
    expect(config.unknownProtections["future-protection"]).toEqual({ enabled: true, settings: { x: 1 } });
  });

  it("the Mjolnir enabled list decides what is enabled, by our names or Mjolnir's", () => {
    const { config, problems } = parsePersisted(
      { protections: { flooding: { enabled: true }, "media-filter": { enabled: false } } },
      { enabled: ["MessageIsMediaProtection", "word-list", "TrustedReporters"] },
      R,
    );
    expect(problems).toEqual([]);
    const enabled = R.filter((p) => effectiveConfig(config, p).enabled).map((p) => p.name);
    expect(enabled).toEqual(["media-filter", "word-list"]);
    expect(config.foreignEnabled).toEqual(["TrustedReporters"]);
  });

  it("round-trips through serialise, keeping foreign names and unknown protections", () => {
    let config = parsePersisted(
      { protections: { future: { a: 1 } } },
      { enabled: ["TrustedReporters"] },
      R,
    ).config;
    config = ok(setEnabled(config, R, "flooding", true));
    config = ok(setSetting(config, R, "flooding", "maxMessages", "5"));
    config = ok(setSetting(config, R, "flooding", "maxMessages", "7", ROOM));
    config = ok(setEnabled(config, R, "join-wave", false, ROOM));
    config = ok(setDryRun(config, R, "word-list", true));
    const out = serialise(config, R);
    expect(out[MJOLNIR_ENABLED_KEY].enabled).toEqual([
      "flooding",
      "BasicFloodingProtection",
      "TrustedReporters",
    ]);
    const json = JSON.parse(JSON.stringify(out)) as Record<string, unknown>;
    const back = parsePersisted(json[TYR_PROTECTIONS_KEY], json[MJOLNIR_ENABLED_KEY], R);
    expect(back.problems).toEqual(["future: unknown protection; kept as is"]);
    expect(back.config).toEqual(config);
  });
});

describe("resolution and per-room overrides", () => {
  it("room overrides win over global settings, which win over defaults", () => {
    let c = defaultConfig();
    c = ok(setSetting(c, R, "flooding", "maxMessages", 5));
    c = ok(setSetting(c, R, "flooding", "window", "30s", ROOM));
    const global = effectiveConfig(c, flooding);
    const room = effectiveConfig(c, flooding, ROOM);
    const other = effectiveConfig(c, flooding, OTHER_ROOM);
    expect([global.stored["maxMessages"], global.stored["window"]]).toEqual([5, 60_000]);
    expect([room.stored["maxMessages"], room.stored["window"]]).toEqual([5, 30_000]);
    expect(room.source).toMatchObject({ maxMessages: "global", window: "room", sanction: "default" });
    expect(other.stored).toEqual(global.stored);
  });

  it("enabled and dry-run can differ per room", () => {
    let c = ok(setEnabled(defaultConfig(), R, "flooding", true));
    c = ok(setEnabled(c, R, "flooding", false, ROOM));
    c = ok(setDryRun(c, R, "flooding", true, OTHER_ROOM));
    expect(effectiveConfig(c, flooding, ROOM)).toMatchObject({ enabled: false, dryRun: false });
    expect(effectiveConfig(c, flooding, OTHER_ROOM)).toMatchObject({ enabled: true, dryRun: true });
    expect(effectiveConfig(c, flooding, "!third:x")).toMatchObject({ enabled: true, dryRun: false });
  });

  it("resolveSettings compiles pattern lists", () => {
    const c = ok(addListItem(defaultConfig(), R, "word-list", "patterns", "/spa+m/i"));
    const s = resolveSettings(wordList, effectiveConfig(c, wordList).stored);
    expect((s["patterns"] as PatternList).firstMatch("SPAAAM")).toBe("/spa+m/i");
  });
});

describe("edits for commands", () => {
  it("errors name the protection, setting and expected type", () => {
    const c = defaultConfig();
    expect(setSetting(c, R, "flooding", "maxMessages", "ten")).toEqual({
      ok: false,
      error: 'flooding.maxMessages: expected an integer between 1 and 1000, got "ten"',
    });
    expect(setSetting(c, R, "nope", "x", 1)).toMatchObject({
      ok: false,
      error: expect.stringContaining('unknown protection "nope"; known: flooding,'),
    });
    expect(setSetting(c, R, "flooding", "speed", 1)).toMatchObject({
      ok: false,
      error: expect.stringContaining('flooding has no setting "speed"; settings: maxMessages,'),
    });
    expect(setSetting(c, R, "flooding", "maxMessages", 1, "not-a-room")).toMatchObject({ ok: false });
    expect(addListItem(c, R, "flooding", "maxMessages", "x")).toMatchObject({
      ok: false,
      error: expect.stringContaining("is not a list"),
    });
    expect(addListItem(c, R, "word-list", "patterns", "/(/")).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^word-list\.patterns: item 1 "\/\(\/": invalid regex/),
    });
  });

  it("accepts Mjolnir names and any letter case", () => {
    const c = ok(setSetting(defaultConfig(), R, "BasicFloodingProtection", "MAXMESSAGES", "4"));
    expect(c.protections["flooding"]?.settings).toEqual({ maxMessages: 4 });
  });

  it("add/remove list items, globally and per room", () => {
    let c = ok(addListItem(defaultConfig(), R, "word-list", "patterns", "spam"));
    c = ok(addListItem(c, R, "word-list", "patterns", "/scam/i"));
    expect(addListItem(c, R, "word-list", "patterns", "spam")).toMatchObject({ ok: false });
    c = ok(removeListItem(c, R, "word-list", "patterns", "spam", ROOM));
    expect(effectiveConfig(c, wordList).stored["patterns"]).toEqual(["spam", "/scam/i"]);
    expect(effectiveConfig(c, wordList, ROOM).stored["patterns"]).toEqual(["/scam/i"]);
    expect(removeListItem(c, R, "word-list", "patterns", "absent")).toMatchObject({ ok: false });
  });

  it("reset clears global settings, or one room's override", () => {
    let c = ok(setSetting(defaultConfig(), R, "flooding", "maxMessages", 5));
    c = ok(setEnabled(c, R, "flooding", true));
    c = ok(setSetting(c, R, "flooding", "maxMessages", 7, ROOM));
    const roomReset = ok(resetProtection(c, R, "flooding", ROOM));
    expect(roomReset.protections["flooding"]?.rooms).toEqual({});
    expect(roomReset.protections["flooding"]?.settings).toEqual({ maxMessages: 5 });
    const globalReset = ok(resetProtection(c, R, "flooding"));
    expect(globalReset.protections["flooding"]).toMatchObject({ enabled: true, settings: {} });
  });

  it("describeProtection lists values, defaults and where they come from", () => {
    const c = ok(setSetting(defaultConfig(), R, "flooding", "window", "30s", ROOM));
    const d = describeProtection(c, flooding, ROOM);
    expect(d.settings.find((s) => s.name === "window")).toMatchObject({
      value: "30s",
      default: "1m",
      source: "room",
    });
    expect(d.overriddenRooms).toEqual([ROOM]);
  });

  it("pipeline options are validated like settings", () => {
    expect(ok(setOption(defaultConfig(), "exemptPowerLevel", "75")).options.exemptPowerLevel).toBe(75);
    expect(setOption(defaultConfig(), "incidentOn", "sometimes")).toEqual({
      ok: false,
      error: 'options.incidentOn: expected one of sanction, any, got "sometimes"',
    });
  });
});
