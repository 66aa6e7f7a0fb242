//! Settings, from flags or the environment (flags win). `compute-agent --help` lists them.

use crate::accelerators::{self, Accelerator};
use crate::specs::{self, DeviceType};
use clap::{Parser, Subcommand};
use reqwest::Url;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "compute-agent",
    version,
    about = "Shares this machine's compute with a compute_devices registry: registers its specs, \
             sends heartbeats at the interval the server asks for, and deactivates the device on \
             SIGTERM or Ctrl-C.",
    after_help = "Specs not given are detected: RAM and logical CPUs of this machine, the total \
                  size of its non-removable disks (each device once), the hostname as the name, \
                  and `laptop` when it has a system battery, else `server`. \
                  `compute-agent specs` prints what would be registered."
)]
pub struct Config {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The API root: the gateway's (`http://host:3000`), PostgREST's, or Supabase's
    /// `https://<project>.supabase.co/rest/v1`. Calls go to `<root>/rpc/<function>`.
    #[arg(long, global = true, env = "COMPUTE_API_URL", value_parser = api_url, help_heading = "Server")]
    pub api_url: Option<Url>,

    /// The user's JWT (its `sub` owns the device). Prefer the environment or --token-file to a
    /// flag, which other users can see in the process list.
    #[arg(
        long,
        global = true,
        env = "COMPUTE_AGENT_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file",
        help_heading = "Server"
    )]
    pub token: Option<String>,

    /// A file holding the JWT, read again before every request, so a rotated token is
    /// picked up without a restart (systemd: `LoadCredential=` and `%d/<name>`).
    #[arg(
        long,
        global = true,
        env = "COMPUTE_AGENT_TOKEN_FILE",
        help_heading = "Server"
    )]
    pub token_file: Option<PathBuf>,

    /// Sent as the `apikey` header: Supabase's anon key.
    #[arg(
        long,
        global = true,
        env = "COMPUTE_AGENT_API_KEY",
        hide_env_values = true,
        help_heading = "Server"
    )]
    pub api_key: Option<String>,

    /// Device name, 1 to 64 characters [default: the hostname, shortened to fit].
    /// Registering again under the same name updates the same device.
    #[arg(long, global = true, env = "COMPUTE_AGENT_DEVICE_NAME", value_parser = specs::device_name, help_heading = "Device")]
    pub device_name: Option<String>,

    /// Device type; `auto` is `laptop` when the machine has a system battery, else `server`.
    #[arg(
        long,
        global = true,
        env = "COMPUTE_AGENT_DEVICE_TYPE",
        value_enum,
        default_value = "auto",
        help_heading = "Device"
    )]
    pub device_type: DeviceType,

    /// RAM in GB (2^30 bytes), rounded to 2 decimals [default: detected].
    #[arg(long, global = true, env = "COMPUTE_AGENT_RAM_GB", value_parser = gigabytes, help_heading = "Device")]
    pub ram_gb: Option<f64>,

    /// CPU cores, 1 to 8192 [default: detected logical CPUs].
    #[arg(
        long,
        global = true,
        env = "COMPUTE_AGENT_CPU_CORES",
        value_parser = clap::value_parser!(u32).range(1..=8192),
        help_heading = "Device"
    )]
    pub cpu_cores: Option<u32>,

    /// Storage in GB (2^30 bytes), rounded to 2 decimals [default: detected].
    #[arg(long, global = true, env = "COMPUTE_AGENT_STORAGE_GB", value_parser = gigabytes, help_heading = "Device")]
    pub storage_gb: Option<f64>,

    /// Where the machine is: an ISO 3166-1 alpha-2 code (`DE`, `us`), sent as country_code;
    /// the server checks it against its list [default: none].
    #[arg(long, global = true, env = "COMPUTE_AGENT_COUNTRY", value_name = "CODE", value_parser = specs::country_code, help_heading = "Device")]
    pub country: Option<String>,

    /// The accelerators, instead of detecting them: a JSON array of groups
    /// `{"vendor","product_name","memory_mib","count"}` as register_device takes them; `[]`
    /// for none [default: detected, NVIDIA through NVML, AMD and Intel from sysfs].
    // `::std::vec::Vec` keeps clap from taking the setting as a list of values.
    #[arg(long, global = true, env = "COMPUTE_AGENT_ACCELERATORS", value_name = "JSON", value_parser = accelerators::parse_override, help_heading = "Device")]
    pub accelerators: Option<::std::vec::Vec<Accelerator>>,

    /// Most time one request may take, connecting included.
    #[arg(global = true, long = "request-timeout-ms", value_name = "MS", env = "COMPUTE_AGENT_REQUEST_TIMEOUT_MS", default_value = "10000", value_parser = millis, help_heading = "Timing")]
    pub request_timeout: Duration,

    /// First retry delay ceiling; it doubles with each failure (full jitter: the delay is
    /// random between zero and the ceiling).
    #[arg(global = true, long = "retry-base-ms", value_name = "MS", env = "COMPUTE_AGENT_RETRY_BASE_MS", default_value = "1000", value_parser = millis, help_heading = "Timing")]
    pub retry_base: Duration,

    /// Ceiling of retry delays until the server has named a heartbeat interval; from then on
    /// the ceiling is that interval.
    #[arg(global = true, long = "retry-max-ms", value_name = "MS", env = "COMPUTE_AGENT_RETRY_MAX_MS", default_value = "60000", value_parser = millis, help_heading = "Timing")]
    pub retry_max: Duration,

    /// How long stopping may take on SIGTERM or Ctrl-C: waiting for a registration in flight,
    /// then deactivating, retries included.
    #[arg(global = true, long = "stop-timeout-ms", value_name = "MS", env = "COMPUTE_AGENT_STOP_TIMEOUT_MS", default_value = "5000", value_parser = millis, help_heading = "Timing")]
    pub stop_timeout: Duration,

    /// Log format: `text` or `json` (one object a line). Levels: RUST_LOG (default `info`;
    /// `compute_agent=debug` shows each heartbeat).
    #[arg(long, global = true, env = "COMPUTE_AGENT_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

