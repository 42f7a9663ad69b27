// End-to-end encryption commands: Tyr's crypto state, other users' devices and their trust,
// verification by emoji (SAS) with moderators, blocking devices, and Tyr's own sessions.
// The formatting functions are pure (unit-tested); the commands only fetch and call them.
import { commandsFor, types as t, UserFacingError } from "./framework/index.ts";
import {
  blocks,
  bold,
  code,
  fmt,
  heading,
  isFragment,
  italic,
  keyValue,
  table,
  text,
  type Fragment,
} from "../format/fragment.ts";
import type { CommandContext } from "./context.ts";
import type { CryptoFeature } from "../matrix/crypto/feature.ts";
import type { CryptoStatus, DeviceTrust, OwnDevice } from "../matrix/crypto/trust.ts";
import {
  acceptChangedIdentity,
  getCryptoStatus,
  listDevices,
  listOwnDevices,
  setDeviceBlocked,
  userTrust,
} from "../matrix/crypto/trust.ts";
import {
  CANCELLABLE_STATES,
  CONFIRMABLE_STATES,
  type VerificationView,
} from "../matrix/crypto/verification.ts";

const { command } = commandsFor<CommandContext>();
const GROUP = "Encryption";

const deviceArg = {
  name: "device",
  type: t.word({
    placeholder: "device",
    expected: "a device ID",
    maxLength: 255,
    pattern: /^[\x21-\x7e]+$/,
    hint: "device IDs are printable ASCII without spaces",
  }),
} as const;
const flowArg = {
  name: "flow",
  type: t.word({ placeholder: "flow", expected: "a verification flow ID", maxLength: 255 }),
  optional: true,
  description: "Which verification, when several are in progress (see crypto status)",
} as const;

function crypto(ctx: CommandContext): CryptoFeature {
  const c = ctx.services.crypto;
  if (!c)
    throw new UserFacingError(
      "end-to-end encryption is switched off (encryption.enabled: false in the config); switch it on and restart Tyr to use this command",
    );
  return c;
}

// ---- pure formatting ---------------------------------------------------------------------------

/** A base64 key in groups of four, as clients show fingerprints ("abcd efgh …"). */
export function fingerprint(key: string | undefined): string {
  if (!key) return "unknown";
  return (key.match(/.{1,4}/g) ?? [key]).join(" ");
}

export type DeviceState = "blocked" | "verified" | "cross-signed" | "unverified" | "unknown";

/** The trust state of a device, strongest first: blocked wins over everything. */
export function deviceState(d: DeviceTrust): DeviceState {
  if (!d.known) return "unknown";
  if (d.blocked) return "blocked";
  if (d.verified) return "verified";
  if (d.crossSignedByOwner) return "cross-signed";
  return "unverified";
}

const STATE_TEXT: Record<DeviceState, string> = {
  blocked: "blocked (never gets room keys, cannot command Tyr)",
  verified: "verified by Tyr",
  "cross-signed": "cross-signed by its owner",
  unverified: "unverified (not cross-signed)",
  unknown: "unknown",
};

function stateFragment(s: DeviceState): Fragment {
  return s === "blocked" || s === "unverified" ? bold(STATE_TEXT[s]) : text(STATE_TEXT[s]);
}

export function verificationLine(v: VerificationView): Fragment {
  const who = v.deviceId ? fmt`${code(v.userId)} (device ${code(v.deviceId)})` : code(v.userId);
  const where = v.roomId ? " in a room" : "";
  const by = v.weStarted ? "started by Tyr" : "started by them";
  const reason = v.state === "cancelled" && v.cancelReason ? `: ${v.cancelReason}` : "";
  return fmt`${code(v.flowId)} — ${who}${where}, ${by}: ${v.state}${reason}`;
}

/** Verifications that still need something (neither done nor cancelled). */
export function openVerifications(views: readonly VerificationView[]): VerificationView[] {
  return views.filter((v) => v.state !== "done" && v.state !== "cancelled");
}

