//! Wiring: the store, the ingest writer, the HTTP server, the delivery worker and the
//! redelivery scanner, started together and stopped together: drained first (SIGTERM), then
//! the server.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{PlanfileKey, Sandbox, Settings};
use crate::dispatch::{Dispatcher, JobDispatcher};
use crate::drift_sweep::DriftSweep;
use crate::github::GitHub;
use crate::github::pace::{Pacer, StoredBudget};
use crate::github::retry::RetryPolicy;
use crate::ingest::Ingest;
use crate::jobs::JobWorker;
use crate::metrics::Metrics;
use crate::notify::{Notifier, Outbox};
use crate::reconcile::Reconciler;
use crate::redact::{MIN_LEN, Redactor};
use crate::redelivery::Redelivery;
use crate::schedule;
use crate::server::{self, AppState};
use crate::store::{self, Sealer, Store};
use crate::task_worker::TaskWorker;
use crate::terraform::{Bwrap, Direct, Redacting, Runner, Terraform, Timeouts};
use crate::worker::DeliveryWorker;
use crate::workflow::{self, WorkflowSettings};
use crate::workspace::Workspaces;

/// A running bosun.
pub struct Running {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    /// Fired first: `/readyz` answers 503 and no new work is claimed or made.
    draining: CancellationToken,
    /// Fired once drained: the HTTP server and housekeeping stop.
    cancel: CancellationToken,
    /// What stops at the drain (delivery worker, redelivery, reconciler, drift schedule).
    tasks: Vec<JoinHandle<()>>,
    /// The job worker; says how many jobs it left running when the grace ran out.
    jobs: JoinHandle<usize>,
    /// What runs until the end (HTTP server, housekeeping).
    serving: Vec<JoinHandle<()>>,
    grace: std::time::Duration,
    /// The server config, read again on SIGHUP; `None`: there is none.
    server_rules: Option<Arc<crate::server_rules::ServerRules>>,
}

/// The shutdown grace ran out with jobs still running (named in the log).
#[derive(Debug, thiserror::Error)]
#[error("the shutdown grace ({}) ran out with {left} job(s) still running", humantime::format_duration(*.grace))]
pub struct GraceRanOut {
    pub left: usize,
    pub grace: std::time::Duration,
}

impl Running {
    /// Reads the server config again, as SIGHUP does; `Err`: why it was not (the rules in
    /// force stay), or that there is none.
    pub fn reload_server_config(&self) -> Result<(), String> {
        match &self.server_rules {
            Some(rules) => rules.reload(),
            None => Err("bosun runs without a server config (BOSUN_SERVER_CONFIG)".into()),
        }
    }

    /// [`Running::drain`], the grace running out only logged.
    pub async fn shutdown(self) {
        if let Err(e) = self.drain().await {
            tracing::error!(error = %e, "bosun stopped");
        }
    }

    /// Drains, then stops: `/readyz` answers 503 at once while webhooks are still stored and
    /// acknowledged; no new delivery or job is claimed; running plans are stopped and given
    /// back to the queue; other running jobs get the shutdown grace to end. Then the HTTP
    /// server stops. Errs when the grace ran out with jobs running (they are stopped).
    pub async fn drain(self) -> Result<(), GraceRanOut> {
        self.draining.cancel();
        let left = self.jobs.await.unwrap_or(0);
        for task in self.tasks {
            let _ = task.await;
        }
        self.cancel.cancel();
        for task in self.serving {
            let _ = task.await;
        }
        match left {
            0 => Ok(()),
            left => Err(GraceRanOut {
                left,
                grace: self.grace,
            }),
        }
    }
}

/// Sign-in with GitHub when its client is set (settings checked BOSUN_PUBLIC_URL is too).
fn sign_in(
    settings: &Settings,
    github: &GitHub,
) -> anyhow::Result<Option<Arc<server::auth::Auth>>> {
    let (Some(oauth), Some(public_url)) = (&settings.oauth, &settings.public_url) else {
        return Ok(None);
    };
    // The App's own client, unpaced and unredacted: the exchange sends the client secret.
    let github = crate::github::user::UserGitHub::new(
        github.clone(),
        &oauth.web_url,
        &oauth.client_id,
        &oauth.client_secret,
    );
    let auth = server::auth::Auth::new(oauth, public_url, Arc::new(github))
        .context("setting up sign-in with GitHub")?;
    Ok(Some(Arc::new(auth)))
}

