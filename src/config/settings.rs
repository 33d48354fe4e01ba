//! Server settings: one table of every setting, three layers (flag, environment, TOML file),
//! and resolution into typed [`Settings`]. A flag beats the environment, which beats the file.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::allowlist::RepoAllowlist;
use super::pass_env::{Entry, PassEnv};
use super::powers::{self, AllowedOverrides, ServerPolicy};
use super::secret::Secret;
use crate::access::AccessPolicy;

mod sandbox;

pub use sandbox::{Sandbox, parse_bytes};
mod commands;
mod drift;
mod github;
mod instance;
mod notify;
mod oauth;
mod runs;
mod secrets;
mod versions;

pub use versions::VersionSettings;

/// One setting: its TOML key, environment variable, flag, default and help.
#[derive(Debug)]
pub struct SettingDef {
    pub key: &'static str,
    pub env: &'static str,
    pub flag: &'static str,
    /// The default as users read it, or `None` when there is none.
    pub default: Option<&'static str>,
    pub help: &'static str,
}

macro_rules! setting {
    ($key:literal, $env:literal, $flag:literal, $default:expr, $help:literal) => {
        SettingDef {
            key: $key,
            env: $env,
            flag: $flag,
            default: $default,
            help: $help,
        }
    };
}

/// Every server setting. The README's table, `config/bosun.example.toml` and `--help`
/// are checked against this list by tests.
pub const SETTINGS: &[SettingDef] = &[
    setting!(
        "listen",
        "BOSUN_LISTEN",
        "listen",
        Some("127.0.0.1:4141"),
        "Address and port the HTTP server listens on"
    ),
    setting!(
        "data_dir",
        "BOSUN_DATA_DIR",
        "data-dir",
        Some("./bosun-data"),
        "Directory for the SQLite store, mirrors and checkouts"
    ),
    setting!(
        "database_url",
        "BOSUN_DATABASE_URL",
        "database-url",
        None,
        "Store URL: sqlite://… (one replica), or postgres://… / postgresql://… for a PostgreSQL store (needs BOSUN_PLANFILE_KEY or _FILE); a secret, never logged; default: sqlite://<data_dir>/bosun.db"
    ),
    setting!(
        "github_api_url",
        "BOSUN_GITHUB_API_URL",
        "github-api-url",
        Some("https://api.github.com"),
        "GitHub REST API base URL (GitHub Enterprise: https://HOST/api/v3)"
    ),
    setting!(
        "github_app_id",
        "BOSUN_GITHUB_APP_ID",
        "github-app-id",
        None,
        "The GitHub App's numeric id (required by serve)"
    ),
    setting!(
        "github_app_key_file",
        "BOSUN_GITHUB_APP_KEY_FILE",
        "github-app-key-file",
        None,
        "The App's RSA private key, PEM (required by serve)"
    ),
    setting!(
        "github_webhook_secret",
        "BOSUN_GITHUB_WEBHOOK_SECRET",
        "github-webhook-secret",
        None,
        "Webhook secret; a comma-separated list accepts any of them, for rotation (this or the _FILE form is required by serve)"
    ),
    setting!(
        "github_webhook_secret_file",
        "BOSUN_GITHUB_WEBHOOK_SECRET_FILE",
        "github-webhook-secret-file",
        None,
        "File holding the webhook secret(s), one per line"
    ),
    setting!(
        "repo_allowlist",
        "BOSUN_REPO_ALLOWLIST",
        "repo-allowlist",
        Some(""),
        "Comma-separated globs over owner/name (acme/*); empty refuses every repo"
    ),
    setting!(
        "terraform_bin",
        "BOSUN_TERRAFORM_BIN",
        "terraform-bin",
        Some("terraform"),
        "Terraform or OpenTofu executable"
    ),
    setting!(
        "command_names",
        "BOSUN_COMMAND_NAMES",
        "command-names",
        Some("bosun"),
        "Comment command names, comma-separated (bosun,atlantis eases migration)"
    ),
    setting!(
        "status_name",
        "BOSUN_STATUS_NAME",
        "status-name",
        Some("bosun"),
        "Prefix of the summary check runs NAME/plan and NAME/apply (atlantis gives Atlantis's names)"
    ),
    setting!(
        "blocked_extra_args",
        "BOSUN_BLOCKED_EXTRA_ARGS",
        "blocked-extra-args",
        Some("-chdir,--chdir,-plugin-dir,--plugin-dir"),
        "Terraform flags a comment may not pass after -- (the flag alone or FLAG=value), comma-separated; replaces the list (empty: none blocked)"
    ),
    setting!(
        "allow_commands",
        "BOSUN_ALLOW_COMMANDS",
        "allow-commands",
        Some("version,plan,apply,unlock,approve_policies"),
        "Comment commands allowed (Atlantis's --allow-commands), comma-separated, from plan, apply, unlock, version, approve_policies, import, state, or all; others are answered as unknown commands (help always works)"
    ),
    setting!(
        "disable_autoplan",
        "BOSUN_DISABLE_AUTOPLAN",
        "disable-autoplan",
        Some("false"),
        "No plan when a pull request opens or is pushed to (Atlantis's --disable-autoplan); comment commands still run"
    ),
    setting!(
        "autoplan_modules",
        "BOSUN_AUTOPLAN_MODULES",
        "autoplan-modules",
        Some("false"),
        "Without a repo config, a change in a local module also plans the projects whose `module` blocks use it (`source = \"../modules/x\"`), as Atlantis's --autoplan-modules"
    ),
    setting!(
        "parallelism",
        "BOSUN_PARALLELISM",
        "parallelism",
        None,
        "Terraform runs at once in this replica, and the plan tasks it claims at once (jobs \
         run at once: twice this); default: number of CPUs"
    ),
    setting!(
        "checkout_strategy",
        "BOSUN_CHECKOUT_STRATEGY",
        "checkout-strategy",
        Some("branch"),
        "What a plan runs on: branch (the PR's head) or merge (the head merged into the current base)"
    ),
    setting!(
        "server_config",
        "BOSUN_SERVER_CONFIG",
        "server-config",
        None,
        "A server-side repo config in Atlantis's repos.yaml shape (Atlantis's --repo-config): per repository and base branch, the requirements, overrides, workflows, repo config path and policy checks; read at start and again on SIGHUP"
    ),
    setting!(
        "repo_config_file",
        "BOSUN_REPO_CONFIG_FILE",
        "repo-config-file",
        None,
        "The repo config's path in each repository (Atlantis's --repo-config-file); default: bosun.yaml, else atlantis.yaml"
    ),
    setting!(
        "comment_mode",
        "BOSUN_COMMENT_MODE",
        "comment-mode",
        Some("edit"),
        "edit: one summary comment per PR, edited in place; new: a new comment per run, older ones minimised"
    ),
    setting!(
        "plan_drafts",
        "BOSUN_PLAN_DRAFTS",
        "plan-drafts",
        Some("true"),
        "Whether draft pull requests are planned automatically"
    ),
    setting!(
        "terraform_timeout",
        "BOSUN_TERRAFORM_TIMEOUT",
        "terraform-timeout",
        Some("30m"),
        "Longest run of one Terraform step (init, plan, show) before it is stopped"
    ),
    setting!(
        "plugin_cache_dir",
        "BOSUN_PLUGIN_CACHE_DIR",
        "plugin-cache-dir",
        None,
        "Where the provider plugin caches live: one per pull request (deleted when it closes), one per repository's default branch (drift checks), and a store of verified provider packages per repository owner (verified/<owner>); default: <data_dir>/plugin-cache"
    ),
    setting!(
        "provider_store",
        "BOSUN_PROVIDER_STORE",
        "provider-store",
        Some("true"),
        "Whether a provider package one run installed and its lock file verified is kept in a store every later run of the same owner's repositories links from, when its own lock file records that exact hash; false: each pull request downloads its providers itself"
    ),
    setting!(
        "terraform_cli_config_file",
        "BOSUN_TERRAFORM_CLI_CONFIG_FILE",
        "terraform-cli-config-file",
        None,
        "Terraform CLI config every run uses (TF_CLI_CONFIG_FILE; bound read-only into the sandbox); default: an empty one, never one from the repository"
    ),
    setting!(
        "terraform_git_ssh",
        "BOSUN_TERRAFORM_GIT_SSH",
        "terraform-git-ssh",
        Some("false"),
        "Whether git inside runs may use ssh for module sources; git there only ever uses https otherwise"
    ),
    setting!(
        "terraform_distribution",
        "BOSUN_TERRAFORM_DISTRIBUTION",
        "terraform-distribution",
        Some("terraform"),
        "The distribution (terraform or opentofu) of a project whose repo config names none, when it asks for a version"
    ),
    setting!(
        "terraform_download_url",
        "BOSUN_TERRAFORM_DOWNLOAD_URL",
        "terraform-download-url",
        Some("https://releases.hashicorp.com"),
        "Where Terraform versions are downloaded from, in HashiCorp's layout ({url}/terraform/index.json, {url}/terraform/{v}/...)"
    ),
    setting!(
        "opentofu_download_url",
        "BOSUN_OPENTOFU_DOWNLOAD_URL",
        "opentofu-download-url",
        Some("https://github.com/opentofu/opentofu/releases/download"),
        "Where OpenTofu versions are downloaded from, in its releases' layout ({url}/v{v}/tofu_{v}_...)"
    ),
    setting!(
        "opentofu_index_url",
        "BOSUN_OPENTOFU_INDEX_URL",
        "opentofu-index-url",
        Some("https://get.opentofu.org/tofu/api.json"),
        "The list of OpenTofu versions a constraint picks from ({\"versions\": [{\"id\": ...}]})"
    ),
    setting!(
        "terraform_signing_key_file",
        "BOSUN_TERRAFORM_SIGNING_KEY_FILE",
        "terraform-signing-key-file",
        None,
        "OpenPGP public key Terraform's SHA256SUMS must be signed with; default: HashiCorp's, pinned in bosun"
    ),
    setting!(
        "opentofu_signing_key_file",
        "BOSUN_OPENTOFU_SIGNING_KEY_FILE",
        "opentofu-signing-key-file",
        None,
        "OpenPGP public key OpenTofu's SHA256SUMS must be signed with; default: OpenTofu's, pinned in bosun"
    ),
    setting!(
        "tool_downloads",
        "BOSUN_TOOL_DOWNLOADS",
        "tool-downloads",
        Some("true"),
        "Whether Terraform and OpenTofu versions projects ask for are downloaded; false: only the server's binary and cached versions run"
    ),
    setting!(
        "tool_cache_versions",
        "BOSUN_TOOL_CACHE_VERSIONS",
        "tool-cache-versions",
        Some("8"),
        "How many downloaded versions of each distribution stay cached in <data_dir>/tools, the least recently used removed first"
    ),
    setting!(
        "terraform_versions",
        "BOSUN_TERRAFORM_VERSIONS",
        "terraform-versions",
        None,
        "The Terraform versions projects may ask for, as a constraint (>= 1.5, < 2.0); default: any"
    ),
    setting!(
        "opentofu_versions",
        "BOSUN_OPENTOFU_VERSIONS",
        "opentofu-versions",
        None,
        "The OpenTofu versions projects may ask for, as a constraint; default: any"
    ),
    setting!(
        "github_writes_per_minute",
        "BOSUN_GITHUB_WRITES_PER_MINUTE",
        "github-writes-per-minute",
        Some("80"),
        "At most this many comment and check-run writes in any minute (a sliding window), under GitHub's secondary rate limits"
    ),
    setting!(
        "github_app_slug",
        "BOSUN_GITHUB_APP_SLUG",
        "github-app-slug",
        None,
        "The App's slug, for @slug commands; default: asked of GitHub at start"
    ),
    setting!(
        "log_format",
        "BOSUN_LOG_FORMAT",
        "log-format",
        Some("text"),
        "Log format: text or json"
    ),
    setting!(
        "log_filter",
        "BOSUN_LOG",
        "log",
        Some("info"),
        "Log filter (tracing EnvFilter syntax, e.g. info,bosun=debug)"
    ),
    setting!(
        "redelivery_interval",
        "BOSUN_REDELIVERY_INTERVAL",
        "redelivery-interval",
        Some("5m"),
        "How often to ask GitHub to redeliver webhooks that failed; 0 turns it off"
    ),
    setting!(
        "redelivery_lookback",
        "BOSUN_REDELIVERY_LOOKBACK",
        "redelivery-lookback",
        Some("24h"),
        "On the first scan, how far back to look for failed deliveries (GitHub keeps 3 days)"
    ),
    setting!(
        "delivery_max_attempts",
        "BOSUN_DELIVERY_MAX_ATTEMPTS",
        "delivery-max-attempts",
        Some("6"),
        "Attempts at processing a delivery before it is marked failed"
    ),
    setting!(
        "job_max_attempts",
        "BOSUN_JOB_MAX_ATTEMPTS",
        "job-max-attempts",
        Some("3"),
        "Times a job may be started: a job bosun stopped (crash, kill) is started again at the next start until then, and failed after, with a reply on the pull request; a plan failing on a transient GitHub error is retried until then"
    ),
    setting!(
        "job_lease",
        "BOSUN_JOB_LEASE",
        "job-lease",
        Some("2m"),
        "How long a replica's claim on a job or a delivery holds without renewal (a running job renews it every third of that); once it runs out, as when the replica died or stalled, another replica takes the work over"
    ),
    setting!(
        "shutdown_grace",
        "BOSUN_SHUTDOWN_GRACE",
        "shutdown-grace",
        Some("10m"),
        "On SIGTERM or SIGINT, how long running applies, imports and state commands may take to finish before bosun exits without them (plans are stopped and released at once)"
    ),
    setting!(
        "reconcile_interval",
        "BOSUN_RECONCILE_INTERVAL",
        "reconcile-interval",
        Some("10m"),
        "How often bosun checks the pull requests it holds locks or plans for against GitHub (releases closed ones' locks, plans new heads); 0 turns it off"
    ),
    setting!(
        "delivery_retry_base",
        "BOSUN_DELIVERY_RETRY_BASE",
        "delivery-retry-base",
        Some("2s"),
        "First retry delay of a failing delivery; doubles each attempt, capped at 5m"
    ),
    setting!(
        "sandbox",
        "BOSUN_SANDBOX",
        "sandbox",
        Some("bwrap"),
        "How Terraform runs: bwrap (under bubblewrap; serve refuses to start when it does not work) or none (unsandboxed, warned about at start)"
    ),
    setting!(
        "sandbox_bwrap",
        "BOSUN_SANDBOX_BWRAP",
        "sandbox-bwrap",
        Some("bwrap"),
        "The bubblewrap program"
    ),
    setting!(
        "sandbox_network",
        "BOSUN_SANDBOX_NETWORK",
        "sandbox-network",
        Some("true"),
        "Whether sandboxed commands share the host's network (providers need their APIs)"
    ),
    setting!(
        "sandbox_writable_paths",
        "BOSUN_SANDBOX_WRITABLE_PATHS",
        "sandbox-writable-paths",
        Some(""),
        "Comma-separated absolute host paths every sandboxed command may write (e.g. a local state directory); chowned to sandbox_uid when bosun is root"
    ),
    setting!(
        "sandbox_readable_paths",
        "BOSUN_SANDBOX_READABLE_PATHS",
        "sandbox-readable-paths",
        Some(""),
        "Comma-separated absolute host paths every sandboxed command may read (e.g. what a Terraform wrapper needs beyond its own directory)"
    ),
    setting!(
        "sandbox_uid",
        "BOSUN_SANDBOX_UID",
        "sandbox-uid",
        Some("65534"),
        "When bosun runs as root: the uid (or uid:gid) sandboxed commands run as; their writable paths are chowned to it"
    ),
    setting!(
        "sandbox_memory",
        "BOSUN_SANDBOX_MEMORY",
        "sandbox-memory",
        Some("4GiB"),
        "Address space of each sandboxed process (0: no limit)"
    ),
    setting!(
        "sandbox_cpu_time",
        "BOSUN_SANDBOX_CPU_TIME",
        "sandbox-cpu-time",
        Some("1h"),
        "CPU time of each sandboxed process (0: no limit)"
    ),
    setting!(
        "sandbox_max_processes",
        "BOSUN_SANDBOX_MAX_PROCESSES",
        "sandbox-max-processes",
        Some("512"),
        "Processes and threads of the sandbox's user (0: no limit); when bosun is not root, bosun's own count too"
    ),
    setting!(
        "sandbox_max_file_size",
        "BOSUN_SANDBOX_MAX_FILE_SIZE",
        "sandbox-max-file-size",
        Some("2GiB"),
        "Largest file a sandboxed process may write (0: no limit)"
    ),
    setting!(
        "planfile_key_file",
        "BOSUN_PLANFILE_KEY_FILE",
        "planfile-key-file",
        None,
        "File holding the key planfiles are sealed with in the store (32 bytes: 64 hex digits or base64); default: <data_dir>/planfile.key, made at first start (SQLite only: with PostgreSQL, this or BOSUN_PLANFILE_KEY must be set)"
    ),
    setting!(
        "planfile_key",
        "BOSUN_PLANFILE_KEY",
        "planfile-key",
        None,
        "The planfile key itself, instead of the _FILE form"
    ),
    setting!(
        "terraform_pass_env",
        "BOSUN_TERRAFORM_PASS_ENV",
        "terraform-pass-env",
        Some(""),
        "Variables of bosun's environment passed to Terraform, plans and applies alike unless the two below are set: comma-separated NAME (e.g. AWS_ACCESS_KEY_ID), NAME=FROM (NAME set to bosun's FROM), GLOB:NAME[=FROM] for some repos (acme/*:TF_VAR_token); their values are secrets, redacted everywhere"
    ),
    setting!(
        "terraform_plan_pass_env",
        "BOSUN_TERRAFORM_PLAN_PASS_ENV",
        "terraform-plan-pass-env",
        Some(""),
        "When set, replaces terraform_pass_env for plans and drift checks (unreviewed code: give them read-only credentials), same form"
    ),
    setting!(
        "terraform_apply_pass_env",
        "BOSUN_TERRAFORM_APPLY_PASS_ENV",
        "terraform-apply-pass-env",
        Some(""),
        "When set, replaces terraform_pass_env for applies of reviewed plans (and the init before them), same form"
    ),
    setting!(
        "command_permission",
        "BOSUN_COMMAND_PERMISSION",
        "command-permission",
        Some("write"),
        "Least permission on the repo a commenter needs to run commands: read, triage, write, maintain or admin (help is open to all)"
    ),
    setting!(
        "apply_users",
        "BOSUN_APPLY_USERS",
        "apply-users",
        Some(""),
        "Comma-separated logins; when this or apply_teams is set, only they (or the teams' members) may apply"
    ),
    setting!(
        "apply_teams",
        "BOSUN_APPLY_TEAMS",
        "apply-teams",
        Some(""),
        "Comma-separated teams as org/team-slug whose active members may apply (see apply_users)"
    ),
    setting!(
        "allow_fork_prs",
        "BOSUN_ALLOW_FORK_PRS",
        "allow-fork-prs",
        Some("false"),
        "Whether pull requests from forks are planned automatically and take commands"
    ),
    setting!(
        "allow_custom_workflows",
        "BOSUN_ALLOW_CUSTOM_WORKFLOWS",
        "allow-custom-workflows",
        Some(""),
        "Globs over owner/name whose repo config may define workflows; empty allows none"
    ),
    setting!(
        "allowed_overrides",
        "BOSUN_ALLOWED_OVERRIDES",
        "allowed-overrides",
        Some(""),
        "Repo-config keys a repo may set that change its powers: apply_requirements, workflow, delete_source_branch_on_merge, repo_locks, plan_requirements, import_requirements, autodiscover, silence_pr_comments; KEY for every repo, GLOB:KEY for some (acme/*:workflow)"
    ),
    setting!(
        "apply_requirements",
        "BOSUN_APPLY_REQUIREMENTS",
        "apply-requirements",
        Some(""),
        "Apply requirements every project has at least: approved, mergeable, undiverged (comma-separated)"
    ),
    setting!(
        "drift_schedule",
        "BOSUN_DRIFT_SCHEDULE",
        "drift-schedule",
        None,
        "When to check every allowed repo's default branch for drift: a cron expression in the time zone of drift_schedule_timezone (5 fields or @daily, @hourly...); unset: never on a schedule"
    ),
    setting!(
        "drift_schedule_timezone",
        "BOSUN_DRIFT_SCHEDULE_TIMEZONE",
        "drift-schedule-timezone",
        Some("UTC"),
        "The IANA time zone the drift schedule is read in (e.g. Europe/Berlin): its times follow the zone's daylight-saving changes"
    ),
    setting!(
        "instance_id",
        "BOSUN_INSTANCE_ID",
        "instance-id",
        None,
        "This replica's name, the `instance` label of every metric; unset: the host name, else a random id"
    ),
    setting!(
        "api_token",
        "BOSUN_API_TOKEN",
        "api-token",
        None,
        "Bearer token of bosun's HTTP API (/api/...), at least 16 characters; unset: the API answers 403"
    ),
    setting!(
        "api_token_file",
        "BOSUN_API_TOKEN_FILE",
        "api-token-file",
        None,
        "File holding the API token (instead of BOSUN_API_TOKEN)"
    ),
    setting!(
        "public_url",
        "BOSUN_PUBLIC_URL",
        "public-url",
        None,
        "The URL people reach bosun at (http or https, no query), for sign-in redirects and links to runs; unset: no links"
    ),
    setting!(
        "github_oauth_client_id",
        "BOSUN_GITHUB_OAUTH_CLIENT_ID",
        "github-oauth-client-id",
        None,
        "The GitHub App's OAuth client id: turns on sign-in with GitHub for the pages and API (needs the client secret and BOSUN_PUBLIC_URL); unset: bearer token only"
    ),
    setting!(
        "github_oauth_client_secret",
        "BOSUN_GITHUB_OAUTH_CLIENT_SECRET",
        "github-oauth-client-secret",
        None,
        "The GitHub App's OAuth client secret; a secret; session cookies are sealed with a key derived from it"
    ),
    setting!(
        "github_oauth_client_secret_file",
        "BOSUN_GITHUB_OAUTH_CLIENT_SECRET_FILE",
        "github-oauth-client-secret-file",
        None,
        "File holding the OAuth client secret (instead of BOSUN_GITHUB_OAUTH_CLIENT_SECRET)"
    ),
    setting!(
        "apply_lock_admins",
        "BOSUN_APPLY_LOCK_ADMINS",
        "apply-lock-admins",
        None,
        "GitHub logins, comma-separated, who may switch the global apply lock when signed in (the overview page's switch and /api/apply-lock); needs sign-in; the API token always may"
    ),
    setting!(
        "notify_url",
        "BOSUN_NOTIFY_URL",
        "notify-url",
        None,
        "Slack-compatible incoming webhook (http or https) told, one line each, of drift status changes, apply outcomes, applies held back on merge and locks held too long; a secret; unset: none"
    ),
    setting!(
        "drift_notify_url",
        "BOSUN_DRIFT_NOTIFY_URL",
        "drift-notify-url",
        None,
        "The older name of BOSUN_NOTIFY_URL, still read; both set to different URLs is an error"
    ),
    setting!(
        "notify_kinds",
        "BOSUN_NOTIFY_KINDS",
        "notify-kinds",
        Some("drift,applied,apply_failed,apply_interrupted,apply_held,lock_held"),
        "The kinds of message sent to BOSUN_NOTIFY_URL, comma-separated, from drift, applied, apply_failed, apply_interrupted, apply_held, lock_held (empty: none)"
    ),
    setting!(
        "notify_lock_age",
        "BOSUN_NOTIFY_LOCK_AGE",
        "notify-lock-age",
        Some("24h"),
        "A project lock held longer than this is announced to BOSUN_NOTIFY_URL, once per lock"
    ),
    setting!(
        "audit_retention",
        "BOSUN_AUDIT_RETENTION",
        "audit-retention",
        None,
        "How long audit trail entries are kept (a duration, e.g. 400d); older ones are pruned once an hour; unset: kept forever"
    ),
];

