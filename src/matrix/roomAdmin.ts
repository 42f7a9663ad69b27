// Synapse's room admin API, for taking a room down on Tyr's own homeserver: what the room is
// (name, member counts, local members), whether it is blocked, and how its deletion is going.
// The deletion itself is a consequence (`takedownRoom`, see consequences/execute.ts); this module
// only reads. Parsing is pure and tolerant: a missing field is "unknown", never a crash.
import type { TyrClient } from "./client.ts";

const enc = encodeURIComponent;
const ADMIN = "/_synapse/admin";

export interface RoomDetails {
  readonly roomId: string;
  readonly name?: string;
  readonly canonicalAlias?: string;
  readonly joinedMembers: number;
  readonly joinedLocalMembers: number;
}

/** One deletion Synapse started for a room (`status` as the server says it). */
export interface DeleteStatus {
  readonly deleteId: string;
  /** shutting_down | purging | complete | failed */
  readonly status: string;
  readonly error?: string;
  readonly kickedUsers: readonly string[];
  readonly failedToKickUsers: readonly string[];
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x) => typeof x === "string") : []);

export function parseRoomDetails(roomId: string, body: unknown): RoomDetails {
  const o = (body ?? {}) as Record<string, unknown>;
  const name = str(o.name);
  const canonicalAlias = str(o.canonical_alias);
  return {
    roomId,
    ...(name !== undefined ? { name } : {}),
    ...(canonicalAlias !== undefined ? { canonicalAlias } : {}),
    joinedMembers: num(o.joined_members),
    joinedLocalMembers: num(o.joined_local_members),
  };
}

/** The `results` of `GET /v2/rooms/<room>/delete_status` (newest last, as Synapse lists them). */
export function parseDeleteStatuses(body: unknown): DeleteStatus[] {
  const results = (body as { results?: unknown } | null)?.results;
  if (!Array.isArray(results)) return [];
  return results.flatMap((r: unknown) => {
    const o = (r ?? {}) as Record<string, unknown>;
    const deleteId = str(o.delete_id);
    const status = str(o.status);
    if (deleteId === undefined || status === undefined) return [];
    const shutdown = (o.shutdown_room ?? {}) as Record<string, unknown>;
    const error = str(o.error);
    return [
      {
        deleteId,
        status,
        ...(error !== undefined ? { error } : {}),
        kickedUsers: strings(shutdown.kicked_users),
        failedToKickUsers: strings(shutdown.failed_to_kick_users),
      },
    ];
  });
}

/** The body of `DELETE /v2/rooms/<room>`: always block, so nobody here can join it again. */
export function takedownRequestBody(purge: boolean, reason: string): Record<string, unknown> {
  return { block: true, purge, ...(reason ? { message: reason } : {}) };
}

export const takedownPath = (roomId: string) => `${ADMIN}/v2/rooms/${enc(roomId)}`;
/** Synapse's block-room API: GET reads the block, PUT `{block}` sets or lifts it. */
export const blockPath = (roomId: string) => `${ADMIN}/v1/rooms/${enc(roomId)}/block`;

export class RoomAdmin {
  private readonly client: TyrClient;

  constructor(client: TyrClient) {
    this.client = client;
  }

  /** Throws the server's error: M_FORBIDDEN when Tyr is not a server admin, M_NOT_FOUND when the
   *  server does not know the room. */
  async details(roomId: string): Promise<RoomDetails> {
    return parseRoomDetails(roomId, await this.client.doRequest("GET", `${ADMIN}/v1/rooms/${enc(roomId)}`));
  }

  async members(roomId: string): Promise<string[]> {
    const res = (await this.client.doRequest("GET", `${ADMIN}/v1/rooms/${enc(roomId)}/members`)) as {
      members?: unknown;
    };
    return strings(res.members);
  }

  async blocked(roomId: string): Promise<{ block: boolean; by?: string }> {
    const res = (await this.client.doRequest("GET", blockPath(roomId))) as {
      block?: unknown;
      user_id?: unknown;
    };
    const by = str(res.user_id);
    return { block: res.block === true, ...(by !== undefined ? { by } : {}) };
  }

  /** Whether Synapse calls `me` a server admin (false on any error: 403, or no admin API). */
  async isAdmin(me: string): Promise<boolean> {
    try {
      const res = (await this.client.doRequest("GET", `${ADMIN}/v1/users/${enc(me)}/admin`)) as {
        admin?: unknown;
      };
      return res.admin === true;
    } catch {
      return false;
    }
  }

  /** Deletions of the room Synapse remembers (it forgets them some time after they finish). */
  async deleteStatus(roomId: string): Promise<DeleteStatus[]> {
    try {
      return parseDeleteStatuses(
        await this.client.doRequest("GET", `${ADMIN}/v2/rooms/${enc(roomId)}/delete_status`),
      );
    } catch (e) {
      if ((e as { errcode?: string }).errcode === "M_NOT_FOUND") return [];
      throw e;
    }
  }
}
