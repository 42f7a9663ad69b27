// In-memory IndexedDB (fake-indexeddb) for crypto-wasm, with change tracking and whole-database
// snapshots: dump every database under a name prefix into plain data, and load such data back
// before crypto-wasm opens the store.
//
// Node has no IndexedDB; crypto-wasm persists only to IndexedDB. We install fake-indexeddb as the
// global `indexedDB` (unless something already did) and persist its content ourselves.

import {
  IDBCursor as FDBCursor,
  IDBCursorWithValue as FDBCursorWithValue,
  IDBDatabase as FDBDatabase,
  IDBFactory as FDBFactory,
  IDBIndex as FDBIndex,
  IDBKeyRange as FDBKeyRange,
  IDBObjectStore as FDBObjectStore,
  IDBOpenDBRequest as FDBOpenDBRequest,
  IDBRequest as FDBRequest,
  IDBTransaction as FDBTransaction,
  IDBVersionChangeEvent as FDBVersionChangeEvent,
  indexedDB as fakeIndexedDB,
} from "fake-indexeddb";

// Minimal structural types of the IndexedDB API we use (the project compiles without DOM types).
interface Req<T> {
  result: T;
  error: unknown;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
interface OpenReq extends Req<Db> {
  onupgradeneeded: (() => void) | null;
  onblocked: (() => void) | null;
}
interface Index {
  keyPath: string | string[];
  unique: boolean;
  multiEntry: boolean;
}
interface Store {
  keyPath: string | string[] | null;
  autoIncrement: boolean;
  indexNames: ArrayLike<string>;
  index(name: string): Index;
  createIndex(
    name: string,
    keyPath: string | string[],
    opts: { unique: boolean; multiEntry: boolean },
  ): Index;
  getAll(): Req<unknown[]>;
  getAllKeys(): Req<unknown[]>;
  put(value: unknown, key?: unknown): Req<unknown>;
  delete(key: unknown): Req<unknown>;
  clear(): Req<unknown>;
}
interface Tx {
  objectStore(name: string): Store;
  oncomplete: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
  error: unknown;
}
interface Db {
  name: string;
  version: number;
  objectStoreNames: ArrayLike<string>;
  transaction(names: string[], mode: "readonly" | "readwrite"): Tx;
  createObjectStore(name: string, opts: { keyPath: string | string[] | null; autoIncrement: boolean }): Store;
  close(): void;
}
interface Factory {
  open(name: string, version?: number): OpenReq;
  deleteDatabase(name: string): Req<unknown>;
  databases(): Promise<{ name?: string; version?: number }[]>;
}

export interface IndexSnapshot {
  name: string;
  keyPath: string | string[];
  unique: boolean;
  multiEntry: boolean;
}
export interface StoreSnapshot {
  name: string;
  keyPath: string | string[] | null;
  autoIncrement: boolean;
  indexes: IndexSnapshot[];
  keys: unknown[];
  values: unknown[];
}
export interface DatabaseSnapshot {
  /** Database name without the instance prefix (e.g. `matrix-sdk-crypto`). */
  suffix: string;
  version: number;
  stores: StoreSnapshot[];
}
export interface Snapshot {
  databases: DatabaseSnapshot[];
}

/** One committed write, as recorded for the journal (see store.ts). */
export interface JournalOp {
  /** Database name without the instance prefix. */
  db: string;
  store: string;
  kind: "put" | "delete" | "clear";
  /** Out-of-line key (put on a keyPath-less store), key or key range (delete). */
  key?: unknown;
  /** For delete with a key range. */
  range?: { lower: unknown; upper: unknown; lowerOpen: boolean; upperOpen: boolean };
  value?: unknown;
}

interface PendingOp extends Omit<JournalOp, "db"> {
  dbName: string;
}

let trackingInstalled = false;
let trackingWorks = false;
/** Writes of committed transactions not yet taken by a save, by full database name. */
const committed = new Map<string, PendingOp[]>();
/** Writes of transactions still running (dropped if they abort). */
const inflight = new WeakMap<object, PendingOp[]>();
/** Databases whose schema changed (created, upgraded): only a full snapshot captures that. */
const schemaChanged = new Set<string>();
/** Open connections by database name (see `closeConnections`). */
const connections = new Map<string, Set<Db>>();

type Patchable = Record<string, unknown> & {
  addEventListener?(type: string, cb: () => void): void;
};

function txOfStore(store: Patchable): Patchable | undefined {
  return store["transaction"] as Patchable | undefined;
}

function dbNameOfTx(tx: Patchable | undefined): string | undefined {
  const db = tx?.["db"] as Patchable | undefined;
  const name = db?.["name"];
  return typeof name === "string" ? name : undefined;
}

function storeOfCursor(cursor: Patchable): Patchable | undefined {
  // A cursor's source is an object store or an index (whose objectStore has the transaction).
  const source = cursor["source"] as Patchable | undefined;
  if (!source) return undefined;
  return (source["objectStore"] as Patchable | undefined) ?? source;
}

function record(tx: Patchable, op: PendingOp): void {
  let list = inflight.get(tx);
  if (!list) {
    const ops: PendingOp[] = [];
    list = ops;
    inflight.set(tx, ops);
    tx.addEventListener?.("complete", () => {
      inflight.delete(tx);
      for (const o of ops) {
        let c = committed.get(o.dbName);
        if (!c) {
          c = [];
          committed.set(o.dbName, c);
        }
        c.push(o);
      }
    });
    tx.addEventListener?.("abort", () => inflight.delete(tx));
  }
  list.push(op);
}

/** Record the op once its request succeeds (a failed `add` or `delete` changes nothing). */
function onSuccess(req: unknown, tx: Patchable | undefined, op: PendingOp | undefined): void {
  if (!op || !tx || typeof (req as Patchable | undefined)?.addEventListener !== "function") return;
  (req as Patchable).addEventListener?.("success", () => record(tx, op));
}

function describeKey(key: unknown): Pick<JournalOp, "key" | "range"> {
  if (key instanceof FDBKeyRange) {
    const r = key as unknown as { lower: unknown; upper: unknown; lowerOpen: boolean; upperOpen: boolean };
    return {
      range: {
        lower: structuredClone(r.lower),
        upper: structuredClone(r.upper),
        lowerOpen: r.lowerOpen,
        upperOpen: r.upperOpen,
      },
    };
  }
  return { key: structuredClone(key) };
}

function wrap(
  proto: Patchable,
  method: string,
  describe: (self: Patchable, args: unknown[]) => { tx: Patchable | undefined; op: PendingOp | undefined },
): void {
  const original = proto[method];
  if (typeof original !== "function") throw new Error(`fake-indexeddb has no ${method}`);
  proto[method] = function (this: Patchable, ...args: unknown[]) {
    // Describe (and clone) before the call: the caller may mutate the value afterwards.
    let d: { tx: Patchable | undefined; op: PendingOp | undefined };
    try {
      d = describe(this, args);
    } catch {
      d = { tx: undefined, op: undefined };
    }
    const req = (original as (...a: unknown[]) => unknown).apply(this, args);
    onSuccess(req, d.tx, d.op);
    return req;
  };
}

function storeWrite(kind: "put" | "delete" | "clear") {
  return (store: Patchable, args: unknown[]) => {
    const tx = txOfStore(store);
    const dbName = dbNameOfTx(tx);
    if (!dbName) return { tx, op: undefined };
    const base = { dbName, store: String(store["name"]), kind };
    if (kind === "clear") return { tx, op: base };
    if (kind === "delete") return { tx, op: { ...base, ...describeKey(args[0]) } };
    const outOfLine = store["keyPath"] === null;
    const op: PendingOp = { ...base, value: structuredClone(args[0]) };
    if (outOfLine && args[1] !== undefined) op.key = structuredClone(args[1]);
    return { tx, op };
  };
}

function cursorWrite(kind: "put" | "delete") {
  return (cursor: Patchable, args: unknown[]) => {
    const store = storeOfCursor(cursor);
    const tx = store ? txOfStore(store) : undefined;
    const dbName = dbNameOfTx(tx);
    if (!store || !dbName) return { tx, op: undefined };
    const base = { dbName, store: String(store["name"]), kind };
    const key = structuredClone(cursor["primaryKey"]);
    if (kind === "delete") return { tx, op: { ...base, key } };
    const op: PendingOp = { ...base, value: structuredClone(args[0]) };
    if (store["keyPath"] === null) op.key = key;
    return { tx, op };
  };
}

function wrapSchema(proto: Patchable, method: string): void {
  const original = proto[method];
  if (typeof original !== "function") throw new Error(`fake-indexeddb has no ${method}`);
  proto[method] = function (this: Patchable, ...args: unknown[]) {
    const name = this["name"] ?? dbNameOfTx(txOfStore(this));
    if (typeof name === "string") schemaChanged.add(name);
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  };
}

/**
 * Install fake-indexeddb as the global IndexedDB (if no IndexedDB is installed yet) and hook its
 * writes: every write of a committed transaction is recorded (`takeChanges`), so a save can append
 * just the changes. Idempotent.
 */
export function installIndexedDb(): void {
  if (trackingInstalled) return;
  trackingInstalled = true;
  const g = globalThis as unknown as Record<string, unknown>;
  if (g["indexedDB"] === undefined) {
    const globals: Record<string, unknown> = {
      indexedDB: fakeIndexedDB,
      IDBCursor: FDBCursor,
      IDBCursorWithValue: FDBCursorWithValue,
      IDBDatabase: FDBDatabase,
      IDBFactory: FDBFactory,
      IDBIndex: FDBIndex,
      IDBKeyRange: FDBKeyRange,
      IDBObjectStore: FDBObjectStore,
      IDBOpenDBRequest: FDBOpenDBRequest,
      IDBRequest: FDBRequest,
      IDBTransaction: FDBTransaction,
      IDBVersionChangeEvent: FDBVersionChangeEvent,
    };
    for (const [name, value] of Object.entries(globals)) {
      Object.defineProperty(g, name, { value, enumerable: false, configurable: true, writable: true });
    }
  }
  if (g["indexedDB"] !== fakeIndexedDB) return; // someone else's IndexedDB: no change tracking
  const storeProto = (FDBObjectStore as unknown as { prototype: Patchable }).prototype;
  const cursorProto = (FDBCursor as unknown as { prototype: Patchable }).prototype;
  const dbProto = (FDBDatabase as unknown as { prototype: Patchable }).prototype;
  wrap(storeProto, "put", storeWrite("put"));
  wrap(storeProto, "add", storeWrite("put"));
  wrap(storeProto, "delete", storeWrite("delete"));
  wrap(storeProto, "clear", storeWrite("clear"));
  wrap(cursorProto, "update", cursorWrite("put"));
  wrap(cursorProto, "delete", cursorWrite("delete"));
  for (const m of ["createObjectStore", "deleteObjectStore"]) wrapSchema(dbProto, m);
  for (const m of ["createIndex", "deleteIndex"]) wrapSchema(storeProto, m);
  trackConnections((FDBFactory as unknown as { prototype: Patchable }).prototype, dbProto);
  trackingWorks = true;
}

/** Remember every connection opened through the factory until it is closed. */
function trackConnections(factoryProto: Patchable, dbProto: Patchable): void {
  const open = factoryProto["open"] as (...a: unknown[]) => Patchable;
  factoryProto["open"] = function (this: unknown, ...args: unknown[]) {
    const req = open.apply(this, args);
    req.addEventListener?.("success", () => {
      const db = req["result"] as Db;
      let set = connections.get(db.name);
      if (!set) {
        set = new Set();
        connections.set(db.name, set);
      }
      set.add(db);
    });
    return req;
  };
  const close = dbProto["close"] as (this: Db) => void;
  dbProto["close"] = function (this: Db) {
    const set = connections.get(this.name);
    set?.delete(this);
    if (set?.size === 0) connections.delete(this.name);
    close.call(this);
  };
}

/**
 * Close every connection still open on a database under `prefix`. crypto-wasm closes its
 * connection only when the last object holding its store is garbage-collected (a Device, an
 * identity, a verification request all do), long after `OlmMachine.close()`.
 */
function closeConnections(prefix: string): void {
  for (const [name, set] of [...connections]) {
    if (!name.startsWith(prefix)) continue;
    for (const db of [...set]) db.close();
  }
}

/** Whether writes can be tracked (fake-indexeddb is the global IndexedDB). */
export function changeTrackingWorks(): boolean {
  installIndexedDb();
  return trackingWorks;
}

/** Does any database under `prefix` have committed changes not yet taken? */
export function hasChanges(prefix: string): boolean {
  if (!trackingWorks) return true;
  for (const name of schemaChanged) if (name.startsWith(prefix)) return true;
  for (const [name, ops] of committed) if (name.startsWith(prefix) && ops.length > 0) return true;
  return false;
}

/**
 * Take (and forget) the committed changes under `prefix`. `schemaChanged` means a full snapshot
 * is needed (a journal cannot replay schema changes).
 */
export function takeChanges(prefix: string): { ops: JournalOp[]; schemaChanged: boolean } {
  const ops: JournalOp[] = [];
  for (const [name, list] of committed) {
    if (!name.startsWith(prefix)) continue;
    for (const { dbName, ...rest } of list) ops.push({ ...rest, db: dbName.slice(prefix.length) });
    committed.delete(name);
  }
  let schema = false;
  for (const name of [...schemaChanged]) {
    if (name.startsWith(prefix)) {
      schema = true;
      schemaChanged.delete(name);
    }
  }
  return { ops, schemaChanged: schema };
}

/** Forget committed changes of one database (they are part of a snapshot being written). */
function forgetChanges(dbName: string): void {
  committed.delete(dbName);
  schemaChanged.delete(dbName);
}

/** Forget everything recorded under `prefix` (a loaded snapshot is not a change). */
export function resetChanges(prefix: string): void {
  for (const name of [...committed.keys()]) if (name.startsWith(prefix)) committed.delete(name);
  for (const name of [...schemaChanged]) if (name.startsWith(prefix)) schemaChanged.delete(name);
}

function factory(): Factory {
  installIndexedDb();
  return (globalThis as unknown as { indexedDB: Factory }).indexedDB;
}

function request<T>(r: Req<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function openDb(name: string, version?: number, upgrade?: (db: Db) => void): Promise<Db> {
  return new Promise((resolve, reject) => {
    const r = factory().open(name, version);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.onblocked = () => reject(new Error(`IndexedDB ${name} is blocked by another connection`));
    if (upgrade) r.onupgradeneeded = () => upgrade(r.result);
  });
}

function txDone(tx: Tx): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
  });
}