/// The settings that pass bosun's variables to Terraform.
const PASS_ENV_KEYS: [&str; 3] = [
    "terraform_pass_env",
    "terraform_plan_pass_env",
    "terraform_apply_pass_env",
];

/// The longest time GitHub lets an App ask for a redelivery.
pub const GITHUB_REDELIVERY_WINDOW: Duration = Duration::from_secs(3 * 24 * 3600);

fn def(key: &str) -> &'static SettingDef {
    SETTINGS
        .iter()
        .find(|d| d.key == key)
        .unwrap_or_else(|| panic!("setting `{key}` is not in SETTINGS")) // a typo in this file, caught by tests
}

/// A setting that could not be used, named the way the user gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsError {
    Setting {
        env: &'static str,
        flag: &'static str,
        problem: String,
    },
    File {
        path: PathBuf,
        problem: String,
    },
}

impl SettingsError {
    fn of(key: &str, problem: impl Into<String>) -> Self {
        let d = def(key);
        Self::Setting {
            env: d.env,
            flag: d.flag,
            problem: problem.into(),
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Setting { env, flag, problem } => write!(f, "{env} (--{flag}): {problem}"),
            Self::File { path, problem } => write!(f, "--config {}: {problem}", path.display()),
        }
    }
}

impl std::error::Error for SettingsError {}

