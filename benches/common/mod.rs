//! What the end-to-end benchmarks share (`benches/plans/`, `benches/drift/`, each including
//! this file with `#[path]`): environment knobs, bosun's debug log, Terraform run by hand with
//! the environment bosun gives it, a bounded parallel runner, medians.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bosun::terraform::Terraform;

/// Longest a by-hand Terraform command may take.
const TERRAFORM_TIMEOUT: Duration = Duration::from_secs(120);

/// The number in environment variable `name`, else `default`.
pub fn env_number(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().with_context(|| format!("{name}={v}")),
        Err(_) => Ok(default),
    }
}

/// Runs `terraform ARGS` in `dir` by hand, with the environment bosun gives Terraform
/// ([`Terraform::env`]), bounded in time. Returns the exit code; fails when it is not one of
/// `ok` (Terraform's output in the error).
pub async fn terraform(
    tf: &Terraform,
    dir: &Path,
    args: &[&str],
    ok: &[i32],
) -> anyhow::Result<i32> {
    terraform_without(tf, dir, args, ok, &[]).await
}

/// [`terraform`], with the variables named in `without` left out of bosun's environment
/// (e.g. `TF_PLUGIN_CACHE_DIR`: no plugin cache).
pub async fn terraform_without(
    tf: &Terraform,
    dir: &Path,
    args: &[&str],
    ok: &[i32],
    without: &[&str],
) -> anyhow::Result<i32> {
    // bosun's environment, but with `.terraform` kept in `dir` between commands, as by hand.
    let run = tf.run_dir()?;
    let default = bosun::ids::Workspace::default();
    let mut env = tf.env(&bosun::terraform::At::new(dir, dir, &run, &default));
    env.retain(|(k, _)| {
        k != "TF_DATA_DIR" && k != "TF_WORKSPACE" && !without.contains(&k.as_str())
    });
    let out = tokio::process::Command::new(&tf.bin)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(TERRAFORM_TIMEOUT, out)
        .await
        .context("terraform by hand timed out")?
        .context("running terraform")?;
    let code = out.status.code().unwrap_or(-1);
    if !ok.contains(&code) {
        bail!(
            "terraform {args:?} in {} exited with {code}: {}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(code)
}

/// Runs `work` on every item, `parallelism` at a time; the results in the items' order.
pub async fn at_most<I, T, F, Fut>(
    parallelism: usize,
    items: Vec<I>,
    work: F,
) -> anyhow::Result<Vec<T>>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(parallelism.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let n = items.len();
    for (i, item) in items.into_iter().enumerate() {
        let slots = slots.clone();
        let job = work(item);
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await?;
            Ok::<_, anyhow::Error>((i, job.await?))
        });
    }
    let mut results: Vec<Option<T>> = (0..n).map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        let (i, value) = done.context("a by-hand task")??;
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(value);
        }
    }
    results
        .into_iter()
        .map(|r| r.context("a task left no result"))
        .collect()
}

/// The median of `values` (zero for none).
pub fn median(values: impl Iterator<Item = Duration>) -> Duration {
    let mut v: Vec<Duration> = values.collect();
    v.sort();
    match v.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

/// `d` in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
