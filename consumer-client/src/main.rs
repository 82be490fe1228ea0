use consumer_client::{options::Options, runtime};
use std::io::Write;
use std::process::ExitCode;
use structopt::clap::ErrorKind;
use structopt::StructOpt;

fn main() -> ExitCode {
    let options = match Options::from_args_safe() {
        Ok(options) => options,
        Err(e)
            if matches!(
                e.kind,
                ErrorKind::HelpDisplayed | ErrorKind::VersionDisplayed
            ) =>
        {
            // A reader that stops early (`--help | head`) is no failure.
            let _ = writeln!(std::io::stdout(), "{}", e.message);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let what = e.message.lines().next().unwrap_or_default();
            let what = what.strip_prefix("error: ").unwrap_or(what);
            eprintln!("consumer-client: {what}; see consumer-client --help");
            return ExitCode::from(2);
        }
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    runtime::block_on(consumer_client::run(options))
}
