// The persisted /sync position. Bound to the account so that pointing the bot at another account
// never replays (or skips) that account's history by mistake.
import { join } from "node:path";
import { readJsonFile, writeFileAtomic } from "./files.ts";

export class SyncTokenStore {
  private readonly path: string;
  private readonly userId: string;

  constructor(dataPath: string, userId: string) {
    this.path = join(dataPath, "sync-token.json");
    this.userId = userId;
  }

  load(): string | undefined {
    let data: unknown;
    try {
      data = readJsonFile(this.path);
    } catch {
      return undefined; // a corrupt token file only costs one initial sync
    }
    if (!data || typeof data !== "object") return undefined;
    const { userId, token } = data as { userId?: unknown; token?: unknown };
    return userId === this.userId && typeof token === "string" && token ? token : undefined;
  }

  save(token: string): void {
    writeFileAtomic(this.path, JSON.stringify({ userId: this.userId, token, savedAt: Date.now() }));
  }
}
