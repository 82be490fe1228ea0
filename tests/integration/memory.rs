use integration_tests::proc_stats::resident_kib;
use integration_tests::raw;
use integration_tests::Server;
use std::time::{Duration, Instant};

/// Waits until the resident memory of `pid` stops growing (two readings 300 ms apart within
/// 1%), and returns it in KiB; panics after a minute.
fn settled_rss(pid: u32) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = resident_kib(pid);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = resident_kib(pid);
        if now.abs_diff(last) * 100 <= last {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "memory never settled: {last} -> {now} KiB"
        );
        last = now;
    }
}

/// What each of `count` connections adds to a server started with `args`, in KiB, once they
/// are open and the server has done all it will for them.
fn cost_per_connection(args: &[&str], count: u64) -> u64 {
    let server = Server::start(args);
    let before = settled_rss(server.pid());
    let connections: Vec<_> = (0..count).map(|_| raw::handshake(server.addr)).collect();
    let after = settled_rss(server.pid());
    drop(connections);
    after.saturating_sub(before) / count
}

#[test]
fn a_stalled_consumer_costs_at_most_32_kib_at_default_options() {
    // Per-connection mode at full speed: each connection's counter fills its queue and socket
    // buffers, then waits. What it holds then is what a stalled reader costs.
    let stalled = cost_per_connection(&["--interval", "0"], 100);
    // The same connections, idle: the tests run debug builds, whose idle connections are larger
    // than the release build's 6 KiB (see BENCHMARKS.md); the stall adds the rest.
    let idle = cost_per_connection(&["--interval", "1h"], 100);
    eprintln!("{idle} KiB per idle connection, {stalled} KiB per stalled consumer");
    assert!(
        stalled <= idle + 26,
        "{stalled} KiB per stalled consumer, {idle} KiB per idle connection"
    );
}
