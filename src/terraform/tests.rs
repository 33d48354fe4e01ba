//! Against the real Terraform (`BOSUN_TEST_TERRAFORM`, else `/usr/local/bin/terraform`), and
//! with a fake runner for what Terraform cannot show (argv, environment, locking).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tempfile::TempDir;

use super::*;
use crate::plan::{Action, ResourceChange};

fn terraform_bin() -> PathBuf {
    let bin: PathBuf = std::env::var_os("BOSUN_TEST_TERRAFORM")
        .map(Into::into)
        .unwrap_or_else(|| "/usr/local/bin/terraform".into());
    assert!(
        bin.exists(),
        "Terraform not found at {}: run tests/tools/install-terraform.sh or set BOSUN_TEST_TERRAFORM",
        bin.display()
    );
    bin
}

/// A temp dir holding a plugin cache and project dirs, and Terraform set up for it.
struct Fixture {
    tmp: TempDir,
    tf: Terraform,
}

impl Fixture {
    fn new() -> Self {
        Self::with_runner(Arc::new(Direct::default()), terraform_bin())
    }

    fn with_runner(runner: Arc<dyn Runner>, bin: PathBuf) -> Self {
        let tmp = TempDir::new().unwrap();
        let tf = Terraform::new(bin, runner, tmp.path().join("plugin-cache"));
        Self { tmp, tf }
    }

    /// A project dir `name` holding `main.tf`.
    fn project(&self, name: &str, main_tf: &str) -> PathBuf {
        let dir = self.tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.tf"), main_tf).unwrap();
        dir
    }
}

const TWO: &str = r#"
resource "terraform_data" "a" { input = "a" }
resource "terraform_data" "b" { input = "b" }
"#;

#[track_caller]
fn planned(run: &PlanRun) -> (&PlanSummary, &str) {
    match &run.outcome {
        Outcome::Planned { summary, text } => (summary, text),
        Outcome::Failed { step, output } => panic!("failed at {step:?}:\n{output}\n{}", run.log),
    }
}

#[track_caller]
fn failed(run: &PlanRun) -> (Step, &str) {
    match &run.outcome {
        Outcome::Failed { step, output } => (*step, output),
        other => panic!("planned: {other:?}"),
    }
}

#[tokio::test]
async fn two_resources_plan_as_two_adds() {
    let fx = Fixture::new();
    let dir = fx.project("p", TWO);
    let run = fx.tf.plan_project(&dir, &dir, &"default".into(), &[]).await;
    let (summary, text) = planned(&run);
    assert_eq!(summary.line, "Plan: 2 to add, 0 to change, 0 to destroy.");
    assert_eq!((summary.add, summary.change, summary.destroy), (2, 0, 0));
    assert_eq!(
        summary.changes,
        [
            ResourceChange {
                address: "terraform_data.a".into(),
                action: Action::Create
            },
            ResourceChange {
                address: "terraform_data.b".into(),
                action: Action::Create
            },
        ]
    );
    assert!(
        text.starts_with("Terraform used the selected providers"),
        "{text}"
    );
    assert!(
        text.contains("  # terraform_data.a will be created\n"),
        "{text}"
    );
    assert!(
        text.ends_with("Plan: 2 to add, 0 to change, 0 to destroy."),
        "{text}"
    );
    assert!(run.planfile.as_deref().is_some_and(|p| !p.is_empty()));
    // bosun's own files are not in the project dir, and the run directory is gone.
    for name in [".terraform", ".bosun.tfplan", ".bosun-home"] {
        assert!(!dir.join(name).exists(), "{name}");
    }
    assert_eq!(std::fs::read_dir(&fx.tf.runs_dir).unwrap().count(), 0);
    assert!(run.log.contains("$ terraform init\n"), "{}", run.log);
    assert!(run.log.contains("$ terraform show -json\n("), "{}", run.log);
}

#[tokio::test]
async fn a_second_plan_sees_the_changed_config() {
    let fx = Fixture::new();
    let dir = fx.project("p", TWO);
    let first = fx.tf.plan_project(&dir, &dir, &"default".into(), &[]).await;
    assert_eq!(planned(&first).0.add, 2);
    std::fs::write(
        dir.join("main.tf"),
        format!("{TWO}\nresource \"terraform_data\" \"c\" {{ input = \"c\" }}\n"),
    )
    .unwrap();
    let second = fx.tf.plan_project(&dir, &dir, &"default".into(), &[]).await;
    let (summary, text) = planned(&second);
    assert_eq!(summary.line, "Plan: 3 to add, 0 to change, 0 to destroy.");
    assert!(text.contains("terraform_data.c will be created"), "{text}");
    assert_ne!(first.planfile, second.planfile);
}

