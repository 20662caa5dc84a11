"""Interop client: Python's websockets against a rawws echo server, with
permessage-deflate, one message of SIZE random bytes (incompressible: the
compressed frame is a little larger than the message).

Usage: python3 deflate_big.py ws://127.0.0.1:PORT/ SIZE
Exits 0 when the message echoes exactly over a negotiated extension.
"""
import asyncio
import os
import sys

import websockets


async def main(url, size):
    msg = os.urandom(size)
    # The echo comes back compressed and a little over size: let the
    # frame through, the message is what is compared.
    async with websockets.connect(url, compression="deflate", max_size=size + (size >> 3) + 1024,
                                  open_timeout=10, close_timeout=10) as ws:
        ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        if "permessage-deflate" not in ext:
            print("FAIL permessage-deflate not negotiated: %r" % ext)
            return 1
        await ws.send(msg)
        try:
            got = await asyncio.wait_for(ws.recv(), 60)
        except websockets.ConnectionClosed as e:
            print("FAIL closed before the echo: %s %r" % (e.code, e.reason))
            return 1
        if got != msg:
            print("FAIL echo differs: %d bytes, want %d" % (len(got), len(msg)))
            return 1
        print("ok   %d random bytes echoed over %s" % (size, ext))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]))))
