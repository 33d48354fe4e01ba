//! Part 2: forty projects in one pull request, each requiring two real providers from a local
//! mirror (the benchmarks' own provider, `benches/provider/`), against the same forty plans by
//! hand at the same parallelism, and the first project's check run against one project by hand.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

use crate::by_hand::{ByHand, HandTimes};
use crate::common::{median, ms};
use crate::provider::{self, Mirror};
use crate::report::{row, verdict};
use crate::support::{TestContext, terraform_readable_paths};
use crate::{DEFAULT_WRITES_PER_MINUTE, Seen, Written, module_of, names, plan_pr, verify};

/// Projects in the big pull request.
pub const BIG: usize = 40;
/// Resources in each project.
const RESOURCES: usize = 2;
/// The providers every project requires (`example.com/example/NAME`).
const PROVIDERS: [&str; 2] = ["alpha", "beta"];
/// Writes a minute that lift pacing.
const UNPACED: u32 = 100_000;
/// The targets: every check (and the comment) against the same plans by hand...
const TARGET_WALL: f64 = 1.15;
/// ...and the first project's check against one project by hand.
const TARGET_FIRST: f64 = 1.2;

/// The providers' mirror and the lock file every project commits.
pub struct Providers {
    /// Holds the mirror and the CLI config (readable by the sandbox's user).
    _dir: tempfile::TempDir,
    mirror: Mirror,
    lock: String,
}

impl Providers {
    /// Builds the benchmarks' provider, packs it as `alpha` and `beta` into a mirror, and has
    /// a real `terraform init` write the lock file for a project requiring both.
    pub async fn prepare(terraform: &str) -> anyhow::Result<Self> {
        let exe = tokio::task::spawn_blocking(provider::build)
            .await
            .context("the provider's build")??;
        let dir = tempfile::tempdir().context("a directory for the mirror")?;
        // bosun runs Terraform as the sandbox's user: it must reach the mirror and config.
        let open = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(dir.path(), open)
            .context("opening the mirror's directory to every user")?;
        let bytes = std::fs::read(&exe).with_context(|| format!("reading {}", exe.display()))?;
        let mirror = Mirror::pack(dir.path(), &bytes, &PROVIDERS)?;
        let lock = mirror.lock_file(Path::new(terraform), &PROVIDERS).await?;
        Ok(Self {
            _dir: dir,
            mirror,
            lock,
        })
    }

    /// The files a project holds beside its `main.tf`: the providers' requirements and
    /// (empty) configurations, and the lock file.
    fn files(&self) -> Vec<(String, String)> {
        let mut tf = provider::required_providers(&PROVIDERS);
        for name in PROVIDERS {
            tf.push_str(&format!("\nprovider \"{name}\" {{}}\n"));
        }
        vec![
            ("providers.tf".to_owned(), tf),
            (".terraform.lock.hcl".to_owned(), self.lock.clone()),
        ]
    }
}

/// How bosun paces its GitHub writes in a run.
#[derive(Clone, Copy, PartialEq)]
pub enum Pacing {
    /// bosun's default (the setting left unset).
    Default,
    /// Lifted (`github_writes_per_minute` = [`UNPACED`]), as a reference.
    Lifted,
}

/// Rounds of each kind of run.
pub struct Rounds {
    /// By hand, one project (init + plan, then show -json).
    pub single: usize,
    /// By hand, forty projects at a parallelism; and bosun with pacing lifted.
    pub big: usize,
    /// bosun with the default pacing (each when the pacer's window has room for it).
    pub paced: usize,
}

/// Every measurement of part 2.
pub struct Forty {
    providers: bool,
    single: Vec<HandTimes>,
    /// Per parallelism, the by-hand wall times.
    by_hand: Vec<(usize, Vec<Duration>)>,
    runs: Vec<Run>,
}

struct Run {
    parallelism: usize,
    pacing: Pacing,
    seen: Vec<Seen>,
}

