// The antispam decisions and the handler's answers over a real matcher and protections pipeline.
import { describe, expect, it } from "vitest";
import {
  decideCreateRoom,
  decideInvite,
  decideJoin,
  followUpsOfRefusedEvent,
} from "../../../src/antispam/decide.ts";
import { AntispamHandler } from "../../../src/antispam/handler.ts";
import { bearerSecret } from "../../../src/http/auth.ts";
import {
  BOT,
  MOD,
  OPEN_ROOM,
  ROOM,
  SECRET,
  hashed,
  message,
  rule,
  wordListConfig,
  world,
} from "./fixture.ts";

const SPAMMER = "@spammer:evil.org";
const LOCAL_SPAMMER = "@spam:example.org";
const ALICE = "@alice:example.org";
const REMOTE = "@bob:elsewhere.net";

describe("invites", () => {
  it("refuses an invite from a list-banned user with the rule's reason, allows a clean one", () => {
    const w = world({ rules: [rule("user", SPAMMER, "ban", "known spammer")] });
    const v = decideInvite(w.knowledge, SPAMMER, ALICE, OPEN_ROOM);
    expect(v).toMatchObject({ allow: false, subject: SPAMMER, why: { kind: "rule", takedown: false } });
    expect(!v.allow && v.reason).toContain("known spammer");
    expect(decideInvite(w.knowledge, REMOTE, ALICE, OPEN_ROOM).allow).toBe(true);
  });

  it("refuses invites from a banned server's users (globs, takedowns, hashed rules too)", () => {
    const w = world({
      rules: [
        rule("server", "*.evil.org"),
        rule("user", "@raider:*", "takedown"),
        rule("user", hashed("@hidden:else.net")),
      ],
    });
    expect(decideInvite(w.knowledge, "@x:sub.evil.org", ALICE, OPEN_ROOM).allow).toBe(false);
    expect(decideInvite(w.knowledge, "@x:sub.evil.org:8448", ALICE, OPEN_ROOM).allow).toBe(false);
    expect(decideInvite(w.knowledge, "@raider:any.net", ALICE, OPEN_ROOM)).toMatchObject({
      allow: false,
      why: { takedown: true },
    });
    expect(decideInvite(w.knowledge, "@hidden:else.net", ALICE, OPEN_ROOM).allow).toBe(false);
    expect(decideInvite(w.knowledge, "@x:evil.org.example", ALICE, OPEN_ROOM).allow).toBe(true);
  });

  it("never locks out local users because a list bans Tyr's own server", () => {
    const w = world({ rules: [rule("server", "example.org")] });
    expect(decideInvite(w.knowledge, ALICE, REMOTE, OPEN_ROOM).allow).toBe(true);
    expect(decideJoin(w.knowledge, ALICE, ROOM).allow).toBe(true);
  });

  it("respects an exception from the list", () => {
    const w = world({ rules: [rule("user", "@*:evil.org"), rule("user", "@friend:evil.org", "exception")] });
    expect(decideInvite(w.knowledge, "@friend:evil.org", ALICE, OPEN_ROOM).allow).toBe(true);
    expect(decideInvite(w.knowledge, "@foe:evil.org", ALICE, OPEN_ROOM).allow).toBe(false);
  });

  it("refuses invites into a banned room", () => {
    const w = world({ rules: [rule("room", OPEN_ROOM)] });
    expect(decideInvite(w.knowledge, ALICE, REMOTE, OPEN_ROOM)).toMatchObject({
      allow: false,
      subject: OPEN_ROOM,
    });
  });

  it("refuses an invite into a protected room from someone a protection flagged there", () => {
    // An incident opens on a sanction (incidentOn: sanction): a kick.
    const w = world({ config: wordListConfig({ enforce: false, action: "kick" }) });
    const r = w.livePipeline.handleRaw(message(LOCAL_SPAMMER, "buy crypto now").event, ROOM, {}, Date.now());
    expect(r.consequences.some((c) => c.kind === "redact")).toBe(true);
    expect(decideInvite(w.knowledge, LOCAL_SPAMMER, ALICE, ROOM)).toMatchObject({
      allow: false,
      why: { kind: "protection", name: "word-list" },
    });
    expect(decideInvite(w.knowledge, LOCAL_SPAMMER, ALICE, OPEN_ROOM).allow).toBe(true);
  });

  it("with the option on, refuses invites from users banned in a protected room", () => {
    const off = world();
    off.roomBans.set(LOCAL_SPAMMER, ROOM);
    expect(decideInvite(off.knowledge, LOCAL_SPAMMER, ALICE, OPEN_ROOM).allow).toBe(true);
    const on = world({ roomBanOption: true });
    on.roomBans.set(LOCAL_SPAMMER, ROOM);
    expect(decideInvite(on.knowledge, LOCAL_SPAMMER, ALICE, OPEN_ROOM)).toMatchObject({
      allow: false,
      why: { kind: "roomBan", room: ROOM },
    });
  });

  it("never refuses Tyr or a moderator, and always lets Tyr be invited", () => {
    const w = world({ rules: [rule("user", "@*:example.org")] });
    expect(decideInvite(w.knowledge, BOT, ALICE, ROOM).allow).toBe(true);
    expect(decideInvite(w.knowledge, MOD, ALICE, ROOM).allow).toBe(true);
    expect(decideJoin(w.knowledge, MOD, ROOM).allow).toBe(true);
    expect(decideInvite(w.knowledge, ALICE, BOT, ROOM).allow).toBe(true);
  });
});

