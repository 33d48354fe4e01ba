//! Hostile input a pull request can bring: a repo config that is not YAML, a YAML bomb, a huge
//! or deeply nested file each get a clear comment and a failed check; a plan printing
//! gigabytes is cut off and fails, and bosun goes on serving.

use bosun::ids::PrNumber;
use bosun::ids::RepoKey;
use std::os::unix::fs::PermissionsExt;

use bosun::store::JobStatus;

use crate::support::{REPO, TestContext, terraform_bin};

const TF: &str = "resource \"terraform_data\" \"x\" {}\n";

/// Opens a pull request with `config` as `bosun.yaml` and returns bosun's one comment on it,
/// checking that the plan check failed and the job itself ended cleanly.
async fn refused(ctx: &TestContext, config: &str) -> String {
    let (pr, _) = ctx
        .open_pr("config", &[("bosun.yaml", config), ("envs/x/main.tf", TF)])
        .await;
    ctx.settle().await;
    let body = ctx.bot_comment(pr).body;
    assert!(body.contains("**`bosun.yaml` is not valid**"), "{body}");
    assert_eq!(
        ctx.check(pr, "bosun/plan").conclusion.as_deref(),
        Some("failure")
    );
    for job in ctx
        .store()
        .jobs_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap()
    {
        assert_eq!(job.status, JobStatus::Done, "{job:?}");
    }
    body
}

#[tokio::test]
async fn bad_and_hostile_repo_configs_get_a_clear_comment() {
    let ctx = TestContext::start().await;

    let body = refused(&ctx, "version: 3\nprojects: [\n  - dir: a\n").await;
    assert!(body.contains("not valid YAML"), "{body}");

    let body = refused(&ctx, "{\"version\": 3, \"projects\": \"x\"").await;
    assert!(body.contains("not valid YAML"), "{body}");

    // Billion laughs: each level doubles the one before.
    let mut bomb = String::from("version: 3\na0: &a0 [lol, lol]\n");
    for i in 1..30 {
        bomb.push_str(&format!("a{i}: &a{i} [*a{}, *a{}]\n", i - 1, i - 1));
    }
    let body = refused(&ctx, &bomb).await;
    assert!(body.contains("`bosun.yaml:2:"), "{body}");
    assert!(
        body.contains("anchors and aliases are not supported"),
        "{body}"
    );

    let deep = |n: usize| format!("version: 3\nx: {}{}\n", "[".repeat(n), "]".repeat(n));
    let body = refused(&ctx, &deep(40)).await;
    assert!(body.contains("nested too deeply"), "{body}");
    // Deeper still, the YAML parser's own limit answers first.
    let body = refused(&ctx, &deep(100_000)).await;
    assert!(body.contains("`bosun.yaml:2:"), "{body}");

    let huge = format!("version: 3\n{}", "# padding\n".repeat(200_000));
    let body = refused(&ctx, &huge).await;
    assert!(
        body.contains("bosun cannot read it: it is 2000011 bytes"),
        "{body}"
    );

    let many = format!("version: 3\nx: [{}]\n", "a,".repeat(150_000));
    let body = refused(&ctx, &many).await;
    assert!(body.contains("too many nodes"), "{body}");
    ctx.finish().await;
}

#[tokio::test]
async fn projects_sharing_a_dir_and_workspace_without_names_are_refused() {
    let ctx = TestContext::start().await;
    let config = "version: 3\nprojects:\n  - dir: envs/x\n  - name: y-vars\n    dir: envs/x\n";
    let (pr, _) = ctx
        .open_pr("config", &[("bosun.yaml", config), ("envs/x/main.tf", TF)])
        .await;
    ctx.settle().await;
    let body = ctx.bot_comment(pr).body;
    assert!(
        body.contains(
            "At `bosun.yaml:3:5`, key `projects[0]`: two or more projects are on dir `envs/x` \
             and workspace `default` and not all are named"
        ),
        "{body}"
    );
    assert_eq!(
        ctx.check(pr, "bosun/plan").conclusion.as_deref(),
        Some("failure")
    );
    // Nothing was planned, so nothing holds the dir's lock.
    assert!(ctx.locks_of_pr(pr).await.is_empty());
    ctx.finish().await;
}

/// A `terraform` that prints `bytes` bytes on `plan` in a dir named `huge`, and is the real
/// Terraform otherwise.
fn chatty_terraform(dir: &std::path::Path, bytes: u64) -> String {
    let bin = dir.join("chatty-terraform");
    let script = format!(
        "#!/bin/sh\ncase \"$1:$PWD\" in\n  plan:*/huge) yes '  # terraform_data.x will be created' | head -c {bytes}; exit 0;;\nesac\nexec {} \"$@\"\n",
        terraform_bin()
    );
    std::fs::write(&bin, script).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin.display().to_string()
}

#[tokio::test]
async fn a_plan_printing_gigabytes_is_cut_off_and_bosun_goes_on() {
    let mut ctx = TestContext::without_bosun().await;
    let bins = tempfile::tempdir().unwrap();
    ctx.set("terraform_bin", &chatty_terraform(bins.path(), 2 << 30));
    ctx.start_bosun().await;
    let (pr, _) = ctx.open_pr("huge", &[("envs/huge/main.tf", TF)]).await;
    ctx.settle().await;
    let check = ctx.check(pr, "bosun/plan: envs/huge");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    let shown = format!(
        "{}{}",
        check.text.unwrap_or_default(),
        ctx.bot_comment(pr).body
    );
    assert!(
        shown.contains("bytes bosun keeps; a plan that cannot be shown"),
        "{shown}"
    );
    let plans = ctx
        .store()
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap();
    assert_eq!(plans.len(), 1);
    assert!(plans[0].planfile.is_none(), "no planfile kept");
    for job in ctx
        .store()
        .jobs_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap()
    {
        assert_eq!(job.status, JobStatus::Done, "{job:?}");
    }

    let (other, _) = ctx.open_pr("small", &[("envs/small/main.tf", TF)]).await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(other, "bosun/plan: envs/small")
            .conclusion
            .as_deref(),
        Some("success")
    );
    ctx.finish().await;
}
