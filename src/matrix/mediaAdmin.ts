// Synapse's media admin API, for quarantining media on Tyr's own homeserver: one upload (an mxc
// URI), everything a local account uploaded, or every piece of media a room refers to (local and
// cached remote). Quarantined media is no longer served to anyone. What to quarantine and the
// paths are pure; the quarantine itself is a consequence (`quarantineMedia`, see
// consequences/execute.ts); this module also reads the counts the confirmation shows.
import type { TyrClient } from "./client.ts";

const enc = encodeURIComponent;
const ADMIN = "/_synapse/admin/v1";

/** What to quarantine: one upload (`id` an mxc URI), the uploads of a local account (`id` its
 *  user ID) or the media a room refers to (`id` its room ID). Parsed and checked by the command. */
export interface MediaTarget {
  readonly scope: "media" | "user" | "room";
  readonly id: string;
}

/** The admin endpoint (POST) that quarantines `t`. */
export function quarantinePath(t: MediaTarget): string {
  switch (t.scope) {
    case "media": {
      // mxc://<server>/<media id>: Synapse's path takes the two apart.
      const [server = "", mediaId = ""] = t.id.slice("mxc://".length).split("/");
      return `${ADMIN}/media/quarantine/${enc(server)}/${enc(mediaId)}`;
    }
    case "user":
      return `${ADMIN}/user/${enc(t.id)}/media/quarantine`;
    case "room":
      return `${ADMIN}/room/${enc(t.id)}/media/quarantine`;
  }
}

/** How many items the server says it quarantined (`num_quarantined`; one for a single upload). */
export function quarantinedCount(t: MediaTarget, body: unknown): number {
  const n = (body as { num_quarantined?: unknown } | null)?.num_quarantined;
  if (typeof n === "number" && Number.isFinite(n)) return n;
  return t.scope === "media" ? 1 : 0;
}

export class MediaAdmin {
  private readonly client: TyrClient;

  constructor(client: TyrClient) {
    this.client = client;
  }

  /** How many uploads a local account has (Synapse's `total`). */
  async uploadsOf(user: string): Promise<number> {
    const res = (await this.client.doRequest("GET", `${ADMIN}/users/${enc(user)}/media`, { limit: 1 })) as {
      total?: unknown;
    };
    return typeof res.total === "number" ? res.total : 0;
  }

  /** The media a room refers to, local and remote (mxc URIs, as Synapse lists them). */
  async mediaIn(room: string): Promise<{ local: number; remote: number }> {
    const res = (await this.client.doRequest("GET", `${ADMIN}/room/${enc(room)}/media`)) as {
      local?: unknown;
      remote?: unknown;
    };
    const len = (v: unknown) => (Array.isArray(v) ? v.length : 0);
    return { local: len(res.local), remote: len(res.remote) };
  }
}
