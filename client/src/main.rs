//! The `attestlog` command line; everything is in [`attestlog_client::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut out = std::io::stdout().lock();
    match attestlog_client::cli::run(std::env::args_os(), &mut out) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(attestlog_client::cli::EXIT_FAILURE)
        }
    }
}
