//! The harness of the end-to-end tests: it builds the real binaries, starts them as separate
//! processes on 127.0.0.1 with port 0, and always stops them. What the bench needs too (building,
//! process guards, `/proc`, Python) lives in the shared `harness` crate, re-exported here.
//!
//! # Layout
//! - [`certs`]: certificate authorities and server certificates made by the test, as PEM files.
//! - [`binaries`]: builds producer-server and consumer-client and finds them.
//! - [`process`]: a running server, a client run, with deadlines on everything.
//! - [`ws`]: a plain WebSocket client, for what consumer-client would not do.
//! - [`raw`]: raw TCP frames, for what no WebSocket library would send.
//! - [`proc_stats`]: a process's open files and resident memory.
//! - [`http`]: raw HTTP requests, for the answers that are not WebSockets.
//! - [`browser`]: a headless Chromium driven by the Node script in `tests/browser/`.
//! - [`python`]: the asyncio article's own programs, written with Python's `websockets`.
//! - [`skip`]: skipping loudly where an outside tool is missing, failing under CI.

pub mod binaries;
pub mod browser;
pub mod certs;
pub mod http;
pub mod proc_stats;
pub mod process;
pub mod python;
pub mod raw;
pub mod skip;
pub mod ws;

pub use harness;
pub use process::{run_client, ClientRun, Server};
