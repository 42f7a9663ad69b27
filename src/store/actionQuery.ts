// Searches over the action log, as SQL. Pure: a search description in, SQL text and its
// parameters out (values are always bound, never spliced into the text). The schema lives in
// actionLog.ts; the indexes there are chosen for exactly these shapes: one equality filter plus
// "newest first", keyset pagination by id, and free text through an FTS5 trigram index. The
// index is filled behind the writes (actionLog.ts), so a search also reads the few newest records
// it has not reached yet, with LIKE.

export type CauseKind = "policy" | "protection" | "moderator" | "system";
export const CAUSE_KINDS: readonly CauseKind[] = ["policy", "protection", "moderator", "system"];

export interface ActionSearch {
  /** The action's target (user, server, event…), case-insensitive, exact. */
  readonly entity?: string;
  /** The room, exact. */
  readonly room?: string;
  /** Who or what acted ("@mod:example.org", "policy !list", "protection flooding"), case-insensitive. */
  readonly actor?: string;
  readonly cause?: CauseKind;
  readonly kind?: string;
  readonly outcome?: string;
  /** Only actions at or after this time (ms since the epoch). */
  readonly since?: number;
  /** Only actions before this time (ms since the epoch). */
  readonly until?: number;
  /** Substring anywhere: target, room, actor, list, reason, detail (case-insensitive). */
  readonly text?: string;
  /** Substring in target, room, actor or list, or exactly the report an action answered
   *  (what `log <about>` searches). */
  readonly about?: string;
  /** Keyset pagination: only actions older than this record id. */
  readonly before?: number;
  readonly limit: number;
}

export interface Sql {
  readonly sql: string;
  readonly params: (string | number)[];
}

/** Columns the free-text index covers, in its order. */
export const FTS_COLUMNS = ["target", "room", "actor", "list", "reason", "detail"] as const;
const ABOUT_COLUMNS = ["target", "room", "actor", "list"] as const;

/** Trigram FTS answers substrings of at least three characters; shorter ones fall back to LIKE. */
const MIN_TRIGRAM = 3;

/**
 * Whether the free-text index can answer `needle`: three characters or more, and no NUL (FTS5
 * reads its query as a C string, so a NUL would end the phrase early and the query fails).
 */
function indexable(needle: string): boolean {
  return [...needle].length >= MIN_TRIGRAM && !needle.includes("\u0000");
}

/** A free-text needle as one FTS5 phrase (double quotes doubled), optionally column-restricted. */
export function ftsPhrase(needle: string, columns?: readonly string[]): string {
  const phrase = `"${needle.replace(/"/g, '""')}"`;
  return columns ? `{${columns.join(" ")}} : ${phrase}` : phrase;
}

