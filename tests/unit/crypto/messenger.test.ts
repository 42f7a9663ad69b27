// The sending gate's decisions (when a room counts as encrypted, when Tyr asks the homeserver,
// when it refuses to send), with a stub in place of the homeserver's two endpoints it uses.
import { describe, expect, it } from "vitest";

import type { TyrClient } from "../../../src/matrix/client.ts";
import { Messenger, type Encryptor } from "../../../src/matrix/messenger.ts";
import { RoomStateCache } from "../../../src/matrix/roomState.ts";

const ROOM = "!r:example.org";

function stateEvent(type: string, content: Record<string, unknown>) {
  return { type, stateKey: "", sender: "@a:example.org", eventId: `$${type}`, content, ts: 0 };
}

function setup(opts: { stateAnswer?: () => unknown; encryptor?: boolean } = {}) {
  const calls: { method: string; path: string; body: unknown }[] = [];
  const client = {
    doRequest: async (method: string, path: string, _qs: unknown, body: unknown) => {
      calls.push({ method, path, body });
      if (method === "GET") return opts.stateAnswer ? opts.stateAnswer() : {};
      return { event_id: "$sent" };
    },
  } as unknown as TyrClient;
  const state = new RoomStateCache();
  const messenger = new Messenger(client, state);
  const told: string[] = [];
  if (opts.encryptor !== false) {
    const encryptor: Encryptor = {
      encrypt: async () => ({ type: "m.room.encrypted", content: { ciphertext: "x" } }),
      isRoomEncrypted: async () => false,
      onRoomState: (roomId) => told.push(roomId),
    };
    messenger.encryptor = encryptor;
  }
  const sentTypes = () => calls.filter((c) => c.method === "PUT").map((c) => c.path.split("/")[7]);
  const fetched = () => calls.filter((c) => c.method === "GET").length;
  return { messenger, state, sentTypes, fetched, told };
}

const notFound = () => {
  throw Object.assign(new Error("not found"), { statusCode: 404, errcode: "M_NOT_FOUND" });
};

describe("the sending gate", () => {
  it("encrypts in a room whose state says encrypted, without asking the homeserver", async () => {
    const t = setup();
    t.state.room(ROOM).set(stateEvent("m.room.encryption", { algorithm: "m.megolm.v1.aes-sha2" }));
    await t.messenger.send(ROOM, "m.room.message", { body: "hi" });
    expect(t.sentTypes()).toEqual(["m.room.encrypted"]);
    expect(t.fetched()).toBe(0);
  });

  it("sends plaintext into a room whose full state came without m.room.encryption", async () => {
    const t = setup();
    t.state.room(ROOM).set(stateEvent("m.room.create", {}));
    await t.messenger.send(ROOM, "m.room.message", { body: "hi" });
    expect(t.sentTypes()).toEqual(["m.room.message"]);
    expect(t.fetched()).toBe(0);
  });

  it("asks the homeserver when sync has not told yet, and stays encrypted once it knows", async () => {
    let encrypted = true;
    const t = setup({ stateAnswer: () => (encrypted ? { algorithm: "m.megolm.v1.aes-sha2" } : notFound()) });
    await t.messenger.send(ROOM, "m.room.message", { body: "first" });
    expect(t.sentTypes()).toEqual(["m.room.encrypted"]);
    expect(t.told).toEqual([ROOM]);
    encrypted = false; // a lying answer later changes nothing
    await t.messenger.send(ROOM, "m.room.message", { body: "second" });
    expect(t.sentTypes()).toEqual(["m.room.encrypted", "m.room.encrypted"]);
    expect(t.fetched()).toBe(1);
  });

  it("sends plaintext only on 404 M_NOT_FOUND, and nothing on any other answer", async () => {
    const plain = setup({ stateAnswer: notFound });
    await plain.messenger.send(ROOM, "m.room.message", { body: "hi" });
    expect(plain.sentTypes()).toEqual(["m.room.message"]);

    const forbidden = setup({
      stateAnswer: () => {
        throw Object.assign(new Error("forbidden"), { statusCode: 403, errcode: "M_FORBIDDEN" });
      },
    });
    await expect(forbidden.messenger.send(ROOM, "m.room.message", { body: "hi" })).rejects.toThrow(
      /cannot tell whether the room is encrypted/,
    );
    expect(forbidden.sentTypes()).toEqual([]);
  });

  it("sends nothing into an encrypted room when encryption is switched off", async () => {
    const t = setup({ encryptor: false });
    t.state.room(ROOM).set(stateEvent("m.room.encryption", { algorithm: "m.megolm.v1.aes-sha2" }));
    await expect(t.messenger.send(ROOM, "m.room.message", { body: "hi" })).rejects.toThrow(
      /encryption is switched off/,
    );
    expect(t.sentTypes()).toEqual([]);
  });
});
