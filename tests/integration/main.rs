//! End-to-end tests: the real binaries as separate processes, on real sockets.

mod broadcast; // one producer for many consumers: stdin, slow consumers
mod browser; // the built-in page in a real headless browser: live, resuming, origin-bound
mod end_to_end; // the seed's pattern between producer-server and consumer-client
mod errors; // what a user sees when something is wrong
mod failover; // several URLs, nodes of one stream: the client moves on with no gap or repeat
mod hostile_client; // producer-server facing peers that attack it: floods, idle sockets, raw bytes
mod hostile_server; // consumer-client facing servers that misbehave, flood or play terminal tricks
mod interop; // other peers: a plain WebSocket client, plain HTTP, the article's Python programs
mod keepalive; // pings, dead peers, silent servers
mod limits; // hostile and broken clients: slow handshakes, bad frames, churn
mod memory; // what a connection costs, whatever its peer does
mod metrics; // /metrics read by Prometheus's parser, its counters against what the test did; /healthz
mod origin; // which web pages may open a WebSocket (cross-site WebSocket hijacking)
mod page; // the answers to plain HTTP: the live page, 404, 405
mod prompt_output; // consumer-client's pacing: a message is printed while the stream pauses after it
mod redis_engine; // the Redis engine against a real redis-server: read, replay, publish, faults
mod redis_nodes; // nodes of one Redis stream, consumers on each, faults of nodes and Redis
mod resume; // history, lost ranges, reconnecting clients
mod shutdown; // SIGINT and SIGTERM
mod tls; // wss:// and https:// with certificates the test makes; plain clients on a TLS port
