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
    /// Check a repo config (default: bosun.yaml, else atlantis.yaml, in this directory).
    Validate {
        /// The file to check
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { file } => validate(file),
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

fn validate(file: Option<PathBuf>) -> ExitCode {
    let file = file.or_else(|| {
        bosun::config::repo::FILE_NAMES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
    });
    let Some(file) = file else {
        eprintln!("bosun: no bosun.yaml or atlantis.yaml here (give the file to check)");
        return ExitCode::from(2);
    };
    let name = file.display().to_string();
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bosun: {name}: cannot read: {e}");
            return ExitCode::from(2);
        }
    };
    match bosun::config::repo::parse(&name, &text) {
        Ok(config) => {
            println!("{name}: ok, {} project(s)", config.projects.len());
            for p in &config.projects {
                println!(
                    "  {} (dir {}, workspace {})",
                    p.display_name(),
                    p.dir,
                    p.workspace
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
