//! End-to-end tests: the real binaries as separate processes, on real sockets.

mod broadcast; // one producer for many consumers: stdin, slow consumers
mod end_to_end; // the seed's pattern between producer-server and consumer-client
mod errors; // what a user sees when something is wrong
mod interop; // other peers: a plain WebSocket client, plain HTTP, the article's Python programs
mod keepalive; // pings, dead peers, silent servers
mod resume; // history, lost ranges, reconnecting clients
mod shutdown; // SIGINT and SIGTERM