export function renderCryptoStatus(
  s: CryptoStatus,
  opts: { commandPolicy: "cross-signed" | "any"; verifications: readonly VerificationView[]; prefix: string },
): Fragment {
  const cs = s.crossSigning;
  const crossSigning = !cs.published
    ? bold("not set up")
    : fmt`${cs.deviceSigned ? "this device is signed" : bold("this device is NOT signed")} · private keys: master ${cs.hasMaster ? "yes" : "no"}, self-signing ${cs.hasSelfSigning ? "yes" : "no"}, user-signing ${cs.hasUserSigning ? "yes" : "no"}`;
  const backup = s.backup.enabled
    ? fmt`on, version ${s.backup.version ?? "?"} · ${s.backup.backedUp}/${s.backup.roomKeys} room keys backed up`
    : fmt`${bold("off")} · ${s.backup.roomKeys} room keys (not backed up)`;
  const sharing: Record<string, string> = {
    "cross-signed": "devices cross-signed by their owner or verified by Tyr",
    verified: "devices Tyr verified",
    all: "every device that is not blocked",
  };
  const open = openVerifications(opts.verifications);
  const pairs: [string, Fragment | string][] = [
    ["Device", fmt`${code(s.deviceId)} of ${code(s.userId)}`],
    [
      "Device keys",
      fmt`ed25519 ${code(fingerprint(s.ed25519))} · curve25519 ${code(fingerprint(s.curve25519))}`,
    ],
    ["Cross-signing", crossSigning],
    ["Master key", cs.masterKey ? code(fingerprint(cs.masterKey)) : "none"],
    ["Key backup", backup],
    ["Room keys", `${s.backup.roomKeys}`],
    [
      "Undecryptable events",
      s.pendingDecryptions === 0
        ? "none pending"
        : `${s.pendingDecryptions} waiting for their keys (decrypted as soon as the keys arrive)`,
    ],
    ["Room keys go to", sharing[s.keySharing] ?? s.keySharing],
    [
      "Commands accepted from",
      opts.commandPolicy === "cross-signed"
        ? "devices cross-signed by their owner or verified by Tyr (in encrypted rooms)"
        : "any device whose message decrypts",
    ],
    ["Verifications in progress", open.length === 0 ? "none" : `${open.length}`],
  ];
  return blocks(
    heading(4, "Tyr encryption status"),
    keyValue(pairs),
    open.length > 0 && blocks(...open.map(verificationLine)),
    !cs.deviceSigned &&
      fmt`Tyr's device is not cross-signed, so clients following spec v1.18 will not share room keys with it: check the log of the last start (cross-signing set-up) and restart Tyr with its password or recovery key configured.`,
    !s.backup.enabled &&
      fmt`Room keys are not backed up: a new installation could not read old messages. Restart Tyr with its recovery key configured to enable the backup.`,
    fmt`Devices of a user: ${code(`${opts.prefix} devices <user>`)} · Tyr's own: ${code(`${opts.prefix} sessions`)}`,
  );
}

export function renderDevices(userId: string, devices: readonly DeviceTrust[], prefix: string): Fragment {
  if (devices.length === 0)
    return fmt`${code(userId)} has no devices with encryption keys (or the homeserver did not return them).`;
  const rows = devices.map((d) => [
    code(d.deviceId),
    d.displayName ? text(d.displayName) : italic("no name"),
    stateFragment(deviceState(d)),
    code(fingerprint(d.ed25519)),
  ]);
  const unverified = devices.filter((d) => deviceState(d) === "unverified");
  return blocks(
    heading(4, fmt`Devices of ${code(userId)} (${devices.length})`),
    table(["device", "name", "state", "ed25519"], rows),
    unverified.length > 0 &&
      fmt`Unverified devices cannot command Tyr in an encrypted room and get no room keys from it. Their owner can cross-sign them from another session, or verify one with Tyr: ${code(`${prefix} verify ${userId} <device>`)}.`,
  );
}

function when(ts: number): string {
  return new Date(ts)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, " UTC");
}