/// Starts every part of bosun with the given GitHub client.
pub async fn start(
    settings: &Settings,
    metrics: Arc<Metrics>,
    github: Arc<GitHub>,
) -> anyhow::Result<Running> {
    start_with(settings, metrics, github, None).await
}

/// Starts bosun with `dispatcher` in place of the job dispatcher, if given (the ingest
/// benchmark measures the way in with the event log).
pub async fn start_with(
    settings: &Settings,
    metrics: Arc<Metrics>,
    github: Arc<GitHub>,
    dispatcher: Option<Arc<dyn Dispatcher>>,
) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "creating the data directory {}",
            settings.data_dir.display()
        )
    })?;
    let redactor = Redactor::process();
    for (what, secret) in settings.secrets() {
        if !redactor.add(secret.expose()) {
            tracing::warn!(
                "{what} is shorter than {MIN_LEN} characters: bosun cannot redact it from what it writes"
            );
        }
    }
    let sealer = planfile_sealer(settings, &redactor)?;
    let runner = runner(&settings.sandbox).await?;
    let store = store::open(settings.database_url.expose(), sealer)
        .await
        .context("opening the store")?;
    let requeued = store.requeue_interrupted(store::now_millis()).await?;
    if requeued > 0 {
        tracing::info!(
            requeued,
            "deliveries interrupted by the last shutdown are queued again"
        );
    }
    let jobs_back = store
        .requeue_running_jobs(settings.job_max_attempts, store::now_millis())
        .await?;
    if jobs_back.requeued > 0 {
        tracing::info!(
            requeued = jobs_back.requeued,
            "jobs interrupted by the last shutdown are queued again"
        );
    }
    let tasks_back = store.requeue_running_tasks().await?;
    if tasks_back > 0 {
        tracing::info!(
            requeued = tasks_back,
            "plan tasks interrupted by the last shutdown are queued again"
        );
    }
    let app_slug = match &settings.github_app_slug {
        Some(slug) => slug.clone(),
        None => match github.app_slug().await {
            Ok(slug) => slug,
            Err(e) => {
                tracing::warn!(error = %e, "could not learn the App's slug; @slug commands are off until restart (or set BOSUN_GITHUB_APP_SLUG)");
                String::new()
            }
        },
    };
    // Everything workflows write is redacted first, then paced.
    let paced: Arc<GitHub> = Arc::new(
        github
            .paced(
                Arc::new(Pacer::new(settings.github_writes_per_minute)),
                // PostgreSQL: the fleet shares each installation's budget; SQLite keeps none.
                Some(StoredBudget::new(
                    store.clone(),
                    settings.github_writes_per_minute,
                )),
            )
            .redacted(redactor.clone()),
    );
    let enqueued = Arc::new(Notify::new());
    let dispatcher = dispatcher.unwrap_or_else(|| {
        Arc::new(JobDispatcher {
            store: store.clone(),
            enqueued: enqueued.clone(),
            command_names: settings.command_names.clone(),
            app_slug: app_slug.clone(),
            plan_drafts: settings.plan_drafts,
            disable_autoplan: settings.disable_autoplan,
            allow_fork_prs: settings.access.allow_fork_prs,
        })
    });
    let plugin_cache = std::path::absolute(&settings.plugin_cache_dir)
        .unwrap_or_else(|_| settings.plugin_cache_dir.clone());
    let mut terraform = Terraform::new(
        &settings.terraform_bin,
        Arc::new(Redacting::new(runner, redactor.clone())),
        plugin_cache.clone(),
    );
    // Beside the scopes (`pr/`, `default/`; see `terraform::cache`).
    terraform.provider_store = settings
        .provider_store
        .then(|| plugin_cache.join("verified"));
    terraform.runs_dir = std::path::absolute(settings.data_dir.join("runs"))
        .unwrap_or_else(|_| settings.data_dir.join("runs"));
    // No run is under way before start: what is there was left by a crash.
    match std::fs::remove_dir_all(&terraform.runs_dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(error = %e, "removing run directories left by the last process");
        }
        _ => {}
    }
    terraform.cli_config = settings.terraform_cli_config.clone();
    terraform.git_ssh = settings.terraform_git_ssh;
    terraform.timeouts = Timeouts {
        init: settings.terraform_timeout,
        plan: settings.terraform_timeout,
        show: settings.terraform_timeout,
        apply: settings.terraform_timeout,
    };
    let notifier = match &settings.notify_url {
        Some(url) => Some(Outbox::start(
            Arc::new(Notifier::new(url).context("BOSUN_NOTIFY_URL")?),
            settings.notify_kinds.clone(),
            &settings.github.api_url,
        )),
        None => None,
    };
    // The drift gauges say what the store knows from the start, not only after the next run.
    for (repo, target, status) in store.known_drift_all().await? {
        if let Some(value) = status.metric() {
            metrics.drift_status(&repo, &target.display_name(), value);
        }
    }
    let spread = Arc::new(workflow::plan_tasks::Spread::default());
    let rules = crate::config::powers::Rules::new(settings.repo_powers.clone());
    let server_rules = settings.server_config.clone().map(|path| {
        Arc::new(crate::server_rules::ServerRules {
            settings: settings.repo_powers.clone(),
            path,
            rules: rules.clone(),
        })
    });
    let versions = Arc::new(
        crate::versions::Versions::new(
            settings.versions.default_distribution,
            settings.versions.terraform.clone(),
            settings.versions.opentofu.clone(),
            std::path::absolute(settings.data_dir.join("tools"))
                .unwrap_or_else(|_| settings.data_dir.join("tools")),
        )
        .context("setting up Terraform downloads")?
        .with_limits(settings.versions.limits.clone()),
    );
    let ctx = Arc::new(workflow::Context {
        store: store.clone(),
        github: paced.clone(),
        workspaces: Workspaces::new(&settings.data_dir),
        terraform,
        settings: WorkflowSettings {
            command_names: settings.command_names.clone(),
            app_slug,
            blocked_extra_args: settings.blocked_extra_args.clone(),
            allow_commands: settings.allow_commands.clone(),
            checkout_strategy: settings.checkout_strategy,
            repo_config_file: settings.repo_config_file.clone(),
            autoplan_modules: settings.autoplan_modules,
            comment_mode: settings.comment_mode,
            status_name: settings.status_name.clone(),
            access: settings.access.clone(),
            repo_powers: rules.clone(),
            pass_env: settings.terraform_env.clone(),
            public_url: settings.public_url.clone(),
            web_url: crate::notify::web_url_of(&settings.github.api_url),
            policy_eval: settings.policy_eval.clone(),
        },
        slots: Arc::new(tokio::sync::Semaphore::new(settings.parallelism)),
        project_locks: Default::default(),
        redactor,
        metrics: metrics.clone(),
        notifier: notifier.clone(),
        spread: Some(spread.clone()),
        versions,
    });

    // Jobs bosun stopped during every attempt are failed, not run again: say so on their PRs.
    for job in jobs_back.failed {
        tracing::error!(id = job.id, repo = %job.repository, pr = job.pr.0, attempts = job.attempts,
            "a job bosun stopped during its last allowed attempt is failed");
        let ctx = ctx.clone();
        tokio::spawn(async move {
            crate::jobs::interrupt_runs(&ctx, job.id).await;
            let reason = job.summary.clone().unwrap_or_default();
            workflow::failure::report(&ctx, &job, &reason).await;
        });
    }

    let cancel = CancellationToken::new();
    let draining = CancellationToken::new();
    let stored = Arc::new(Notify::new());
    let ingest = Ingest::start(store.clone(), stored.clone());
    let state = Arc::new(AppState {
        ingest: ingest.clone(),
        store: store.clone(),
        metrics: metrics.clone(),
        webhook_secrets: settings.github.webhook_secrets.clone(),
        allowlist: settings.repo_allowlist.clone(),
        api_token: settings.api_token.clone(),
        auth: sign_in(settings, &github)?,
        access: settings.access.clone(),
        github: paced.clone(),
        enqueued: enqueued.clone(),
        intake: Default::default(),
        draining: draining.clone(),
        public_url: settings.public_url.clone(),
    });
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let app = server::router(state);
    let server_cancel = cancel.clone();
    let server = tokio::spawn(async move {
        let result = axum::serve(server::without_nagle(listener), app)
            .with_graceful_shutdown(server_cancel.cancelled_owned())
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });

    let worker = DeliveryWorker {
        store: store.clone(),
        dispatcher,
        metrics: metrics.clone(),
        stored,
        max_attempts: settings.delivery_max_attempts,
        retry_base: settings.delivery_retry_base,
        lease: settings.job_lease,
        intake: Some(ingest),
    };
    let worker = tokio::spawn(worker.run(draining.clone()));

    let plan_tasks = TaskWorker {
        ctx: ctx.clone(),
        spread,
        concurrency: settings.parallelism,
        instance: settings.instance_id.clone(),
        lease: crate::task_worker::LEASE,
    };
    let plan_tasks = tokio::spawn(plan_tasks.run(cancel.clone()));
    let jobs = JobWorker {
        ctx,
        enqueued: enqueued.clone(),
        // Jobs wait on Terraform slots; more jobs than slots keeps every slot busy.
        concurrency: settings.parallelism * 2,
        max_attempts: settings.job_max_attempts,
        lease: settings.job_lease,
        grace: settings.shutdown_grace,
    };
    let jobs = tokio::spawn(jobs.run(draining.clone()));

    let maintenance = tokio::spawn(maintain(store.clone(), cancel.clone()));
    // The task worker serves through the drain (a job given the grace, an apply on merge, may
    // wait for its plan's tasks), and at its end gives back the tasks still running.
    let mut serving = vec![server, plan_tasks, maintenance];
    if let Some(rules) = &server_rules {
        serving.push(tokio::spawn(
            crate::server_rules::ServerRules::clone(rules).on_sighup(cancel.clone()),
        ));
    }
    let mut tasks = vec![worker];
    if !settings.redelivery_interval.is_zero() {
        let redelivery = Redelivery {
            github,
            store: store.clone(),
            metrics: metrics.clone(),
            lookback: settings.redelivery_lookback,
        };
        tasks.push(tokio::spawn(
            redelivery.run(settings.redelivery_interval, draining.clone()),
        ));
    }
    if !settings.reconcile_interval.is_zero() {
        let reconciler = Reconciler {
            store: store.clone(),
            enqueued: enqueued.clone(),
        };
        tasks.push(tokio::spawn(
            reconciler.run(settings.reconcile_interval, draining.clone()),
        ));
    }
    if let Some(outbox) = notifier.filter(|_| {
        settings
            .notify_kinds
            .contains(crate::notify::Kind::LockHeld)
    }) {
        let watch = crate::lock_watch::LockWatch {
            store: store.clone(),
            outbox,
            age: settings.notify_lock_age,
        };
        tasks.push(tokio::spawn(watch.run(draining.clone())));
    }
    if let Some(keep) = settings.audit_retention {
        let pruner = crate::audit::retention::Pruner {
            store: store.clone(),
            keep,
        };
        tasks.push(tokio::spawn(pruner.run(draining.clone())));
    }
    if let Some(schedule) = &settings.drift_schedule {
        let sweep = Arc::new(DriftSweep {
            github: paced.clone(),
            store: store.clone(),
            allowlist: settings.repo_allowlist.clone(),
            enqueued: enqueued.clone(),
        });
        tracing::info!(%schedule, "drift runs are scheduled");
        tasks.push(tokio::spawn(schedule::run(
            schedule.clone(),
            draining.clone(),
            move |at| {
                let sweep = sweep.clone();
                Box::pin(async move {
                    if let Err(e) = sweep.sweep_if_leader(at).await {
                        tracing::error!(error = format!("{e:#}"), "the drift sweep failed");
                    }
                })
            },
        )));
    }
    tracing::info!(%addr, allowlist = ?settings.repo_allowlist.patterns(), "bosun is serving");
    Ok(Running {
        addr,
        store,
        metrics,
        draining,
        cancel,
        tasks,
        jobs,
        serving,
        grace: settings.shutdown_grace,
        server_rules,
    })
}