/** Names of the databases whose name starts with `prefix`. */
export async function databaseNames(prefix: string): Promise<string[]> {
  const dbs = await factory().databases();
  return dbs.map((d) => d.name ?? "").filter((n) => n.startsWith(prefix));
}

/**
 * Read every record of every database whose name starts with `prefix`. Each database is read in
 * one read-only transaction, so the snapshot holds only committed transactions.
 */
export async function dumpDatabases(prefix: string): Promise<Snapshot> {
  const databases: DatabaseSnapshot[] = [];
  for (const name of (await databaseNames(prefix)).sort()) {
    const db = await openDb(name);
    try {
      const names = Array.from(db.objectStoreNames);
      const stores: StoreSnapshot[] = [];
      if (names.length > 0) {
        const tx = db.transaction(names, "readonly");
        const done = txDone(tx);
        const reads = names.map(async (storeName) => {
          const store = tx.objectStore(storeName);
          const indexes = Array.from(store.indexNames).map((indexName) => {
            const ix = store.index(indexName);
            return { name: indexName, keyPath: ix.keyPath, unique: ix.unique, multiEntry: ix.multiEntry };
          });
          const [keys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
          if (keys.length !== values.length)
            throw new Error(`IndexedDB store ${storeName}: key/value count mismatch`);
          stores.push({
            name: storeName,
            keyPath: store.keyPath,
            autoIncrement: store.autoIncrement,
            indexes,
            keys,
            values,
          });
        });
        await Promise.all(reads);
        // Every transaction that committed before ours is in this dump, and none could start
        // since (our transaction spans every store): its recorded changes are now redundant.
        forgetChanges(name);
        await done;
      }
      stores.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      databases.push({ suffix: name.slice(prefix.length), version: db.version, stores });
    } finally {
      db.close();
    }
  }
  return { databases };
}

/**
 * Create the databases of `snapshot` under `prefix` (which must not exist yet): same versions,
 * object stores, indexes and records, so crypto-wasm opens them without any migration.
 */
export async function loadDatabases(prefix: string, snapshot: Snapshot): Promise<void> {
  const existing = await databaseNames(prefix);
  if (existing.length > 0) throw new Error(`IndexedDB databases with prefix ${prefix} already exist`);
  for (const d of snapshot.databases) {
    const db = await openDb(prefix + d.suffix, d.version, (up) => {
      for (const s of d.stores) {
        const store = up.createObjectStore(s.name, { keyPath: s.keyPath, autoIncrement: s.autoIncrement });
        for (const ix of s.indexes) {
          store.createIndex(ix.name, ix.keyPath, { unique: ix.unique, multiEntry: ix.multiEntry });
        }
      }
    });
    try {
      const names = d.stores.map((s) => s.name);
      if (names.length === 0) continue;
      const tx = db.transaction(names, "readwrite");
      const done = txDone(tx);
      for (const s of d.stores) {
        const store = tx.objectStore(s.name);
        for (let i = 0; i < s.keys.length; i++) {
          if (s.keyPath === null) store.put(s.values[i], s.keys[i]);
          else store.put(s.values[i]);
        }
      }
      await done;
    } finally {
      db.close();
    }
  }
  resetChanges(prefix);
}

/** Apply journal batches (in order) on top of loaded databases. */
export async function applyChanges(prefix: string, batches: JournalOp[][]): Promise<void> {
  const dbs = new Map<string, Db>();
  try {
    for (const ops of batches) {
      const byDb = new Map<string, JournalOp[]>();
      for (const op of ops) {
        let l = byDb.get(op.db);
        if (!l) {
          l = [];
          byDb.set(op.db, l);
        }
        l.push(op);
      }
      for (const [suffix, list] of byDb) {
        let db = dbs.get(suffix);
        if (!db) {
          db = await openDb(prefix + suffix);
          dbs.set(suffix, db);
        }
        const names = [...new Set(list.map((o) => o.store))];
        const tx = db.transaction(names, "readwrite");
        const done = txDone(tx);
        for (const op of list) {
          const store = tx.objectStore(op.store);
          if (op.kind === "clear") store.clear();
          else if (op.kind === "delete") {
            store.delete(
              op.range
                ? FDBKeyRange.bound(op.range.lower, op.range.upper, op.range.lowerOpen, op.range.upperOpen)
                : op.key,
            );
          } else if (op.key !== undefined) store.put(op.value, op.key);
          else store.put(op.value);
        }
        await done;
      }
    }
  } finally {
    for (const db of dbs.values()) db.close();
  }
  resetChanges(prefix);
}

/**
 * Delete every database whose name starts with `prefix` (frees the memory of a closed store).
 * Closes the connections still open first: the store's owner is done with it, and fake-indexeddb
 * waits for open connections by re-queueing the deletion on every event-loop turn (a busy loop
 * that kept the process from exiting for minutes).
 */
export async function deleteDatabases(prefix: string): Promise<void> {
  closeConnections(prefix);
  for (const name of await databaseNames(prefix)) {
    await new Promise<void>((resolve) => {
      const r = factory().deleteDatabase(name) as Req<unknown> & { onblocked: (() => void) | null };
      r.onsuccess = () => resolve();
      r.onerror = () => resolve();
      r.onblocked = () => resolve();
    });
    forgetChanges(name);
  }
}

/**
 * A small key-value database of Tyr's own beside crypto-wasm's (same name prefix, so it is part of
 * the snapshot and of the change tracking). Keys are strings.
 */
export class KvStore {
  private readonly db: Db;
  private static readonly STORE = "kv";

  private constructor(db: Db) {
    this.db = db;
  }

  static async open(name: string): Promise<KvStore> {
    const db = await openDb(name, 1, (up) => {
      if (!Array.from(up.objectStoreNames).includes(KvStore.STORE)) {
        up.createObjectStore(KvStore.STORE, { keyPath: null, autoIncrement: false });
      }
    });
    return new KvStore(db);
  }

  /** All entries, in key order. */
  async entries(): Promise<[string, unknown][]> {
    const tx = this.db.transaction([KvStore.STORE], "readonly");
    const done = txDone(tx);
    const store = tx.objectStore(KvStore.STORE);
    const [keys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
    await done;
    return keys.map((k, i) => [String(k), values[i]]);
  }

  /** Apply puts and deletes in one transaction. */
  async write(puts: Iterable<[string, unknown]>, deletes: Iterable<string>): Promise<void> {
    const tx = this.db.transaction([KvStore.STORE], "readwrite");
    const done = txDone(tx);
    const store = tx.objectStore(KvStore.STORE);
    for (const k of deletes) store.delete(k);
    for (const [k, v] of puts) store.put(v, k);
    await done;
  }

  close(): void {
    this.db.close();
  }
}
