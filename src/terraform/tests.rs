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
    let run = fx.tf.plan_project(&dir, &dir, "default", &[]).await;
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
    let first = fx.tf.plan_project(&dir, &dir, "default", &[]).await;
    assert_eq!(planned(&first).0.add, 2);
    std::fs::write(
        dir.join("main.tf"),
        format!("{TWO}\nresource \"terraform_data\" \"c\" {{ input = \"c\" }}\n"),
    )
    .unwrap();
    let second = fx.tf.plan_project(&dir, &dir, "default", &[]).await;
    let (summary, text) = planned(&second);
    assert_eq!(summary.line, "Plan: 3 to add, 0 to change, 0 to destroy.");
    assert!(text.contains("terraform_data.c will be created"), "{text}");
    assert_ne!(first.planfile, second.planfile);
}

#[tokio::test]
async fn an_applied_plan_leaves_no_changes() {
    let fx = Fixture::new();
    let dir = fx.project("p", TWO);
    let run = fx.tf.plan_project(&dir, &dir, "default", &[]).await;
    planned(&run);
    let applied = fx
        .tf
        .apply_project(&dir, &dir, "default", run.planfile.as_deref().unwrap())
        .await;
    assert!(
        matches!(applied, ApplyOutcome::Applied { .. }),
        "{applied:?}"
    );
    let again = fx.tf.plan_project(&dir, &dir, "default", &[]).await;
    let (summary, text) = planned(&again);
    assert!(!summary.has_changes());
    assert_eq!(
        summary.line,
        "No changes. Your infrastructure matches the configuration."
    );
    assert!(text.starts_with("No changes."), "{text}");
    assert!(!text.contains("Refreshing state"), "{text}");
}

