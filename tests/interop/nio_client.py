"""A Matrix client on a crypto stack independent of Tyr's: matrix-nio 0.25 on libolm (Debian's
python3-olm), for Tyr's interop tests (tests/integration/interop-nio.test.ts).

Logs in with a password (a new device), syncs continuously, and talks JSON lines:
  stdin  {"cmd": "trust", "id": ..., "user": "@tyr:..."}  verify that user's devices locally (TOFU;
                                                            nio has no cross-signing)
         {"cmd": "send", "id": ..., "room": "!r", "body": "!tyr status"}  an encrypted m.text
         {"cmd": "quit"}
  stdout {"type": "ready", "user_id", "device_id"}
         {"type": "sent", "id", "event_id"} / {"type": "trusted", "id", "devices"} / {"type": "error", "id", "message"}
         {"type": "message", "room_id", "event_id", "sender", "msgtype", "body", "encrypted", "verified",
          "in_reply_to", "late"}
         {"type": "undecryptable", "room_id", "event_id", "sender", "session_id", "in_reply_to"}
Diagnostics go to stderr.
"""

import argparse
import asyncio
import json
import sys

from nio import (
    AsyncClient,
    AsyncClientConfig,
    LoginResponse,
    MegolmEvent,
    RoomMessageNotice,
    RoomMessageText,
    RoomSendResponse,
)
from nio.exceptions import EncryptionError


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def reply_target(content):
    rel = content.get("m.relates_to") if isinstance(content, dict) else None
    if isinstance(rel, dict):
        target = rel.get("m.in_reply_to")
        if isinstance(target, dict):
            return target.get("event_id")
    return None


class Driver:
    def __init__(self, client):
        self.client = client
        self.pending = []  # MegolmEvents whose key has not arrived yet: (room_id, event)
        self.stopping = False

    def on_message(self, room, event):
        emit(
            {
                "type": "message",
                "room_id": room.room_id,
                "event_id": event.event_id,
                "sender": event.sender,
                "msgtype": event.source.get("content", {}).get("msgtype"),
                "body": event.body,
                "encrypted": bool(getattr(event, "decrypted", False)),
                # nio checked the Megolm session's keys against the sender's device, which it trusts
                "verified": bool(getattr(event, "verified", False)),
                "in_reply_to": reply_target(event.source.get("content", {})),
                "late": False,
            }
        )

    def on_undecryptable(self, room, event):
        self.pending.append((room.room_id, event))
        emit(
            {
                "type": "undecryptable",
                "room_id": room.room_id,
                "event_id": event.event_id,
                "sender": event.sender,
                "session_id": event.session_id,
                "in_reply_to": reply_target(event.source.get("content", {})),
            }
        )

    def retry_pending(self):
        still = []
        for room_id, event in self.pending:
            try:
                decrypted = self.client.decrypt_event(event)
            except EncryptionError:
                still.append((room_id, event))
                continue
            content = decrypted.source.get("content", {})
            emit(
                {
                    "type": "message",
                    "room_id": room_id,
                    "event_id": event.event_id,
                    "sender": event.sender,
                    "msgtype": content.get("msgtype"),
                    "body": content.get("body", ""),
                    "encrypted": True,
                    "in_reply_to": reply_target(content) or reply_target(event.source.get("content", {})),
                    "late": True,
                }
            )
        self.pending = still

    async def housekeeping(self):
        c = self.client
        if c.should_upload_keys:
            await c.keys_upload()
        if c.should_query_keys:
            await c.keys_query()
        if c.should_claim_keys:
            await c.keys_claim(c.get_users_for_key_claiming())
        await c.send_to_device_messages()

    async def sync_loop(self):
        first = True
        while not self.stopping:
            resp = await self.client.sync(timeout=0 if first else 1000, full_state=first)
            first = False
            if not hasattr(resp, "next_batch"):
                print(f"sync failed: {resp}", file=sys.stderr)
                await asyncio.sleep(0.5)
                continue
            await self.housekeeping()
            self.retry_pending()

    async def trust(self, user):
        for _ in range(100):
            await self.housekeeping()
            devices = list(self.client.device_store.active_user_devices(user))
            if devices:
                for d in devices:
                    self.client.verify_device(d)
                return [d.device_id for d in devices]
            await asyncio.sleep(0.2)
        raise RuntimeError(f"no device keys of {user} after 20 s")

    async def send(self, room_id, body):
        for _ in range(100):
            if room_id in self.client.rooms:
                break
            await asyncio.sleep(0.2)
        else:
            raise RuntimeError(f"room {room_id} not seen after 20 s")
        resp = await self.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})
        if not isinstance(resp, RoomSendResponse):
            raise RuntimeError(f"send failed: {resp}")
        return resp.event_id

    async def handle(self, line):
        try:
            req = json.loads(line)
        except ValueError:
            emit({"type": "error", "message": f"not JSON: {line!r}"})
            return
        rid = req.get("id")
        try:
            cmd = req.get("cmd")
            if cmd == "send":
                emit({"type": "sent", "id": rid, "event_id": await self.send(req["room"], req["body"])})
            elif cmd == "trust":
                emit({"type": "trusted", "id": rid, "devices": await self.trust(req["user"])})
            elif cmd == "quit":
                self.stopping = True
            else:
                raise RuntimeError(f"unknown command {cmd!r}")
        except Exception as e:  # report, keep running: the test decides what a failure means
            emit({"type": "error", "id": rid, "message": f"{type(e).__name__}: {e}"})


async def read_stdin(driver):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while not driver.stopping:
        line = await reader.readline()
        if not line:
            driver.stopping = True
            break
        if line.strip():
            await driver.handle(line.decode())


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--homeserver", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--store", required=True, help="directory for nio's Olm/Megolm store")
    args = ap.parse_args()

    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True)
    client = AsyncClient(args.homeserver, args.user, store_path=args.store, config=config)
    login = await client.login(args.password, device_name="nio interop test")
    if not isinstance(login, LoginResponse):
        emit({"type": "error", "message": f"login failed: {login}"})
        await client.close()
        return 1
    driver = Driver(client)
    client.add_event_callback(driver.on_message, (RoomMessageText, RoomMessageNotice))
    client.add_event_callback(driver.on_undecryptable, (MegolmEvent,))
    await driver.housekeeping()  # device keys and one-time keys up before anyone needs them
    emit({"type": "ready", "user_id": client.user_id, "device_id": client.device_id})
    sync = asyncio.ensure_future(driver.sync_loop())
    try:
        await read_stdin(driver)
    finally:
        driver.stopping = True
        sync.cancel()
        await client.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
