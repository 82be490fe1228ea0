"""The asyncio article's producer, on today's websockets API: str(count) once per interval.

Usage: seed_producer.py [INTERVAL_SECONDS]. Listens on 127.0.0.1, port 0, and prints
"listening on ws://127.0.0.1:PORT/" once it accepts connections.
"""
import asyncio
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

INTERVAL = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0


async def producer(websocket):
    # The article loops `while websocket.open`; today's API says the same by raising.
    count = 0
    try:
        while True:
            await asyncio.sleep(INTERVAL)
            count = count + 1
            await websocket.send(str(count))
    except ConnectionClosed:
        pass


async def main():
    async with serve(producer, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}/", flush=True)
        await server.serve_forever()


asyncio.run(main())
