use consumer_client::{options::Options, runtime};
use std::process::ExitCode;

fn main() -> ExitCode {
    let options = match common::cli::parse_args::<Options>("consumer-client") {
        Ok(options) => options,
        Err(code) => return code,
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    runtime::block_on(consumer_client::run(options))
}
