"""A wss:// consumer that trusts one certificate authority: prints the TLS version, then each
message received.

Usage: tls_consumer.py URL CA_FILE COUNT. Offers no subprotocol, as the article's consumer.
"""
import asyncio
import ssl
import sys

from websockets.asyncio.client import connect


async def consumer(url, ca_file, count):
    context = ssl.create_default_context(cafile=ca_file)
    async with connect(url, ssl=context) as websocket:
        print(websocket.transport.get_extra_info("ssl_object").version(), flush=True)
        for _ in range(count):
            message = await websocket.recv()
            print("%s" % message, flush=True)


asyncio.run(consumer(sys.argv[1], sys.argv[2], int(sys.argv[3])))
