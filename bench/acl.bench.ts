// ACL builder benchmark: 50,000 server rules across 3 lists (deterministic, seeded) → build time
// and resulting event size. Target: build ≤ 100 ms, event ≤ 65,536 bytes.
import type { Rule } from "../src/banlists/rule.ts";
import { buildAcl, type AclListInput } from "../src/acl/build.ts";
import { MAX_EVENT_BYTES } from "../src/util/canonicalJson.ts";
import type { BenchResult } from "./types.ts";
import { mulberry32 } from "../tests/harness/prng.ts";
// The ACL unit tests' rule maker, and the worst-case event envelope they check the size limit with.
import { fullEventBytes, serverRule } from "../tests/unit/acl/helpers.ts";

const OWN_SERVER = "tyr.example.net:8448";
const TLDS = ["org", "com", "net", "io", "xyz", "chat", "dev", "social"];
const RUNS = 11;
const WARMUP = 3;

/** Realistic mix: mostly literal names, ~8% `*.domain` globs, some ports, upper case, duplicates
 *  across lists, subdomains of globbed domains, a few exceptions, hashed and invalid rules. */
function makeLists(total: number, seed: number): AclListInput[] {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const word = (): string => {
    const n = 4 + Math.floor(rnd() * 10);
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(97 + Math.floor(rnd() * 26));
    return s;
  };
  const sizes = [Math.floor(total * 0.2), Math.floor(total * 0.3)];
  sizes.push(total - sizes[0]! - sizes[1]!);
  const seen: string[] = [];
  const globbed: string[] = [];
  return sizes.map((size, li) => {
    const list = `!list${li}:example.org`;
    const rules: Rule[] = [];
    for (let i = 0; i < size; i++) {
      const r = rnd();
      let entity: string | undefined;
      let recommendation: Rule["recommendation"] = "ban";
      let sha256: string | undefined;
      if (r < 0.08) {
        const d = `${word()}.${pick(TLDS)}`;
        globbed.push(d);
        entity = `*.${d}`;
      } else if (r < 0.12 && globbed.length > 0) {
        entity = `${word()}.${pick(globbed)}`;
      } else if (r < 0.17 && seen.length > 0) {
        entity = pick(seen).toUpperCase();
      } else if (r < 0.19) {
        entity = `${word()}.${pick(TLDS)}:${8000 + Math.floor(rnd() * 1000)}`;
      } else if (r < 0.192) {
        recommendation = "exception";
        entity = seen.length > 0 ? pick(seen) : `${word()}.org`;
      } else if (r < 0.194) {
        entity = undefined;
        sha256 = Buffer.from(word()).toString("base64");
      } else if (r < 0.195) {
        entity = `bad name ${word()}`;
      } else {
        entity = `${word()}${rnd() < 0.3 ? "-" + word() : ""}.${pick(TLDS)}`;
      }
      if (entity !== undefined) seen.push(entity);
      // A state key of its own, so the data does not depend on how many rules were made before.
      rules.push({ ...serverRule(list, entity, recommendation, sha256), stateKey: `k${li}.${i}` });
    }
    // Rules arrive from parsed event JSON: round-trip so strings are flat, as they are in the bot.
    return { id: list, rules: JSON.parse(JSON.stringify(rules)) as Rule[] };
  });
}

export async function run(): Promise<BenchResult[]> {
  const lists = makeLists(50_000, 0x7e1);
  const input = { lists, ownServer: OWN_SERVER };
  for (let i = 0; i < WARMUP; i++) buildAcl(input); // let the JIT settle
  const times: number[] = [];
  let plan = buildAcl(input);
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    plan = buildAcl(input);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  const bytes = fullEventBytes(plan.content);
  if (bytes > MAX_EVENT_BYTES) throw new Error(`ACL event is ${bytes} bytes, over ${MAX_EVENT_BYTES}`);
  const denied = plan.content.deny.length;
  return [
    {
      name: "acl.build_ms",
      value: Math.round(median * 10) / 10,
      unit: "ms",
      note: `median of ${RUNS}; 50,000 server rules in 3 lists → ${denied} deny entries, ${plan.leftOutForSize} left out for size; target ≤ 100 ms`,
    },
    {
      name: "acl.event_bytes",
      value: bytes,
      unit: "bytes",
      note: `canonical JSON of the full event with a worst-case envelope; content ${plan.bytes} B; limit 65,536`,
    },
  ];
}
