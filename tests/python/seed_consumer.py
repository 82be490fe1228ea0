"""The asyncio article's consumer, on today's websockets API: prints each message received.

Usage: seed_consumer.py URL COUNT. Offers no subprotocol, as in the article.
"""
import asyncio
import sys

from websockets.asyncio.client import connect


async def consumer(url, count):
    async with connect(url) as websocket:
        for _ in range(count):
            message = await websocket.recv()
            print("%s" % message, flush=True)


asyncio.run(consumer(sys.argv[1], int(sys.argv[2])))
