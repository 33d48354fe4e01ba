//! The baseline: the same projects planned by hand with `terraform init` + `terraform plan
//! -detailed-exitcode` in plain directories, with the environment bosun gives Terraform; and
//! the set-up's applies, made the same way from directories of their own.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bosun::terraform::{Direct, Terraform};

use crate::common::{at_most, terraform};

/// Plain directories holding the projects' modules, planned by hand.
pub struct ByHand {
    /// For the plans: its plugin cache starts empty, as bosun's does.
    terraform: Terraform,
    /// For the set-up's applies, with a plugin cache of its own.
    applier: Terraform,
    root: tempfile::TempDir,
    /// One directory per project, in the projects' order.
    dirs: Vec<PathBuf>,
    /// Plan as a pull request is planned: `-out` a planfile, then `show -json` it.
    as_bosun: bool,
}

/// One by-hand round over every project.
pub struct HandRound {
    /// From the first `init` to the last plan's end.
    pub wall: Duration,
    /// Each project's `init` + `plan` time, summed.
    pub busy: Duration,
    /// Each project's `plan -detailed-exitcode` exit code (0 in sync, 2 changes).
    pub exits: Vec<i32>,
}

impl ByHand {
    /// Writes each `(dir, module)` into a plain directory of its own, not initialised yet;
    /// `as_bosun`: plans also write a planfile and `show -json` it, as a PR plan does (drift checks no longer do).
    pub fn new(bin: &str, modules: &[(String, String)], as_bosun: bool) -> anyhow::Result<Self> {
        let root = tempfile::tempdir().context("a directory for the by-hand runs")?;
        let terraform = tool(bin, &root.path().join("plugin-cache"))?;
        let applier = tool(bin, &root.path().join("apply-plugin-cache"))?;
        let mut dirs = Vec::with_capacity(modules.len());
        for (i, (_, tf)) in modules.iter().enumerate() {
            let dir = root.path().join("plan").join(format!("p{i:03}"));
            write_module(&dir, tf)?;
            dirs.push(dir);
        }
        Ok(Self {
            terraform,
            applier,
            root,
            dirs,
            as_bosun,
        })
    }

    /// Applies every module once, as a merge would have, `parallelism` at a time.
    pub async fn apply_all(
        &self,
        modules: &[(String, String)],
        parallelism: usize,
    ) -> anyhow::Result<()> {
        let items: Vec<(usize, String)> = modules
            .iter()
            .enumerate()
            .map(|(i, (_, tf))| (i, tf.clone()))
            .collect();
        let applier = Arc::new(self.applier.clone());
        let root = self.root.path().join("apply");
        at_most(parallelism, items, |(i, tf)| {
            let (applier, dir) = (applier.clone(), root.join(format!("p{i:03}")));
            async move { apply(&applier, &dir, &tf).await }
        })
        .await?;
        Ok(())
    }

    /// Applies `tf` from another directory: the out-of-band change that makes a project drift.
    pub async fn apply_drift(&self, tf: &str) -> anyhow::Result<()> {
        apply(&self.applier, &self.root.path().join("apply-drift"), tf).await
    }

    /// Plans every project (`init`, then `plan -detailed-exitcode`, and as a PR plan does,
    /// `-out` and `show -json`), `parallelism` at a time.
    pub async fn plan_all(&self, parallelism: usize) -> anyhow::Result<HandRound> {
        let tf = Arc::new(self.terraform.clone());
        let as_bosun = self.as_bosun;
        let t0 = Instant::now();
        let done = at_most(parallelism, self.dirs.clone(), |dir| {
            let tf = tf.clone();
            async move {
                let t = Instant::now();
                terraform(&tf, &dir, &["init", "-input=false", "-no-color"], &[0]).await?;
                let mut plan = vec!["plan", "-input=false", "-no-color", "-detailed-exitcode"];
                if as_bosun {
                    plan.push("-out=drift.tfplan");
                }
                let code = terraform(&tf, &dir, &plan, &[0, 2]).await?;
                if as_bosun {
                    let show = ["show", "-json", "-no-color", "drift.tfplan"];
                    terraform(&tf, &dir, &show, &[0]).await?;
                }
                Ok((t.elapsed(), code))
            }
        })
        .await?;
        Ok(HandRound {
            wall: t0.elapsed(),
            busy: done.iter().map(|(d, _)| *d).sum(),
            exits: done.into_iter().map(|(_, code)| code).collect(),
        })
    }
}

fn tool(bin: &str, cache: &Path) -> anyhow::Result<Terraform> {
    std::fs::create_dir_all(cache).context("creating a plugin cache")?;
    Ok(Terraform::new(
        bin,
        Arc::new(Direct::default()),
        cache.to_owned(),
    ))
}

fn write_module(dir: &Path, tf: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("main.tf"), tf).with_context(|| format!("writing {}", dir.display()))
}

/// `init` and `apply -auto-approve` of `tf` in `dir`.
async fn apply(tf: &Terraform, dir: &Path, module: &str) -> anyhow::Result<()> {
    write_module(dir, module)?;
    terraform(tf, dir, &["init", "-input=false", "-no-color"], &[0]).await?;
    let apply = ["apply", "-auto-approve", "-input=false", "-no-color"];
    terraform(tf, dir, &apply, &[0]).await?;
    Ok(())
}
