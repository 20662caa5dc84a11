"""Interop client: Python's `websockets` (Debian python3-websockets) against a
rawws echo server. Usage: client.py ws://127.0.0.1:PORT/
Exits 0 when every case echoes exactly; prints one line per case."""
import asyncio
import os
import sys

import websockets


async def main(url):
    failures = 0
    async with websockets.connect(url, max_size=4 << 20, compression=None) as ws:
        cases = [
            ("text 0 B", ""),
            ("text ascii", "hello, rawws"),
            ("text utf-8", "grüße, 世界, 🚀"),
            ("binary 0 B", b""),
            ("binary 125 B", os.urandom(125)),
            ("binary 126 B", os.urandom(126)),
            ("binary 64 KiB", os.urandom(64 << 10)),
            ("binary 1 MiB", os.urandom(1 << 20)),
            ("text 64 KiB", "é" * (32 << 10)),
        ]
        for name, payload in cases:
            await ws.send(payload)
            got = await asyncio.wait_for(ws.recv(), 10)
            ok = got == payload and type(got) is type(payload)
            failures += not ok
            print(("ok   " if ok else "FAIL ") + name)
        # A fragmented message: websockets sends an iterable as fragments.
        parts = [b"frag-1/", b"frag-2/", b"frag-3"]
        await ws.send(parts)
        got = await asyncio.wait_for(ws.recv(), 10)
        ok = got == b"".join(parts)
        failures += not ok
        print(("ok   " if ok else "FAIL ") + "binary fragmented")
        pong = await ws.ping(b"rawws-ping")
        try:
            await asyncio.wait_for(pong, 10)
            print("ok   ping")
        except Exception as e:  # noqa: BLE001 - report any failure as a case
            failures += 1
            print("FAIL ping", e)
        await ws.close(code=1000, reason="bye")
        ok = ws.close_code == 1000
        failures += not ok
        print(("ok   " if ok else "FAIL ") + f"close (code {ws.close_code})")
    return failures


if __name__ == "__main__":
    sys.exit(1 if asyncio.run(main(sys.argv[1])) else 0)
