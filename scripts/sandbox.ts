// The sandbox: a local Synapse, a bot account, a moderator account, an end-to-end-encrypted
// management room (plaintext with --plaintext or TYR_SANDBOX_PLAINTEXT=1), a policy list and two
// protected rooms, then Tyr in the foreground. State is kept in .tyr-dev/sandbox (or
// TYR_SANDBOX_DIR) so a second run reuses the same accounts and rooms. Ctrl-C stops both.
import "../src/node-warnings.ts"; // first: before anything loads matrix-bot-sdk
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { DEV_DIR, Synapse, type RegisteredUser } from "../tests/harness/synapse.ts";
import { writeFileAtomic } from "../src/store/files.ts";
import { loadConfigFile } from "../src/config/load.ts";
import { createLogger } from "../src/logging.ts";
import { startBot, whenSyncing } from "../src/main.ts";
import { exitWhenDrained } from "../src/util/exitWhenDrained.ts";

const DIR = resolve(process.env.TYR_SANDBOX_DIR ?? join(DEV_DIR, "sandbox"));
const STATE = join(DIR, "sandbox.json");
const PORT = Number(process.env.TYR_SANDBOX_PORT ?? 8008);
/** Tyr's own HTTP listener: the dashboard and the monitoring endpoints. */
const HTTP_PORT = Number(process.env.TYR_SANDBOX_HTTP_PORT ?? 8090);
const ENCRYPTED = !(process.argv.includes("--plaintext") || process.env.TYR_SANDBOX_PLAINTEXT === "1");
/** After Ctrl-C: how long queued replies may still go out before Tyr stops anyway. */
const STOP_GRACE_MS = 1_000;
const MEGOLM = { algorithm: "m.megolm.v1.aes-sha2" };

interface SandboxState {
  bot: RegisteredUser;
  moderator: RegisteredUser;
  rooms: { management: string; policyList: string; protected: string[] };
}

