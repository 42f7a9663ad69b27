// ACL builder benchmark: 50,000 server rules across 3 lists (deterministic, seeded) → build time
// and resulting event size. Target: build ≤ 100 ms, event ≤ 65,536 bytes.
import type { Rule } from "../src/banlists/rule.ts";
import { buildAcl, type AclListInput } from "../src/acl/build.ts";
import { MAX_EVENT_BYTES, canonicalJsonBytes } from "../src/acl/canonicalJson.ts";
import type { BenchResult } from "./types.ts";
import { mulberry32 } from "../tests/harness/prng.ts";

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
      rules.push({
        list,
        kind: "server",
        entity,
        sha256,
        recommendation,
        eventType: "m.policy.rule.server",
        stateKey: `k${li}.${i}`,
      });
    }
    // Rules arrive from parsed event JSON: round-trip so strings are flat, as they are in the bot.
    return { id: list, rules: JSON.parse(JSON.stringify(rules)) as Rule[] };
  });
}

/** A modern-room event envelope at its largest, around `content`. */
function eventBytes(content: unknown): number {
  const id = (n: number): string => `$${"A".repeat(42)}${n % 10}`;
  const server = "s".repeat(255);
  return canonicalJsonBytes({
    auth_events: Array.from({ length: 10 }, (_, i) => id(i)),
    prev_events: Array.from({ length: 20 }, (_, i) => id(i)),
    content,
    depth: Number.MAX_SAFE_INTEGER,
    hashes: { sha256: "h".repeat(43) },
    origin_server_ts: 1_900_000_000_000,
    room_id: `!${"r".repeat(254)}`,
    sender: `@${"u".repeat(100)}:${"s".repeat(153)}`,
    signatures: { [server]: { "ed25519:a_key_id_of_some_length": "S".repeat(86) } },
    state_key: "",
    type: "m.room.server_acl",
    unsigned: { age_ts: 1_900_000_000_000, replaces_state: id(0) },
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
  const bytes = eventBytes(plan.content);
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
