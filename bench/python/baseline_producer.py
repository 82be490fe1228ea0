"""The seed's producer with Python's websockets, as the benchmark's baseline.

Usage: baseline_producer.py INTERVAL_SECONDS [--broadcast]

Like tests/python/seed_producer.py (str(count) once per interval, counting per connection), with
what the benchmark needs on top: a client offering the subprotocol prodcon.v1 gets the envelope
{"seq":N,"time":MICROS,"data":"N"} (time stamped when the message is made, so that consumers can
measure latency), and --broadcast sends one counter to every client, with websockets' broadcast().
At interval 0 the broadcast waits for every connection whose write buffer is past its high-water
mark (broadcast() itself never waits), so that the counter goes at the pace of the slowest
consumer, as the other servers of the bench do.
Listens on 127.0.0.1, port 0, and prints "listening on ws://127.0.0.1:PORT/" once it accepts.
"""
import asyncio
import json
import sys
import time

from websockets.asyncio.server import broadcast, serve

INTERVAL = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
BROADCAST = "--broadcast" in sys.argv[2:]
PRODCON_V1 = "prodcon.v1"

# Broadcast mode: the connections open now, by format.
plain_clients = set()
json_clients = set()


def envelope(seq):
    return json.dumps(
        {"seq": seq, "time": time.time_ns() // 1000, "data": str(seq)},
        separators=(",", ":"),
    )


def select_subprotocol(connection, subprotocols):
    # websockets refuses a client offering nothing when the server lists subprotocols; the
    # contract serves such a client plain text instead.
    return PRODCON_V1 if PRODCON_V1 in subprotocols else None


async def per_connection(websocket):
    as_json = websocket.subprotocol == PRODCON_V1
    count = 0
    while True:
        await asyncio.sleep(INTERVAL)
        count = count + 1
        await websocket.send(envelope(count) if as_json else str(count))


async def subscriber(websocket):
    clients = json_clients if websocket.subprotocol == PRODCON_V1 else plain_clients
    clients.add(websocket)
    try:
        await websocket.wait_closed()
    finally:
        clients.discard(websocket)


async def hub():
    count = 0
    while True:
        await asyncio.sleep(INTERVAL)
        count = count + 1
        if json_clients:
            broadcast(json_clients, envelope(count))
        if plain_clients:
            broadcast(plain_clients, str(count))
        if INTERVAL == 0:
            # drain() is what send() awaits; `paused` is set past the high-water mark.
            slow = [ws for ws in json_clients | plain_clients if ws.paused]
            if slow:
                await asyncio.gather(*(ws.drain() for ws in slow), return_exceptions=True)


async def main():
    handler = subscriber if BROADCAST else per_connection
    async with serve(
        handler, "127.0.0.1", 0, select_subprotocol=select_subprotocol, backlog=1024
    ) as server:
        if BROADCAST:
            asyncio.get_running_loop().create_task(hub())
        port = server.sockets[0].getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}/", flush=True)
        await server.serve_forever()


asyncio.run(main())
