//! Terraform runs in the sandbox end to end: a pull request's `local-exec` provisioner, run by
//! a real `bosun apply`, finds nothing of bosun's data directory and cannot write outside its
//! checkout. (Issue 5's full malicious-PR test builds on this.)

use bosun::ids::PrNumber;
use bosun::ids::RepoKey;
use bosun::plan::Outcome;

use crate::support::prs::module;
use crate::support::{REPO, TestContext};

#[tokio::test]
async fn a_provisioner_sees_nothing_of_the_data_dir() {
    let ctx = TestContext::start().await;
    ctx.fake.set_permission(REPO, "alice", "write");
    // A second PR's checkout exists when the first applies.
    let other = ctx.state_file("other");
    let (other_pr, _) = ctx
        .open_pr("other", &[("envs/other/main.tf", &module(&other, &["o"]))])
        .await;
    ctx.settle().await;

    let data = ctx.data_path();
    let probe = ctx.state_dir.path().join("probe.txt");
    let (d, p) = (data.display(), probe.display());
    let command = format!(
        "(cat {d}/bosun.db && echo LEAK-db; ls {d}/checkouts/*/pr-{other_pr} && echo LEAK-ls; \
         echo x > {d}/escape && echo LEAK-write; echo data=$(ls -A {d}); \
         echo uid=$(id -u)) > {p} 2>&1"
    );
    let tf = format!(
        "{}\nresource \"terraform_data\" \"probe\" {{\n  provisioner \"local-exec\" {{\n    command = \"{}\"\n  }}\n}}\n",
        module(&ctx.state_file("dev"), &[]),
        command.replace('"', "\\\"")
    );
    let (pr, _) = ctx.open_pr("probe", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;

    let seen = std::fs::read_to_string(&probe).expect("the provisioner ran");
    assert!(!seen.contains("LEAK"), "{seen}");
    // `runs` holds only this run's own directory (HOME, TF_DATA_DIR, planfile).
    assert!(
        seen.contains("data=checkouts plugin-cache runs\n"),
        "{seen}"
    );
    if rustix::process::geteuid().is_root() {
        assert!(seen.contains("uid=65534"), "{seen}");
    }
    assert!(!data.join("escape").exists());
    ctx.finish().await;
}

/// A project whose `terraform_data` runs `command` (HCL heredoc text, no `${`) with
/// `interpreter` at apply.
fn provisioned(state: &std::path::Path, interpreter: &str, command: &str) -> String {
    format!(
        "{}\nresource \"terraform_data\" \"probe\" {{\n  provisioner \"local-exec\" {{\n    \
         interpreter = [\"{interpreter}\", \"-c\"]\n    command = <<-EOT\n{command}\n    EOT\n  \
         }}\n}}\n",
        module(state, &[])
    )
}

/// Python asking the kernel for what the seccomp filter refuses, one `name=ok|ERRNO` line
/// each, into `$OUT` (x86-64 numbers).
const PROBES: &str = r#"
import ctypes, errno, os, subprocess
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = open(os.environ["OUT"], "w")
def probe(name, nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(nr, *[ctypes.c_long(a) for a in args])
    e = ctypes.get_errno()
    out.write(name + "=" + ("ok" if r >= 0 else errno.errorcode.get(e, str(e))) + "\n")
probe("keyctl", 250, 0, -3, 0)
probe("unshare_user", 272, 0x10000000)
probe("mount", 165, 0, 0, 0, 0, 0)
probe("bpf", 321, 999, 0, 0)
probe("init_module", 175, 0, 0, 0)
probe("getpid", 39)
for name, argv in [("unshare_U", ["unshare", "-Ur", "true"]), ("unshare_n", ["unshare", "-Urn", "true"])]:
    r = subprocess.run(argv, capture_output=True, text=True)
    out.write(name + "=" + str(r.returncode) + ":" + r.stderr.strip() + "\n")
# Last: untraced, a traced process stops at its next signal.
probe("ptrace", 101, 0, 0, 0, 0)
"#;

#[tokio::test]
async fn a_pr_cannot_make_namespaces_mount_trace_or_use_the_keyring_and_still_plans() {
    if std::env::consts::ARCH != "x86_64" {
        eprintln!("skipped: the probes use x86-64 syscall numbers");
        return;
    }
    let ctx = TestContext::start().await;
    let out = ctx.state_dir.path().join("probes.txt");
    let command = format!(
        "import os\nos.environ[\"OUT\"] = \"{}\"\n{PROBES}",
        out.display()
    );
    let tf = provisioned(&ctx.state_file("dev"), "/usr/bin/python3", &command);
    let (pr, _) = ctx.open_pr("probes", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(pr, "bosun/plan: envs/dev").conclusion.as_deref(),
        Some("success"),
        "Terraform plans under the filter"
    );
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(pr, "bosun/apply: envs/dev").conclusion.as_deref(),
        Some("success")
    );
    let seen = std::fs::read_to_string(&out).expect("the provisioner ran");
    for want in [
        "keyctl=EPERM\n",
        "ptrace=EPERM\n",
        "unshare_user=EPERM\n",
        "mount=EPERM\n",
        "bpf=EPERM\n",
        "init_module=EPERM\n",
        "getpid=ok\n",
        "unshare_U=1:unshare: unshare failed: Operation not permitted\n",
        "unshare_n=1:unshare: unshare failed: Operation not permitted\n",
    ] {
        assert!(seen.contains(want), "{want}: {seen}");
    }
    ctx.finish().await;
}

/// sha256 of `text`, in hex.
fn sha256(text: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn plans_get_the_plan_credentials_and_only_applies_the_apply_ones() {
    const PLAN: &str = "read-only-credential-of-plans";
    const APPLY: &str = "read-write-credential-of-applies";
    let mut ctx = TestContext::without_bosun().await;
    ctx.sources.pass_env.insert("RO_TOKEN".into(), PLAN.into());
    ctx.sources.pass_env.insert("RW_TOKEN".into(), APPLY.into());
    ctx.set("terraform_pass_env", "TF_VAR_token=RW_TOKEN");
    ctx.set("terraform_plan_pass_env", "acme/*:TF_VAR_token=RO_TOKEN");
    ctx.set("terraform_apply_pass_env", "TF_VAR_token=RW_TOKEN");
    ctx.start_bosun().await;

    // The plan shows a digest of what it got (the value itself would be redacted); the apply's
    // provisioner writes a digest of what it gets.
    let seen = ctx.state_dir.path().join("apply-token.txt");
    let command = format!(
        "    printf %s \"$TF_VAR_token\" | sha256sum | cut -d' ' -f1 > {}",
        seen.display()
    );
    let tf = format!(
        "{}\nvariable \"token\" {{\n  type = string\n}}\n\noutput \"token_digest\" {{\n  value = \
         sha256(var.token)\n}}\n",
        provisioned(&ctx.state_file("dev"), "/bin/sh", &command)
    );
    let (pr, _) = ctx.open_pr("creds", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;
    let plans = ctx
        .store()
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    let Outcome::Planned { text, .. } = &plans[0].outcome else {
        panic!("envs/dev should plan: {:#?}", plans[0]);
    };
    assert!(text.contains(&sha256(PLAN)), "{text}");
    assert!(!text.contains(&sha256(APPLY)), "{text}");

    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(pr, "bosun/apply: envs/dev").conclusion.as_deref(),
        Some("success")
    );
    let digest = std::fs::read_to_string(&seen).expect("the provisioner ran");
    assert_eq!(digest.trim(), sha256(APPLY));
    ctx.finish().await;
}

#[tokio::test]
async fn at_the_timeout_terraform_and_its_children_are_interrupted_before_being_killed() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("terraform_timeout", "8s");
    ctx.start_bosun().await;
    let marker = ctx.state_dir.path().join("interrupted.txt");
    // A grandchild of Terraform (Terraform may kill its own child when interrupted) that
    // records the SIGINT it gets.
    let command = format!(
        "    sh -c 'trap \"echo interrupted > {}; exit 1\" INT; sleep 4242.31 & wait'; true",
        marker.display()
    );
    let tf = provisioned(&ctx.state_file("dev"), "/bin/sh", &command);
    let (pr, _) = ctx.open_pr("slow", &[("envs/dev/main.tf", &tf)]).await;
    ctx.settle().await;
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;

    let applied = ctx
        .bot_comments(pr)
        .into_iter()
        .find(|c| c.body.contains("timed out"))
        .expect("an apply comment saying it timed out");
    assert!(
        applied.body.contains("Interrupt received"),
        "Terraform got SIGINT: {}",
        applied.body
    );
    let seen = std::fs::read_to_string(&marker).unwrap_or_default();
    assert_eq!(seen, "interrupted\n", "the provisioner got SIGINT");
    ctx.finish().await;
}

#[tokio::test]
async fn version_names_the_sandboxed_terraforms_version() {
    let ctx = TestContext::start().await;
    let (pr, _) = ctx.open_pr("docs", &[("README.md", "hi\n")]).await;
    ctx.settle().await;
    ctx.comment(pr, "alice", "bosun version").await;
    ctx.settle().await;
    let body = ctx.reply(pr, "version");
    let terraform = body
        .lines()
        .find(|l| l.starts_with("| Terraform |"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        terraform.starts_with("| Terraform | `1."),
        "the sandboxed `terraform version` answered: {body}"
    );
    ctx.finish().await;
}
