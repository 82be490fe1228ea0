use integration_tests::browser::Browser;
use integration_tests::Server;
use serde_json::{json, Value};
use std::process::Stdio;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(20);
const INTERVAL: [&str; 2] = ["--interval", "50ms"];

/// Waits until both charts show data (pixels in their series' colours), and checks that they fit
/// a window `width` pixels wide, with nothing wider than it.
fn charts_drawn(browser: &mut Browser, width: u64) {
    let limit_ms = LIMIT.as_millis() as u64;
    let reply = browser.call(
        json!({"cmd": "waitCharts", "timeoutMs": limit_ms}),
        LIMIT * 2,
    );
    let charts = reply["charts"].as_array().expect("charts is a list");
    let ids: Vec<&str> = charts.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, ["rate-chart", "latency-chart"], "{reply}");
    for chart in charts {
        assert!(chart["painted"].as_u64() > Some(0), "{chart}");
        let shown = chart["width"].as_u64().unwrap_or_default();
        assert!((100..width).contains(&shown), "{chart}");
    }
    assert_eq!(reply["overflows"], Value::Bool(false), "{reply}");
}

/// Every sequence number the page has shown, in order.
fn seen(observed: &Value) -> Vec<u64> {
    let seen = observed["seen"].as_array().expect("seen is a list");
    seen.iter()
        .map(|shown| {
            let text = shown.as_str().expect("seen holds texts");
            text.parse()
                .unwrap_or_else(|_| panic!("the page showed {text:?} as a sequence number"))
        })
        .collect()
}

/// The page streams, survives the server's death and resumes where it stopped, showing every
/// sequence number once and in order; a page of another site cannot connect.
#[test]
fn page_streams_resumes_after_a_restart_and_is_origin_bound() {
    let started = Instant::now();
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    let launched = started.elapsed();
    let mut server = Server::start(&INTERVAL);
    let addr = server.addr;
    let page = format!("http://{addr}/");
    // The size of docs/page.png, which this test takes when PRODCON_SCREENSHOT names a file.
    let size = json!({"cmd": "open", "url": page, "width": 760, "height": 460});
    browser.call(size, LIMIT);
    let limit_ms = LIMIT.as_millis() as u64;
    browser.call(
        json!({"cmd": "waitSeq", "atLeast": 5, "timeoutMs": limit_ms}),
        LIMIT * 2,
    );
    charts_drawn(&mut browser, 760);

    // The server dies without a goodbye, and comes back on the same port.
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(5));
    browser.call(
        json!({"cmd": "waitState", "state": "disconnected", "timeoutMs": limit_ms}),
        LIMIT * 2,
    );
    let before = seen(&browser.call(json!({"cmd": "observed"}), LIMIT));
    let last_before = *before.last().expect("the page showed messages");
    drop(server);
    let server = Server::start_with(&INTERVAL, Stdio::null(), &addr.to_string());
    let restarted = Instant::now();
    let reply = browser.call(
        json!({"cmd": "waitSeq", "atLeast": last_before + 10, "timeoutMs": limit_ms}),
        LIMIT * 2,
    );
    assert!(reply["seq"].as_u64() >= Some(last_before + 10), "{reply}");
    let resumed = restarted.elapsed();
    let total = started.elapsed();

    let observed = browser.call(json!({"cmd": "observed"}), LIMIT);
    // It resumed with ?from=: the new server's counter started right after the last shown.
    let resume = format!("?from={}", last_before + 1);
    let sockets = observed["sockets"].to_string();
    assert!(sockets.contains(&resume), "{resume} in {sockets}");
    let shown = seen(&observed);
    let expected: Vec<u64> = (1..=*shown.last().unwrap()).collect();
    assert_eq!(
        shown, expected,
        "every seq shown once, in order, none missing"
    );
    let states: Vec<&str> = observed["states"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let dropped = states.iter().position(|&s| s == "disconnected");
    assert!(
        dropped.is_some_and(|at| states[at..].contains(&"connected")),
        "the page must show the drop and the reconnection: {states:?}"
    );
    assert_eq!(states.last(), Some(&"connected"), "{states:?}");
    let rate: u64 = observed["rate"].as_str().unwrap().parse().unwrap();
    // 50 ms apart: 20 a second, give or take timers on a busy machine.
    assert!((5..=40).contains(&rate), "messages per second {rate}");
    let latency = observed["latency"].as_str().unwrap();
    let millis: f64 = latency.strip_suffix(" ms").unwrap().parse().unwrap();
    // Browsers round their clock to 0.1 ms: a local delivery may show a hair under zero.
    assert!((-0.2..1000.0).contains(&millis), "latency {latency}");
    eprintln!(
        "browser: launched in {launched:?}; {} messages shown, rate {rate}/s, latency {latency}; resumed {resumed:?} after the restart; {total:?} in all",
        shown.len()
    );

    if let Some(file) = std::env::var_os("PRODCON_SCREENSHOT") {
        // Some history for the charts to show first: 15 more seconds of the stream.
        let later = shown.last().unwrap() + 300;
        browser.call(
            json!({"cmd": "waitSeq", "atLeast": later, "timeoutMs": limit_ms}),
            LIMIT * 2,
        );
        let file = file.to_string_lossy();
        browser.call(json!({"cmd": "screenshot", "file": file}), LIMIT);
    }

    // Cross-site WebSocket hijacking: a page served from elsewhere is refused.
    let foreign = browser.call(
        json!({"cmd": "foreign", "target": server.url, "timeoutMs": limit_ms}),
        LIMIT * 2,
    );
    assert_eq!(foreign["opened"], Value::Bool(false), "{foreign}");
    // The refusal is logged, naming the origin.
    server.wait_for_log(foreign["origin"].as_str().unwrap(), LIMIT);
}