describe("joins and room creation", () => {
  it("refuses a banned user joining a protected room, not an unprotected one", () => {
    const w = world({ rules: [rule("user", LOCAL_SPAMMER)] });
    expect(decideJoin(w.knowledge, LOCAL_SPAMMER, ROOM)).toMatchObject({ allow: false, room: ROOM });
    expect(decideJoin(w.knowledge, LOCAL_SPAMMER, OPEN_ROOM).allow).toBe(true);
    expect(decideJoin(w.knowledge, ALICE, ROOM).allow).toBe(true);
  });

  it("refuses local users joining a room a list bans", () => {
    const w = world({ rules: [rule("room", "!bad:*", "takedown")] });
    expect(decideJoin(w.knowledge, ALICE, "!bad:evil.org")).toMatchObject({
      allow: false,
      subject: "!bad:evil.org",
    });
  });

  it("refuses room creation by a list-banned local user", () => {
    const w = world({ rules: [rule("user", LOCAL_SPAMMER)] });
    expect(decideCreateRoom(w.knowledge, LOCAL_SPAMMER).allow).toBe(false);
    expect(decideCreateRoom(w.knowledge, ALICE).allow).toBe(true);
  });
});

describe("after a refused event", () => {
  it("keeps the protection's sanctions and clean-up, drops the event's redaction and the room warning", () => {
    const w = world({ config: wordListConfig({ enforce: true, action: "kick" }) });
    const earlier = message(LOCAL_SPAMMER, "hello");
    w.serverPipeline.handleRaw(earlier.event, ROOM, {}, Date.now());
    const spam = message(LOCAL_SPAMMER, "buy crypto");
    const ev = spam.event as { event_id: string };
    const r = w.serverPipeline.handleRaw(spam.event, ROOM, {}, Date.now());
    const kept = followUpsOfRefusedEvent(ev.event_id, [
      ...r.consequences,
      { kind: "warn", room: ROOM, text: "removed", cause: { by: "protection", name: "word-list" } },
    ]);
    expect(kept.map((c) => c.kind).sort()).toEqual(["kick", "redact"]);
    expect(kept.find((c) => c.kind === "redact")).toMatchObject({
      event: (earlier.event as { event_id: string }).event_id,
    });
  });
});