#[tokio::test]
async fn an_applied_plan_leaves_no_changes() {
    let fx = Fixture::new();
    let dir = fx.project("p", TWO);
    let run = fx.tf.plan_project(&dir, &dir, &"default".into(), &[]).await;
    planned(&run);
    let applied = fx
        .tf
        .apply_project(
            &dir,
            &dir,
            &"default".into(),
            run.planfile.as_deref().unwrap(),
        )
        .await;
    assert!(
        matches!(applied, ApplyOutcome::Applied { .. }),
        "{applied:?}"
    );
    let again = fx.tf.plan_project(&dir, &dir, &"default".into(), &[]).await;
    let (summary, text) = planned(&again);
    assert!(!summary.has_changes());
    assert_eq!(
        summary.line,
        "No changes. Your infrastructure matches the configuration."
    );
    assert!(text.starts_with("No changes."), "{text}");
    assert!(!text.contains("Refreshing state"), "{text}");
}

/// Plans `dir` and returns the outcome handed over early with the final one.
async fn plan_early(fx: &Fixture, dir: &Path) -> (Option<Outcome>, PlanRun) {
    let early = Mutex::new(None);
    let keep = |o: &Outcome| *early.lock().unwrap() = Some(o.clone());
    let run = fx
        .tf
        .plan_project_early(dir, dir, &"default".into(), &[], &keep)
        .await;
    (early.into_inner().unwrap(), run)
}

#[tokio::test]
async fn the_early_outcome_renders_the_check_run_the_final_one_does() {
    use crate::plan::{ProjectPlan, Target};
    let fx = Fixture::new();
    let first = r#"
resource "terraform_data" "a" { input = "a" }
resource "terraform_data" "b" { input = "b" }
resource "terraform_data" "c" { triggers_replace = "c" }
resource "terraform_data" "d" { input = "d" }
output "o" { value = "one" }
"#;
    // a updated in place, c replaced, d destroyed, b as it was, the output changed.
    let second = r#"
resource "terraform_data" "a" { input = "a2" }
resource "terraform_data" "b" { input = "b" }
resource "terraform_data" "c" { triggers_replace = "c2" }
output "o" { value = "two" }
"#;
    let dir = fx.project("p", first);
    let target = Target {
        dir: "p".into(),
        workspace: "default".into(),
        name: None,
    };
    let check = |outcome: &Outcome| {
        crate::render::check::plan_check(&ProjectPlan {
            target: target.clone(),
            outcome: outcome.clone(),
        })
    };
    let mut seen = Vec::new();
    for step in 0..3 {
        let (early, run) = plan_early(&fx, &dir).await;
        let (summary, _) = planned(&run);
        let early = early.expect("an early outcome");
        let Outcome::Planned { summary: e, .. } = &early else {
            panic!("{early:?}")
        };
        assert_eq!(e.changes, summary.changes, "step {step}");
        assert_eq!(
            (e.add, e.change, e.destroy, e.import, e.output_changes),
            (
                summary.add,
                summary.change,
                summary.destroy,
                summary.import,
                summary.output_changes
            ),
            "step {step}"
        );
        assert_eq!(check(&early), check(&run.outcome), "step {step}");
        seen.push(summary.changes.iter().map(|c| c.action).collect::<Vec<_>>());
        let applied = fx
            .tf
            .apply_project(
                &dir,
                &dir,
                &"default".into(),
                run.planfile.as_deref().unwrap(),
            )
            .await;
        assert!(
            matches!(applied, ApplyOutcome::Applied { .. }),
            "{applied:?}"
        );
        std::fs::write(dir.join("main.tf"), second).unwrap();
    }
    use Action::{Create, Delete, Replace, Update};
    assert_eq!(
        seen,
        [
            vec![Create, Create, Create, Create],
            vec![Update, Replace, Delete],
            vec![],
        ]
    );
}

