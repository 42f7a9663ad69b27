// Fuzzing the running bot: a moderator sends well over 1,000 random and malformed command
// messages (unicode look-alikes, 10,000-character arguments, HTML and markdown injection, quotes,
// flags) in parallel batches. Every message addressed to Tyr must get an answer (a threaded notice
// or a reaction on the command); every message that is not a command by design must get none —
// the documented silences: no prefix, look-alike prefixes, notices, emotes, and edits. No answer
// may carry markup that came from the input, and Tyr must still answer `status` at the end,
// without unexpected errors in its log.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { writeFileSync } from "node:fs";
import { Synapse } from "../harness/synapse.ts";
import { TestUser } from "../harness/user.ts";
import { runBot, testConfig, type RunningBot } from "../harness/bot.ts";
import { mulberry32 } from "../harness/prng.ts";

const info = inject("synapse");
const synapse = Synapse.attach(info);
const enc = encodeURIComponent;
const S = info.serverName;

/** Deterministic by default so a failure can be replayed; FUZZ_SEED=… explores other inputs. */
const SEED = Number(process.env.FUZZ_SEED ?? 20_240_501);

interface Ev {
  event_id: string;
  type: string;
  sender: string;
  content: Record<string, unknown>;
  origin_server_ts: number;
}

interface Probe {
  /** What was sent (for failure messages). */
  label: string;
  content: Record<string, unknown>;
  type?: string;
  /** true: must be answered; false: documented silence. */
  answered: boolean;
}

/** Tags Tyr's formatting helpers produce; anything else in a reply came from the input. */
const ALLOWED_TAGS = new Set([
  "a",
  "br",
  "code",
  "em",
  "strong",
  "del",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "li",
  "ol",
  "p",
  "pre",
  "ul",
  "blockquote",
  "hr",
]);

