//! Policy checks end to end: the server config's policy set (Rego on the host) evaluated on
//! real plans; a failed set fails its `bosun/policy` check, is listed in the plan comment and
//! holds the apply back until an owner approves it; a non-owner's approval does not count; a
//! push leaves the approval behind. A policy that loops or allocates without bound is stopped.

use bosun::ids::PrNumber;
use std::time::{Duration, Instant};

use bosun::policy::RegoModule;
use bosun::policy::child::{EvalLimits, evaluate};

use crate::support::TestContext;
use crate::support::prs::module;

const FORBIDDEN: &str = r#"package terraform.forbidden

import rego.v1

deny contains msg if {
    some rc in input.resource_changes
    rc.type == "terraform_data"
    contains(json.marshal(rc.change.after.input), "forbidden")
    msg := sprintf("%s holds \"forbidden\"", [rc.address])
}
"#;

/// A server config turning policy checks on for every repository, with one set owned by
/// Carol, the pull requests' author Alice (who may not approve her own) and the team
/// acme/security (Erin), in `dir` with its Rego.
fn start_with_policies(ctx: &mut TestContext, dir: &std::path::Path) {
    std::fs::create_dir(dir.join("policies")).unwrap();
    std::fs::write(dir.join("policies/forbidden.rego"), FORBIDDEN).unwrap();
    let config = "repos:\n\
                  - id: /.*/\n  \
                    policy_check: true\n\
                  policies:\n  \
                    owners:\n    \
                      users: [alice]\n    \
                      teams: [acme/security]\n  \
                    policy_sets:\n  \
                    - name: no-forbidden\n    \
                      path: policies\n    \
                      source: local\n    \
                      prevent_self_approve: true\n    \
                      owners:\n      \
                        users: [Carol]\n";
    let path = dir.join("repos.yaml");
    std::fs::write(&path, config).unwrap();
    ctx.set("server_config", path.to_str().unwrap());
}