/** `%needle%` for LIKE, with the pattern characters escaped (ESCAPE '\'). */
export function likePattern(needle: string): string {
  return `%${needle.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Who caused an action, from the actor text `actorOf` writes. */
export function causeOfActor(actor: string): CauseKind {
  if (actor.startsWith("policy ")) return "policy";
  if (actor.startsWith("protection ")) return "protection";
  if (actor.startsWith("@")) return "moderator";
  return "system";
}

/**
 * The SELECT for one page of a search, newest first. `unindexedAfter`: records with a greater id
 * are not in the free-text index yet (undefined: all are), so free text also matches them by LIKE.
 */
export function buildSearch(s: ActionSearch, unindexedAfter?: number): Sql {
  const where: string[] = [];
  const params: (string | number)[] = [];
  let from = "actions a";
  const needles: { needle: string; columns: readonly string[] | undefined }[] = [];
  if (s.text !== undefined && s.text.length > 0) needles.push({ needle: s.text, columns: undefined });
  if (s.about !== undefined && s.about.length > 0) {
    // Substring of the columns, or the exact report: FTS cannot OR with another column, so the
    // matching rowids come from a subquery (`log` asks for a few records, newest first).
    const about = s.about;
    if (indexable(about)) {
      const tail = unindexedAfter === undefined ? undefined : likeAny(about, ABOUT_COLUMNS);
      where.push(
        "(a.id IN (SELECT rowid FROM actions_fts WHERE actions_fts MATCH ?)" +
          (tail ? ` OR (a.id > ? AND ${tail.sql})` : "") +
          " OR a.report = ? COLLATE NOCASE)",
      );
      params.push(ftsPhrase(about, ABOUT_COLUMNS));
      if (tail) params.push(unindexedAfter!, ...tail.params);
      params.push(about);
    } else {
      where.push(
        `(${ABOUT_COLUMNS.map((c) => `a.${c} LIKE ? ESCAPE '\\'`).join(" OR ")} OR a.report = ? COLLATE NOCASE)`,
      );
      for (let i = 0; i < ABOUT_COLUMNS.length; i++) params.push(likePattern(about));
      params.push(about);
    }
  }
  const fts = needles.filter((n) => indexable(n.needle));
  const phrase = fts.map((n) => ftsPhrase(n.needle, n.columns)).join(" AND ");
  const ftsDrives = fts.length > 0 && unindexedAfter === undefined;
  if (ftsDrives) {
    // FTS5 drives the query: it walks matching rowids newest first and stops at the limit.
    from = "actions_fts f JOIN actions a ON a.id = f.rowid";
    where.push("actions_fts MATCH ?");
    params.push(phrase);
  } else if (fts.length > 0) {
    // The index lags behind the newest records: those are matched by LIKE instead.
    const tails = fts.map((n) => likeAny(n.needle, n.columns ?? FTS_COLUMNS));
    where.push(
      `(a.id IN (SELECT rowid FROM actions_fts WHERE actions_fts MATCH ?) OR (a.id > ? AND ${tails.map((t) => t.sql).join(" AND ")}))`,
    );
    params.push(phrase, unindexedAfter!, ...tails.flatMap((t) => t.params));
  }
  for (const n of needles.filter((x) => !fts.includes(x))) {
    const like = likeAny(n.needle, n.columns ?? FTS_COLUMNS);
    where.push(like.sql);
    params.push(...like.params);
  }
  const eq = (column: string, value: string | undefined, nocase = false) => {
    if (value === undefined || value.length === 0) return;
    where.push(nocase ? `a.${column} = ? COLLATE NOCASE` : `a.${column} = ?`);
    params.push(value);
  };
  eq("target", s.entity, true);
  eq("room", s.room);
  eq("actor", s.actor, true);
  eq("cause", s.cause);
  eq("kind", s.kind);
  eq("outcome", s.outcome);
  if (s.since !== undefined) {
    where.push("a.ts >= ?");
    params.push(s.since);
  }
  if (s.until !== undefined) {
    where.push("a.ts < ?");
    params.push(s.until);
  }
  if (s.before !== undefined) {
    where.push("a.id < ?");
    params.push(s.before);
  }
  const order = ftsDrives ? "f.rowid DESC" : "a.id DESC";
  const sql =
    `SELECT a.* FROM ${from}` +
    (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
    ` ORDER BY ${order} LIMIT ?`;
  return { sql, params: [...params, Math.max(1, Math.floor(s.limit))] };
}

/** `needle` as a substring of any of `columns` (case-insensitive for ASCII, as LIKE is). */
function likeAny(needle: string, columns: readonly string[]): Sql {
  return {
    sql: `(${columns.map((c) => `a.${c} LIKE ? ESCAPE '\\'`).join(" OR ")})`,
    params: columns.map(() => likePattern(needle)),
  };
}

/** How many actions match (at most `cap`, so a broad search stays cheap). */
export function buildCount(
  s: Omit<ActionSearch, "limit" | "before">,
  cap: number,
  unindexedAfter?: number,
): Sql {
  const page = buildSearch({ ...s, limit: cap }, unindexedAfter);
  const inner = page.sql.replace(/^SELECT a\.\* /, "SELECT 1 ").replace(/ ORDER BY [^ ]+ DESC LIMIT \?$/, "");
  return { sql: `SELECT count(*) AS n FROM (${inner} LIMIT ?)`, params: page.params };
}