/// Values of one layer, by setting key.
#[derive(Debug, Default, Clone)]
pub struct Layer(BTreeMap<&'static str, String>);

impl Layer {
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.0.insert(def(key).key, value.into());
    }

    /// Reads every setting's environment variable through `lookup`.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut layer = Self::default();
        for d in SETTINGS {
            if let Some(v) = lookup(d.env) {
                layer.0.insert(d.key, v);
            }
        }
        layer
    }

    /// Parses a TOML settings file. Unknown keys and values of the wrong shape are errors.
    pub fn from_toml(path: &Path, text: &str) -> Result<Self, SettingsError> {
        let file_err = |problem: String| SettingsError::File {
            path: path.to_owned(),
            problem,
        };
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| file_err(format!("not valid TOML: {}", e.message())))?;
        let mut layer = Self::default();
        for (key, value) in table {
            let Some(d) = SETTINGS.iter().find(|d| d.key == key) else {
                return Err(file_err(format!("unknown key `{key}`")));
            };
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Array(items) => {
                    let mut parts = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            toml::Value::String(s) => parts.push(s),
                            _ => {
                                return Err(file_err(format!(
                                    "`{key}`: list items must be strings"
                                )));
                            }
                        }
                    }
                    parts.join(",")
                }
                _ => {
                    return Err(file_err(format!(
                        "`{key}`: expected a string, a number or a list of strings"
                    )));
                }
            };
            layer.0.insert(d.key, text);
        }
        Ok(layer)
    }
}