describe("the handler's answers", () => {
  it("answers 403 M_FORBIDDEN with the reason, 200 {} to allow, and reports the refusal", () => {
    const w = world({ rules: [rule("user", SPAMMER)] });
    const no = w.handler.answer("user_may_invite", { inviter: SPAMMER, invitee: ALICE, room_id: ROOM });
    expect(no).toMatchObject({ status: 403, body: { errcode: "M_FORBIDDEN" } });
    const yes = w.handler.answer("user_may_invite", { inviter: ALICE, invitee: REMOTE, room_id: ROOM });
    expect(yes).toEqual({ status: 200, body: {} });
    expect(w.refusals).toHaveLength(1);
    expect(w.handler.stats.calls.get("user_may_invite")).toBe(2);
    expect(w.handler.stats.refusals.get("user_may_invite")).toBe(1);
  });

  it("reads federated invites from the invite event", () => {
    const w = world({ rules: [rule("server", "evil.org")] });
    const ev = {
      event: {
        type: "m.room.member",
        sender: SPAMMER,
        state_key: ALICE,
        room_id: "!r:evil.org",
        event_id: "$e",
        content: { membership: "invite" },
      },
    };
    expect(w.handler.answer("federated_user_may_invite", ev).status).toBe(403);
  });

  it("refuses a word-list hit when enforceAtServer is on, delivers it when off; encrypted events pass", () => {
    const on = world({ config: wordListConfig({ enforce: true }) });
    expect(on.handler.answer("check_event_for_spam", message(ALICE, "please buy crypto")).status).toBe(403);
    expect(on.handler.answer("check_event_for_spam", message(ALICE, "hello")).status).toBe(200);
    expect(
      on.handler.answer("check_event_for_spam", message(ALICE, "buy crypto", ROOM, "m.room.encrypted"))
        .status,
    ).toBe(200);
    expect(on.handler.answer("check_event_for_spam", message(ALICE, "buy crypto", OPEN_ROOM)).status).toBe(
      200,
    );
    const off = world({ config: wordListConfig({ enforce: false }) });
    expect(off.handler.answer("check_event_for_spam", message(ALICE, "please buy crypto")).status).toBe(200);
    const dry = world({ config: wordListConfig({ enforce: true, dryRun: true }) });
    expect(dry.handler.answer("check_event_for_spam", message(ALICE, "please buy crypto")).status).toBe(200);
  });

  it("refuses messages of a list-banned sender in a protected room", () => {
    const w = world({ rules: [rule("user", LOCAL_SPAMMER)] });
    expect(w.handler.answer("check_event_for_spam", message(LOCAL_SPAMMER, "hi")).status).toBe(403);
    expect(w.handler.answer("check_event_for_spam", message(BOT, "buy crypto")).status).toBe(200);
    // State events and redactions pass (a refused federated state event would be soft-failed).
    const state = message(LOCAL_SPAMMER, "topic", ROOM, "m.room.topic");
    (state.event as Record<string, unknown>).state_key = "";
    expect(w.handler.answer("check_event_for_spam", state).status).toBe(200);
    expect(
      w.handler.answer("check_event_for_spam", message(LOCAL_SPAMMER, "x", ROOM, "m.room.redaction")).status,
    ).toBe(200);
  });

  it("in dry-run allows everything and reports what it would have refused", () => {
    const w = world({ rules: [rule("user", SPAMMER)], dryRun: true });
    expect(
      w.handler.answer("user_may_invite", { inviter: SPAMMER, invitee: ALICE, room_id: ROOM }).status,
    ).toBe(200);
    expect(w.refusals).toMatchObject([{ dryRun: true, callback: "user_may_invite" }]);
  });

  it("answers by whenNotReady while Tyr is starting", () => {
    const allow = world({ rules: [rule("user", SPAMMER)], whenNotReady: "allow" });
    allow.ready = false;
    expect(
      allow.handler.answer("user_may_invite", { inviter: SPAMMER, invitee: ALICE, room_id: ROOM }).status,
    ).toBe(200);
    const deny = world({ whenNotReady: "deny" });
    deny.ready = false;
    expect(
      deny.handler.answer("user_may_invite", { inviter: ALICE, invitee: REMOTE, room_id: ROOM }),
    ).toMatchObject({ status: 403, body: { errcode: "M_FORBIDDEN" } });
    expect(deny.handler.stats.notReadyAnswers).toBe(1);
    // ping is answered whatever the state.
    expect(deny.handler.answer("ping", { id: "abc" })).toEqual({
      status: 200,
      body: { id: "abc", status: "ok" },
    });
  });

  it("before the bot's features attach, lets Tyr's own joins and messages through (it must reach its rooms)", () => {
    const h = new AntispamHandler({
      pathPrefix: "/p",
      whenNotReady: "deny",
      dryRun: false,
      auth: bearerSecret(SECRET),
      now: () => 0,
    });
    h.botUserId = BOT;
    expect(h.answer("user_may_join_room", { user: BOT, room: ROOM, is_invited: true }).status).toBe(200);
    expect(h.answer("check_event_for_spam", message(BOT, "hello")).status).toBe(200);
    expect(h.answer("user_may_join_room", { user: ALICE, room: ROOM, is_invited: true }).status).toBe(403);
  });

  it("answers 400 to a malformed body and allows callbacks it has no opinion on", () => {
    const w = world();
    expect(w.handler.answer("user_may_invite", { inviter: 5 })).toMatchObject({
      status: 400,
      body: { errcode: "M_BAD_JSON" },
    });
    expect(w.handler.answer("user_may_join_room", { user: ALICE, room: ROOM })).toMatchObject({
      status: 400,
    });
    expect(w.handler.answer("user_may_publish_room", { user_id: ALICE, room_id: ROOM }).status).toBe(200);
    expect(w.handler.stats.badRequests).toBe(2);
  });

  it("summarises pending refusals once, then nothing until new ones", () => {
    const w = world({ rules: [rule("user", SPAMMER)] });
    for (let i = 0; i < 3; i++)
      w.handler.answer("user_may_invite", { inviter: SPAMMER, invitee: ALICE, room_id: ROOM });
    const s = w.handler.stats.takeSummary("10m", "!tyr log");
    expect(s).toContain("refused 3 requests in the last 10m (3 invites)");
    expect(s).toContain(`${SPAMMER} (3)`);
    expect(w.handler.stats.takeSummary("10m", "!tyr log")).toBeNull();
  });
});