export function renderSessions(devices: readonly OwnDevice[], prefix: string): Fragment {
  const sorted = [...devices].sort(
    (a, b) => Number(b.current) - Number(a.current) || (b.lastSeenTs ?? 0) - (a.lastSeenTs ?? 0),
  );
  const rows = sorted.map((d) => [
    d.current ? fmt`${code(d.deviceId)} ${bold("(this one)")}` : code(d.deviceId),
    d.displayName ? text(d.displayName) : italic("no name"),
    d.lastSeenTs !== undefined
      ? `${when(d.lastSeenTs)}${d.lastSeenIp ? ` from ${d.lastSeenIp}` : ""}`
      : "never",
    d.crossSigned ? "cross-signed" : bold("not cross-signed"),
  ]);
  const others = sorted.filter((d) => !d.current).length;
  return blocks(
    heading(4, `Tyr's sessions (${devices.length})`),
    table(["device", "name", "last seen", "state"], rows),
    others > 0 &&
      fmt`Remove a stale one with ${code(`${prefix} sessions remove <device>`)} (Tyr asks to confirm; the current session cannot be removed).`,
  );
}

/** Says what to do when `verify confirm|cancel` cannot tell which verification is meant. */
export function pickVerification(
  views: readonly VerificationView[],
  flow: string | undefined,
  wanted: readonly VerificationView["state"][],
  action: "confirm" | "cancel",
  prefix: string,
): { ok: true; flowId: string } | { ok: false; reply: Fragment } {
  if (flow !== undefined) {
    const v = views.find((x) => x.flowId === flow);
    if (!v)
      return {
        ok: false,
        reply: fmt`There is no verification ${code(flow)}. Open ones are listed by ${code(`${prefix} crypto status`)}.`,
      };
    if (!wanted.includes(v.state))
      return {
        ok: false,
        reply: fmt`Verification ${code(flow)} cannot be ${action === "confirm" ? "confirmed" : "cancelled"} now: it is ${v.state}.`,
      };
    return { ok: true, flowId: flow };
  }
  const candidates = views.filter((v) => wanted.includes(v.state));
  if (candidates.length === 1) return { ok: true, flowId: (candidates[0] as VerificationView).flowId };
  if (candidates.length > 1)
    return {
      ok: false,
      reply: blocks(
        fmt`${candidates.length} verifications could be meant; say which: ${code(`${prefix} verify ${action} <flow>`)}`,
        ...candidates.map(verificationLine),
      ),
    };
  const open = openVerifications(views);
  const none =
    action === "confirm"
      ? fmt`No verification is waiting for confirmation: Tyr posts the emoji here first, then compare them with the other device and confirm.`
      : fmt`No verification is in progress.`;
  return {
    ok: false,
    reply: blocks(
      none,
      open.length > 0 && text("In progress:"),
      ...open.map(verificationLine),
      open.length === 0 &&
        fmt`Start one from your client (verify Tyr's device), or ask Tyr: ${code(`${prefix} verify <user> [device]`)}.`,
    ),
  };
}

// ---- commands ----------------------------------------------------------------------------------

