//! The command line: wiring only. Every decision lives in the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

/// Most of a proxied request's own CPU time went to the system allocator (many small,
/// short-lived allocations across worker threads); mimalloc's thread-local heaps fit that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tiktok_gateway::auth::{Scope, api_key, jwt};
use tiktok_gateway::config::{Config, JwtAlgorithm, Loaded};
use tiktok_gateway::telemetry::{self, LogFormat};
use tiktok_gateway::{Gateway, openapi, server, webhooks};

#[derive(Parser)]
#[command(
    name = "tiktok-gateway",
    version,
    about = "A multi-tenant gateway to the Zernio API for TikTok",
    after_help = "Example:\n  \
        tiktok-gateway serve          # the development profile: sandbox upstream, key in data/development-key\n\n\
        `tiktok-gateway help <command>` for each command; README.md for the rest."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    #[command(
        long_about = "Run the gateway.\n\n\
            Configuration: a TOML file, named by GATEWAY_CONFIG, else ./gateway.toml when \
            present; with neither, the development profile (an embedded SQLite store under \
            ./data, the built-in sandbox upstream, a tenant `demo` whose API key is printed and \
            kept in data/development-key). Environment variables override the file: \
            GATEWAY_<KEY> for a top-level key, GATEWAY_<SECTION>__<KEY> inside a section \
            (GATEWAY_ZERNIO__REQUEST_TIMEOUT_MS=5000), plus GATEWAY_LISTEN, GATEWAY_STORE, \
            ZERNIO_API_KEY (set: the real Zernio, no development profile), ZERNIO_BASE_URL, \
            ZERNIO_WEBHOOK_SECRET, GATEWAY_SECRETS_KEY, GATEWAY_LOG_FORMAT and RUST_LOG. \
            A wrong value stops start-up with one line naming the key.\n\n\
            Every key and variable: README.md, section \"Configuration\".",
        after_help = "Examples:\n  \
            tiktok-gateway serve                                  # the development profile, on 127.0.0.1:8080\n  \
            GATEWAY_CONFIG=/etc/tiktok-gateway.toml ZERNIO_API_KEY=sk_... tiktok-gateway serve"
    )]
    Serve,
    /// Manage API keys.
    #[command(
        subcommand,
        after_help = "Example:\n  tiktok-gateway key new --tenant acme --scopes posts:read"
    )]
    Key(KeyCommand),
    /// The key that seals subscription secrets at rest.
    #[command(subcommand, after_help = "Example:\n  tiktok-gateway secrets new-key")]
    Secrets(SecretsCommand),
    /// Mint an HS256 development JWT from the configured secret.
    #[command(after_help = "Example:\n  \
        tiktok-gateway token --tenant acme --scopes posts:read posts:write --ttl 15m")]
    Token(TokenArgs),
    /// Print the OpenAPI document.
    #[command(after_help = "Example:\n  \
        tiktok-gateway openapi > openapi/openapi.json")]
    Openapi,
    /// Talk to Zernio on the operator's behalf.
    #[command(
        subcommand,
        after_help = "Example:\n  \
            tiktok-gateway zernio register-webhook --url https://gateway.example.com/v1/upstream/zernio/webhooks"
    )]
    Zernio(ZernioCommand),
    /// Exit 0 when the local gateway's /healthz answers (for container health checks).
    #[command(after_help = "Examples:\n  \
        tiktok-gateway healthcheck\n  \
        tiktok-gateway healthcheck --url http://127.0.0.1:8080")]
    Healthcheck {
        /// Base URL to probe; defaults to the configured listen address.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Make a fresh API key: prints the key once and the lines to paste into the config.
    #[command(after_help = "Example:\n  \
        tiktok-gateway key new --tenant acme --scopes posts:read posts:write --id cms")]
    New {
        #[arg(long)]
        tenant: String,
        #[arg(long, num_args = 1.., value_parser = parse_scope, required = true)]
        scopes: Vec<Scope>,
        /// The key's id in the config (shown in logs and /v1/me instead of the key).
        #[arg(long, default_value = "default")]
        id: String,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Print a fresh random key for GATEWAY_SECRETS_KEY (base64 of 32 bytes).
    #[command(after_help = "Example:\n  \
        export GATEWAY_SECRETS_KEY=$(tiktok-gateway secrets new-key)")]
    NewKey,
}

#[derive(Subcommand)]
enum ZernioCommand {
    /// Registers this gateway's webhook receiver at Zernio (POST /v1/webhooks/settings) with
    /// ZERNIO_WEBHOOK_SECRET and the post events; prints Zernio's answer without the secret.
    #[command(after_help = "Example:\n  \
        ZERNIO_API_KEY=sk_... ZERNIO_WEBHOOK_SECRET=... tiktok-gateway zernio register-webhook \\\n    \
        --url https://gateway.example.com/v1/upstream/zernio/webhooks")]
    RegisterWebhook {
        /// The public URL of this gateway's /v1/upstream/zernio/webhooks.
        #[arg(long)]
        url: String,
        /// The name Zernio shows for the webhook.
        #[arg(long, default_value = "tiktok-gateway")]
        name: String,
    },
}

#[derive(Args)]
struct TokenArgs {
    #[arg(long)]
    tenant: String,
    #[arg(long, num_args = 1.., value_parser = parse_scope, required = true)]
    scopes: Vec<Scope>,
    /// Lifetime, e.g. 15m, 1h, 7d.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    ttl: Duration,
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    Scope::parse(s).ok_or_else(|| {
        let all: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown scope `{s}`; one of {}", all.join(", "))
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve => serve(),
        Command::Key(KeyCommand::New { tenant, scopes, id }) => {
            key_new(&tenant, &scopes, &id);
            Ok(())
        }
        Command::Secrets(SecretsCommand::NewKey) => {
            println!("{}", tiktok_gateway::secrets::new_key());
            Ok(())
        }
        Command::Token(args) => token(&args),
        Command::Openapi => {
            print!("{}", openapi::spec_json());
            Ok(())
        }
        Command::Zernio(ZernioCommand::RegisterWebhook { url, name }) => {
            register_webhook(&url, &name)
        }
        Command::Healthcheck { url } => healthcheck(url),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tiktok-gateway: {message}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn serve() -> Result<(), String> {
    let (writer, _flush_on_exit) = tracing_appender::non_blocking(std::io::stdout());
    telemetry::init(LogFormat::from_env(), writer)?;
    match server::raise_open_file_limit() {
        Ok(Some(limit)) => tracing::info!(open_file_limit = limit, "open-file limit"),
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
    }
    let env = std::env::vars().collect();
    let Loaded {
        config,
        development_key,
        warnings,
    } = Config::load_from(&env).map_err(|e| e.to_string())?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let key_file = tiktok_gateway::config::development_key_file(&config.store);
    runtime()?.block_on(async move {
        let listen = config.listen;
        if config.is_sandbox() {
            tracing::warn!(
                "ZERNIO_API_KEY is not set: the SANDBOX upstream answers in-process; NOTHING reaches TikTok"
            );
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let gateway = Gateway::start(config, &env, &listener)
            .await
            .map_err(|e| format!("{e:#}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(%address, "tiktok-gateway listening");
        if let Some(key) = development_key {
            match LogFormat::from_env() {
                // One JSON line like every other; the key stays in its file, never in a log.
                LogFormat::Json => tracing::info!(
                    tenant = "demo",
                    accounts = "sandbox_public,sandbox_private",
                    key_file = %key_file.display(),
                    "development profile: the API key is in key_file"
                ),
                // Printed on stderr, not logged: log pipelines keep lines, and this is a
                // credential (of the sandbox only).
                LogFormat::Human => eprintln!(
                    "\n  Development profile: tenant `demo` owns sandbox_public and sandbox_private.\n  \
                     API key (kept in {}):\n\n    {key}\n\n  \
                     curl -H \"Authorization: Bearer {key}\" http://{address}/v1/me\n",
                    key_file.display()
                ),
            }
        }
        gateway
            .serve(listener, shutdown_signal())
            .await
            .map_err(|e| format!("server failed: {e}"))?;
        tracing::info!("stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

fn key_new(tenant: &str, scopes: &[Scope], id: &str) {
    let (key, digest) = api_key::generate();
    let scopes: Vec<String> = scopes.iter().map(|s| format!("\"{s}\"")).collect();
    println!("{key}");
    eprintln!(
        "\nThe key above is shown once. Add this under the [[tenants]] entry with id = \"{tenant}\":\n\n\
         [[tenants.api_keys]]\nid = \"{id}\"\nsha256 = \"{digest}\"\nscopes = [{}]\n",
        scopes.join(", ")
    );
}

fn token(args: &TokenArgs) -> Result<(), String> {
    let env = std::env::vars().collect();
    let config = Config::load_from(&env).map_err(|e| e.to_string())?.config;
    let jwt_config = config
        .auth
        .jwt
        .as_ref()
        .ok_or("no [auth.jwt] section is configured")?;
    if jwt_config.algorithm != JwtAlgorithm::HS256 {
        return Err(
            "`token` mints HS256 tokens only; RS256/ES256 tokens come from your identity provider"
                .into(),
        );
    }
    let secret_env = jwt_config
        .secret_env
        .as_deref()
        .ok_or("auth.jwt.secret_env is not set")?;
    let secret = env
        .get(secret_env)
        .ok_or_else(|| format!("{secret_env} is not set"))?;
    if !config.tenants.iter().any(|t| t.id == args.tenant) {
        return Err(format!("tenant `{}` is not configured", args.tenant));
    }
    let scopes: Vec<String> = args.scopes.iter().map(|s| s.to_string()).collect();
    let token = jwt::mint_hs256(jwt_config, secret, &args.tenant, &scopes, args.ttl)
        .map_err(|e| format!("cannot sign: {e}"))?;
    println!("{token}");
    Ok(())
}

fn register_webhook(url: &str, name: &str) -> Result<(), String> {
    let env = std::env::vars().collect();
    let config = Config::load_from(&env).map_err(|e| e.to_string())?.config;
    let answer = runtime()?.block_on(webhooks::inbound::register_at_zernio(&config, url, name));
    let answer = answer.map_err(|e| format!("{e:#}"))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&answer).map_err(|e| e.to_string())?
    );
    Ok(())
}

fn healthcheck(url: Option<String>) -> Result<(), String> {
    let base = match url {
        Some(url) => url,
        None => {
            // The admin listener when one is configured (the probes are there), else `listen`.
            let configured = Config::load()
                .ok()
                .map(|l| l.config.admin_listen.unwrap_or(l.config.listen).to_string());
            let listen = configured
                .or_else(|| std::env::var("GATEWAY_LISTEN").ok())
                .unwrap_or_else(|| "127.0.0.1:8080".into());
            let addr: std::net::SocketAddr = listen
                .parse()
                .map_err(|e| format!("GATEWAY_LISTEN `{listen}`: {e}"))?;
            // A wildcard listen address is reached through loopback.
            let host = if addr.ip().is_unspecified() {
                match addr {
                    std::net::SocketAddr::V4(_) => "127.0.0.1".to_owned(),
                    std::net::SocketAddr::V6(_) => "[::1]".to_owned(),
                }
            } else {
                match addr {
                    std::net::SocketAddr::V4(a) => a.ip().to_string(),
                    std::net::SocketAddr::V6(a) => format!("[{}]", a.ip()),
                }
            };
            format!("http://{host}:{}", addr.port())
        }
    };
    runtime()?.block_on(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| e.to_string())?;
        let response = client
            .get(format!("{}/healthz", base.trim_end_matches('/')))
            .send()
            .await
            .map_err(|e| format!("unhealthy: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "unhealthy: /healthz answered {}",
                response.status()
            ))
        }
    })
}