/// The three layers, highest precedence first, and the values of the variables
/// `terraform_pass_env` names.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub flags: Layer,
    pub env: Layer,
    pub file: Layer,
    /// bosun's environment variables passed through to Terraform, by name ([`load`] reads
    /// those [`Sources::pass_env_names`] lists from the process environment).
    ///
    /// [`load`]: super::load
    pub pass_env: BTreeMap<String, String>,
}

impl Sources {
    /// bosun's variables the `terraform_*pass_env` settings read.
    pub fn pass_env_names(&self) -> Vec<String> {
        let mut names: Vec<String> = PASS_ENV_KEYS
            .iter()
            .flat_map(|key| self.list(key))
            .filter_map(|item| Entry::source_of(&item).map(str::to_owned))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The winning value of a setting and the rank of its layer (0 = flag).
    fn pick(&self, key: &str) -> Option<(usize, &str)> {
        [&self.flags, &self.env, &self.file]
            .into_iter()
            .enumerate()
            .find_map(|(rank, layer)| layer.0.get(key).map(|v| (rank, v.as_str())))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pick(key).map(|(_, v)| v)
    }

    fn get_or_default(&self, key: &str) -> &str {
        self.get(key).or(def(key).default).unwrap_or("")
    }

    fn required(&self, key: &str) -> Result<&str, SettingsError> {
        match self.get(key) {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(SettingsError::of(key, "required setting is missing")),
        }
    }

    fn parsed<T: std::str::FromStr>(&self, key: &str, what: &str) -> Result<T, SettingsError> {
        let raw = self.get_or_default(key).trim();
        raw.parse()
            .map_err(|_| SettingsError::of(key, format!("`{raw}` is not {what}")))
    }

    fn duration(&self, key: &str) -> Result<Duration, SettingsError> {
        let raw = self.get_or_default(key).trim();
        humantime::parse_duration(raw).map_err(|_| {
            SettingsError::of(
                key,
                format!("`{raw}` is not a duration (like 30s, 5m, 24h)"),
            )
        })
    }

    fn list(&self, key: &str) -> Vec<String> {
        split_list(self.get_or_default(key))
    }

    /// One of a setting's named values; an error lists them.
    fn one_of<T: Copy>(&self, key: &str, values: &[(&str, T)]) -> Result<T, SettingsError> {
        let raw = self.get_or_default(key).trim();
        match values.iter().find(|(name, _)| *name == raw) {
            Some((_, value)) => Ok(*value),
            None => {
                let names: Vec<&str> = values.iter().map(|(name, _)| *name).collect();
                let problem = format!("`{raw}` is not {}", names.join(" or "));
                Err(SettingsError::of(key, problem))
            }
        }
    }

    /// A count that must be at least 1.
    fn at_least_one(&self, key: &str) -> Result<u32, SettingsError> {
        let n: u32 = self.parsed(key, "a positive number")?;
        if n == 0 {
            return Err(SettingsError::of(key, "must be at least 1"));
        }
        Ok(n)
    }
}

pub(super) fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What a plan runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutStrategy {
    /// The pull request's head commit.
    Branch,
    /// The head merged into the base branch's current head, as merging would make it.
    Merge,
}

/// How the plan summary comment is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentMode {
    /// One comment per pull request, edited in place.
    Edit,
    /// A new comment per run; the older ones are minimised as outdated.
    New,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// How bosun authenticates to GitHub and checks what GitHub sends.
#[derive(Debug, Clone)]
pub struct GitHubSettings {
    pub api_url: String,
    pub app_id: u64,
    /// The App's private key, PEM. Checked to be an RSA key when settings are resolved.
    pub app_key_pem: Secret,
    /// Any of these verifies a webhook signature (more than one while rotating).
    pub webhook_secrets: Vec<Secret>,
}

/// Sign-in with GitHub: the App's OAuth client, and GitHub's web address for the browser.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub client_id: String,
    pub client_secret: Secret,
    /// GitHub's web base URL (where `/login/oauth/…` lives), derived from the API URL:
    /// `https://api.github.com` → `https://github.com`; `https://HOST/api/v3` (Enterprise) →
    /// `https://HOST`; any other URL is taken as serving both.
    pub web_url: String,
    /// Who may switch the global apply lock when signed in (BOSUN_APPLY_LOCK_ADMINS), GitHub
    /// logins in lower case.
    pub apply_lock_admins: Vec<String>,
}

