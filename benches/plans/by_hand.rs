//! The baselines: Terraform run by hand with bosun's environment, and bosun's git steps
//! repeated by hand through its `Workspaces`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bosun::terraform::{Direct, Terraform};

use crate::common::{at_most, terraform, terraform_without};
use crate::module_of;
use crate::support::{self, REPO, TestContext};

/// Terraform run by hand, with the environment bosun gives it, in fresh directories.
pub struct ByHand {
    terraform: Terraform,
    root: tempfile::TempDir,
    /// Files every project gets beside its `main.tf` (with providers: their block and the
    /// lock file).
    extra: Vec<(String, String)>,
    /// Variables of bosun's environment left out (with providers: the plugin cache).
    without: &'static [&'static str],
}

/// One by-hand plan: init + plan, and the `show -json` bosun also runs.
#[derive(Clone, Copy)]
pub struct HandTimes {
    pub init_plan: Duration,
    pub show: Duration,
}

impl ByHand {
    pub fn new(bin: &str) -> anyhow::Result<Self> {
        let root = tempfile::tempdir().context("a directory for the by-hand runs")?;
        let cache = root.path().join("plugin-cache");
        std::fs::create_dir_all(&cache).context("creating the plugin cache")?;
        let terraform = Terraform::new(bin, Arc::new(Direct::default()), cache);
        Ok(Self {
            terraform,
            root,
            extra: Vec::new(),
            without: &[],
        })
    }

    /// Projects that also hold `extra` (the providers' block and lock file), with Terraform
    /// reading the CLI config `cli_config` (the providers' mirror) and using no plugin cache:
    /// each `init` installs the providers from the mirror into its own directory, as people
    /// running plans side by side do (a shared cache is not safe for concurrent inits).
    pub fn with_providers(
        bin: &str,
        cli_config: &Path,
        extra: Vec<(String, String)>,
    ) -> anyhow::Result<Self> {
        let mut this = Self::new(bin)?;
        this.terraform.cli_config = Some(cli_config.to_owned());
        this.extra = extra;
        this.without = &["TF_PLUGIN_CACHE_DIR"];
        Ok(this)
    }

    /// A fresh directory under `root` holding a project of `resources`.
    fn project(&self, root: &Path, resources: &[String]) -> anyhow::Result<tempfile::TempDir> {
        let dir = tempfile::tempdir_in(root).context("a fresh directory")?;
        let state = dir.path().with_extension("tfstate");
        std::fs::write(dir.path().join("main.tf"), module_of(&state, resources))?;
        for (name, text) in &self.extra {
            std::fs::write(dir.path().join(name), text)?;
        }
        Ok(dir)
    }

    /// Plans a module with `resources` in a fresh directory.
    pub async fn once(&self, resources: &[String]) -> anyhow::Result<HandTimes> {
        let dir = self.project(self.root.path(), resources)?;
        let t0 = Instant::now();
        self.terraform_cmd(dir.path(), &["init", "-input=false", "-no-color"])
            .await?;
        self.terraform_cmd(dir.path(), &["plan", "-input=false", "-no-color", "-out=x"])
            .await?;
        let init_plan = t0.elapsed();
        let t1 = Instant::now();
        self.terraform_cmd(dir.path(), &["show", "-json", "-no-color", "x"])
            .await?;
        Ok(HandTimes {
            init_plan,
            show: t1.elapsed(),
        })
    }

    pub async fn rounds(&self, resources: &[String], n: usize) -> anyhow::Result<Vec<HandTimes>> {
        let mut all = Vec::with_capacity(n);
        for _ in 0..n {
            all.push(self.once(resources).await?);
        }
        Ok(all)
    }

    /// Plans `projects` modules by hand (init, plan, show -json), `parallelism` at a time, in
    /// fresh directories. Returns the wall time.
    pub async fn parallel(
        &self,
        resources: &[String],
        projects: usize,
        parallelism: usize,
    ) -> anyhow::Result<Duration> {
        let this = Arc::new(Self {
            terraform: self.terraform.clone(),
            root: tempfile::tempdir_in(self.root.path()).context("a directory")?,
            extra: self.extra.clone(),
            without: self.without,
        });
        let t0 = Instant::now();
        at_most(parallelism, vec![(); projects], |()| {
            let this = this.clone();
            let resources = resources.to_vec();
            async move {
                let dir = this.project(this.root.path(), &resources)?;
                this.terraform_cmd(dir.path(), &["init", "-input=false", "-no-color"])
                    .await?;
                let plan = ["plan", "-input=false", "-no-color", "-out=x"];
                this.terraform_cmd(dir.path(), &plan).await?;
                this.terraform_cmd(dir.path(), &["show", "-json", "-no-color", "x"])
                    .await
            }
        })
        .await?;
        Ok(t0.elapsed())
    }

