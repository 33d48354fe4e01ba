use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use bosun::config::{self, Flags};

/// bosun: Terraform and OpenTofu on pull requests, as a GitHub App.
#[derive(Parser)]
#[command(name = "bosun", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve GitHub webhooks. Every setting comes from a flag, else the environment,
    /// else the --config file, else its default.
    Serve {
        /// TOML settings file (see config/bosun.example.toml)
        #[arg(long, value_name = "FILE", env = "BOSUN_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        flags: Flags,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config: file,
            flags,
        } => {
            let settings = match config::load(flags, file.as_ref()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("bosun: {e}");
                    return ExitCode::from(2);
                }
            };
            bosun::telemetry::init(settings.log_format, &settings.log_filter);
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("bosun: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(bosun::app::serve(settings)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    let line = format!("{e:#}").replace('\n', " ");
                    tracing::error!(error = %line, "bosun stopped");
                    eprintln!("bosun: {line}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
