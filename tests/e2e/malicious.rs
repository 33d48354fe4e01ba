//! A malicious pull request gets nothing. Its `local-exec` provisioners, run by a real
//! `bosun apply` under the sandbox, try to read the App's private key, read the store, list
//! and read another PR's checkout, write outside their checkout, print the webhook secret and
//! any token from their environment, fork-bomb, and run past the timeout. Every attempt fails,
//! bosun goes on serving other pull requests, and no secret appears in any comment, check
//! run, stored plan, job summary or log line.

use crate::support::fake::WEBHOOK_SECRET;
use crate::support::prs::module;
use crate::support::{KEY_FILE, REPO, TestContext};
use bosun::ids::PrNumber;
use bosun::ids::RepoKey;

/// Text that is in the other PR's checkout and must not come out of this one.
const OTHER_MARK: &str = "other-pr-private-marker";

fn provisioner(command: &str) -> String {
    format!(
        "  provisioner \"local-exec\" {{\n    command    = \"{}\"\n    on_failure = continue\n  }}\n",
        command.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malicious_pr_gets_nothing_and_bosun_goes_on() {
    let logs = crate::support::logs::captured();
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("terraform_timeout", "30s");
    // Lower than the default so the bomb cannot crowd out other tests' sandboxes.
    ctx.set("sandbox_max_processes", "200");
    ctx.start_bosun().await;

    // Another pull request, whose checkout the malicious one goes looking for.
    let other_tf = format!(
        "{}\n# {OTHER_MARK}\n",
        module(&ctx.state_file("other"), &["o"])
    );
    let (other, _) = ctx
        .open_pr("other", &[("envs/other/main.tf", &other_tf)])
        .await;
    ctx.settle().await;

    let data = ctx.data_path();
    let d = data.display();
    let attempts = [
        format!("echo key:; cat {KEY_FILE}"),
        format!("echo db:; head -c 64 {d}/bosun.db; ls -la {d}"),
        format!("echo other:; ls {d}/checkouts/*/pr-{other}; cat {d}/checkouts/*/pr-{other}/*/envs/other/main.tf"),
        format!("echo write:; echo x > {d}/escape; echo x > /usr/local/bin/escape; echo x > ../../../escape; echo x > /etc/escape"),
        "echo env:; env; cat /proc/*/environ | tr '\\0' '\\n'".to_owned(),
        "echo bomb:; i=0; while [ $i -lt 1000 ]; do sleep 5 & i=$((i+1)); done; wait; echo bomb-done".to_owned(),
    ];
    let mut tf = module(&ctx.state_file("evil"), &[]);
    tf.push_str("\nresource \"terraform_data\" \"attempts\" {\n");
    for a in &attempts {
        tf.push_str(&provisioner(a));
    }
    tf.push_str("}\n\nresource \"terraform_data\" \"forever\" {\n  depends_on = [terraform_data.attempts]\n");
    tf.push_str(&provisioner("sleep 600"));
    tf.push_str("}\n");
    let (pr, _) = ctx.open_pr("evil", &[("envs/evil/main.tf", &tf)]).await;
    ctx.settle().await;

    let started = std::time::Instant::now();
    ctx.comment(pr, "alice", "bosun apply").await;
    ctx.settle().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(170),
        "the timeout stopped the apply"
    );

    let applied = ctx.reply(pr, "apply");
    // Each attempt ran, and failed.
    for marker in ["key:", "db:", "other:", "write:", "env:", "bomb:"] {
        assert!(applied.contains(marker), "{marker} did not run:\n{applied}");
    }
    assert!(
        applied.contains("No such file or directory"),
        "the data dir is not there:\n{applied}"
    );
    assert!(
        applied.contains("Read-only file system") || applied.contains("Permission denied"),
        "system dirs are read-only:\n{applied}"
    );
    assert!(
        applied.contains("Cannot fork") || applied.contains("Resource temporarily unavailable"),
        "the process limit held:\n{applied}"
    );
    // The timeout stops `forever`, unless the bomb, holding every process the limit allows,
    // made Terraform itself fail to start a thread first (`sandbox::` tests the timeout alone).
    assert!(
        applied.contains("timed out") || applied.contains("pthread_create failed"),
        "neither the timeout nor the process limit stopped the apply:\n{applied}"
    );
    assert_eq!(
        ctx.check(pr, "bosun/apply: envs/evil")
            .conclusion
            .as_deref(),
        Some("failure")
    );
    for escaped in [
        data.join("escape"),
        "/usr/local/bin/escape".into(),
        "/etc/escape".into(),
    ] {
        assert!(!escaped.exists(), "{} was written", escaped.display());
    }
    let pr_dir = std::fs::read_dir(data.join("checkouts"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join(format!("pr-{pr}")))
        .find(|p| p.exists())
        .expect("the PR's checkouts");
    assert!(
        !pr_dir.join("escape").exists(),
        "written outside its checkout"
    );

    // bosun goes on serving the other pull request.
    ctx.push_to_pr(other, &[("envs/other/extra.tf", Some("# more\n"))]);
    ctx.pr_event(other, "synchronize").await;
    ctx.settle().await;
    assert_eq!(
        ctx.check(other, "bosun/plan: envs/other")
            .conclusion
            .as_deref(),
        Some("success")
    );

    // No secret anywhere bosun writes.
    let key = std::fs::read_to_string(KEY_FILE).unwrap();
    let key_line = key
        .lines()
        .find(|l| l.len() > 40 && !l.starts_with("-----"))
        .unwrap()
        .to_owned();
    let tokens: Vec<String> = ctx.fake.model().tokens.keys().cloned().collect();
    assert!(!tokens.is_empty());
    let mut secrets = vec![
        key_line,
        WEBHOOK_SECRET.to_owned(),
        "SQLite format 3".to_owned(),
        OTHER_MARK.to_owned(),
    ];
    secrets.extend(tokens);
    let leaks = |text: &str| -> Vec<String> {
        secrets
            .iter()
            .filter(|s| text.contains(s.as_str()))
            .cloned()
            .collect()
    };
    {
        let m = ctx.fake.model();
        let repo = m.repo(REPO).unwrap();
        for c in repo.comments.iter().filter(|c| c.issue == pr) {
            assert_eq!(leaks(&c.body), Vec::<String>::new(), "{}", c.body);
        }
        for c in &repo.check_runs {
            assert_eq!(leaks(&format!("{c:?}")), Vec::<String>::new(), "{c:?}");
        }
    }
    let store = ctx.store();
    for p in store
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap()
    {
        assert_eq!(leaks(&format!("{:?}", p.outcome)), Vec::<String>::new());
    }
    for j in store
        .jobs_of_pr(&RepoKey::new(REPO), PrNumber(pr))
        .await
        .unwrap()
    {
        assert_eq!(leaks(&format!("{j:?}")), Vec::<String>::new(), "{j:?}");
    }
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(logs.contains("job done"), "the logs were captured");
    assert_eq!(leaks(&logs), Vec::<String>::new());
    ctx.finish().await;
}
