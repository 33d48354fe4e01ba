//! Init benchmark (issue 18, item 3): forty projects' `terraform init` with real provider
//! packages, run by bosun's `Terraform::init` (each init in a private cache, verified packages
//! promoted into the shared one, no lock) against the same inits by hand, at parallelism 2 and
//! 8. The packages come from a local filesystem mirror in the packed layout (zips of an
//! executable of realistic size, `BOSUN_BENCH_PROVIDER_MB`, default 25; `init` installs
//! providers without starting them). Each round starts with an empty shared cache, as a new
//! pull request's does, and an empty verified store (the provider store: the first pull
//! request a bosun ever plans, which copies each verified package there). bosun is timed once
//! more with a warm store (filled before the timing by one init per provider, as any earlier
//! pull request leaves it). Baselines, in the same rounds, interleaved:
//!
//! - **by hand**: `terraform init` in a fresh directory with bosun's environment and no plugin
//!   cache (a person running inits side by side cannot share one safely);
//! - **one lock**: the same by-hand inits sharing one plugin cache, each holding one lock
//!   while it runs — what bosun did before (its plugin cache lock).
//!
//! Twice: with no lock file in the projects (Terraform then installs every provider from the
//! mirror, cache or not), and with the lock file each provider gives committed in every project
//! (Terraform then takes a cached package whose hash the lock file records).
//!
//! Run it with `cargo bench --bench inits`. Environment: `BOSUN_BENCH_ROUNDS` (default 3),
//! `BOSUN_TEST_TERRAFORM` (default `/usr/local/bin/terraform`). Wall-clock times on a shared
//! machine: read them as a guide, not a verdict.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bosun::terraform::{At, Direct, Terraform};
use tokio::sync::{Mutex, Semaphore};

// The provider's build is for the benchmarks that start providers: this one packs a stand-in.
#[allow(dead_code)]
#[path = "common/provider.rs"]
mod provider;
use provider::Mirror;

const PROJECTS: usize = 40;
const PROVIDERS: [&str; 2] = ["alpha", "beta"];
const TIMEOUT: Duration = Duration::from_secs(300);