/// Where the key planfiles are sealed with comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanfileKey {
    /// Given in the settings (the value or its file): checked to be a 32-byte key.
    Given(Secret),
    /// Neither was set: a key file bosun makes next to the store at first start.
    File(PathBuf),
}

/// Everything `bosun serve` needs, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How policy sets are evaluated: bosun's binary (`None`: this process's own; tests
    /// give the built `bosun`) and the child's bounds. Not a setting operators give.
    pub policy_eval: crate::policy::child::EvalLimits,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The store's URL: a secret, as a PostgreSQL URL may hold a password.
    pub database_url: Secret,
    pub github: GitHubSettings,
    pub repo_allowlist: RepoAllowlist,
    pub terraform_bin: String,
    pub command_names: Vec<String>,
    /// The prefix of the summary check runs `<it>/plan` and `<it>/apply` (BOSUN_STATUS_NAME).
    pub status_name: String,
    /// Terraform flags refused after `--` in comments (BOSUN_BLOCKED_EXTRA_ARGS).
    pub blocked_extra_args: Vec<String>,
    /// Comment commands BOSUN_ALLOW_COMMANDS allows (`help` always is).
    pub allow_commands: Vec<crate::command::CommandKind>,
    /// BOSUN_DISABLE_AUTOPLAN: no plan on open or push.
    pub disable_autoplan: bool,
    /// BOSUN_AUTOPLAN_MODULES: without a repo config, a changed local module plans its users.
    pub autoplan_modules: bool,
    pub parallelism: usize,
    pub checkout_strategy: CheckoutStrategy,
    /// BOSUN_REPO_CONFIG_FILE: the one repo config path read; `None`: bosun.yaml, else
    /// atlantis.yaml.
    pub repo_config_file: Option<String>,
    pub comment_mode: CommentMode,
    pub plan_drafts: bool,
    pub terraform_timeout: Duration,
    pub plugin_cache_dir: PathBuf,
    /// Whether runs share verified provider packages (BOSUN_PROVIDER_STORE).
    pub provider_store: bool,
    /// The operator's Terraform CLI config (BOSUN_TERRAFORM_CLI_CONFIG_FILE), absolute and
    /// checked to be a file; `None`: runs get an empty one.
    pub terraform_cli_config: Option<PathBuf>,
    /// Whether git in runs may use ssh (BOSUN_TERRAFORM_GIT_SSH).
    pub terraform_git_ssh: bool,
    pub github_writes_per_minute: u32,
    pub github_app_slug: Option<String>,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub redelivery_interval: Duration,
    pub redelivery_lookback: Duration,
    pub delivery_max_attempts: u32,
    pub delivery_retry_base: Duration,
    pub job_max_attempts: u32,
    /// How long a claim on a job or a delivery holds unrenewed (BOSUN_JOB_LEASE).
    pub job_lease: Duration,
    /// BOSUN_SHUTDOWN_GRACE: how long a drain waits for running jobs that write state.
    pub shutdown_grace: Duration,
    pub reconcile_interval: Duration,
    /// How Terraform commands run (the `sandbox*` settings).
    pub sandbox: Sandbox,
    pub planfile_key: PlanfileKey,
    /// Variables passed to Terraform from bosun's environment, per stage and repo
    /// (BOSUN_TERRAFORM_PASS_ENV, BOSUN_TERRAFORM_PLAN_PASS_ENV, BOSUN_TERRAFORM_APPLY_PASS_ENV).
    pub terraform_env: PassEnv,
    /// Who may do what: command permission, apply users and teams, fork pull requests.
    pub access: AccessPolicy,
    /// What a repo config may set (allow_custom_workflows, allowed_overrides,
    /// apply_requirements).
    pub repo_powers: ServerPolicy,
    /// The server config's path (BOSUN_SERVER_CONFIG), read again on SIGHUP.
    pub server_config: Option<PathBuf>,
    /// When drift runs start by themselves (BOSUN_DRIFT_SCHEDULE, in the zone of
    /// BOSUN_DRIFT_SCHEDULE_TIMEZONE); `None`: never.
    pub drift_schedule: Option<crate::schedule::Schedule>,
    /// The bearer token of the HTTP API (BOSUN_API_TOKEN); `None`: the API answers 403.
    pub api_token: Option<Secret>,
    /// Where drift status changes, apply outcomes, held applies and old locks are announced
    /// (BOSUN_NOTIFY_URL, or its older name BOSUN_DRIFT_NOTIFY_URL), checked to be an http(s)
    /// URL.
    pub notify_url: Option<Secret>,
    /// The kinds of message sent (BOSUN_NOTIFY_KINDS).
    pub notify_kinds: crate::notify::Kinds,
    /// A lock held longer than this is announced (BOSUN_NOTIFY_LOCK_AGE).
    pub notify_lock_age: Duration,
    /// The URL people reach bosun at (BOSUN_PUBLIC_URL), without a trailing slash.
    pub public_url: Option<String>,
    /// Sign-in with GitHub (BOSUN_GITHUB_OAUTH_CLIENT_ID and _SECRET); `None`: off.
    pub oauth: Option<OAuthSettings>,
    /// This replica's name in its metrics (BOSUN_INSTANCE_ID, else the host name, else random).
    pub instance_id: String,
    /// How long audit entries are kept (BOSUN_AUDIT_RETENTION); `None`: forever.
    pub audit_retention: Option<Duration>,
    /// Which Terraform or OpenTofu projects that ask for a version get, and from where.
    pub versions: VersionSettings,
}

