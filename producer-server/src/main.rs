use futures::StreamExt;
use producer_server::metrics::Metrics;
use producer_server::shutdown::{shutdown_pair, ShutdownTrigger};
use producer_server::{metrics_listener, runtime, stream, tls, Config};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

/// The frames of a broadcast stream are made on the hub's thread and often let go on a session's:
/// see the workspace's Cargo.toml for why that calls for another allocator than glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = match common::cli::parse_args_checked("producer-server", Config::check) {
        Ok(config) => config,
        Err(code) => return code,
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    // Each connection is a file descriptor: the usual soft limit of 1024 would cap a server
    // configured for thousands. The hard limit is what the system allows us.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if (limit as usize) < config.max_connections.saturating_add(64) => log::warn!(
            "open files limit is {limit}: fewer than --max-connections {} can be served",
            config.max_connections
        ),
        Ok(_) => {}
        Err(error) => log::warn!("cannot raise the open files limit: {error}"),
    }
    runtime::block_on(run(config))
}

async fn run(config: Config) -> ExitCode {
    // Certificate problems are found before listening: a server that cannot serve TLS must not
    // look as if it did.
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => match tls::acceptor(cert, key) {
            Ok(acceptor) => Some(acceptor),
            Err(error) => {
                eprintln!("producer-server: {error}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let metrics = Metrics::new();
    let metrics_listener = match config.metrics {
        Some(addr) => match runtime::TcpListener::bind(addr).await {
            Ok(listener) => Some(listener),
            Err(error) => {
                eprintln!(
                    "producer-server: cannot listen for metrics on {addr}: {error}; choose another address with --metrics"
                );
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    // Before listening: a node that cannot reach its Redis has nothing to serve.
    let engine = match stream::open(&config, &metrics).await {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!("producer-server: {error}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match runtime::listen(config.addr) {
        Ok(listener) => listener,
        Err(error) => {
            let advice = bind_advice(&error, config.addr);
            eprintln!(
                "producer-server: cannot listen on {}: {error}; {advice}",
                config.addr
            );
            return ExitCode::FAILURE;
        }
    };
    let (trigger, signal) = shutdown_pair();
    let signals = match runtime::termination_signals() {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("producer-server: cannot watch for SIGINT and SIGTERM: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime::spawn(stop_on_signal(signals, trigger));
    if let Some(metrics_listener) = metrics_listener {
        match metrics_listener.local_addr() {
            Ok(addr) => println!("metrics on http://{addr}/metrics"),
            Err(error) => {
                eprintln!("producer-server: cannot read the metrics address: {error}");
                return ExitCode::FAILURE;
            }
        }
        runtime::spawn(metrics_listener::serve(
            metrics_listener,
            metrics.clone(),
            signal.clone(),
        ));
    }
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    match listener.local_addr() {
        Ok(addr) => println!("listening on {scheme}://{addr}/"),
        Err(error) => {
            eprintln!("producer-server: cannot read the address listened on: {error}");
            return ExitCode::FAILURE;
        }
    }
    // Scripts wait for that line through a pipe: it must not sit in a buffer.
    let _ = std::io::stdout().flush();
    match producer_server::serve(listener, config, engine, tls, metrics, signal).await {
        Ok(()) => ExitCode::SUCCESS,
        // Lines read and lost: the log says how many; whoever runs the node must be able to tell.
        Err(_) => ExitCode::FAILURE,
    }
}

/// What to do when listening on `addr` failed with `error`.
fn bind_advice(error: &io::Error, addr: SocketAddr) -> String {
    let port = addr.port();
    match error.kind() {
        io::ErrorKind::AddrInUse => {
            "stop whatever uses that address or choose another with --addr (port 0 picks a free one)"
                .into()
        }
        io::ErrorKind::AddrNotAvailable => format!(
            "that address is not on this machine: use 127.0.0.1:{port} (this machine only) or 0.0.0.0:{port} (every network interface)"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "ports below 1024 need privileges: choose another, such as --addr {}:8765",
            addr.ip()
        ),
        _ => "choose another address with --addr, such as 127.0.0.1:8765".into(),
    }
}

/// Pulls `trigger` on the first SIGINT or SIGTERM; a second one ends the process at once.
async fn stop_on_signal(
    mut signals: impl futures::Stream<Item = i32> + Unpin,
    trigger: ShutdownTrigger,
) {
    if signals.next().await.is_some() {
        log::info!("signal received: shutting down (send it again to exit at once)");
    }
    trigger.pull();
    if signals.next().await.is_some() {
        std::process::exit(1);
    }
}