/// The same page from another site connects once the server allows that site.
#[test]
fn allowed_origin_lets_another_site_connect() {
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    // The foreign page's port is known only once it is served, so allow every origin here;
    // the explicit list is checked through real sockets in the origin tests.
    let server = Server::start(&["--interval", "50ms", "--allowed-origin", "*"]);
    let limit_ms = LIMIT.as_millis() as u64;
    let foreign = browser.call(
        json!({"cmd": "foreign", "target": server.url, "timeoutMs": limit_ms}),
        LIMIT * 2,
    );
    assert_eq!(foreign["opened"], Value::Bool(true), "{foreign}");
}

/// Frames a live counter does not send on demand: a repeat is not shown again, and a lost range
/// is shown and skipped.
#[test]
fn page_shows_lost_ranges_and_never_a_repeat() {
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    // Connected but silent for an hour: only the injected frames reach the page.
    let server = Server::start(&["--interval", "1h"]);
    // At a phone's size: the charts fit its width.
    let url = format!("http://{}/", server.addr);
    browser.call(
        json!({"cmd": "open", "url": url, "width": 390, "height": 844}),
        LIMIT,
    );
    let limit_ms = LIMIT.as_millis() as u64;
    browser.call(
        json!({"cmd": "waitState", "state": "connected", "timeoutMs": limit_ms}),
        LIMIT * 2,
    );
    let message = |seq: u64| json!({"seq": seq, "time": 0, "data": seq.to_string()}).to_string();
    let frames = [
        message(1),
        message(1),
        json!({"lost": {"first": 2, "last": 4}}).to_string(),
        message(3),
        message(5),
        message(4),
    ];
    browser.call(json!({"cmd": "inject", "frames": frames}), LIMIT);
    let observed = browser.call(json!({"cmd": "observed"}), LIMIT);
    assert_eq!(seen(&observed), [1, 5], "{observed}");
    assert_eq!(observed["lost"], "2–4", "{observed}");
    assert_eq!(observed["data"], "5", "{observed}");
    let log = observed["log"].to_string();
    assert!(log.contains("lost 2–4"), "{log}");
    charts_drawn(&mut browser, 390);
}

/// Over https:// the page connects back with wss: on the same port (a TLS port refuses plain
/// ws:// with 400, so a page that tried ws: would never show a message).
#[test]
fn page_over_https_streams_over_wss() {
    let Some(mut browser) = Browser::launch() else {
        return;
    };
    let pki = integration_tests::certs::Pki::new();
    let files = pki.valid();
    let cert = integration_tests::certs::arg(&files.cert);
    let key = integration_tests::certs::arg(&files.key);
    let server = Server::start(&["--interval", "50ms", "--tls-cert", cert, "--tls-key", key]);
    assert!(server.url.starts_with("wss://"), "{}", server.url);
    let page = format!("https://{}/", server.addr);
    browser.call(json!({"cmd": "open", "url": page}), LIMIT);
    let limit_ms = LIMIT.as_millis() as u64;
    let reply = browser.call(
        json!({"cmd": "waitSeq", "atLeast": 3, "timeoutMs": limit_ms}),
        LIMIT * 2,
    );
    assert!(reply["seq"].as_u64() >= Some(3), "{reply}");
    let observed = browser.call(json!({"cmd": "observed"}), LIMIT);
    let shown = seen(&observed);
    let expected: Vec<u64> = (1..=*shown.last().unwrap()).collect();
    assert_eq!(shown, expected, "every seq shown once, in order");
}