impl Settings {
    /// Resolves and checks every setting; the first problem is returned, naming its setting.
    pub fn resolve(sources: &Sources) -> Result<Self, SettingsError> {
        let listen = sources.parsed("listen", "an address like 127.0.0.1:4141")?;
        let data_dir = PathBuf::from(sources.get_or_default("data_dir"));
        let database_url = database_url(sources, &data_dir)?;
        let api_url = github::api_url(sources)?;
        let app_id = github::app_id(sources)?;
        let app_key_pem = read_app_key(sources.required("github_app_key_file")?)?;
        let webhook_secrets = webhook_secrets(sources)?;
        let repo_allowlist = RepoAllowlist::parse(sources.get_or_default("repo_allowlist"))
            .map_err(|e| SettingsError::of("repo_allowlist", e))?;
        let terraform_bin = runs::terraform_bin(sources)?;
        let command_names = commands::command_names(sources)?;
        let status_name = commands::status_name(sources)?;
        let blocked_extra_args = commands::blocked_extra_args(sources)?;
        let allow_commands = commands::allow_commands(sources)?;
        let disable_autoplan = sources.parsed::<bool>("disable_autoplan", "true or false")?;
        let autoplan_modules = sources.parsed::<bool>("autoplan_modules", "true or false")?;
        let parallelism = runs::parallelism(sources)?;
        let checkout_strategy = runs::checkout_strategy(sources)?;
        let repo_config_file = commands::repo_config_file(sources)?;
        let comment_mode = commands::comment_mode(sources)?;
        let plan_drafts = sources.parsed::<bool>("plan_drafts", "true or false")?;
        let terraform_timeout = runs::terraform_timeout(sources)?;
        let plugin_cache_dir = runs::plugin_cache_dir(sources, &data_dir);
        let provider_store = sources.parsed::<bool>("provider_store", "true or false")?;
        let terraform_cli_config = runs::terraform_cli_config(sources)?;
        let terraform_git_ssh = sources.parsed::<bool>("terraform_git_ssh", "true or false")?;
        let github_writes_per_minute = sources.at_least_one("github_writes_per_minute")?;
        let github_app_slug = github::app_slug(sources);
        let log_format = sources.one_of(
            "log_format",
            &[("text", LogFormat::Text), ("json", LogFormat::Json)],
        )?;
        let delivery_max_attempts = sources.at_least_one("delivery_max_attempts")?;
        let job_lease = runs::job_lease(sources)?;
        let job_max_attempts = sources.at_least_one("job_max_attempts")?;
        let sandbox = sandbox::resolve(sources, &data_dir)?;
        let planfile_key = planfile_key(sources, &data_dir, &database_url)?;
        let (repo_powers, server_config) = repo_powers(sources)?;
        let public_url = instance::public_url(sources)?;
        let oauth = oauth::oauth(sources, &api_url, public_url.as_deref())?;
        Ok(Self {
            listen,
            data_dir,
            database_url,
            github: GitHubSettings {
                api_url,
                app_id,
                app_key_pem,
                webhook_secrets,
            },
            policy_eval: crate::policy::child::EvalLimits::default(),
            repo_allowlist,
            terraform_bin,
            command_names,
            blocked_extra_args,
            allow_commands,
            disable_autoplan,
            autoplan_modules,
            parallelism,
            checkout_strategy,
            repo_config_file,
            comment_mode,
            status_name,
            plan_drafts,
            terraform_timeout,
            plugin_cache_dir,
            provider_store,
            terraform_cli_config,
            terraform_git_ssh,
            github_writes_per_minute,
            github_app_slug,
            log_format,
            log_filter: sources.get_or_default("log_filter").to_owned(),
            redelivery_interval: sources.duration("redelivery_interval")?,
            redelivery_lookback: sources
                .duration("redelivery_lookback")?
                .min(GITHUB_REDELIVERY_WINDOW),
            delivery_max_attempts,
            delivery_retry_base: sources.duration("delivery_retry_base")?,
            job_max_attempts,
            job_lease,
            shutdown_grace: sources.duration("shutdown_grace")?,
            reconcile_interval: sources.duration("reconcile_interval")?,
            sandbox,
            planfile_key,
            terraform_env: secrets::pass_env(sources)?,
            access: access::policy(sources)?,
            repo_powers,
            server_config,
            drift_schedule: drift::schedule(sources)?,
            api_token: drift::api_token(sources)?,
            notify_url: notify::url(sources)?,
            notify_kinds: notify::kinds(sources)?,
            notify_lock_age: notify::lock_age(sources)?,
            instance_id: instance::instance_id(sources),
            versions: versions::resolve(sources)?,
            oauth,
            public_url,
            audit_retention: audit_retention(sources)?,
        })
    }
}

