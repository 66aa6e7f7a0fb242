//! compute-agent: shares this machine's compute with a compute_devices registry, as the
//! browser's heartbeat does for a tab, for machines without a browser.
//!
//! Exit status: 0 after a signal (the device deactivated), 1 when the server refused the
//! agent for good (bad specs, device limit, a fixed token refused), 2 for bad settings.

mod accelerators;
mod agent;
mod api;
mod backoff;
mod config;
mod shutdown;
mod specs;
mod token;

use clap::error::ErrorKind::{self, InvalidValue as Invalid, MissingRequiredArgument as Missing};
use clap::{CommandFactory, Parser};
use config::{Command, Config};
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let config = Config::parse();
    init_logging(&config.log_format);
    let overrides = specs::Overrides {
        device_name: config.device_name.clone(),
        device_type: Some(config.device_type),
        ram_gb: config.ram_gb,
        cpu_cores: config.cpu_cores,
        storage_gb: config.storage_gb,
        accelerators: config.accelerators.clone(),
        country_code: config.country.clone(),
    };
    match config.command.unwrap_or(Command::Run) {
        Command::Specs => {
            let specs = specs::resolve(&overrides);
            println!(
                "{}",
                serde_json::to_string_pretty(&specs).expect("specs serialize")
            );
            ExitCode::SUCCESS
        }
        Command::Run => run(config, &overrides).await,
    }
}

async fn run(config: Config, overrides: &specs::Overrides) -> ExitCode {
    // Before anything slow: a signal from now on deactivates instead of killing.
    let mut shutdown = match shutdown::Shutdown::install() {
        Ok(shutdown) => shutdown,
        Err(error) => {
            tracing::error!("cannot listen for signals: {error}");
            return ExitCode::FAILURE;
        }
    };
    let Some(api_url) = config.api_url.clone() else {
        usage_error(Missing, "COMPUTE_API_URL (--api-url) is required to run");
    };
    let token = match (&config.token, &config.token_file) {
        (Some(value), _) => token::Token::Value(value.clone()),
        (None, Some(path)) => token::Token::File(path.clone()),
        (None, None) => usage_error(
            Missing,
            "a token is required: COMPUTE_AGENT_TOKEN, or COMPUTE_AGENT_TOKEN_FILE (--token-file)",
        ),
    };
    // A file that cannot be read now is a mistake in the settings, not a rotation under way.
    if let Err(error) = token.read() {
        usage_error(Invalid, &error);
    }
    let api = match api::Api::new(
        &api_url,
        token,
        config.api_key.as_deref(),
        config.request_timeout,
    ) {
        Ok(api) => api,
        Err(error) => usage_error(Invalid, &error),
    };
    let specs = specs::resolve(overrides);
    tracing::info!(api = %api_url, specs = %serde_json::json!(specs), "compute-agent starting");
    let backoff = backoff::Backoff::new(config.retry_base, config.retry_max, fastrand::Rng::new());
    let mut agent = agent::Agent::new(api, specs, backoff, config.stop_timeout);

    let signal = tokio::select! {
        failure = agent.run() => {
            tracing::error!("giving up: {failure}");
            return ExitCode::FAILURE;
        }
        signal = shutdown.recv() => signal,
    };
    tracing::info!("{signal}: stopping");
    tokio::select! {
        () = agent.stop() => {}
        again = shutdown.recv() => tracing::warn!("{again} again: exiting without waiting for the deactivation"),
    }
    tracing::info!("compute-agent stopped");
    ExitCode::SUCCESS
}

/// Logs go to stderr: stdout is for `compute-agent specs`.
fn init_logging(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours for a terminal; none in journald or a log file.
        .with_ansi(std::io::stderr().is_terminal());
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn usage_error(kind: ErrorKind, message: &str) -> ! {
    Config::command().error(kind, message).exit()
}