#[tokio::test]
async fn invalid_hcl_fails_with_the_file_and_line() {
    let fx = Fixture::new();
    let dir = fx.project("p", "resource \"terraform_data\" \"a\" {\n  input = \n");
    let run = fx.tf.plan_project(&dir, &dir, &"default".into(), &[]).await;
    let (step, output) = failed(&run);
    assert!(matches!(step, Step::Init | Step::Plan), "{step:?}");
    assert!(output.contains("main.tf line 2"), "{output}");
    assert!(output.contains("failed: exit code 1"), "{output}");
    assert!(run.planfile.is_none());
}

#[tokio::test]
async fn var_args_reach_terraform() {
    let fx = Fixture::new();
    let dir = fx.project(
        "p",
        "variable \"x\" {}\nresource \"terraform_data\" \"a\" { input = var.x }\n",
    );
    let extra = [
        "-var".to_owned(),
        "x=from the comment; echo $HOME".to_owned(),
    ];
    let run = fx
        .tf
        .plan_project(&dir, &dir, &"default".into(), &extra)
        .await;
    let (_, text) = planned(&run);
    assert!(
        text.contains(r#"+ input  = "from the comment; echo $HOME""#),
        "{text}"
    );
}

#[tokio::test]
async fn a_non_default_workspace_is_created_and_used() {
    let fx = Fixture::new();
    let dir = fx.project(
        "p",
        "resource \"terraform_data\" \"a\" { input = terraform.workspace }\n",
    );
    let run = fx.tf.plan_project(&dir, &dir, &"staging".into(), &[]).await;
    let (_, text) = planned(&run);
    assert!(text.contains(r#"+ input  = "staging""#), "{text}");
    // Selecting it again (the workspace exists now) works too.
    let run = fx.tf.plan_project(&dir, &dir, &"staging".into(), &[]).await;
    planned(&run);
}

#[tokio::test]
async fn an_invalid_workspace_name_fails_the_workspace_step() {
    let fx = Fixture::new();
    let dir = fx.project("p", TWO);
    let run = fx.tf.plan_project(&dir, &dir, &"a/../b".into(), &[]).await;
    let (step, output) = failed(&run);
    assert_eq!(step, Step::Workspace);
    assert!(output.contains("invalid workspace name"), "{output}");
}

/// A filesystem provider mirror holding `example.com/example/<name>` 1.0.0 for this machine,
/// each package an executable of `size` bytes (`init` installs providers without starting
/// them), and a CLI config that installs `example.com` providers from it only.
pub(crate) fn provider_mirror(dir: &Path, names: &[&str], size: usize) -> PathBuf {
    let platform = format!(
        "linux_{}",
        match std::env::consts::ARCH {
            "aarch64" => "arm64",
            _ => "amd64",
        }
    );
    let mirror = dir.join("mirror");
    for name in names {
        // The packed layout: installed by copying into the plugin cache (an unpacked mirror
        // is linked to instead).
        let at = mirror.join(format!("example.com/example/{name}"));
        std::fs::create_dir_all(&at).unwrap();
        let mut bytes = format!("#!/bin/sh\n# {name}\nexit 1\n").into_bytes();
        bytes.resize(size.max(bytes.len()), b'#');
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default()
            .unix_permissions(0o755)
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file(format!("terraform-provider-{name}_v1.0.0"), opts)
            .unwrap();
        std::io::Write::write_all(&mut zip, &bytes).unwrap();
        zip.finish().unwrap();
        let file = format!("terraform-provider-{name}_1.0.0_{platform}.zip");
        std::fs::write(at.join(file), out.into_inner()).unwrap();
    }
    let config = dir.join("cli.tfrc");
    std::fs::write(
        &config,
        format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n    include = [\"example.com/*/*\"]\n  }}\n  direct {{\n    exclude = [\"example.com/*/*\"]\n  }}\n}}\n",
            mirror.display()
        ),
    )
    .unwrap();
    config
}

/// A root module that needs provider `example.com/example/<name>`.
pub(crate) fn using(name: &str) -> String {
    format!(
        "terraform {{\n  required_providers {{\n    {name} = {{\n      source  = \"example.com/example/{name}\"\n      version = \"1.0.0\"\n    }}\n  }}\n}}\n"
    )
}

/// The direct runner, counting the runs at once.
#[derive(Default)]
struct Counting {
    running: AtomicUsize,
    most: AtomicUsize,
}

#[async_trait::async_trait]
impl Runner for Counting {
    async fn run(&self, inv: Invocation) -> Result<Finished> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let done = Direct::default().run(inv).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        done
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inits_of_different_and_same_providers_run_at_once_and_share_one_whole_copy() {
    let counting = Arc::new(Counting::default());
    let mut fx = Fixture::with_runner(counting.clone(), terraform_bin());
    fx.tf.cli_config = Some(provider_mirror(fx.tmp.path(), &["alpha", "beta"], 4 << 20));
    // Four projects of each provider, all initialised at once.
    let dirs: Vec<PathBuf> = (0..8)
        .map(|i| {
            let name = if i % 2 == 0 { "alpha" } else { "beta" };
            fx.project(&format!("p{i}"), &using(name))
        })
        .collect();
    let run_dirs: Vec<RunDir> = dirs.iter().map(|_| fx.tf.run_dir().unwrap()).collect();
    let ws = crate::ids::Workspace::default();
    let inits = dirs
        .iter()
        .zip(&run_dirs)
        .map(|(d, r)| fx.tf.init(At::new(d, d, r, &ws)));
    for run in futures::future::join_all(inits).await {
        let run = run.unwrap();
        assert!(run.exit.success(), "{}", run.output);
    }
    assert!(
        counting.most.load(Ordering::SeqCst) >= 2,
        "inits ran one at a time"
    );
    // One whole copy of each package in the shared cache, the hash every lock file records.
    let shared = &fx.tf.plugin_cache;
    for (i, dir) in dirs.iter().enumerate() {
        let name = if i % 2 == 0 { "alpha" } else { "beta" };
        let lock = std::fs::read_to_string(dir.join(".terraform.lock.hcl")).unwrap();
        let pkg = std::fs::read_dir(shared.join(format!("example.com/example/{name}/1.0.0")))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        assert!(pkg.symlink_metadata().unwrap().is_dir(), "a real directory");
        let hash = cache::hash_v1(&pkg).unwrap();
        assert!(lock.contains(&hash), "{hash} not in\n{lock}");
    }
    // The shared copy serves the next init of a project whose lock file records it.
    let later = fx.project("later", &using("beta"));
    std::fs::copy(
        dirs[1].join(".terraform.lock.hcl"),
        later.join(".terraform.lock.hcl"),
    )
    .unwrap();
    let run = fx.tf.run_dir().unwrap();
    let done = fx
        .tf
        .init(At::new(&later, &later, &run, &"default".into()))
        .await
        .unwrap();
    assert!(done.exit.success(), "{}", done.output);
    let installed = std::fs::read_dir(
        run.data_dir()
            .join("providers/example.com/example/beta/1.0.0"),
    )
    .unwrap()
    .next()
    .unwrap()
    .unwrap()
    .path();
    let resolved = installed.canonicalize().unwrap();
    assert!(
        resolved.starts_with(shared.canonicalize().unwrap()),
        "{} leads to {}",
        installed.display(),
        resolved.display()
    );
    // A project without a lock file installs from the mirror into its own cache (Terraform
    // takes a cached package only for a provider its lock file records).
    let fresh = fx.project("fresh", &using("alpha"));
    let run = fx.tf.run_dir().unwrap();
    let done = fx
        .tf
        .init(At::new(&fresh, &fresh, &run, &"default".into()))
        .await
        .unwrap();
    assert!(done.exit.success(), "{}", done.output);
}

#[tokio::test]
async fn version_is_terraforms() {
    let fx = Fixture::new();
    let version = fx.tf.version().await.unwrap();
    assert!(version.starts_with("1."), "{version}");
}

#[tokio::test]
async fn a_missing_binary_fails_init_naming_it() {
    let fx = Fixture::with_runner(Arc::new(Direct::default()), "/nonexistent/tf".into());
    let dir = fx.project("p", TWO);
    let run = fx.tf.plan_project(&dir, &dir, &"default".into(), &[]).await;
    assert_eq!(
        failed(&run),
        (Step::Init, "program not found: /nonexistent/tf")
    );
}

/// A runner that records invocations and answers with a canned result per subcommand.
struct Fake {
    calls: Mutex<Vec<Invocation>>,
    plan_exit: Exit,
    /// Calls running now, and the most ever running at once.
    running: AtomicUsize,
    most: AtomicUsize,
    /// Runs inside every call, while the command would be running.
    during: Box<dyn Fn(&Invocation) + Send + Sync>,
}

impl Fake {
    fn new(plan_exit: Exit, during: impl Fn(&Invocation) + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            calls: Mutex::new(Vec::new()),
            plan_exit,
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            during: Box::new(during),
        })
    }
}

#[async_trait::async_trait]
impl Runner for Fake {
    async fn run(&self, inv: Invocation) -> Result<Finished> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        (self.during)(&inv);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.calls.lock().unwrap().push(inv.clone());
        let (exit, output) = match inv.args.first().map(String::as_str) {
            Some("plan") => {
                let out = inv.args.last().unwrap().strip_prefix("-out=").unwrap();
                std::fs::write(out, b"planfile").unwrap();
                (self.plan_exit, "Plan: 1 to add, 0 to change, 0 to destroy.\n".into())
            }
            Some("show") => (
                Exit::Code(0),
                "warning on stderr\n{\"resource_changes\":[{\"address\":\"a.b\",\"change\":{\"actions\":[\"create\"]}}]}\n".into(),
            ),
            _ => (Exit::Code(0), String::new()),
        };
        Ok(Finished {
            exit,
            output,
            truncated: false,
            elapsed: Duration::ZERO,
        })
    }
}

#[tokio::test]
async fn argv_and_environment_are_exactly_bosuns() {
    let fake = Fake::new(Exit::Code(0), |_| {});
    let mut fx = Fixture::with_runner(fake.clone(), "/opt/tf".into());
    fx.tf.extra_env = vec![
        ("AWS_REGION".into(), "eu-west-1".into()),
        ("PATH".into(), "/opt/bin".into()),
    ];
    let dir = fx.project("p", TWO);
    let extra = [
        "-var".to_owned(),
        "x=y z".to_owned(),
        "-out=/etc/evil".to_owned(),
    ];
    let run = fx.tf.plan_project(&dir, &dir, &"dev".into(), &extra).await;
    let (summary, _) = planned(&run);
    assert_eq!(summary.add, 1);
    assert_eq!(summary.line, "Plan: 1 to add, 0 to change, 0 to destroy.");
    assert_eq!(run.planfile.as_deref(), Some(&b"planfile"[..]));

    let calls = fake.calls.lock().unwrap();
    let argv: Vec<String> = calls.iter().map(|c| c.args.join(" ")).collect();
    let run_dir = calls[0].writable[1].clone();
    assert!(
        run_dir.starts_with(&fx.tf.runs_dir),
        "{}",
        run_dir.display()
    );
    assert!(!run_dir.exists(), "removed after the run");
    let planfile = run_dir.join("plan.tfplan").display().to_string();
    assert_eq!(
        argv,
        [
            "init -input=false -no-color".to_owned(),
            "workspace select -or-create=true -no-color dev".to_owned(),
            format!("plan -var x=y z -out=/etc/evil -input=false -no-color -out={planfile}"),
            format!("show -json -no-color {planfile}"),
        ]
    );
    let plan = &calls[2];
    assert_eq!(plan.program, PathBuf::from("/opt/tf"));
    assert_eq!(plan.cwd, dir);
    assert_eq!(plan.args[1..3], ["-var", "x=y z"]);
    let path = |p: &str| run_dir.join(p).display().to_string();
    let (home, data, rc) = (path("home"), path("tf-data"), path("terraformrc"));
    let shared_cache = fx.tf.plugin_cache.display().to_string();
    let private_cache = path("plugin-cache");
    let expected = |workspace: Option<&str>, cache: &str| {
        let mut env: Vec<(String, String)> = [
            ("HOME", home.as_str()),
            ("TF_DATA_DIR", data.as_str()),
            ("TF_CLI_CONFIG_FILE", rc.as_str()),
            ("TF_IN_AUTOMATION", "1"),
            ("TF_INPUT", "0"),
            ("CHECKPOINT_DISABLE", "1"),
            ("TF_PLUGIN_CACHE_DIR", cache),
            ("GIT_CONFIG_NOSYSTEM", "1"),
            ("GIT_CONFIG_GLOBAL", "/dev/null"),
            ("GIT_ALLOW_PROTOCOL", "https"),
            ("GIT_TERMINAL_PROMPT", "0"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec();
        env.extend(workspace.map(|w| ("TF_WORKSPACE".to_owned(), w.to_owned())));
        env.push(("AWS_REGION".into(), "eu-west-1".into()));
        env.push(("PATH".into(), "/opt/bin".into()));
        env
    };
    // init and workspace select choose the workspace; every later command has it pinned.
    // init installs into its own cache (see `cache`).
    assert_eq!(calls[0].env, expected(None, &private_cache));
    assert_eq!(calls[1].env, expected(None, &shared_cache));
    assert_eq!(plan.env, expected(Some("dev"), &shared_cache));
    assert_eq!(calls[3].env, expected(Some("dev"), &shared_cache));
    assert!(!dir.join(".bosun-home").exists());
}

#[tokio::test]
async fn the_operators_cli_config_and_git_ssh_are_used_when_set() {
    let fake = Fake::new(Exit::Code(0), |_| {});
    let mut fx = Fixture::with_runner(fake.clone(), "/opt/tf".into());
    fx.tf.cli_config = Some("/etc/bosun/terraformrc".into());
    fx.tf.git_ssh = true;
    let dir = fx.project("p", TWO);
    planned(&fx.tf.plan_project(&dir, &dir, &"default".into(), &[]).await);
    let calls = fake.calls.lock().unwrap();
    for call in calls.iter() {
        let get = |key: &str| {
            call.env
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("TF_CLI_CONFIG_FILE"), Some("/etc/bosun/terraformrc"));
        assert_eq!(get("GIT_ALLOW_PROTOCOL"), Some("https:ssh"));
        assert!(
            call.readable
                .contains(&PathBuf::from("/etc/bosun/terraformrc"))
        );
    }
    // `default` is pinned too, after init.
    assert_eq!(
        calls[1]
            .env
            .iter()
            .find(|(k, _)| k == "TF_WORKSPACE")
            .map(|(_, v)| v.as_str()),
        Some("default")
    );
}

#[tokio::test]
async fn a_timed_out_plan_says_so() {
    let fake = Fake::new(Exit::TimedOut, |_| {});
    let mut fx = Fixture::with_runner(fake, "/opt/tf".into());
    fx.tf.timeouts.plan = Duration::from_secs(90);
    let dir = fx.project("p", TWO);
    let run = fx.tf.plan_project(&dir, &dir, &"default".into(), &[]).await;
    let (step, output) = failed(&run);
    assert_eq!(step, Step::Plan);
    assert!(
        output.ends_with("terraform plan timed out after 1m 30s"),
        "{output}"
    );
    assert!(run.planfile.is_none());
}

#[tokio::test]
async fn detailed_exitcode_2_is_a_successful_plan() {
    let fake = Fake::new(Exit::Code(2), |_| {});
    let fx = Fixture::with_runner(fake, "/opt/tf".into());
    let dir = fx.project("p", TWO);
    let run = fx.tf.plan_project(&dir, &dir, &"default".into(), &[]).await;
    assert_eq!(failed(&run).0, Step::Plan);
    let run = fx
        .tf
        .plan_project(
            &dir,
            &dir,
            &"default".into(),
            &["-detailed-exitcode".to_owned()],
        )
        .await;
    planned(&run);
}

#[tokio::test]
async fn the_checkout_root_and_run_dir_are_writable_and_the_shared_cache_never() {
    let fake = Fake::new(Exit::Code(0), |_| {});
    let fx = Fixture::with_runner(fake.clone(), "/opt/tf".into());
    let root = fx.tmp.path().join("checkout");
    let dir = fx.project("checkout/envs/dev", TWO);
    planned(&fx.tf.plan_project(&root, &dir, &"dev".into(), &[]).await);
    let cache = fx.tf.plugin_cache.clone();
    let calls = fake.calls.lock().unwrap();
    assert_eq!(calls.len(), 4);
    let run_dir = calls[0].writable[1].clone();
    assert!(run_dir.starts_with(&fx.tf.runs_dir));
    assert!(!run_dir.starts_with(&root));
    for call in calls.iter() {
        let init = call.args.first().map(String::as_str) == Some("init");
        if init {
            // It installs into its own run directory's cache; the shared one is read-only.
            assert_eq!(call.writable, [root.clone(), run_dir.clone()]);
            assert_eq!(call.readable, std::slice::from_ref(&cache));
            let tf_cache = call
                .env
                .iter()
                .find(|(k, _)| k == "TF_PLUGIN_CACHE_DIR")
                .unwrap();
            assert_eq!(PathBuf::from(&tf_cache.1), run_dir.join("plugin-cache"));
        } else {
            let rw = vec![root.clone(), run_dir.clone()];
            assert_eq!(call.writable, rw, "{:?}", call.args);
            assert_eq!(call.readable, vec![cache.clone()], "{:?}", call.args);
        }
    }
}

#[test]
fn workspace_names() {
    for ok in ["default", "staging", "eu-west-1", "a_b.c"] {
        assert!(valid_workspace(ok), "{ok}");
    }
    for bad in ["", "a/b", "..x/", "a b", "ä", "-\n"] {
        assert!(!valid_workspace(bad), "{bad:?}");
    }
}

#[test]
fn debug_does_not_print_extra_env_values() {
    let mut tf = Terraform::new("tf", Arc::new(Direct::default()), "/c".into());
    tf.extra_env = vec![("AWS_SECRET_ACCESS_KEY".into(), "hunter2".into())];
    let debug = format!("{tf:?}");
    assert!(debug.contains("AWS_SECRET_ACCESS_KEY"));
    assert!(!debug.contains("hunter2"));
}

/// A `terraform` whose `plan` prints `bytes` bytes of plausible plan text and succeeds; every
/// other command succeeds silently.
fn chatty_terraform(dir: &Path, bytes: u64) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("chatty-terraform");
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n  plan) yes '  # terraform_data.x will be created' | head -c {bytes}; touch \"${{TF_DATA_DIR%/*}}/plan.tfplan\";;\nesac\nexit 0\n"
    );
    std::fs::write(&bin, script).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[tokio::test]
async fn a_plan_printing_gigabytes_is_cut_off_and_fails() {
    let bins = TempDir::new().unwrap();
    let bin = chatty_terraform(bins.path(), 2 << 30);
    let fx = Fixture::with_runner(Arc::new(Direct::default()), bin);
    let dir = fx.project("p", TWO);
    let run = fx.tf.plan_project(&dir, &dir, &"default".into(), &[]).await;
    let (step, output) = failed(&run);
    assert_eq!(step, Step::Plan);
    assert!(
        output.starts_with("  # terraform_data.x will be created\n"),
        "{}",
        &output[..100]
    );
    let tail = &output[output.len().saturating_sub(300)..];
    assert!(
        tail.ends_with(&format!(
            "created\n… output cut: terraform plan (exit code 0) printed more than the \
             {DEFAULT_OUTPUT_CAP} bytes bosun keeps; a plan that cannot be shown in full is not \
             kept, so it cannot be applied"
        )),
        "{tail}"
    );
    // Kept: the start, to see what it was printing, not gigabytes.
    assert!(output.len() < 33 * 1024, "{}", output.len());
    assert!(run.planfile.is_none());
}

/// What the sandbox must show for the test Terraform (a Python virtualenv's shim) to run.
fn terraform_paths() -> Vec<PathBuf> {
    let Ok(real) = std::fs::canonicalize(terraform_bin()) else {
        return Vec::new();
    };
    let Some(prefix) = real.parent().and_then(Path::parent) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    if let Ok(cfg) = std::fs::read_to_string(prefix.join("pyvenv.cfg")) {
        paths.push(prefix.to_owned());
        let home = cfg
            .lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == "home")
            .map(|(_, v)| PathBuf::from(v.trim()));
        if let Some(python) = home.as_deref().and_then(Path::parent) {
            paths.push(python.to_owned());
        }
    }
    paths
}

