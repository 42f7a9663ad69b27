// The contract between the shell (bot.ts) and the features it runs. Features import this small
// module, never the shell itself, so the import graph points one way: bot.ts → features → here.
import type { LoadedConfig } from "./config/load.ts";
import type { Logger } from "./logging.ts";
import type { TyrClient } from "./matrix/client.ts";
import type { Session } from "./matrix/login.ts";
import type { Messenger } from "./matrix/messenger.ts";
import type { RoomStateCache } from "./matrix/roomState.ts";
import type { SyncResponse } from "./matrix/syncTypes.ts";
import type { Router, Subscriber } from "./router.ts";
import type { ActionLog } from "./store/actionLog.ts";
import type { ConsequenceQueue } from "./consequences/queue.ts";
import type { SafeModeReasons } from "./safemode/reasons.ts";

/** What a feature may use of the running bot. */
export interface BotParts {
  readonly config: LoadedConfig["config"];
  readonly log: Logger;
  readonly session: Session;
  readonly client: TyrClient;
  readonly state: RoomStateCache;
  readonly router: Router;
  readonly messenger: Messenger;
  readonly queue: ConsequenceQueue;
  readonly actionLog: ActionLog;
  readonly managementRoomId: string;
  readonly startedAt: number;
  readonly serverName: string;
  /** Current members (join) of the management room. */
  moderators(): Set<string>;
  lastSyncAt(): number | undefined;
  /** Start-up failures caused by Tyr's own settings (README: Safe mode). */
  readonly safeMode: SafeModeReasons;
  /** Stops the bot and has it started again (the `restart` command). */
  requestRestart(): void;
}

/** What the shell offers a feature that works around every sync batch (the crypto engine). */
export interface ShellParts extends BotParts {
  /** False on the very first run of this account (no saved sync position): history is not live. */
  readonly resumed: boolean;
  readonly syncHooks: SyncHook[];
}

export interface SyncHook {
  beforeBatch?(body: SyncResponse): Promise<void>;
  afterBatch?(): Promise<void>;
}

/** A feature (commands, policy sync, protections, crypto…) plugs into the bot through this. */
export interface Feature extends Subscriber {
  readonly name: string;
  start?(): Promise<void> | void;
  stop?(): Promise<void> | void;
}

export interface StatusLine {
  label: string;
  value: string;
}

/** A feature that has something to say in `status`. */
export interface Reporting {
  statusLines(): StatusLine[];
}