#[tokio::test]
async fn invalid_hcl_fails_with_the_file_and_line() {
    let fx = Fixture::new();
    let dir = fx.project("p", "resource \"terraform_data\" \"a\" {\n  input = \n");
    let run = fx.tf.plan_project(&dir, &dir, "default", &[]).await;
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
    let run = fx.tf.plan_project(&dir, &dir, "default", &extra).await;
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
    let run = fx.tf.plan_project(&dir, &dir, "staging", &[]).await;
    let (_, text) = planned(&run);
    assert!(text.contains(r#"+ input  = "staging""#), "{text}");
    // Selecting it again (the workspace exists now) works too.
    let run = fx.tf.plan_project(&dir, &dir, "staging", &[]).await;
    planned(&run);
}

#[tokio::test]
async fn an_invalid_workspace_name_fails_the_workspace_step() {
    let fx = Fixture::new();
    let dir = fx.project("p", TWO);
    let run = fx.tf.plan_project(&dir, &dir, "a/../b", &[]).await;
    let (step, output) = failed(&run);
    assert_eq!(step, Step::Workspace);
    assert!(output.contains("invalid workspace name"), "{output}");
}

#[tokio::test]
async fn parallel_inits_share_one_plugin_cache() {
    let fx = Fixture::new();
    let dirs: Vec<PathBuf> = (0..8).map(|i| fx.project(&format!("p{i}"), TWO)).collect();
    let run_dirs: Vec<RunDir> = dirs.iter().map(|_| fx.tf.run_dir().unwrap()).collect();
    let inits = dirs
        .iter()
        .zip(&run_dirs)
        .map(|(d, r)| fx.tf.init(At::new(d, d, r, "default")));
    let runs = futures::future::join_all(inits).await;
    for run in runs {
        let run = run.unwrap();
        assert!(run.exit.success(), "{}", run.output);
        assert!(
            run.output.contains("successfully initialized"),
            "{}",
            run.output
        );
    }
    assert!(fx.tf.plugin_cache.join(cache::LOCK_FILE).exists());
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
    let run = fx.tf.plan_project(&dir, &dir, "default", &[]).await;
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
    let run = fx.tf.plan_project(&dir, &dir, "dev", &extra).await;
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
    let cache = fx.tf.plugin_cache.display().to_string();
    let expected = |workspace: Option<&str>| {
        let mut env: Vec<(String, String)> = [
            ("HOME", home.as_str()),
            ("TF_DATA_DIR", data.as_str()),
            ("TF_CLI_CONFIG_FILE", rc.as_str()),
            ("TF_IN_AUTOMATION", "1"),
            ("TF_INPUT", "0"),
            ("CHECKPOINT_DISABLE", "1"),
            ("TF_PLUGIN_CACHE_DIR", cache.as_str()),
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
    assert_eq!(calls[0].env, expected(None));
    assert_eq!(calls[1].env, expected(None));
    assert_eq!(plan.env, expected(Some("dev")));
    assert_eq!(calls[3].env, expected(Some("dev")));
    assert!(!dir.join(".bosun-home").exists());
}

#[tokio::test]
async fn the_operators_cli_config_and_git_ssh_are_used_when_set() {
    let fake = Fake::new(Exit::Code(0), |_| {});
    let mut fx = Fixture::with_runner(fake.clone(), "/opt/tf".into());
    fx.tf.cli_config = Some("/etc/bosun/terraformrc".into());
    fx.tf.git_ssh = true;
    let dir = fx.project("p", TWO);
    planned(&fx.tf.plan_project(&dir, &dir, "default", &[]).await);
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
    let run = fx.tf.plan_project(&dir, &dir, "default", &[]).await;
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
    let run = fx.tf.plan_project(&dir, &dir, "default", &[]).await;
    assert_eq!(failed(&run).0, Step::Plan);
    let run = fx
        .tf
        .plan_project(&dir, &dir, "default", &["-detailed-exitcode".to_owned()])
        .await;
    planned(&run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn init_holds_the_plugin_cache_lock_and_inits_run_one_at_a_time() {
    let fake = Fake::new(Exit::Code(0), move |inv| {
        let cache = inv
            .env
            .iter()
            .find(|(k, _)| k == "TF_PLUGIN_CACHE_DIR")
            .map(|(_, v)| PathBuf::from(v))
            .unwrap();
        // Another process (a second bosun) could not take the lock now.
        let other = std::fs::File::open(cache.join(cache::LOCK_FILE)).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
    });
    let fx = Fixture::with_runner(fake.clone(), "/opt/tf".into());
    let dirs: Vec<PathBuf> = (0..8).map(|i| fx.project(&format!("p{i}"), TWO)).collect();
    let tasks = dirs.into_iter().map(|dir| {
        let tf = fx.tf.clone();
        tokio::spawn(async move {
            let run = tf.run_dir().unwrap();
            tf.init(At::new(&dir, &dir, &run, "default")).await
        })
    });
    for done in futures::future::join_all(tasks).await {
        assert!(done.unwrap().unwrap().exit.success());
    }
    assert_eq!(fake.most.load(Ordering::SeqCst), 1);
    assert_eq!(fake.calls.lock().unwrap().len(), 8);
    // Released afterwards.
    let file = std::fs::File::open(fx.tf.plugin_cache.join(cache::LOCK_FILE)).unwrap();
    file.try_lock().unwrap();
}

#[tokio::test]
async fn the_checkout_root_and_run_dir_are_writable_and_the_cache_only_during_init() {
    let fake = Fake::new(Exit::Code(0), |_| {});
    let fx = Fixture::with_runner(fake.clone(), "/opt/tf".into());
    let root = fx.tmp.path().join("checkout");
    let dir = fx.project("checkout/envs/dev", TWO);
    planned(&fx.tf.plan_project(&root, &dir, "dev", &[]).await);
    let cache = fx.tf.plugin_cache.clone();
    let calls = fake.calls.lock().unwrap();
    assert_eq!(calls.len(), 4);
    let run_dir = calls[0].writable[1].clone();
    assert!(run_dir.starts_with(&fx.tf.runs_dir));
    assert!(!run_dir.starts_with(&root));
    for call in calls.iter() {
        let init = call.args.first().map(String::as_str) == Some("init");
        if init {
            assert_eq!(
                call.writable,
                [root.clone(), run_dir.clone(), cache.clone()]
            );
            assert!(call.readable.is_empty());
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
    let run = fx.tf.plan_project(&dir, &dir, "default", &[]).await;
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
