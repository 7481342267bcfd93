//! The `kirjuri` command (the README's tables): parses flags and
//! configuration, opens the data folder, and hands over to the library. Every
//! command accepts `--data DIR` and initialises an empty folder on first use.
//!
//! Commands run with the authority of whoever can read the data folder and its
//! key file — the operator — and are audited as such (actor: none).

mod audit_cmd;
mod backup_cmd;
mod doctor_cmd;
mod hold_cmd;
mod import;
mod migrate_cmd;
mod outbox_cmd;
mod purge_cmd;
mod receipt_cmd;
mod retention_cmd;
mod users_cmd;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use kirjuri_app::{Config, Kirjuri};
use kirjuri_core::clock::SystemClock;
use kirjuri_core::role::Role;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

/// Kirjuri: a register of customer-service contacts and call recordings that
/// keeps its privacy notice's promises.
#[derive(Debug, Parser)]
#[command(name = "kirjuri", version, about)]
struct Cli {
    /// The data folder (database, encrypted objects, key file). Default ./kirjuri-data.
    #[arg(long, global = true, env = "KIRJURI_DATA")]
    data: Option<PathBuf>,
    /// A TOML configuration file; `KIRJURI_…` environment variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve {
        /// Address to listen on; port 0 picks a free port. Default 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Fill an empty data folder with synthetic demo contacts and accounts.
        #[arg(long)]
        demo: bool,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Import WAV files with JSON sidecars, and Asterisk CDR CSV files.
    Import {
        /// Files or folders to import.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Verify the tamper-evident audit log; sign and export its checkpoints.
    Audit {
        #[command(subcommand)]
        command: audit_cmd::AuditCommand,
    },
    /// Legal holds that keep data past its retention deadline (RET-2).
    Hold {
        #[command(subcommand)]
        command: hold_cmd::HoldCommand,
    },
    /// The durable outbox of email and SMS: delivery state, never content.
    Outbox {
        #[command(subcommand)]
        command: outbox_cmd::OutboxCommand,
    },
    /// Signed erasure receipts, checked offline (DSR-4).
    Receipt {
        #[command(subcommand)]
        command: receipt_cmd::ReceiptCommand,
    },
    /// Destroy what is past its retention deadline and not held (RET-3).
    Purge(purge_cmd::PurgeArgs),
    /// Retention policies (RET-1).
    Retention {
        #[command(subcommand)]
        command: retention_cmd::RetentionCommand,
    },
    /// Take a consistent online backup of the data folder.
    Backup(backup_cmd::BackupArgs),
    /// Restore a backup, then replay the erasure ledger over it.
    Restore(backup_cmd::RestoreArgs),
    /// Move an embedded data folder to PostgreSQL and an S3 bucket, verified.
    MigrateStore(migrate_cmd::MigrateArgs),
    /// Check the installation: configuration, key files, locations, free
    /// space, database and its clock, audit checkpoints, outbox.
    Doctor(doctor_cmd::DoctorArgs),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a personal account.
    Add {
        /// Account name (letters, digits, . _ - @).
        name: String,
        /// agent, supervisor, admin, maintainer, registrar, responsible or integration.
        #[arg(long)]
        role: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    #[command(flatten)]
    Admin(users_cmd::UserAdmin),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue a bearer token; prints only the token.
    Create {
        /// The account the token acts as.
        #[arg(long)]
        user: String,
        /// A label to recognise the token by.
        #[arg(long)]
        name: Option<String>,
        /// Days until the token expires (default: never).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    #[command(flatten)]
    Admin(users_cmd::TokenAdmin),
}

/// The flags that override configuration, in figment's shape.
#[derive(Debug, Serialize)]
struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<SocketAddr>,
}

fn load_config(cli: &Cli, listen: Option<SocketAddr>) -> Result<Config> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = &cli.config {
        if !path.is_file() {
            bail!("the configuration file {} does not exist", path.display());
        }
        figment = figment.merge(Toml::file(path));
    }
    figment = figment
        .merge(
            Env::prefixed("KIRJURI_")
                // Test, benchmark and script knobs share the prefix; they
                // are not configuration.
                .filter(|key| kirjuri_app::config::is_config_env_key(key.as_str()))
                // `KIRJURI_DATABASE__URL` is `database.url`.
                .split("__"),
        )
        .merge(Serialized::defaults(Overrides {
            data: cli.data.clone(),
            listen,
        }));
    let config: Config = figment
        .extract()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    config
        .retention
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    Ok(config)
}

/// Starts the log on stderr: the level from `KIRJURI_LOG` (default
/// `info`), one JSON object a line when `KIRJURI_LOG_FORMAT=json` (for a
/// log collector), otherwise text — coloured only when stderr is a
/// terminal and `NO_COLOR` is unset, so a log file or journal gets no
/// escape codes. What is logged names ids and codes, never personal data
/// (`tests/api/leaks.rs` checks both formats).
fn init_log() -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KIRJURI_LOG")
        .unwrap_or_else(|_| "info".into());
    let format = std::env::var("KIRJURI_LOG_FORMAT").unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.as_str() {
        "json" => builder.json().with_current_span(false).init(),
        "" | "text" => {
            let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            builder.with_ansi(colour).init();
        }
        _ => bail!("invalid configuration: KIRJURI_LOG_FORMAT must be text or json"),
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_log() {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // A full disk or a dependency down is named first, by the code
            // the API would answer, so an operator (or a script) sees the
            // cause before the chain of what it broke.
            match kirjuri_app::error::Outage::find(e.as_ref()) {
                Some(outage) => eprintln!("error: {}: {}: {e:#}", outage.code(), outage.what()),
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    };
    // A blocking call stuck on a dead disk or socket must not hold the exit
    // (`serve`'s own deadline has passed by then).
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

async fn run(cli: Cli) -> Result<ExitCode> {
    // A receipt is checked offline: no configuration, no data folder.
    if let Command::Receipt { command } = cli.command {
        return receipt_cmd::run(command);
    }
    let listen = match &cli.command {
        Command::Serve { listen, .. } => *listen,
        _ => None,
    };
    // The doctor judges a configuration that does not load, too.
    if matches!(cli.command, Command::Doctor(_)) {
        let config = load_config(&cli, None);
        if let Command::Doctor(args) = cli.command {
            return doctor_cmd::run(config, args).await;
        }
    }
    let config = load_config(&cli, listen)?;
    // A restore replaces the data folder, so it runs before anything opens it.
    if let Command::Restore(args) = cli.command {
        return backup_cmd::restore(config, args).await;
    }
    // A migration reads one data folder and fills a database and a bucket
    // that nothing may have opened yet.
    if let Command::MigrateStore(args) = cli.command {
        return migrate_cmd::run(config, args).await;
    }
    let app = Kirjuri::open(config, Arc::new(SystemClock))
        .await
        .context("failed to open the data folder")?;
    match cli.command {
        Command::Serve { demo, .. } => serve(app, demo).await,
        Command::User {
            command:
                UserCommand::Add {
                    name,
                    role,
                    password_stdin,
                },
        } => {
            let role: Role = role.parse().context("invalid --role")?;
            if password_stdin {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("failed to read the password from stdin")?;
                let password = text.strip_suffix('\n').unwrap_or(&text);
                let password = password.strip_suffix('\r').unwrap_or(password);
                app.add_user(&name, role, &SecretString::from(password.to_owned()))
                    .await?;
                println!("created {role} account '{name}'");
            } else {
                let password = app.add_user_with_generated_password(&name, role).await?;
                println!(
                    "created {role} account '{name}'; its password (shown only now): {}",
                    password.expose_secret()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    user,
                    name,
                    expires_in_days,
                },
        } => {
            let expires_at = expires_in_days
                .map(|days| app.token_expiry(days))
                .transpose()?;
            let token = app.create_token(&user, name, expires_at).await?;
            println!("{}", token.expose_secret());
            Ok(ExitCode::SUCCESS)
        }
        Command::User {
            command: UserCommand::Admin(command),
        } => users_cmd::user(&app, command).await,
        Command::Token {
            command: TokenCommand::Admin(command),
        } => users_cmd::token(&app, command).await,
        Command::Import { paths } => import::run(&app, &paths).await,
        Command::Audit { command } => audit_cmd::run(&app, command).await,
        Command::Hold { command } => hold_cmd::run(&app, command).await,
        Command::Outbox { command } => outbox_cmd::run(&app, command).await,
        Command::Purge(args) => purge_cmd::run(&app, args).await,
        Command::Retention { command } => retention_cmd::run(&app, command).await,
        Command::Backup(args) => backup_cmd::backup(&app, args).await,
        Command::Restore(_)
        | Command::MigrateStore(_)
        | Command::Receipt { .. }
        | Command::Doctor(_) => {
            unreachable!("handled before the data folder is opened")
        }
    }
}

async fn serve(app: Kirjuri, demo: bool) -> Result<ExitCode> {
    // Start-up recovery, then the checkpointer, periodic recovery and the
    // purge job; stopping them after the last request has drained signs
    // one more checkpoint, so a graceful stop leaves no event unsigned.
    let jobs = app.start_jobs().await?;
    // From the signal on, everything left — draining requests, stopping the
    // jobs, the final checkpoint, the heartbeat — shares one deadline, so a
    // node whose database or bucket is down still exits in bounded time.
    let grace = Duration::from_secs(app.config.shutdown_timeout_seconds);
    let (signalled, mut signalled_at) = tokio::sync::watch::channel(None);
    let drain_limit = {
        let mut signalled_at = signalled_at.clone();
        async move {
            let at = match signalled_at.wait_for(Option::is_some).await {
                Ok(at) => *at,
                Err(_) => None,
            };
            match at {
                Some(at) => tokio::time::sleep_until(at + grace).await,
                None => std::future::pending().await,
            }
        }
    };
    let served = tokio::select! {
        served = listen_and_serve(&app, demo, signalled) => Some(served),
        () = drain_limit => None,
    };
    let deadline = signalled_at
        .borrow_and_update()
        .map_or_else(|| tokio::time::Instant::now() + grace, |at| at + grace);
    let mut unfinished = Vec::new();
    if served.is_none() {
        unfinished.push("requests in flight");
    }
    unfinished.extend(jobs.stop_by(deadline).await);
    if tokio::time::timeout_at(deadline, app.close())
        .await
        .is_err()
    {
        unfinished.push("instance heartbeat");
    }
    drop(jobs);
    if !unfinished.is_empty() {
        // Names of steps only: nothing personal is in them.
        tracing::error!(
            unfinished = %unfinished.join(", "),
            shutdown_timeout_seconds = app.config.shutdown_timeout_seconds,
            "shutdown did not finish in time and was cut short; unsigned audit events are signed at the next start, and a cut-off upload was never acknowledged"
        );
        return Ok(ExitCode::FAILURE);
    }
    served.transpose()?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Binds, fills a demo folder if asked, announces the address and serves
/// until SIGTERM or SIGINT, whose moment it sends on `signalled`.
async fn listen_and_serve(
    app: &Kirjuri,
    demo: bool,
    signalled: tokio::sync::watch::Sender<Option<tokio::time::Instant>>,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(app.config.listen)
        .await
        .with_context(|| format!("failed to listen on {}", app.config.listen))?;
    let address = listener
        .local_addr()
        .context("failed to read the bound address")?;
    let scheme = if app.config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let base_url = format!("{scheme}://{address}");
    // Links in letters start here unless `[requests] public_base_url` says.
    let _ = app.served_url.set(base_url.clone());
    let shutdown = shutdown_signal()?;
    if demo {
        match kirjuri_app::demo::populate(app, 24).await? {
            Some(demo) => print!("{}", demo.guide(&base_url)),
            None => println!("the data folder already holds contacts; --demo added nothing"),
        }
    }
    // The LMTP listener, when set, stops with the HTTP server.
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let lmtp = match app.config.lmtp_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("failed to listen for LMTP on {address}"))?;
            let bound = listener
                .local_addr()
                .context("failed to read the LMTP address")?;
            println!("LMTP listening on {bound}");
            let mut stopped = stopped;
            let shutdown = async move {
                let _ = stopped.changed().await;
            };
            Some(tokio::spawn(kirjuri_web::lmtp::serve(
                app.clone(),
                listener,
                shutdown,
            )))
        }
        None => None,
    };
    println!("listening on {base_url}");
    std::io::stdout()
        .flush()
        .context("failed to write to stdout")?;
    let shutdown = async move {
        shutdown.await;
        let _ = signalled.send(Some(tokio::time::Instant::now()));
        let _ = stopping.send(true);
    };
    let served = kirjuri_web::http::serve(app.clone(), listener, shutdown).await;
    if let Some(lmtp) = lmtp {
        lmtp.await.context("the LMTP listener failed")??;
    }
    served?;
    Ok(())
}

/// A future that resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are
/// installed here, before the caller announces it is listening, so a signal
/// that arrives at once is a graceful stop rather than a kill.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("failed to handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("failed to handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = interrupt.recv() => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    })
}