#[derive(Subcommand, Debug, Clone, Copy, PartialEq)]
pub enum Command {
    /// Register, send heartbeats and deactivate on SIGTERM or Ctrl-C (the default).
    Run,
    /// Print the specs that would be registered, as the JSON body of register_device, and exit.
    Specs,
}

fn api_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|error| format!("not a URL: {error}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        scheme => Err(format!("expected http or https, not {scheme}")),
    }
}

fn millis(text: &str) -> Result<Duration, String> {
    text.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|error| format!("expected milliseconds: {error}"))
}

/// The server takes at most 9 decimals; 2 are plenty and keep the numbers readable.
fn gigabytes(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|error| format!("{error}"))?;
    if !value.is_finite() || value < 0.0 {
        return Err("must be a number of GB, 0 or more".to_string());
    }
    Ok(specs::round2(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_refuse_what_the_server_would() {
        let config = Config::try_parse_from([
            "compute-agent",
            "--api-url",
            "https://abc.supabase.co/rest/v1",
            "--ram-gb",
            "15.999",
            "--cpu-cores",
            "8",
            "--country",
            "de",
            "--accelerators",
            r#"[{"vendor":"amd","product_name":"AMD Radeon RX 7900 XTX","memory_mib":24560,"count":2}]"#,
        ])
        .unwrap();
        assert_eq!(config.ram_gb, Some(16.0));
        assert_eq!(config.country.as_deref(), Some("DE"));
        assert_eq!(config.accelerators.map(|a| a[0].count), Some(2));
        assert_eq!(config.cpu_cores, Some(8));
        assert_eq!(config.device_type, DeviceType::Auto);
        assert_eq!(config.command, None);
        for bad in [
            ["--api-url", "ftp://example.com"],
            ["--cpu-cores", "0"],
            ["--cpu-cores", "8193"],
            ["--ram-gb", "-1"],
            ["--storage-gb", "NaN"],
            ["--device-type", "toaster"],
            ["--device-name", "  "],
            ["--country", "DEU"],
            ["--country", "d1"],
            ["--accelerators", "{}"],
            ["--accelerators", r#"[{"vendor":"ibm"}]"#],
        ] {
            let parsed = Config::try_parse_from(["compute-agent", bad[0], bad[1]]);
            assert!(parsed.is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn token_and_token_file_exclude_each_other() {
        let both = Config::try_parse_from([
            "compute-agent",
            "--token",
            "t",
            "--token-file",
            "/run/token",
        ]);
        assert!(both.is_err());
    }
}