/// BOSUN_AUDIT_RETENTION: a duration above zero, or unset (keep forever).
fn audit_retention(sources: &Sources) -> Result<Option<Duration>, SettingsError> {
    if sources
        .get("audit_retention")
        .is_none_or(|v| v.trim().is_empty())
    {
        return Ok(None);
    }
    let keep = sources.duration("audit_retention")?;
    if keep.is_zero() {
        return Err(SettingsError::of(
            "audit_retention",
            "must be above zero (unset it to keep the trail forever)",
        ));
    }
    Ok(Some(keep))
}

/// BOSUN_DATABASE_URL, checked; unset or blank, `bosun.db` in the data dir.
fn database_url(sources: &Sources, data_dir: &Path) -> Result<Secret, SettingsError> {
    Ok(Secret::new(
        match sources.get("database_url").map(str::trim) {
            Some(url) if !url.is_empty() => check_database_url(url)?,
            _ => format!("sqlite://{}", data_dir.join("bosun.db").display()),
        },
    ))
}

/// The planfile key (see `secrets::planfile_key`); a PostgreSQL store needs it in the
/// settings, not in one replica's data dir.
fn planfile_key(
    sources: &Sources,
    data_dir: &Path,
    database_url: &Secret,
) -> Result<PlanfileKey, SettingsError> {
    let planfile_key = secrets::planfile_key(sources, data_dir)?;
    if is_postgres(database_url.expose()) && matches!(planfile_key, PlanfileKey::File(_)) {
        return Err(SettingsError::of(
            "planfile_key",
            "a PostgreSQL store needs the planfile key in the settings (BOSUN_PLANFILE_KEY \
             or BOSUN_PLANFILE_KEY_FILE): every replica must open the planfiles the others \
             sealed, and a key made in one replica's data dir would be that replica's alone",
        ));
    }
    Ok(planfile_key)
}

