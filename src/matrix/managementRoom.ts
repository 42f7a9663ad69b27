// Finding — or, on a first run, creating — the management room. With `managementRoom` in the
// config Tyr joins that room. Without it, the room Tyr created earlier is remembered in its account
// data; on the very first start Tyr creates one (encrypted when encryption is on), invites
// `initialModerator` with power 100, and records it there, so every later start finds it again.
import type { MatrixClient } from "matrix-bot-sdk";
import { describeError } from "./sync.ts";
import { LoginError } from "./login.ts";
import type { Logger } from "../logging.ts";

export const MANAGEMENT_ROOM_KEY = "org.matrix.tyr.management_room";

export class ManagementRoomError extends Error {}

/** The `/createRoom` body of a first-run management room (pure). */
export function managementRoomCreation(opts: {
  initialModerator: string;
  encrypted: boolean;
}): Record<string, unknown> {
  return {
    name: "Tyr management",
    topic: "Moderators talk to Tyr here. Say !tyr help.",
    preset: "private_chat",
    visibility: "private",
    invite: [opts.initialModerator],
    // The moderator runs the room (and invites others) from day one. Tyr, the creator, has power
    // 100 from the preset, or unlimited power in room version 12 (where naming it here is refused).
    power_level_content_override: { users: { [opts.initialModerator]: 100 } },
    initial_state: [
      // Members only, and only from the moment they joined: commands never leak backwards.
      { type: "m.room.history_visibility", state_key: "", content: { history_visibility: "joined" } },
      ...(opts.encrypted
        ? [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }]
        : []),
    ],
  };
}

/** The room ID remembered in account data, if a well-formed one is there. */
export function rememberedRoom(content: unknown): string | undefined {
  const id = (content as { room_id?: unknown } | null | undefined)?.room_id;
  return typeof id === "string" && id.startsWith("!") ? id : undefined;
}

const errcode = (e: unknown) => (e as { errcode?: string }).errcode;

export async function resolveManagementRoom(
  client: MatrixClient,
  opts: {
    managementRoom?: string | undefined;
    initialModerator?: string | undefined;
    encrypted: boolean;
    me: string;
    log: Logger;
  },
): Promise<string> {
  if (opts.managementRoom !== undefined) return joinManagementRoom(client, opts.managementRoom, opts.me);
  let remembered: string | undefined;
  try {
    remembered = rememberedRoom(await client.getAccountData(MANAGEMENT_ROOM_KEY));
  } catch (e) {
    if (errcode(e) === "M_UNKNOWN_TOKEN") throw new LoginError("the homeserver rejected the access token");
    if (errcode(e) !== "M_NOT_FOUND") {
      throw new ManagementRoomError(`cannot read Tyr's account data: ${describeError(e)}`);
    }
  }
  if (remembered !== undefined) return joinManagementRoom(client, remembered, opts.me);
  if (opts.initialModerator === undefined) {
    throw new ManagementRoomError(
      "no management room: set managementRoom, or initialModerator for a first run",
    );
  }
  const roomId = await client.createRoom(
    managementRoomCreation({
      initialModerator: opts.initialModerator,
      encrypted: opts.encrypted,
    }),
  );
  // Recorded at once: a crash after this point finds the room again instead of making another.
  await client.setAccountData(MANAGEMENT_ROOM_KEY, { room_id: roomId });
  opts.log.warn(
    { managementRoomId: roomId, initialModerator: opts.initialModerator },
    "first run: created the management room and invited the initial moderator; set managementRoom in the config to this room ID to pin it",
  );
  return roomId;
}

async function joinManagementRoom(client: MatrixClient, ref: string, me: string): Promise<string> {
  try {
    return await client.joinRoom(ref);
  } catch (e) {
    const code = errcode(e);
    if (code === "M_NOT_FOUND") {
      throw new ManagementRoomError(
        `management room ${ref} was not found: check managementRoom in the config`,
      );
    }
    if (code === "M_FORBIDDEN") {
      throw new ManagementRoomError(
        `cannot join the management room ${ref}: invite ${me} to it first (${describeError(e)})`,
      );
    }
    if (code === "M_UNKNOWN_TOKEN") throw new LoginError("the homeserver rejected the access token");
    throw new ManagementRoomError(`cannot join the management room ${ref}: ${describeError(e)}`);
  }
}
