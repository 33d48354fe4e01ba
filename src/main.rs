use std::path::{Path, PathBuf};
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
    /// Plan a local checkout as bosun would plan a pull request, and print the comment's
    /// markdown: for trying bosun and a repo config before installing the App.
    Preview {
        /// The repository (a git checkout; with --all, any directory)
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// The branch the change would merge into (default: origin/HEAD, main or master)
        #[arg(long)]
        base: Option<String>,
        /// The change to plan
        #[arg(long, default_value = "HEAD")]
        head: String,
        /// Plan every project of the working tree as it is (no git history needed)
        #[arg(long)]
        all: bool,
        /// Terraform or OpenTofu (default: terraform on PATH, else /usr/local/bin/terraform)
        #[arg(long, env = "BOSUN_TERRAFORM_BIN")]
        terraform_bin: Option<String>,
        /// The repo config's path in the repository, as serve's setting (default: bosun.yaml,
        /// else atlantis.yaml)
        #[arg(long, value_name = "PATH", env = "BOSUN_REPO_CONFIG_FILE")]
        repo_config_file: Option<String>,
    },
    /// Create bosun's GitHub App through GitHub's manifest flow: serves one page whose form
    /// sends the App's manifest to GitHub, receives the App's id, key and webhook secret,
    /// writes them (mode 0600) to --out and prints the settings to start `bosun serve` with.
    Setup {
        /// Where the setup page is served (open it in a browser)
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: std::net::SocketAddr,
        /// GitHub's web address (GitHub Enterprise Server: https://HOST)
        #[arg(long, value_name = "URL", default_value = "https://github.com")]
        github_url: String,
        /// GitHub's REST API (default: https://api.github.com for github.com, else
        /// {github-url}/api/v3)
        #[arg(long, value_name = "URL")]
        github_api_url: Option<String>,
        /// Create the App in this organisation (default: your own account)
        #[arg(long)]
        org: Option<String>,
        /// The public URL GitHub sends webhooks to (bosun's /events)
        #[arg(long, value_name = "URL")]
        webhook_url: String,
        /// The App's name on GitHub
        #[arg(long, default_value = "bosun")]
        name: String,
        /// Directory for the files app-id, app.pem and webhook-secret (never overwritten)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Give up after this long without the App being created
        #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Check a repo config (default: the file BOSUN_REPO_CONFIG_FILE names, else bosun.yaml,
    /// else atlantis.yaml, in this directory), or with --server a server config (repos.yaml).
    Validate {
        /// The file to check
        file: Option<PathBuf>,
        /// Check this server config (BOSUN_SERVER_CONFIG's repos.yaml) instead
        #[arg(long, value_name = "FILE", conflicts_with = "file")]
        server: Option<PathBuf>,
        /// The repo config's path, as serve's setting: checked when no file is given
        #[arg(long, value_name = "PATH", env = "BOSUN_REPO_CONFIG_FILE")]
        repo_config_file: Option<PathBuf>,
    },
    /// Evaluates one policy set (bosun runs it as a bounded child process; not for people).
    #[command(hide = true)]
    PolicyEval,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::PolicyEval => bosun::policy::child::child_main(),
        Command::Setup {
            listen,
            github_url,
            github_api_url,
            org,
            webhook_url,
            name,
            out,
            timeout,
        } => setup(bosun::setup::Options {
            listen,
            github_url,
            github_api_url,
            org,
            webhook_url,
            name,
            out,
            timeout,
        }),
        Command::Validate {
            server: Some(server),
            ..
        } => validate_server(&server),
        Command::Validate {
            file,
            repo_config_file,
            server: None,
        } => validate(file.or(repo_config_file)),
        Command::Preview {
            repo,
            base,
            head,
            all,
            terraform_bin,
            repo_config_file,
        } => {
            // The sandbox settings come from the environment, as for serve.
            let sources = config::Sources {
                env: config::Layer::from_env(|name| std::env::var(name).ok()),
                ..Default::default()
            };
            let sandbox = match config::Sandbox::from_sources(&sources, Path::new(".")) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("bosun: {e}");
                    return ExitCode::from(2);
                }
            };
            preview(bosun::preview::Options {
                repo,
                base,
                head,
                all,
                terraform_bin: terraform_bin.unwrap_or_else(default_terraform),
                parallelism: std::thread::available_parallelism().map_or(2, |n| n.get()),
                sandbox,
                repo_config_file,
            })
        }
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

fn setup(options: bosun::setup::Options) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bosun: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = |addr: std::net::SocketAddr| {
        println!("Open http://{addr}/ in a browser to create the GitHub App.");
    };
    match runtime.block_on(bosun::setup::run(options, served)) {
        Ok(outcome) => {
            print!("{}", outcome.report());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bosun: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn preview(options: bosun::preview::Options) -> ExitCode {
    bosun::telemetry::init(bosun::config::LogFormat::Text, "warn");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bosun: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bosun::preview::run(&options)) {
        Ok(markdown) => {
            println!("{markdown}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bosun: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

/// `terraform` when it is on PATH, else the one the test set-up installs.
fn default_terraform() -> String {
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| dir.join("terraform").is_file())
    });
    if on_path {
        "terraform".into()
    } else {
        "/usr/local/bin/terraform".into()
    }
}

/// `bosun validate --server FILE`: the server config as serve would read it.
fn validate_server(file: &std::path::Path) -> ExitCode {
    match bosun::config::powers::read_server_config(file) {
        Ok(config) => {
            println!(
                "{}: ok, {} repos entr{}, {} workflow(s)",
                file.display(),
                config.repos.len(),
                if config.repos.len() == 1 { "y" } else { "ies" },
                config.workflows.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
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
                if p.dir_glob {
                    println!(
                        "  dir {} (a glob: one project per directory it matches that holds \
                         Terraform files, at each commit; workspace {})",
                        p.dir, p.workspace
                    );
                    continue;
                }
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
