//! Pull request life in tests: comments, pushes and closes sent as GitHub would send them,
//! waiting for bosun to settle, and what users see (bosun's comments, check runs).

use std::time::{Duration, Instant};

use super::fake::model::{CheckRun, Comment};
use super::fake::payloads;
use super::{INSTALLATION, REPO, TestContext};

impl TestContext {
    /// `user` comments `body` on pull request `pr`; GitHub delivers `issue_comment.created`.
    pub async fn comment(&self, pr: u64, user: &str, body: &str) -> u64 {
        let id = self.fake.add_comment(REPO, pr, user, body);
        let payload = {
            let m = self.fake.model();
            let repo = m.repo(REPO).unwrap();
            payloads::pr_comment(
                repo,
                &repo.prs[&pr],
                id,
                body,
                user,
                &self.fake.url,
                INSTALLATION,
            )
        };
        self.fake.send_webhook("issue_comment", payload).await;
        id
    }

    /// Sends `pull_request.<action>` for pull request `pr` as the model has it now.
    pub async fn pr_event(&self, pr: u64, action: &str) {
        let payload = {
            let m = self.fake.model();
            let repo = m.repo(REPO).unwrap();
            let mut p = payloads::pull_request(
                action,
                repo,
                &repo.prs[&pr],
                &self.fake.url,
                INSTALLATION,
                "alice",
            );
            if action == "synchronize" {
                p["before"] = serde_json::json!("0".repeat(40));
                p["after"] = serde_json::json!(repo.prs[&pr].head_sha);
            }
            p
        };
        self.fake.send_webhook("pull_request", payload).await;
    }

    /// Pushes `changes` to the default branch and records the new base head on pull request
    /// `pr`, as GitHub reports a base that moved on.
    pub fn move_base(&self, pr: u64, changes: &[(&str, Option<&str>)]) {
        let base = self.push_base(changes);
        let mut m = self.fake.model();
        m.repo_mut(REPO).unwrap().prs.get_mut(&pr).unwrap().base_sha = base;
    }

    /// Closes pull request `pr` (merged or not) and sends `pull_request.closed`.
    pub async fn close_pr(&self, pr: u64, merged: bool) {
        {
            let mut m = self.fake.model();
            let p = m.repo_mut(REPO).unwrap().prs.get_mut(&pr).unwrap();
            p.open = false;
            p.merged = merged;
        }
        self.pr_event(pr, "closed").await;
    }

    /// Merges pull request `pr` as a user clicking "Merge" would (a merge commit; GitHub's
    /// refusals panic) and sends `pull_request.closed` (merged); returns the merge sha.
    pub async fn merge_pr(&self, pr: u64) -> String {
        let sha = self
            .fake
            .merge(REPO, pr, "merge")
            .unwrap_or_else(|(status, message)| panic!("merging #{pr}: {status} {message}"));
        self.pr_event(pr, "closed").await;
        sha
    }

    /// A state file of this test's own, outside every checkout and the data dir (as a remote
    /// backend would be), in the directory the sandbox may write: where `module` keeps project
    /// `name`'s state.
    pub fn state_file(&self, name: &str) -> std::path::PathBuf {
        self.state_dir.path().join(format!("{name}.tfstate"))
    }