    async fn terraform_cmd(&self, dir: &Path, args: &[&str]) -> anyhow::Result<()> {
        match self.without {
            [] => terraform(&self.terraform, dir, args, &[0]).await,
            without => terraform_without(&self.terraform, dir, args, &[0], without).await,
        }
        .map(drop)
    }
}
/// bosun's git work for one pull request, done again through its `Workspaces` by hand.
#[derive(Clone, Copy)]
pub struct GitTimes {
    /// `git fetch` of base and head into the mirror.
    pub fetch: Duration,
    /// `bosun.yaml` and `atlantis.yaml` looked up, changed files, Terraform files listed.
    pub select: Duration,
    /// The project's checkout.
    pub checkout: Duration,
}

/// Repeats the git steps of planning `prs` (the first only warms the mirror up) in a fresh
/// data directory, timing each.
pub async fn git_steps(ctx: &TestContext, prs: &[(u64, String)]) -> anyhow::Result<Vec<GitTimes>> {
    use bosun::workspace::{CheckoutKey, Strategy, Workspaces};
    let dir = tempfile::tempdir().context("a data directory")?;
    let ws = Workspaces::new(dir.path());
    let url = ctx.fake.clone_url(REPO);
    let mut times = Vec::new();
    for (i, (pr, project)) in prs.iter().enumerate() {
        let (base_ref, base, head) = {
            let m = ctx.fake.model();
            let p = m.repo(REPO).and_then(|r| r.prs.get(pr)).context("the PR")?;
            (
                p.base_ref.clone(),
                bosun::ids::Sha::new(p.base_sha.clone()),
                bosun::ids::Sha::new(p.head_sha.clone()),
            )
        };
        let t0 = Instant::now();
        // bosun caches installation tokens, so a fetch rarely asks for one.
        let token = ctx
            .fake
            .issue_token(support::INSTALLATION, Duration::from_secs(600));
        let refspecs = [
            format!("+refs/heads/{base_ref}:refs/heads/{base_ref}"),
            format!("+refs/pull/{pr}/head:refs/pull/{pr}/head"),
        ];
        ws.fetch(REPO, &url, &token, &refspecs).await?;
        let fetch = t0.elapsed();
        let t1 = Instant::now();
        for file in ["bosun.yaml", "atlantis.yaml"] {
            ws.read_file(REPO, &head, file).await?;
        }
        ws.changed_files(REPO, &base, &head).await?;
        ws.terraform_files(REPO, &head).await?;
        let select = t1.elapsed();
        let key = CheckoutKey {
            pr: bosun::ids::PrNumber(*pr),
            dir: bosun::ids::Dir::new(project.clone()),
            workspace: bosun::ids::Workspace::default(),
        };
        let t2 = Instant::now();
        ws.checkout(REPO, &key, &head, &Strategy::Branch)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let checkout = t2.elapsed();
        if i > 0 {
            times.push(GitTimes {
                fetch,
                select,
                checkout,
            });
        }
    }
    Ok(times)
}

/// Median time over `rounds` to run `true` in bosun's sandbox (bubblewrap, as `serve` builds
/// it by default) and directly: what each sandboxed Terraform command pays to start.
pub async fn sandbox_start(rounds: usize) -> anyhow::Result<(Duration, Duration)> {
    use bosun::terraform::sandbox::{Bwrap, BwrapConfig};
    use bosun::terraform::{Invocation, Runner};
    let dir = tempfile::tempdir().context("a directory for the sandbox runs")?;
    let sandbox = Bwrap::ready(BwrapConfig::default()).await?;
    let direct = Direct::default();
    let inv = Invocation {
        program: "/bin/true".into(),
        args: Vec::new(),
        cwd: dir.path().to_owned(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        timeout: Duration::from_secs(30),
        output_cap: 4096,
        writable: vec![dir.path().to_owned()],
        readable: Vec::new(),
        network: false,
    };
    let mut boxed = Vec::with_capacity(rounds);
    let mut plain = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        let done = sandbox.run(inv.clone()).await?;
        anyhow::ensure!(done.exit.success(), "true in the sandbox: {}", done.output);
        boxed.push(t.elapsed());
        let t = Instant::now();
        direct.run(inv.clone()).await?;
        plain.push(t.elapsed());
    }
    Ok((
        crate::common::median(boxed.into_iter()),
        crate::common::median(plain.into_iter()),
    ))
}