function markupProblems(html: string): string[] {
  const out: string[] = [];
  for (const m of html.matchAll(/<\s*\/?\s*([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>/g)) {
    const tag = (m[1] ?? "").toLowerCase();
    const attrs = (m[2] ?? "").trim().replace(/\/$/, "").trim();
    if (!ALLOWED_TAGS.has(tag)) out.push(`tag <${tag}>`);
    if (attrs === "" || m[0].startsWith("</")) continue;
    if (tag === "a" && /^href="(https?:\/\/|matrix:)[^"]*"$/.test(attrs)) continue;
    if (tag === "ol" && /^start="\d+"$/.test(attrs)) continue;
    out.push(`attributes ${JSON.stringify(attrs.slice(0, 80))} on <${tag}>`);
  }
  return out;
}

describe("fuzz: random and malformed commands against the running bot", () => {
  let bot: RunningBot;
  let tyr: TestUser;
  let mod: TestUser;
  let mgmt: string;
  let protectedRoom: string;
  let since = "";
  const events = new Map<string, Ev>();
  const filter = (limit: number) => JSON.stringify({ room: { rooms: [], timeline: { limit } } });

  /** Incremental sync of the management room only; a limited timeline is back-filled. */
  async function collect(timeoutMs = 2_000): Promise<void> {
    const qs = new URLSearchParams({
      timeout: String(timeoutMs),
      filter: JSON.stringify({ room: { rooms: [mgmt], timeline: { limit: 1000 } }, presence: { types: [] } }),
    });
    if (since) qs.set("since", since);
    const body = await mod.api<{
      next_batch: string;
      rooms?: {
        join?: Record<string, { timeline?: { events?: Ev[]; limited?: boolean; prev_batch?: string } }>;
      };
    }>("GET", `/_matrix/client/v3/sync?${qs}`);
    since = body.next_batch;
    const tl = body.rooms?.join?.[mgmt]?.timeline;
    if (!tl) return;
    if (tl.limited && tl.prev_batch) {
      let from = tl.prev_batch;
      for (;;) {
        const page = await mod.api<{ chunk: Ev[]; end?: string }>(
          "GET",
          `/_matrix/client/v3/rooms/${enc(mgmt)}/messages?dir=b&limit=500&from=${enc(from)}`,
        );
        const fresh = page.chunk.filter((e) => !events.has(e.event_id));
        for (const e of fresh) events.set(e.event_id, e);
        if (fresh.length < page.chunk.length || !page.end || page.chunk.length === 0) break;
        from = page.end;
      }
    }
    for (const e of tl.events ?? []) events.set(e.event_id, e);
  }

  beforeAll(async () => {
    tyr = new TestUser(synapse.url, await synapse.register("tyr"));
    mod = new TestUser(synapse.url, await synapse.register("mod"));
    mgmt = await mod.createRoom({ invite: [tyr.userId] });
    protectedRoom = await mod.createRoom({
      preset: "public_chat",
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 100 } },
    });
    await tyr.join(protectedRoom);
    await tyr.api(
      "PUT",
      `/_matrix/client/v3/user/${enc(tyr.userId)}/account_data/org.matrix.mjolnir.protected_rooms`,
      { rooms: [protectedRoom] },
    );
    bot = await runBot(testConfig({ url: synapse.url, accessToken: tyr.accessToken, managementRoom: mgmt }));
    const first = await mod.api<{ next_batch: string }>(
      "GET",
      `/_matrix/client/v3/sync?timeout=0&filter=${enc(filter(1))}`,
    );
    since = first.next_batch;
  });
  afterAll(async () => {
    if (process.env.FUZZ_DUMP)
      writeFileSync(process.env.FUZZ_DUMP, bot.logs.map((l) => JSON.stringify(l)).join("\n"));
    await bot?.stop();
  });

  it("answers every addressed message, ignores the rest, never echoes markup, and stays healthy", async () => {
    const rnd = mulberry32(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    const event = `https://matrix.to/#/${protectedRoom}/$${"Ab-_".repeat(10)}xyz`;
    const names = [
      "help",
      "status",
      "rooms",
      "rooms add",
      "rooms remove",
      "lists",
      "watch",
      "unwatch",
      "ban",
      "unban",
      "takedown",
      "rules",
      "rules matching",
      "kick",
      "redact",
      "mute",
      "unmute",
      "since",
      "deactivate",
      "powerlevel",
      "pl",
      "resolve",
      "log",
      "audit",
      "protections",
      "protections show",
      "protections set",
      "acl",
      "acl sync",
      // typos, wrong case, look-alikes (Cyrillic ѕ/і/а, full-width), empty, quoted, flags as names
      "stauts",
      "hlep",
      "KICK",
      "Redact",
      "ѕtatus",
      "kіck",
      "bаn",
      "ｓｔａｔｕｓ",
      "",
      '"kick"',
      "--yes",
      "rules matchin",
    ];
    const args = [
      `@fuzz:${S}`,
      `@*:${S}`,
      `@a?b*:${S}`,
      `@${"a".repeat(300)}:${S}`,
      "@",
      "@:",
      "@@x:y",
      `@Fuzz:${S}`,
      `@fuzz:${S}:99999`,
      "@fuzz",
      `#room:${S}`,
      `#nothing:${S}`,
      `!nothing:${S}`,
      "!",
      "#",
      protectedRoom,
      event,
      `https://matrix.to/#/@x:${S}`,
      "https://matrix.to/#/%E0%A4%A",
      "matrix:u/x:y",
      "https://evil.example/#/@x:y",
      `$${"a".repeat(43)}`,
      "30m",
      "2d",
      "1h30m",
      "0s",
      "-5m",
      "1.5h",
      "99999999y",
      "10",
      "0",
      "-1",
      "100",
      "101",
      "1e9",
      "9007199254740993",
      "NaN",
      "Infinity",
      "evil.org",
      "*.evil.org",
      "*",
      "?",
      "[::1]:8448",
      "256.256.256.256",
      "<b>bold</b>",
      "<img src=x onerror=alert(1)>",
      "<script>alert('x')</script>",
      "</code></pre><h1>pwn</h1>",
      "&lt;&amp;&#x3c;",
      "**bold**",
      "[link](javascript:alert(1))",
      "`code`",
      "```block```",
      '<a href="javascript:alert(1)">x</a>',
      '"quoted arg"',
      "'single'",
      "“smart quotes”",
      '"unclosed',
      "«guillemets»",
      "it's",
      '""',
      "--room",
      `--room=${protectedRoom}`,
      "--room=#x:y",
      "--limit",
      "--limit=0",
      "--limit=5",
      "--limit=100000",
      "--yes",
      "-y",
      "—room",
      "–yes",
      "--",
      "--unknown",
      "--help",
      "-",
      "\u200b",
      "\u202eevil",
      "ѕtatus",
      "ｓｔａｔｕｓ",
      "🙂",
      "e\u0301",
      "a\nb",
      "\t",
      "@room",
      "spam",
      "x".repeat(10_000),
      "y".repeat(9_900),
      "é".repeat(5_000),
      "<".repeat(3_000),
      "&amp;".repeat(1_000),
    ];
    const prefixes = ["!tyr ", "!TYR ", "!tyr  ", "!tyr\n", "  !tyr ", `${tyr.userId}: `, `${tyr.userId} `];

    const probes: Probe[] = [];
    // Addressed to Tyr: every one must be answered.
    for (let i = 0; i < 1_050; i++) {
      const n = Math.floor(rnd() * 5);
      const parts = [pick(names), ...Array.from({ length: n }, () => pick(args))];
      const sep = rnd() < 0.1 ? pick(["  ", "\t", " \u00a0", "\u3000"]) : " ";
      const body = pick(prefixes) + parts.join(sep);
      const content: Record<string, unknown> = { msgtype: "m.text", body };
      if (rnd() < 0.15) {
        // HTML version with a mention pill, as Element sends when a user is picked from the list.
        content.format = "org.matrix.custom.html";
        content.formatted_body = `${body.replace(/&/g, "&amp;").replace(/</g, "&lt;")} <a href="https://matrix.to/#/@pill:${S}">Pill</a> <b>bold</b>`;
      }
      probes.push({ label: body.slice(0, 120), content, answered: true });
    }
    probes.push({ label: "bare prefix", content: { msgtype: "m.text", body: "!tyr" }, answered: true });
    probes.push({
      label: "prefix + spaces",
      content: { msgtype: "m.text", body: "!tyr    " },
      answered: true,
    });

    // Documented silences: not addressed to Tyr, or not a command by design.
    const silent = [
      "status",
      "tyr status",
      "!tyrstatus",
      "！tyr status",
      "! tyr status",
      "hello !tyr status",
      "the bot is called !tyr",
      "",
      " ",
      "!tyr-status",
      "/tyr status",
      "?tyr status",
      `${"x".repeat(10_000)} !tyr status`,
    ];
    for (let i = 0; i < 60; i++) {
      const body = pick(silent) + (rnd() < 0.5 ? "" : ` ${pick(args)}`);
      probes.push({
        label: `silent: ${body.slice(0, 80)}`,
        content: { msgtype: "m.text", body },
        answered: false,
      });
    }
    // A near-miss prefix (a look-alike letter, one letter more) is not run, but answered with a
    // hint naming the exact forms (issue #18): checked below to be that hint and nothing else.
    const nearMiss = ["!tуr status", "!tyrs status", "!tуr ban @x:evil.org"];
    for (let i = 0; i < 9; i++) {
      const body = nearMiss[i % nearMiss.length]!;
      probes.push({ label: `near miss: ${body}`, content: { msgtype: "m.text", body }, answered: true });
    }
    for (let i = 0; i < 10; i++) {
      probes.push({
        label: "notice",
        content: { msgtype: "m.notice", body: "!tyr status" },
        answered: false,
      });
      probes.push({ label: "emote", content: { msgtype: "m.emote", body: "!tyr help" }, answered: false });
      probes.push({
        label: "image",
        content: { msgtype: "m.image", body: "!tyr status", url: "mxc://x/y" },
        answered: false,
      });
      probes.push({
        label: "custom event type",
        content: { msgtype: "m.text", body: "!tyr help" },
        type: "org.example.chat",
        answered: false,
      });
    }
    expect(probes.length).toBeGreaterThanOrEqual(1_100);

    // Interleave the silent ones with the commands.
    for (let i = probes.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [probes[i], probes[j]] = [probes[j]!, probes[i]!];
    }

    const answered = new Set<string>();
    /** The command an event of Tyr's answers: a threaded notice or a reaction on it. */
    const answerOf = (e: Ev): string | undefined => {
      if (e.sender !== tyr.userId) return undefined;
      const rel = (e.content["m.relates_to"] ?? {}) as {
        rel_type?: string;
        event_id?: string;
        "m.in_reply_to"?: { event_id?: string };
      };
      if (e.type === "m.reaction") return rel.event_id;
      if (e.type === "m.room.message") return rel["m.in_reply_to"]?.event_id;
      return undefined;
    };
    const waitForAnswers = async (want: readonly string[], ms: number): Promise<void> => {
      const deadline = Date.now() + ms;
      while (want.some((id) => !answered.has(id)) && Date.now() < deadline) {
        await collect(500);
        for (const e of events.values()) {
          const to = answerOf(e);
          if (to) answered.add(to);
        }
      }
    };

    // Parallel batches, each answered before the next is sent. Tyr reads at most 100 timeline
    // events of a room per sync: a burst larger than that between two syncs is a gap, whose
    // commands are not replayed (see the report); a batch plus Tyr's answers stays below it.
    const BATCH = 20;
    const t0 = Date.now();
    const ids: string[] = new Array<string>(probes.length);
    for (let i = 0; i < probes.length; i += BATCH) {
      await Promise.all(
        probes.slice(i, i + BATCH).map(async (p, k) => {
          ids[i + k] = await mod.send(mgmt, p.content, p.type ?? "m.room.message");
        }),
      );
      await waitForAnswers(
        ids.slice(i, i + BATCH).filter((_, k) => probes[i + k]!.answered),
        60_000,
      );
    }
    // Edits of a command are ignored by design (re-running an edited ban would repeat it).
    const edited = ids.filter((_, i) => probes[i]!.answered).slice(0, 10);
    for (const id of edited) {
      const editId = await mod.send(mgmt, {
        msgtype: "m.text",
        body: "* !tyr status",
        "m.new_content": { msgtype: "m.text", body: "!tyr status" },
        "m.relates_to": { rel_type: "m.replace", event_id: id },
      });
      probes.push({ label: "edit", content: {}, answered: false });
      ids.push(editId);
    }
    const want = ids.filter((_, i) => probes[i]!.answered);
    await waitForAnswers(want, 60_000);
    const unanswered = ids.flatMap((id, i) =>
      probes[i]!.answered && !answered.has(id) ? [probes[i]!.label] : [],
    );
    expect(unanswered, `no answer to ${unanswered.length} message(s)`).toEqual([]);
    const allMs = Date.now() - t0;

    // Health: status still answers; a later command proves the silent ones were processed too.
    const status = await mod.sendText(mgmt, "!tyr status");
    const statusDeadline = Date.now() + 60_000;
    let statusReply: Ev | undefined;
    while (!statusReply && Date.now() < statusDeadline) {
      await collect();
      statusReply = [...events.values()].find(
        (e) =>
          answerOf(e) === status && e.type === "m.room.message" && /Tyr status/.test(String(e.content.body)),
      );
    }
    expect(statusReply, "status answers after the fuzz").toBeDefined();
    await collect(500);

    // Documented silences got nothing.
    const noisy = ids.flatMap((id, i) =>
      !probes[i]!.answered && answered.has(id) ? [probes[i]!.label] : [],
    );
    expect(noisy, "answers to messages that are not commands").toEqual([]);

    // A near miss gets the hint, never the command's own answer.
    const hints = ids.flatMap((id, i) => (probes[i]!.label.startsWith("near miss:") ? [id] : []));
    for (const id of hints) {
      const reply = [...events.values()].find((e) => answerOf(e) === id && e.type === "m.room.message");
      expect(String(reply?.content.body), `hint for ${id}`).toMatch(/^Tyr does not answer to /);
    }

    // No reply carries markup from the input.
    const replies = [...events.values()].filter(
      (e) => e.sender === tyr.userId && e.type === "m.room.message",
    );
    const bad: string[] = [];
    for (const e of replies) {
      const bodies = [e.content, e.content["m.new_content"] as Record<string, unknown> | undefined];
      for (const c of bodies) {
        if (!c || typeof c.formatted_body !== "string") continue;
        for (const p of markupProblems(c.formatted_body)) bad.push(`${p} in ${String(c.body).slice(0, 100)}`);
      }
    }
    expect(bad).toEqual([]);
    expect(replies.length).toBeGreaterThan(1_000);

    // No unexpected errors: a command may fail for a reason it explains (Matrix errors, unknown
    // lists), but nothing may crash with a programming error, and nothing is fatal.
    const errors = bot.logs.filter((l) => typeof l.level === "number" && l.level >= 50);
    const unexpected = errors.filter((l) => {
      const err = l.err as { type?: string; message?: string } | undefined;
      const programming = /^(TypeError|RangeError|ReferenceError|SyntaxError|InternalError)$/.test(
        err?.type ?? "",
      );
      return l.level !== 50 || l.msg !== "command failed" || programming;
    });
    expect(unexpected.map((l) => `${String(l.msg)} ${JSON.stringify(l.err ?? {}).slice(0, 300)}`)).toEqual(
      [],
    );
    const reasons = new Map<string, number>();
    for (const l of errors) {
      const m = String((l.err as { message?: string } | undefined)?.message ?? "").slice(0, 60);
      reasons.set(m, (reasons.get(m) ?? 0) + 1);
    }
    const answeredCount = want.length;
    process.stdout.write(
      `fuzz (seed ${SEED}): ${probes.length} messages; ${answeredCount} answered, ` +
        `${probes.length - answeredCount} silent by design; all sent and answered in ${allMs} ms; ` +
        `${replies.length} notices; ${errors.length} explained command failures: ${JSON.stringify([...reasons])}\n`,
    );
  }, 600_000);
});