/// A fixture whose runs go through bubblewrap, with `example.com/example/alpha` in a mirror
/// under the returned directory (readable in the sandbox).
async fn sandboxed_with_alpha() -> (TempDir, Fixture) {
    let tmp = TempDir::new().unwrap();
    let cli = provider_mirror(tmp.path(), &["alpha"], 1 << 20);
    let mut readable = terraform_paths();
    readable.push(tmp.path().join("mirror"));
    let config = sandbox::BwrapConfig {
        readable_paths: readable,
        ..sandbox::BwrapConfig::default()
    };
    let bwrap = sandbox::Bwrap::ready(config)
        .await
        .expect("bubblewrap runs here (apt-get install bubblewrap)");
    let mut fx = Fixture::with_runner(Arc::new(bwrap), terraform_bin());
    fx.tf.cli_config = Some(cli);
    (tmp, fx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sandboxed_inits_install_into_their_own_cache_and_the_shared_one_stays_read_only() {
    let (_mirror, fx) = sandboxed_with_alpha().await;
    let dirs: Vec<PathBuf> = (0..3)
        .map(|i| fx.project(&format!("s{i}"), &using("alpha")))
        .collect();
    let runs: Vec<RunDir> = dirs.iter().map(|_| fx.tf.run_dir().unwrap()).collect();
    let ws = crate::ids::Workspace::default();
    let inits = dirs
        .iter()
        .zip(&runs)
        .map(|(d, r)| fx.tf.init(At::new(d, d, r, &ws)));
    for done in futures::future::join_all(inits).await {
        let done = done.unwrap();
        assert!(done.exit.success(), "{}", done.output);
    }
    let shared = fx.tf.plugin_cache.join("example.com/example/alpha/1.0.0");
    let package = std::fs::read_dir(&shared)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let lock = std::fs::read_to_string(dirs[0].join(".terraform.lock.hcl")).unwrap();
    assert!(lock.contains(&cache::hash_v1(&package).unwrap()), "{lock}");
    // A run cannot write the shared cache, whatever it does.
    let evil = fx.project("evil", "");
    let run = fx.tf.run_dir().unwrap();
    let target = package.join("planted");
    let cmd = crate::config::repo::ShellCommand::plain(format!(
        "echo x > {} || echo refused",
        target.display()
    ));
    let done = fx.tf.hook(&evil, &cmd, &[]).await.unwrap();
    assert!(done.output.contains("refused"), "{}", done.output);
    assert!(!target.exists());
    drop(run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_package_one_pull_request_verified_is_linked_by_the_next_from_the_read_only_store() {
    let (tmp, mut fx) = sandboxed_with_alpha().await;
    let store = fx.tmp.path().join("verified");
    fx.tf.provider_store = Some(store.clone());
    let ws = crate::ids::Workspace::default();
    // The first pull request installs alpha from the mirror.
    let first = fx.tf.with_plugin_cache(fx.tmp.path().join("pr-1"));
    let one = fx.project("one", &using("alpha"));
    let run = first.run_dir().unwrap();
    let done = first.init(At::new(&one, &one, &run, &ws)).await.unwrap();
    assert!(done.exit.success(), "{}", done.output);
    let lock = std::fs::read_to_string(one.join(".terraform.lock.hcl")).unwrap();
    let versions = store.join("example.com/example/alpha/1.0.0");
    let platform = std::fs::read_dir(&versions)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let entries: Vec<PathBuf> = std::fs::read_dir(&platform)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "one copy, no leftovers: {entries:?}");
    let entry = &entries[0];
    let hash = cache::hash_v1(entry).unwrap();
    assert!(lock.contains(&hash), "{hash} not in\n{lock}");
    // The mirror's package is spoilt (Terraform still lists its versions there): the next
    // pull request can only get alpha from the store.
    let zips = tmp.path().join("mirror/example.com/example/alpha");
    for zip in std::fs::read_dir(&zips).unwrap() {
        std::fs::write(zip.unwrap().path(), b"not a zip").unwrap();
    }
    let second = fx.tf.with_plugin_cache(fx.tmp.path().join("pr-2"));
    let two = fx.project("two", &using("alpha"));
    std::fs::write(two.join(".terraform.lock.hcl"), &lock).unwrap();
    let run = second.run_dir().unwrap();
    let done = second.init(At::new(&two, &two, &run, &ws)).await.unwrap();
    assert!(done.exit.success(), "{}", done.output);
    let linked = run
        .path()
        .join("plugin-cache/example.com/example/alpha/1.0.0")
        .join(platform.file_name().unwrap());
    assert_eq!(&linked.read_link().unwrap(), entry);
    // Without a lock file recording that hash, nothing is linked: the init finds only the
    // spoilt package.
    let three = fx.project("three", &using("alpha"));
    let run = second.run_dir().unwrap();
    let done = second
        .init(At::new(&three, &three, &run, &ws))
        .await
        .unwrap();
    assert!(!done.exit.success(), "{}", done.output);
    // Runs read the store and cannot write it.
    let evil = fx.project("evil", "");
    let binary = entry.join("terraform-provider-alpha_v1.0.0");
    let planted = entry.join("planted");
    let cmd = crate::config::repo::ShellCommand::plain(format!(
        "head -c 9 {bin}; echo x >> {bin} || echo refused; echo x > {planted} || echo refused",
        bin = binary.display(),
        planted = planted.display()
    ));
    let done = second.hook(&evil, &cmd, &[]).await.unwrap();
    assert!(done.output.contains("#!/bin/sh"), "{}", done.output);
    assert_eq!(done.output.matches("refused").count(), 2, "{}", done.output);
    assert!(!planted.exists());
    assert_eq!(cache::hash_v1(entry).unwrap(), hash);
}