/// Runs part 2: `providers` (else the projects use none), the default pacing at parallelism 2
/// and 4 unless `paced` is false, and pacing lifted at parallelism 2.
pub async fn run(
    terraform: &str,
    providers: Option<&Providers>,
    rounds: &Rounds,
    paced: bool,
) -> anyhow::Result<Forty> {
    let by_hand = match providers {
        Some(p) => ByHand::with_providers(terraform, &p.mirror.cli_config, p.files())?,
        None => ByHand::new(terraform)?,
    };
    let resources = names(RESOURCES);
    let single = by_hand.rounds(&resources, rounds.single).await?;
    let mut configs = Vec::new();
    if paced {
        configs.push((2, Pacing::Default, rounds.paced));
        configs.push((4, Pacing::Default, rounds.paced));
    }
    configs.push((2, Pacing::Lifted, rounds.big));
    let mut hand: Vec<(usize, Vec<Duration>)> = Vec::new();
    for &(p, _, _) in &configs {
        if hand.iter().all(|(q, _)| *q != p) {
            let mut walls = Vec::with_capacity(rounds.big);
            for _ in 0..rounds.big {
                walls.push(by_hand.parallel(&resources, BIG, p).await?);
            }
            hand.push((p, walls));
        }
    }
    let mut runs = Vec::new();
    for (parallelism, pacing, n) in configs {
        let seen = many_projects(providers, parallelism, pacing, n).await?;
        runs.push(Run {
            parallelism,
            pacing,
            seen,
        });
    }
    Ok(Forty {
        providers: providers.is_some(),
        single,
        by_hand: hand,
        runs,
    })
}

/// bosun with `parallelism` and `pacing`; with `providers`, Terraform gets their CLI config
/// and the sandbox may read their mirror.
async fn start_bosun(
    providers: Option<&Providers>,
    parallelism: usize,
    pacing: Pacing,
) -> TestContext {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("parallelism", &parallelism.to_string());
    if pacing == Pacing::Lifted {
        ctx.set("github_writes_per_minute", &UNPACED.to_string());
    }
    if let Some(p) = providers {
        ctx.set(
            "terraform_cli_config_file",
            &p.mirror.cli_config.display().to_string(),
        );
        let mut readable = terraform_readable_paths();
        readable.push(p.mirror.dir.display().to_string());
        ctx.set("sandbox_readable_paths", &readable.join(","));
    }
    ctx.start_bosun().await;
    ctx
}

/// `rounds` pull requests of [`BIG`] projects on a fresh bosun (after a warm-up pull request
/// of one project), each sent once the pacer's window has room for it.
async fn many_projects(
    providers: Option<&Providers>,
    parallelism: usize,
    pacing: Pacing,
    rounds: usize,
) -> anyhow::Result<Vec<Seen>> {
    let ctx = start_bosun(providers, parallelism, pacing).await;
    let rate = match pacing {
        Pacing::Default => DEFAULT_WRITES_PER_MINUTE,
        Pacing::Lifted => UNPACED,
    };
    let resources = names(RESOURCES);
    let extra = providers.map(Providers::files).unwrap_or_default();
    let files = |tag: &str, n: usize| -> Vec<(String, String)> {
        let mut files = Vec::new();
        for i in 0..n {
            let dir = format!("{tag}/p{i:02}");
            let state = ctx.data_path().join(format!("../{tag}-{i}.tfstate"));
            files.push((format!("{dir}/main.tf"), module_of(&state, &resources)));
            for (name, text) in &extra {
                files.push((format!("{dir}/{name}"), text.clone()));
            }
        }
        files
    };
    let (pr, warmup, _) = plan_pr(&ctx, "warm-up", &files("warmup", 1), 1).await?;
    verify(&ctx, pr, 1, RESOURCES)?;
    let mut written = Written::default();
    written.add(warmup.writes);
    let mut seen = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // Room in the pacer's window for the round's writes: a check run a project, the
        // summary check's two states and the comment.
        written.room_for(BIG + 3, rate).await;
        let (pr, s, _) = plan_pr(&ctx, "forty", &files(&format!("big{round}"), BIG), BIG).await?;
        verify(&ctx, pr, BIG, RESOURCES)?;
        written.add(s.writes);
        seen.push(s);
    }
    ctx.finish().await;
    Ok(seen)
}