/// The runner every Terraform command goes through: bubblewrap, checked to work (else bosun
/// does not start), or, when BOSUN_SANDBOX=none, the host itself with a warning.
async fn runner(sandbox: &Sandbox) -> anyhow::Result<Arc<dyn Runner>> {
    match sandbox {
        Sandbox::Bwrap(config) => {
            let bwrap = Bwrap::ready(config.clone())
                .await
                .context("BOSUN_SANDBOX=bwrap")?;
            tracing::info!(network = config.network, "Terraform runs under bubblewrap");
            Ok(Arc::new(bwrap))
        }
        Sandbox::None => {
            tracing::warn!(
                "BOSUN_SANDBOX=none: Terraform runs unsandboxed, so a pull request's code can \
                 read bosun's secrets and anything else on this host"
            );
            Ok(Arc::new(Direct::default()))
        }
    }
}

/// The sealer of planfiles: the configured key, else the key file next to the store (made at
/// first start), whose key is then a secret too.
fn planfile_sealer(settings: &Settings, redactor: &Redactor) -> anyhow::Result<Sealer> {
    match &settings.planfile_key {
        PlanfileKey::Given(key) => {
            let key = store::seal::decode_key(key.expose()).map_err(anyhow::Error::msg)?;
            Sealer::new(&key)
        }
        PlanfileKey::File(path) => {
            let (sealer, created) = Sealer::from_key_file(path)?;
            if let Ok(text) = std::fs::read_to_string(path) {
                redactor.add(text.trim());
            }
            tracing::warn!(
                path = %path.display(),
                created,
                "planfiles are sealed with a key kept next to the store; set BOSUN_PLANFILE_KEY_FILE to keep it elsewhere"
            );
            Ok(sealer)
        }
    }
}