async function api<T = unknown>(
  s: Synapse,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as T;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function provision(s: Synapse): Promise<SandboxState> {
  const bot = await s.register("tyr", { exact: true });
  const moderator = await s.register("moderator", { exact: true, password: "moderator-password" });
  const createRoom = (name: string, extra: Record<string, unknown> = {}) =>
    api<{ room_id: string }>(s, moderator.accessToken, "POST", "/_matrix/client/v3/createRoom", {
      name,
      preset: "private_chat",
      invite: [bot.userId],
      power_level_content_override: { users: { [bot.userId]: 100 } },
      ...extra,
    }).then((r) => r.room_id);
  const management = await createRoom("Tyr management", {
    room_alias_name: "tyr-management",
    ...(ENCRYPTED ? { initial_state: [{ type: "m.room.encryption", state_key: "", content: MEGOLM }] } : {}),
  });
  const policyList = await createRoom("Sandbox ban list", {
    room_alias_name: "sandbox-bans",
    creation_content: { type: "m.policy" },
  });
  const protectedRooms = [await createRoom("Community lobby"), await createRoom("Community off-topic")];
  for (const room of [policyList, ...protectedRooms]) {
    await api(s, bot.accessToken, "POST", `/_matrix/client/v3/join/${encodeURIComponent(room)}`, {});
  }
  // Mjolnir-compatible account data: Tyr reads its watched lists and protected rooms from here.
  const put = (type: string, content: unknown) =>
    api(
      s,
      bot.accessToken,
      "PUT",
      `/_matrix/client/v3/user/${encodeURIComponent(bot.userId)}/account_data/${type}`,
      content,
    );
  await put("org.matrix.mjolnir.watched_lists", { references: [policyList] });
  await put("org.matrix.mjolnir.protected_rooms", { rooms: protectedRooms });
  return { bot, moderator, rooms: { management, policyList, protected: protectedRooms } };
}

/**
 * Make the management room of an earlier run match the requested mode: encryption can be switched
 * on (the default since the sandbox shows encrypted rooms), never off again.
 */
async function settleEncryption(s: Synapse, state: SandboxState): Promise<boolean> {
  const path = `/_matrix/client/v3/rooms/${encodeURIComponent(state.rooms.management)}/state/m.room.encryption/`;
  const encrypted = await api(s, state.moderator.accessToken, "GET", path).then(
    () => true,
    () => false,
  );
  if (encrypted === ENCRYPTED) return encrypted;
  if (ENCRYPTED) {
    await api(s, state.moderator.accessToken, "PUT", path, MEGOLM);
    return true;
  }
  process.stdout.write(
    `Note: the management room of the earlier run is encrypted, and a room's encryption cannot be switched off. ` +
      `Delete ${DIR} to start over with a plaintext room.\n`,
  );
  return true;
}

function verificationSteps(serverName: string, bot: string): string[] {
  return [
    "The management room is end-to-end encrypted (run with --plaintext for a plaintext one). In Element:",
    `  1. Log in as the moderator (homeserver above). When Element offers to set up secure backup /`,
    `     cross-signing, accept: Tyr obeys only devices cross-signed by their owner or verified by Tyr.`,
    `  2. In the management room, open ${bot}'s profile → Verify → "Verify by emoji". Tyr posts the`,
    `     same emoji in the room; if they match, click "They match" and say \`!tyr verify confirm\``,
    `     from the same session (it works even when that is your only, new session).`,
    `     (Or say \`!tyr verify @moderator:${serverName}\` and accept the request in Element.)`,
    '  3. `!tyr crypto status` shows Tyr\'s side. Details: README.md, "Encrypted rooms".',
  ];
}

async function main(): Promise<void> {
  const fresh = !existsSync(STATE);
  const synapse = await Synapse.create({
    dir: join(DIR, "synapse"),
    port: PORT,
    keepData: !fresh,
    rateLimits: "default",
  });
  const state: SandboxState = fresh
    ? await provision(synapse)
    : (JSON.parse(readFileSync(STATE, "utf8")) as SandboxState);
  if (fresh) writeFileAtomic(STATE, JSON.stringify(state, null, 2), { secret: true });
  const encrypted = fresh ? ENCRYPTED : await settleEncryption(synapse, state);

  const tokenFile = join(DIR, "bot-access-token");
  writeFileAtomic(tokenFile, state.bot.accessToken, { secret: true });
  const configFile = join(DIR, "config.yaml");
  writeFileAtomic(
    configFile,
    [
      "# Generated by the sandbox; see config/default.yaml for every option.",
      `homeserverUrl: ${synapse.url}`,
      `accessTokenFile: ${tokenFile}`,
      `dataPath: ${join(DIR, "data")}`,
      `managementRoom: "${state.rooms.management}"`,
      "logLevel: info",
      "logFormat: pretty",
      `http: { bind: 127.0.0.1, port: ${HTTP_PORT} }`,
      `dashboard: { enabled: true, publicBaseUrl: "http://127.0.0.1:${HTTP_PORT}" }`,
      "metrics: { enabled: true }",
      "",
    ].join("\n"),
  );

  process.stdout.write(
    [
      "",
      "Tyr sandbox is up.",
      `  Homeserver:   ${synapse.url}   (server name: ${synapse.serverName})`,
      `  Moderator:    ${state.moderator.userId}   password: ${state.moderator.password}`,
      `  Bot:          ${state.bot.userId}`,
      `  Management:   #tyr-management:${synapse.serverName}   (${state.rooms.management})   ${encrypted ? "encrypted" : "plaintext"}`,
      `  Ban list:     #sandbox-bans:${synapse.serverName}`,
      `  Config:       ${configFile}`,
      "Log in with any Matrix client (e.g. Element, homeserver above) and say `!tyr help` in the management room.",
      `Dashboard:    http://127.0.0.1:${HTTP_PORT}/dashboard   (say \`!tyr dashboard\` in the management room for a login link)`,
      `Monitoring:   http://127.0.0.1:${HTTP_PORT}/metrics, /healthz, /readyz`,
      ...(encrypted ? verificationSteps(synapse.serverName, state.bot.userId) : []),
      "Ctrl-C stops Tyr and Synapse.",
      "",
    ].join("\n"),
  );

  const loaded = loadConfigFile(configFile);
  const log = createLogger({ level: loaded.config.logLevel, format: "pretty" });
  const bot = await startBot(loaded, log);
  let signalledAt = 0;
  const shutdown = () => {
    signalledAt = Date.now();
    void bot.stop(STOP_GRACE_MS);
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
  const cancel = whenSyncing(bot, () =>
    process.stdout.write("Tyr is syncing. Ctrl-C stops Tyr and Synapse.\n"),
  );
  try {
    await bot.run();
  } finally {
    cancel();
    // Timed, so that a slow stop says which of the two was slow.
    const since = () => (signalledAt ? Date.now() - signalledAt : 0);
    log.info({ afterMs: since() }, "Tyr stopped; stopping Synapse");
    await synapse.stop();
    log.info({ afterMs: since() }, "sandbox stopped");
  }
  exitWhenDrained("sandbox");
}

await main();