export const cryptoCommands = [
  command({
    name: "crypto status",
    aliases: ["crypto"],
    group: GROUP,
    summary: "Tyr's encryption state: device keys, cross-signing, key backup, room keys, pending decryptions",
    run: async (ctx) => {
      const c = crypto(ctx);
      const s = await getCryptoStatus(c.engine);
      return renderCryptoStatus(s, {
        commandPolicy: ctx.bot.config.encryption.requireVerifiedDevicesForCommands ? "cross-signed" : "any",
        verifications: c.verification.list(),
        prefix: ctx.bot.config.commands.prefix,
      });
    },
  }),
  command({
    name: "crypto accept-identity",
    group: GROUP,
    summary: "Accept a user's new cross-signing identity after they reset it",
    description:
      "When a user Tyr had verified resets their cross-signing identity (new recovery key, lost sessions), Tyr stops trusting their devices until a moderator accepts the new identity. Check with the user first that they really reset it.",
    args: [{ name: "user", type: t.user() }],
    examples: ["crypto accept-identity @alice:example.org"],
    run: async (ctx, a) => {
      const c = crypto(ctx);
      await c.engine.fetchDevices([a.user]);
      const before = await userTrust(c.engine, a.user);
      if (!before.hasIdentity)
        return fmt`${code(a.user)} has no cross-signing identity, so there is nothing to accept. They can set it up from their client.`;
      await acceptChangedIdentity(c.engine, a.user);
      return before.changedSinceVerified
        ? fmt`Accepted the new identity of ${code(a.user)} (master key ${code(fingerprint(before.masterKey))}). It is no longer verified by Tyr; verify it again with ${code(`${ctx.bot.config.commands.prefix} verify ${a.user}`)}.`
        : fmt`The identity of ${code(a.user)} (master key ${code(fingerprint(before.masterKey))}) had not changed; it is accepted as it is.`;
    },
  }),
  command({
    name: "devices",
    group: GROUP,
    summary: "A user's devices and whether each is verified, cross-signed, unverified or blocked",
    args: [{ name: "user", type: t.user() }],
    examples: ["devices @alice:example.org"],
    run: async (ctx, a) =>
      renderDevices(a.user, await listDevices(crypto(ctx).engine, a.user), ctx.bot.config.commands.prefix),
  }),
  command({
    name: "verify",
    group: GROUP,
    summary: "Tyr starts an emoji verification with a user (a device, or their identity in this room)",
    description:
      'Without a device, Tyr asks in the management room to verify the user\'s cross-signing identity (they accept in their client); with a device, Tyr asks that device directly. The 7 emoji then appear here: compare them with the other side, confirm there, and say "verify confirm" here.',
    args: [
      { name: "user", type: t.user() },
      { ...deviceArg, optional: true },
    ],
    examples: ["verify @alice:example.org", "verify @alice:example.org ABCDEFGHIJ"],
    run: async (ctx, a) => {
      const c = crypto(ctx);
      const prefix = ctx.bot.config.commands.prefix;
      if (a.user === ctx.bot.session.userId)
        return fmt`Tyr does not verify itself. To check Tyr's own devices, see ${code(`${prefix} sessions`)}.`;
      if (a.device === undefined) {
        const room = ctx.bot.state.peek(ctx.bot.managementRoomId);
        if (room?.membership(a.user) !== "join")
          return fmt`${code(a.user)} is not in this room, so Tyr cannot ask here. Name one of their devices instead: ${code(`${prefix} verify ${a.user} <device>`)} (see ${code(`${prefix} devices ${a.user}`)}).`;
        await c.engine.fetchDevices([a.user]);
        if (!(await userTrust(c.engine, a.user)).hasIdentity)
          return fmt`${code(a.user)} has not set up cross-signing, so there is no identity to verify. Verify one of their devices instead: ${code(`${prefix} verify ${a.user} <device>`)} (see ${code(`${prefix} devices ${a.user}`)}).`;
      }
      const view = await c.verification.requestVerification(
        a.user,
        a.device === undefined ? { roomId: ctx.bot.managementRoomId } : { deviceId: a.device },
      );
      const target =
        a.device === undefined
          ? fmt`${code(a.user)} (in this room)`
          : fmt`${code(a.user)}'s device ${code(a.device)}`;
      return fmt`Asked ${target} to verify with Tyr (flow ${code(view.flowId)}). Accept the request in that client; the emoji will appear here. If they match, confirm in the client and say ${code(`${prefix} verify confirm`)}.`;
    },
  }),
  command({
    name: "verify confirm",
    group: GROUP,
    summary: "The emoji match: confirm the pending verification on Tyr's side",
    args: [flowArg],
    run: async (ctx, a) => {
      const c = crypto(ctx);
      const prefix = ctx.bot.config.commands.prefix;
      // From the device being verified: only its own verification (the gate bound it).
      const flow = c.flowBoundTo(ctx.eventId) ?? a.flow;
      const pick = pickVerification(c.verification.list(), flow, CONFIRMABLE_STATES, "confirm", prefix);
      if (!pick.ok) return pick.reply;
      const v = await c.verification.confirm(pick.flowId);
      return v.state === "done"
        ? fmt`Verification with ${code(v.userId)} is complete.`
        : fmt`Confirmed on Tyr's side. The verification completes once ${code(v.userId)} confirms too.`;
    },
  }),
  command({
    name: "verify cancel",
    group: GROUP,
    summary: "Cancel the verification in progress (for instance when the emoji differ)",
    args: [flowArg],
    run: async (ctx, a) => {
      const c = crypto(ctx);
      const pick = pickVerification(
        c.verification.list(),
        c.flowBoundTo(ctx.eventId) ?? a.flow,
        CANCELLABLE_STATES,
        "cancel",
        ctx.bot.config.commands.prefix,
      );
      if (!pick.ok) return pick.reply;
      const v = await c.verification.cancel(pick.flowId);
      return fmt`Cancelled the verification with ${code(v.userId)}.`;
    },
  }),
  ...(["block", "unblock"] as const).map((verb) =>
    command({
      name: `device ${verb}`,
      group: GROUP,
      summary:
        verb === "block"
          ? "Block a device: it never gets room keys from Tyr and cannot command it"
          : "Unblock a device blocked earlier",
      args: [{ name: "user", type: t.user() }, deviceArg],
      examples: [`device ${verb} @alice:example.org ABCDEFGHIJ`],
      run: async (ctx, a) => {
        const c = crypto(ctx);
        const d = await setDeviceBlocked(c.engine, a.user, a.device, verb === "block").catch((e: unknown) => {
          throw new UserFacingError(
            `${e instanceof Error ? e.message : String(e)}; see "${ctx.bot.config.commands.prefix} devices ${a.user}" for their devices`,
            { cause: e },
          );
        });
        // Under the default key sharing, crypto-wasm cannot leave out one cross-signed device: the
        // engine then shares nothing with the whole user (see CryptoEngine.usersWithBlockedDevices).
        const cutOff = d.crossSignedByOwner && c.engine.keySharing === "cross-signed";
        return verb === "block"
          ? blocks(
              fmt`Blocked ${code(a.user)}'s device ${code(a.device)}. Tyr rotated its room keys, so that device cannot read what Tyr sends from now on.`,
              cutOff &&
                fmt`Because that device is cross-signed, Tyr now leaves ${code(a.user)} out of its room keys wherever it shares by cross-signing (crypto-wasm cannot skip a single cross-signed device): none of their devices can read Tyr's messages there until it is unblocked or they log it out.`,
            )
          : fmt`Unblocked ${code(a.user)}'s device ${code(a.device)}; it is now ${STATE_TEXT[deviceState(d)]}.`;
      },
    }),
  ),
  command({
    name: "sessions",
    group: GROUP,
    summary: "Tyr's own devices (sessions) on the homeserver",
    run: async (ctx) =>
      renderSessions(await listOwnDevices(crypto(ctx).engine), ctx.bot.config.commands.prefix),
  }),
  command({
    name: "sessions remove",
    group: GROUP,
    summary: "Log out one of Tyr's other (stale) sessions; never the current one",
    args: [deviceArg],
    examples: ["sessions remove OLDDEVICE"],
    // A device that cannot be removed needs no confirmation: `run` says why at once.
    confirm: async (ctx, a) => {
      const d = await ownDevice(ctx, a.device);
      if (isFragment(d)) return null;
      return fmt`Log out Tyr's session ${code(d.deviceId)}${d.displayName ? ` “${d.displayName}”` : ""} (last seen ${d.lastSeenTs !== undefined ? when(d.lastSeenTs) : "never"})? Its encryption keys are deleted from the homeserver.`;
    },
    run: async (ctx, a) => {
      const d = await ownDevice(ctx, a.device);
      if (isFragment(d)) return d;
      await crypto(ctx).removeOwnDevice(d.deviceId);
      return fmt`Logged out Tyr's session ${code(d.deviceId)}.`;
    },
  }),
];

/** One of Tyr's other sessions, or a reply saying why it cannot be removed. */
async function ownDevice(ctx: CommandContext, deviceId: string): Promise<OwnDevice | Fragment> {
  const c = crypto(ctx);
  const prefix = ctx.bot.config.commands.prefix;
  if (deviceId === c.engine.deviceId)
    return fmt`✗ ${code(deviceId)} is the session Tyr is running on; it cannot remove itself. Stale sessions are listed by ${code(`${prefix} sessions`)}.`;
  const devices = await listOwnDevices(c.engine);
  const d = devices.find((x) => x.deviceId === deviceId);
  if (!d)
    return fmt`✗ Tyr has no session ${code(deviceId)}; its sessions are ${devices.map((x) => x.deviceId).join(", ")} (see ${code(`${prefix} sessions`)}).`;
  return d;
}