#[tokio::test]
async fn a_failed_policy_holds_the_apply_until_an_owner_approves_and_a_push_clears_it() {
    let mut ctx = TestContext::without_bosun().await;
    let dir = tempfile::tempdir().unwrap();
    start_with_policies(&mut ctx, dir.path());
    ctx.fake
        .add_team_member("acme", "security", "erin", "active");
    ctx.start_bosun().await;
    let state = ctx.state_file("one");
    let (pr, _) = ctx
        .open_pr(
            "trips the policy",
            &[("one/main.tf", &module(&state, &["forbidden"]))],
        )
        .await;
    ctx.settle().await;
    let check = ctx.check(pr, "bosun/policy: one");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    let comment = ctx.bot_comment(pr).body;
    assert!(
        comment.contains("Policy checks for `one`: 1 policy set(s) failed"),
        "{comment}"
    );
    assert!(
        comment.contains("`terraform_data.forbidden holds \"forbidden\"`"),
        "{comment}"
    );

    // Approvals are of a set, not of a project.
    ctx.comment(pr, "carol", "bosun approve_policies -d one")
        .await;
    ctx.settle().await;
    let reply = ctx.reply(pr, "approve-policies");
    assert!(reply.contains("not `-d`, `-p` or `-w`"), "{reply}");

    // A non-owner's approval does not count, and the apply is refused naming the set and
    // its owners.
    ctx.comment(pr, "bob", "bosun approve_policies").await;
    ctx.settle().await;
    let reply = ctx.reply(pr, "approve-policies");
    assert!(
        reply.contains("@bob is not an owner of the policy set `no-forbidden`"),
        "{reply}"
    );
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let refused = ctx.reply(pr, "apply-refused");
    assert!(refused.contains("**policy checks failed**"), "{refused}");
    assert!(refused.contains("`no-forbidden`"), "{refused}");
    assert!(
        refused.contains("@Carol, @alice, team acme/security"),
        "{refused}"
    );
    // The author owns the set, but may not approve her own pull request.
    ctx.comment(pr, "alice", "bosun approve_policies").await;
    ctx.settle().await;
    let reply = ctx.reply(pr, "approve-policies");
    assert!(
        reply.contains("may not be approved by the pull request's author"),
        "{reply}"
    );
    assert_eq!(
        ctx.check(pr, "bosun/policy: one").conclusion.as_deref(),
        Some("failure")
    );
    assert!(!state.exists(), "nothing was applied");

    // The owner's approval (any case of their login) lets it apply.
    ctx.comment(
        pr,
        "carol",
        "bosun approve_policies --policy-set no-forbidden",
    )
    .await;
    ctx.settle().await;
    let reply = ctx.reply(pr, "approve-policies");
    assert!(
        reply.contains("Approved the policy set(s) `no-forbidden`"),
        "{reply}"
    );
    let check = ctx.check(pr, "bosun/policy: one");
    assert_eq!(check.conclusion.as_deref(), Some("success"));
    assert_eq!(
        check.title.as_deref(),
        Some("Failed policies approved by @carol")
    );
    let comment = ctx.reply(pr, "plan");
    assert!(
        comment.contains("Policy checks for `one`: failed sets approved"),
        "{comment}"
    );
    assert!(
        comment.contains("- policy set `no-forbidden`: failed, approved"),
        "{comment}"
    );

    // The owner may take the approval back, and give it again.
    ctx.comment(
        pr,
        "carol",
        "bosun approve_policies --clear-policy-approval",
    )
    .await;
    ctx.settle().await;
    let reply = ctx.reply(pr, "approve-policies");
    assert!(reply.contains("Cleared 1 policy approval(s)"), "{reply}");
    assert_eq!(
        ctx.check(pr, "bosun/policy: one").conclusion.as_deref(),
        Some("failure")
    );
    ctx.comment(pr, "carol", "bosun approve_policies").await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(pr, "bosun/policy: one").conclusion.as_deref(),
        Some("success")
    );

    // A push leaves the approval behind: the new head's plan fails again.
    ctx.push_to_pr(
        pr,
        &[("one/main.tf", Some(&module(&state, &["forbidden", "b"])))],
    );
    ctx.pr_event(pr, "synchronize").await;
    ctx.settle().await;
    let check = ctx.check(pr, "bosun/policy: one");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    let refused = ctx.reply(pr, "apply-refused");
    assert!(refused.contains("**policy checks failed**"), "{refused}");
    assert!(!state.exists(), "nothing was applied");

    // Approved again, by an active member of the owning team: the apply goes through.
    ctx.comment(pr, "erin", "bosun approve_policies").await;
    ctx.settle().await;
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(pr, "bosun/apply: one").conclusion.as_deref(),
        Some("success")
    );
    assert!(state.exists(), "applied");

    // The audit trail has each result and each approval.
    let filter = bosun::audit::Filter {
        pr: Some(PrNumber(pr)),
        kind: Some(bosun::audit::Kind::PolicyDecision),
        ..Default::default()
    };
    let entries = ctx.store().audit_entries(&filter, None, 100).await.unwrap();
    let outcomes: Vec<&str> = entries.iter().map(|e| e.entry.outcome.as_str()).collect();
    for want in [
        "policy_failed",
        "policy_approved",
        "policy_approvals_cleared",
    ] {
        assert!(outcomes.contains(&want), "{outcomes:?}");
    }
    ctx.finish().await;
}

#[tokio::test]
async fn a_clean_plan_passes_its_policy_check_and_applies() {
    let mut ctx = TestContext::without_bosun().await;
    let dir = tempfile::tempdir().unwrap();
    start_with_policies(&mut ctx, dir.path());
    ctx.start_bosun().await;
    let state = ctx.state_file("two");
    let (pr, _) = ctx
        .open_pr("clean", &[("two/main.tf", &module(&state, &["fine"]))])
        .await;
    ctx.settle().await;
    let check = ctx.check(pr, "bosun/policy: two");
    assert_eq!(check.conclusion.as_deref(), Some("success"));
    let comment = ctx.bot_comment(pr).body;
    assert!(
        comment.contains("Policy checks for `two`: passed"),
        "{comment}"
    );
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(pr, "bosun/apply: two").conclusion.as_deref(),
        Some("success")
    );
    ctx.finish().await;
}