/// Store housekeeping every second until cancelled.
async fn maintain(store: Arc<dyn Store>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = cancel.cancelled() => return,
        }
        if let Err(e) = store.maintain().await {
            tracing::warn!(error = format!("{e:#}"), "store maintenance failed");
        }
    }
}

/// `bosun serve`: the real GitHub client and dispatcher, until SIGINT or SIGTERM.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let mut signals = ShutdownSignals::listen()?;
    let metrics = Arc::new(Metrics::for_instance(&settings.instance_id));
    let github = Arc::new(GitHub::new(
        &settings.github,
        RetryPolicy::default(),
        metrics.clone(),
    )?);
    let running = start(&settings, metrics, github).await?;
    signals.next().await;
    tracing::info!(
        grace = %humantime::format_duration(settings.shutdown_grace),
        "draining: plans go back to the queue, running applies may finish"
    );
    tokio::select! {
        drained = running.drain() => drained?,
        () = signals.next() => {
            anyhow::bail!("a second SIGTERM or SIGINT: stopped without waiting for the drain")
        }
    }
    tracing::info!("drained");
    Ok(())
}

/// SIGTERM and SIGINT, listened to once for the whole life of `bosun serve`. A listener made
/// anew for the second signal would miss one sent between the first and its making (say, the
/// moment `/readyz` turns to draining); these streams keep it.
struct ShutdownSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn listen() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
                int: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The next SIGTERM or SIGINT, including one sent since the last.
    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sigterm_myself() {
        // SAFETY: kill(2) on our own pid with a signal tokio handles; no memory is touched.
        let sent = unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
        assert_eq!(sent, 0, "kill(getpid(), SIGTERM)");
    }

    #[tokio::test]
    async fn a_second_sigterm_sent_before_it_is_waited_for_is_not_missed() {
        let mut signals = ShutdownSignals::listen().unwrap();
        sigterm_myself();
        tokio::time::timeout(Duration::from_secs(10), signals.next())
            .await
            .expect("the first SIGTERM is seen");
        // The drain begins here; the second signal comes before anything waits for it.
        sigterm_myself();
        tokio::time::sleep(Duration::from_millis(50)).await;
        tokio::time::timeout(Duration::from_secs(10), signals.next())
            .await
            .expect("the second SIGTERM, sent before the wait, is seen");
    }
}
