//! Terraform runs in the sandbox end to end: a pull request's `local-exec` provisioner, run by
//! a real `bosun apply`, finds nothing of bosun's data directory and cannot write outside its
//! checkout. (Issue 5's full malicious-PR test builds on this.)

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