impl Forty {
    pub fn print(&self) {
        let init_plan = median(self.single.iter().map(|h| h.init_plan));
        let with_show = median(self.single.iter().map(|h| h.init_plan + h.show));
        let what = if self.providers {
            "each requiring 2 providers from a local mirror (lock file committed)"
        } else {
            "no providers"
        };
        println!(
            "\n2. {BIG} projects of {RESOURCES} terraform_data resources in one pull request, {what}"
        );
        if self.providers {
            println!(
                "   by hand: bosun's environment and the same CLI config and mirror, no plugin cache (each init installs from the mirror)"
            );
        }
        let label = format!(
            "by hand, one project: init + plan ({} rounds)",
            self.single.len()
        );
        row(&label, init_plan);
        row("by hand, one project: init + plan + show -json", with_show);
        for (p, walls) in &self.by_hand {
            let label = format!(
                "by hand, {BIG} projects {p} at a time ({} rounds)",
                walls.len()
            );
            row(&label, median(walls.iter().copied()));
        }
        println!("   (by hand, every project runs init + plan -out + show -json, as bosun does)");
        for run in &self.runs {
            self.print_run(run, init_plan);
        }
        let p2 = |pacing| {
            self.runs
                .iter()
                .find(|r| r.parallelism == 2 && r.pacing == pacing)
                .map(|r| median(r.seen.iter().map(|s| s.comment)))
        };
        if let (Some(paced), Some(lifted)) = (p2(Pacing::Default), p2(Pacing::Lifted)) {
            println!(
                "   the default pacing costs {:+.0} ms at parallelism 2 ({:.2}x the comment with pacing lifted)",
                ms(paced) - ms(lifted),
                ms(paced) / ms(lifted)
            );
        }
    }

    fn print_run(&self, run: &Run, one_by_hand: Duration) {
        let p = run.parallelism;
        let pacing = match run.pacing {
            Pacing::Default => {
                format!("default pacing (at most {DEFAULT_WRITES_PER_MINUTE} writes in any minute)")
            }
            Pacing::Lifted => format!("pacing lifted ({UNPACED}/min, reference)"),
        };
        println!(
            "   bosun, parallelism {p}, {pacing}, {} round(s), median:",
            run.seen.len()
        );
        let m = |f: fn(&Seen) -> Option<Duration>| median(run.seen.iter().filter_map(f));
        let first = m(|s| s.first_completed);
        let completed = m(|s| s.completed);
        let comment = m(|s| Some(s.comment));
        row("  webhook -> first check run queued", m(|s| s.queued));
        row("  webhook -> first check run completed", first);
        row("  webhook -> every check run completed", completed);
        row("  webhook -> plan comment", comment);
        let busy = run
            .seen
            .iter()
            .map(|s| s.max_in_progress)
            .max()
            .unwrap_or(0);
        let writes = run.seen.iter().map(|s| s.writes).max().unwrap_or(0);
        println!("     check runs in progress at once: at most {busy}; GitHub writes: {writes}");
        if run.pacing == Pacing::Default && writes > DEFAULT_WRITES_PER_MINUTE as usize {
            println!(
                "     {writes} writes do not fit one minute's window of {DEFAULT_WRITES_PER_MINUTE}: the pacing holds some back"
            );
        }
        let ratio = |a: Duration, b: Duration| ms(a) / ms(b).max(f64::MIN_POSITIVE);
        let r = ratio(first, one_by_hand);
        println!(
            "     first check against one project by hand (init + plan): {r:.2}x, target <= {TARGET_FIRST}x: {}",
            verdict(r <= TARGET_FIRST)
        );
        if let Some((_, walls)) = self.by_hand.iter().find(|(q, _)| *q == p) {
            let wall = median(walls.iter().copied());
            let (rc, rm) = (ratio(completed, wall), ratio(comment, wall));
            println!(
                "     every check against {BIG} by hand {p} at a time: {rc:.2}x, target <= {TARGET_WALL}x: {}",
                verdict(rc <= TARGET_WALL)
            );
            println!(
                "     plan comment against {BIG} by hand {p} at a time: {rm:.2}x, target <= {TARGET_WALL}x: {}",
                verdict(rm <= TARGET_WALL)
            );
        }
    }
}