    /// Applies the root module `tf` by hand, with `terraform init` and `apply -auto-approve`
    /// from a directory of its own (`by-hand/<name>` in the data dir): someone changing the
    /// state behind bosun's back.
    #[track_caller]
    pub fn apply_by_hand(&self, name: &str, tf: &str) {
        let dir = self.data_path().join("by-hand").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.tf"), tf).unwrap();
        for args in [
            &["init", "-input=false"][..],
            &["apply", "-auto-approve", "-input=false"],
        ] {
            let out = std::process::Command::new(super::terraform_bin())
                .args(args)
                .current_dir(&dir)
                .env("CHECKPOINT_DISABLE", "1")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Waits (bounded) until every delivery is processed and every job has ended.
    pub async fn settle(&self) {
        let store = self.store();
        let deadline = Instant::now() + Duration::from_secs(180);
        let mut quiet = 0;
        while Instant::now() < deadline {
            let busy = store.queue_depth().await.unwrap() + store.open_jobs().await.unwrap();
            quiet = if busy == 0 { quiet + 1 } else { 0 };
            // Twice in a row: a delivery may be between its job's enqueue and its own end.
            if quiet >= 2 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("bosun did not settle within 180 s");
    }

    /// bosun's comments on pull request `pr`, oldest first.
    pub fn bot_comments(&self, pr: u64) -> Vec<Comment> {
        let m = self.fake.model();
        m.repo(REPO)
            .unwrap()
            .comments
            .iter()
            .filter(|c| c.issue == pr && c.author_is_bot)
            .cloned()
            .collect()
    }

    /// The one comment bosun has on `pr` (panics when there are more or none).
    #[track_caller]
    pub fn bot_comment(&self, pr: u64) -> Comment {
        let all = self.bot_comments(pr);
        assert_eq!(
            all.len(),
            1,
            "expected one comment by bosun, got {}:\n{all:#?}",
            all.len()
        );
        all.into_iter().next().unwrap()
    }

    /// The newest comment by bosun on `pr` whose body starts with marker `kind` (panics,
    /// listing what bosun said, when there is none).
    #[track_caller]
    pub fn reply(&self, pr: u64, kind: &str) -> String {
        let marker = format!("<!-- bosun:{kind} ");
        self.bot_comments(pr)
            .into_iter()
            .rev()
            .find(|c| c.body.starts_with(&marker))
            .map(|c| c.body)
            .unwrap_or_else(|| {
                let all: Vec<String> = self.bot_comments(pr).into_iter().map(|c| c.body).collect();
                panic!("no `{kind}` comment on #{pr}; bosun said:\n{all:#?}")
            })
    }

    /// The check run named `name` on the head of `pr` (the newest, if several).
    #[track_caller]
    pub fn check(&self, pr: u64, name: &str) -> CheckRun {
        let m = self.fake.model();
        let repo = m.repo(REPO).unwrap();
        let head = &repo.prs[&pr].head_sha;
        repo.check_runs
            .iter()
            .rev()
            .find(|c| &c.head_sha == head && c.name == name)
            .cloned()
            .unwrap_or_else(|| {
                let names: Vec<&str> = repo.check_runs.iter().map(|c| c.name.as_str()).collect();
                panic!("no check run `{name}` on {head}; there are {names:?}")
            })
    }

    /// Names of the check runs on the head of `pr`.
    pub fn check_names(&self, pr: u64) -> Vec<String> {
        let m = self.fake.model();
        let repo = m.repo(REPO).unwrap();
        let head = &repo.prs[&pr].head_sha;
        let mut names: Vec<String> = repo
            .check_runs
            .iter()
            .filter(|c| &c.head_sha == head)
            .map(|c| c.name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// A Terraform root module with `terraform_data` resources named by `names`, keeping its
/// state in `state` (outside the checkout, as a remote backend would).
pub fn module(state: &std::path::Path, names: &[&str]) -> String {
    let mut tf = format!(
        "terraform {{\n  backend \"local\" {{\n    path = \"{}\"\n  }}\n}}\n",
        state.display()
    );
    for n in names {
        tf.push_str(&format!(
            "\nresource \"terraform_data\" \"{n}\" {{\n  input = \"{n}\"\n}}\n"
        ));
    }
    tf
}

/// The `terraform_data` resources in a state file (empty when there is none).
pub fn resources(state: &std::path::Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(state) else {
        return Vec::new();
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut names: Vec<String> = json["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["name"].as_str().unwrap_or("").to_owned())
        .collect();
    names.sort();
    names
}