/// What repositories' configs may do (BOSUN_ALLOW_CUSTOM_WORKFLOWS, BOSUN_ALLOWED_OVERRIDES,
/// BOSUN_APPLY_REQUIREMENTS, and the server config BOSUN_SERVER_CONFIG names), and that
/// file's path.
fn repo_powers(sources: &Sources) -> Result<(ServerPolicy, Option<PathBuf>), SettingsError> {
    let mut repo_powers = ServerPolicy {
        allow_custom_workflows: RepoAllowlist::parse(
            sources.get_or_default("allow_custom_workflows"),
        )
        .map_err(|e| SettingsError::of("allow_custom_workflows", e))?,
        allowed_overrides: AllowedOverrides::parse(sources.get_or_default("allowed_overrides"))
            .map_err(|e| SettingsError::of("allowed_overrides", e))?,
        apply_requirements: powers::parse_requirements(
            sources.get_or_default("apply_requirements"),
        )
        .map_err(|e| SettingsError::of("apply_requirements", e))?,
        server: None,
    };
    let server_config = sources
        .get("server_config")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    if let Some(path) = &server_config {
        let read =
            powers::read_server_config(path).map_err(|e| SettingsError::of("server_config", e))?;
        repo_powers.server = Some(std::sync::Arc::new(read));
    }
    Ok((repo_powers, server_config))
}

/// Whether a store URL names PostgreSQL.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The URL, if it names a store bosun has. Errors never repeat it (it may hold a password).
fn check_database_url(url: &str) -> Result<String, SettingsError> {
    if url.starts_with("sqlite:") || is_postgres(url) {
        Ok(url.to_owned())
    } else {
        Err(SettingsError::of(
            "database_url",
            "expected a sqlite:, postgres:// or postgresql:// URL",
        ))
    }
}

fn read_app_key(path: &str) -> Result<Secret, SettingsError> {
    let pem = std::fs::read_to_string(path.trim()).map_err(|e| {
        SettingsError::of(
            "github_app_key_file",
            format!("cannot read {}: {e}", path.trim()),
        )
    })?;
    jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| {
        SettingsError::of(
            "github_app_key_file",
            format!("{} is not an RSA private key in PEM form", path.trim()),
        )
    })?;
    Ok(Secret::new(pem))
}

/// A secret given as its value (`key`) or as a file holding it (`<key>_file`), whichever sits
/// in the higher layer (both in one layer is an error): `(from_file, text)`, or `None`.
fn value_or_file(
    sources: &Sources,
    key: &str,
    file_key: &str,
) -> Result<Option<(bool, String)>, SettingsError> {
    match (sources.pick(key), sources.pick(file_key)) {
        (None, None) => Ok(None),
        (Some((rv, _)), Some((rf, _))) if rv == rf => Err(SettingsError::of(
            key,
            "set either the secret or its _FILE form, not both",
        )),
        (Some((rv, v)), Some((rf, _))) if rv < rf => Ok(Some((false, v.to_owned()))),
        (Some((_, v)), None) => Ok(Some((false, v.to_owned()))),
        (_, Some((_, path))) => {
            let text = std::fs::read_to_string(path.trim()).map_err(|e| {
                SettingsError::of(file_key, format!("cannot read {}: {e}", path.trim()))
            })?;
            Ok(Some((true, text)))
        }
    }
}

/// The webhook secrets: a comma-separated value, or a file with one per line.
fn webhook_secrets(sources: &Sources) -> Result<Vec<Secret>, SettingsError> {
    let secrets = match value_or_file(
        sources,
        "github_webhook_secret",
        "github_webhook_secret_file",
    )? {
        None => {
            return Err(SettingsError::of(
                "github_webhook_secret",
                "required setting is missing (or set BOSUN_GITHUB_WEBHOOK_SECRET_FILE)",
            ));
        }
        Some((false, v)) => split_list(&v),
        Some((true, text)) => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    if secrets.is_empty() {
        return Err(SettingsError::of("github_webhook_secret", "is empty"));
    }
    Ok(secrets.into_iter().map(Secret::new).collect())
}

mod access;
#[cfg(test)]
mod tests;
