// The bench's Node.js peer: the prodcon contract with the ws library, written the way a Node
// developer would (one event loop, Buffers encoded once per message).
//
// Usage: node server.js INTERVAL_SECONDS [--broadcast]
//
// - Listens on 127.0.0.1, port 0, and prints "listening on ws://127.0.0.1:PORT/" once it accepts.
// - A client offering the subprotocol prodcon.v1 gets {"seq":N,"time":MICROS,"data":"N"}, the
//   time stamped when the message is made; any other client gets the plain text "N".
// - Per connection (default): a counter per connection from 1, one message per interval.
//   --broadcast: one counter for every connection.
// - Backpressure: a connection whose unsent data passes HIGH_WATER waits until ws has written it
//   to the socket (send's callback) instead of buffering more; in broadcast the counter waits
//   for its slowest consumer. At interval 0 this is the whole pace.
"use strict";

const { WebSocketServer } = require("ws");

const INTERVAL_MS = Number(process.argv[2] ?? "1") * 1000;
const BROADCAST = process.argv.slice(3).includes("--broadcast");
const PRODCON_V1 = "prodcon.v1";
// Unsent bytes a connection may hold before its producer waits.
const HIGH_WATER = 64 * 1024;
// Messages sent in one turn of the event loop at interval 0, so that other connections and
// the sockets' own events get their turn.
const BATCH = 64;

// Microseconds since the Unix epoch, finer than Date.now().
function nowMicros() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

function plain(seq) {
  return Buffer.from(String(seq));
}

function envelope(seq) {
  return Buffer.from(`{"seq":${seq},"time":${nowMicros()},"data":"${seq}"}`);
}

function pause() {
  if (INTERVAL_MS > 0) {
    return new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
  }
  return new Promise((resolve) => setImmediate(resolve));
}

// Sends `message` to `ws`; when its buffer is past HIGH_WATER, resolves only once ws has
// written it out.
function send(ws, message) {
  if (ws.bufferedAmount < HIGH_WATER) {
    ws.send(message, { binary: false });
    return null;
  }
  return new Promise((resolve) => ws.send(message, { binary: false }, () => resolve()));
}

async function perConnection(ws) {
  const asJson = ws.protocol === PRODCON_V1;
  let seq = 0;
  while (ws.readyState === ws.OPEN) {
    await pause();
    for (let i = 0; i < (INTERVAL_MS > 0 ? 1 : BATCH) && ws.readyState === ws.OPEN; i++) {
      seq += 1;
      const waiting = send(ws, asJson ? envelope(seq) : plain(seq));
      if (waiting) {
        await waiting;
      }
    }
  }
}

async function hub(clients) {
  let seq = 0;
  for (;;) {
    await pause();
    for (let i = 0; i < (INTERVAL_MS > 0 ? 1 : BATCH); i++) {
      seq += 1;
      const message = { plain: plain(seq), json: envelope(seq) };
      const waits = [];
      for (const ws of clients) {
        if (ws.readyState === ws.OPEN) {
          const waiting = send(ws, ws.protocol === PRODCON_V1 ? message.json : message.plain);
          if (waiting) {
            waits.push(waiting);
          }
        }
      }
      if (waits.length > 0) {
        await Promise.all(waits);
      }
    }
  }
}

const server = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  backlog: 1024,
  perMessageDeflate: false,
  handleProtocols: (offered) => (offered.has(PRODCON_V1) ? PRODCON_V1 : false),
});
server.on("listening", () => {
  console.log(`listening on ws://127.0.0.1:${server.address().port}/`);
  if (BROADCAST) {
    hub(server.clients);
  }
});
server.on("connection", (ws) => {
  ws.on("error", () => {});
  if (!BROADCAST) {
    perConnection(ws);
  }
});
