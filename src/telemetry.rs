//! Logging: human-readable by default, JSON when `GATEWAY_LOG_FORMAT=json`; every line inside
//! a request carries that request's id through its span. Lines are written by a background
//! thread so that a slow terminal or pipe never blocks the runtime.

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{EnvFilter, fmt};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

impl LogFormat {
    pub fn from_env() -> Self {
        match std::env::var("GATEWAY_LOG_FORMAT") {
            Ok(v) if v.eq_ignore_ascii_case("json") => LogFormat::Json,
            _ => LogFormat::Human,
        }
    }
}

/// `RUST_LOG` when set, else info for the gateway and its HTTP layers.
fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,reqwest=warn"))
}

/// Installs the global subscriber writing to `writer`. Fails only if one is installed already.
pub fn init<W>(format: LogFormat, writer: W) -> Result<(), String>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    init_with_filter(format, writer, filter())
}

/// `init` with an explicit filter, for tests that capture everything.
pub fn init_with_filter<W>(format: LogFormat, writer: W, filter: EnvFilter) -> Result<(), String>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    use std::io::IsTerminal;
    let builder = fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(writer);
    let result = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Human => builder.try_init(),
    };
    result.map_err(|e| e.to_string())
}