fn main() -> ExitCode {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    match rt.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inits benchmark failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn env_number(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().with_context(|| format!("{name}={v}")),
        Err(_) => Ok(default),
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs.get(xs.len() / 2).copied().unwrap_or_default()
}

/// An executable of `size` bytes for a provider named `name`: `init` installs providers
/// without starting them, so it need not work.
fn fake_provider(name: &str, size: usize) -> Vec<u8> {
    let mut bytes = format!("#!/bin/sh\n# {name}\nexit 1\n").into_bytes();
    // Not all one byte: a binary compresses little.
    let mut x: u32 = 0x9e37_79b9;
    while bytes.len() < size {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes
}

/// Forty fresh project dirs under `root`, alternating the providers, each with the lock file
/// of its provider from `locks` when given (as a repository that commits them has).
fn projects(root: &Path, locks: Option<&[String; 2]>) -> anyhow::Result<Vec<PathBuf>> {
    (0..PROJECTS)
        .map(|i| {
            let name = PROVIDERS[i % PROVIDERS.len()];
            let dir = root.join(format!("p{i}"));
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("main.tf"), provider::required_providers(&[name]))?;
            if let Some(locks) = locks {
                std::fs::write(dir.join(".terraform.lock.hcl"), &locks[i % PROVIDERS.len()])?;
            }
            Ok(dir)
        })
        .collect()
}

/// The lock file `init` writes for a project of each provider.
async fn lock_files(bin: &Path, mirror: &Mirror) -> anyhow::Result<[String; 2]> {
    let mut out: [String; 2] = Default::default();
    for (slot, name) in out.iter_mut().zip(PROVIDERS) {
        *slot = mirror.lock_file(bin, &[name]).await?;
    }
    Ok(out)
}

#[derive(Clone, Copy, PartialEq)]
enum How {
    Bosun,
    /// bosun with a store that has the providers already.
    BosunWarm,
    ByHand,
    OneLock,
}

/// One round: the forty inits `how`, `parallelism` at a time, in fresh dirs and caches.
async fn round(
    (bin, cli): (&Path, &Path),
    locks: Option<&[String; 2]>,
    how: How,
    parallelism: usize,
) -> anyhow::Result<Duration> {
    let tmp = tempfile::tempdir()?;
    let dirs = projects(tmp.path(), locks)?;
    let cache = tmp.path().join("plugin-cache");
    std::fs::create_dir_all(&cache)?;
    let mut tf = Terraform::new(bin, Arc::new(Direct::default()), cache.clone());
    tf.cli_config = Some(cli.to_owned());
    tf.provider_store = Some(tmp.path().join("verified"));
    if how == How::BosunWarm {
        // An earlier pull request, with its own cache, filled the store.
        let earlier = tf.with_plugin_cache(tmp.path().join("earlier-cache"));
        for (i, dir) in projects(&tmp.path().join("earlier"), locks)?
            .iter()
            .take(PROVIDERS.len())
            .enumerate()
        {
            let run = earlier.run_dir()?;
            let done = earlier
                .init(At::new(dir, dir, &run, &bosun::ids::Workspace::default()))
                .await?;
            if !done.exit.success() {
                bail!("warming the store: init {i} failed: {}", done.output);
            }
        }
    }
    let slots = Arc::new(Semaphore::new(parallelism));
    let lock = Arc::new(Mutex::new(()));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for dir in dirs {
        let (tf, slots, lock) = (tf.clone(), slots.clone(), lock.clone());
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await?;
            let run = tf.run_dir()?;
            match how {
                How::Bosun | How::BosunWarm => {
                    let done = tf
                        .init(At::new(&dir, &dir, &run, &bosun::ids::Workspace::default()))
                        .await?;
                    if !done.exit.success() {
                        bail!("init failed: {}", done.output);
                    }
                }
                How::ByHand | How::OneLock => {
                    let mut env = tf.env(&At::new(
                        &dir,
                        &dir,
                        &run,
                        &bosun::ids::Workspace::default(),
                    ));
                    env.retain(|(k, _)| k != "TF_WORKSPACE");
                    if how == How::ByHand {
                        env.retain(|(k, _)| k != "TF_PLUGIN_CACHE_DIR");
                    }
                    let _held = match how {
                        How::OneLock => Some(lock.lock().await),
                        _ => None,
                    };
                    let out = tokio::process::Command::new(&tf.bin)
                        .args(["init", "-input=false", "-no-color"])
                        .current_dir(&dir)
                        .env_clear()
                        .envs(env)
                        .kill_on_drop(true)
                        .output();
                    let out = tokio::time::timeout(TIMEOUT, out).await??;
                    if !out.status.success() {
                        bail!(
                            "init by hand failed: {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                    }
                }
            }
            Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(started.elapsed())
}

async fn run() -> anyhow::Result<()> {
    let bin = PathBuf::from(
        std::env::var("BOSUN_TEST_TERRAFORM").unwrap_or_else(|_| "/usr/local/bin/terraform".into()),
    );
    let rounds = env_number("BOSUN_BENCH_ROUNDS", 3)?.max(1);
    let size = env_number("BOSUN_BENCH_PROVIDER_MB", 25)? << 20;
    let tmp = tempfile::tempdir()?;
    // Both providers the same executable: the mirror packs it under each name.
    let mirror = Mirror::pack(tmp.path(), &fake_provider("any", size), &PROVIDERS)?;
    let cli = mirror.cli_config.clone();
    println!(
        "{PROJECTS} projects' init, {} providers of {} MiB from a local mirror, {rounds} rounds, medians:",
        PROVIDERS.len(),
        size >> 20
    );
    let locks = lock_files(&bin, &mirror).await?;
    for (title, locks) in [
        ("without lock files", None),
        ("with committed lock files", Some(&locks)),
    ] {
        println!("{title}:");
        for parallelism in [2, 8] {
            let mut times: [Vec<Duration>; 4] = Default::default();
            for _ in 0..rounds {
                for (i, how) in [How::ByHand, How::Bosun, How::BosunWarm, How::OneLock]
                    .into_iter()
                    .enumerate()
                {
                    times[i].push(round((&bin, &cli), locks, how, parallelism).await?);
                }
            }
            let [hand, bosun, warm, locked] = times.map(median);
            let ratio = |d: Duration| d.as_secs_f64() / hand.as_secs_f64();
            println!(
                "  parallelism {parallelism}: by hand {:.2} s, bosun {:.2} s ({:.2}× by hand), bosun with a warm store {:.2} s ({:.2}×), one lock as before {:.2} s ({:.2}×)",
                hand.as_secs_f64(),
                bosun.as_secs_f64(),
                ratio(bosun),
                warm.as_secs_f64(),
                ratio(warm),
                locked.as_secs_f64(),
                ratio(locked),
            );
        }
    }
    Ok(())
}