#[tokio::test]
async fn a_repo_policy_set_is_read_from_the_base_branch_never_the_pull_request() {
    let mut ctx = TestContext::without_bosun().await;
    let dir = tempfile::tempdir().unwrap();
    let config = "repos:\n- id: /.*/\n  policy_check: true\n\
                  policies:\n  policy_sets:\n  \
                  - name: in-repo\n    path: policy/\n    source: repo\n    \
                    owners: {users: [carol]}\n";
    let path = dir.path().join("repos.yaml");
    std::fs::write(&path, config).unwrap();
    ctx.set("server_config", path.to_str().unwrap());
    ctx.start_bosun().await;
    ctx.push_base(&[("policy/forbidden.rego", Some(FORBIDDEN))]);
    // The pull request trips the policy and rewrites it to allow everything: the base
    // branch's policy is the one checked.
    let allow = "package terraform.forbidden\nimport rego.v1\ndeny := set()\n";
    let (pr, _) = ctx
        .open_pr(
            "weakens its own policy",
            &[
                ("policy/forbidden.rego", allow),
                (
                    "three/main.tf",
                    &module(&ctx.state_file("three"), &["forbidden"]),
                ),
            ],
        )
        .await;
    ctx.settle().await;
    let check = ctx.check(pr, "bosun/policy: three");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    let comment = ctx.bot_comment(pr).body;
    assert!(
        comment.contains("`terraform_data.forbidden holds \"forbidden\"`"),
        "{comment}"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn apply_on_merge_holds_a_failed_policy_until_an_owner_approves_the_merged_plan() {
    let mut ctx = TestContext::without_bosun().await;
    let dir = tempfile::tempdir().unwrap();
    start_with_policies(&mut ctx, dir.path());
    ctx.start_bosun().await;
    ctx.push_base(&[(
        "bosun.yaml",
        Some("version: 3\napply_on_merge: true\nprojects:\n  - dir: four\n"),
    )]);
    let state = ctx.state_file("four");
    let (pr, _) = ctx
        .open_pr(
            "merged with a failed policy",
            &[("four/main.tf", &module(&state, &["forbidden"]))],
        )
        .await;
    ctx.settle().await;
    let merge = ctx.merge_pr(pr).await;
    ctx.settle().await;
    assert!(!state.exists(), "not applied on merge");
    let body = ctx.reply(pr, "plan");
    assert!(body.contains("Not applied on merge"), "{body}");
    assert!(body.contains("A policy set failed"), "{body}");
    assert!(body.contains(&merge[..7]), "{body}");
    // The commands to type, as they are typed.
    assert!(
        body.contains("approves it with `bosun approve_policies`; then comment `bosun apply` here"),
        "{body}"
    );

    // An owner approves the merged plan; then `apply` applies it.
    ctx.comment(pr, "carol", "bosun approve_policies").await;
    ctx.settle().await;
    let reply = ctx.reply(pr, "approve-policies");
    assert!(
        reply.contains("Approved the policy set(s) `no-forbidden`"),
        "{reply}"
    );
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert!(state.exists(), "applied after the approval");
    ctx.finish().await;
}

#[test]
fn validate_server_names_the_rego_file_and_line_of_a_bad_policy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(dir.path().join("policies/forbidden.rego"), FORBIDDEN).unwrap();
    let path = dir.path().join("repos.yaml");
    std::fs::write(
        &path,
        "repos:\n- id: /.*/\n  policy_check: true\npolicies:\n  policy_sets:\n  \
         - name: s\n    path: policies\n",
    )
    .unwrap();
    let validate = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_bosun"))
            .args(["validate", "--server", path.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = validate();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    std::fs::write(
        dir.path().join("policies/broken.rego"),
        "package broken\n\ndeny contains if\n",
    )
    .unwrap();
    let out = validate();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("repos.yaml:7:11: policies.policy_sets[0].path: "),
        "{err}"
    );
    assert!(err.contains("broken.rego:3"), "{err}");
}

fn rego(text: &str) -> Vec<RegoModule> {
    vec![RegoModule {
        path: "unbounded.rego".into(),
        text: text.into(),
    }]
}

fn limits() -> EvalLimits {
    EvalLimits {
        bin: Some(env!("CARGO_BIN_EXE_bosun").into()),
        time: Duration::from_secs(2),
        memory: 512 << 20,
    }
}

#[tokio::test]
async fn a_policy_that_loops_or_allocates_without_bound_is_stopped() {
    let looping = "package loop\nimport rego.v1\n\
                   deny contains \"never\" if {\n  \
                     some i in numbers.range(1, 100000)\n  \
                     some j in numbers.range(1, 100000)\n  \
                     some k in numbers.range(1, 100000)\n  \
                     i + j + k < 0\n}\n";
    let started = Instant::now();
    let e = evaluate(&limits(), &rego(looping), "{}").await.unwrap_err();
    assert!(e.contains("did not finish within 2s"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));

    let hungry = "package hungry\nimport rego.v1\n\
                  deny contains \"big\" if {\n  \
                    xs := numbers.range(1, 100000000000)\n  \
                    count(xs) > 0\n}\n";
    let started = Instant::now();
    let e = evaluate(&limits(), &rego(hungry), "{}").await.unwrap_err();
    assert!(
        e.contains("more than 512 MiB") || e.contains("did not finish"),
        "{e}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // The same child evaluates a sound policy.
    let fine = "package fine\nimport rego.v1\nwarn contains \"w\" if { true }\n";
    let out = evaluate(&limits(), &rego(fine), "{}").await.unwrap();
    assert_eq!(out.warnings, ["w"]);
}
