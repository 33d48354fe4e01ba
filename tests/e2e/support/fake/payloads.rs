//! Webhook payloads built from GitHub's recorded examples (`@octokit/webhooks-examples`),
//! with the model's repository, pull request and users written in.

use serde_json::{Value, json};

use super::model::{HeadRepo, Pr, Repo};

fn fixture(rel: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/webhooks/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap()
}

/// The first recorded example of `event` with `action` (the last one, if it has an
/// `installation`, is preferred: App deliveries carry one).
pub fn example(event: &str, action: Option<&str>) -> Value {
    let all = fixture(&format!("examples/{event}.json"));
    let matching: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| action.is_none() || e.get("action").and_then(Value::as_str) == action)
        .collect();
    matching
        .iter()
        .rev()
        .find(|e| e.get("installation").is_some())
        .or(matching.first())
        .map(|v| (*v).clone())
        .unwrap_or_else(|| panic!("no example of {event}.{action:?}"))
}

pub fn derived(name: &str) -> Value {
    fixture(&format!("derived/{name}"))
}

fn user(login: &str, id: u64) -> Value {
    json!({ "login": login, "id": id, "type": if login.ends_with("[bot]") { "Bot" } else { "User" } })
}

/// Writes the model's repository, installation and sender into a payload.
pub fn envelope(payload: &mut Value, repo: &Repo, base_url: &str, installation: u64, sender: &str) {
    let full_name = repo.full_name();
    let r = &mut payload["repository"];
    if r.is_object() {
        r["id"] = json!(repo.id);
        r["name"] = json!(repo.name);
        r["full_name"] = json!(full_name);
        r["owner"]["login"] = json!(repo.owner);
        r["private"] = json!(repo.private);
        r["default_branch"] = json!(repo.default_branch);
        r["clone_url"] = json!(format!("{base_url}/git/{full_name}.git"));
        r["html_url"] = json!(format!("{base_url}/{full_name}"));
    }
    payload["installation"] =
        json!({ "id": installation, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==" });
    let sender_value = user(sender, 9000 + sender.len() as u64);
    for (k, v) in sender_value.as_object().unwrap() {
        payload["sender"][k] = v.clone();
    }
}

/// Writes a pull request of the model into a payload's `pull_request`.
pub fn write_pr(target: &mut Value, repo: &Repo, pr: &Pr, base_url: &str) {
    let full_name = repo.full_name();
    target["number"] = json!(pr.number);
    target["title"] = json!(pr.title);
    target["state"] = json!(if pr.open { "open" } else { "closed" });
    target["draft"] = json!(pr.draft);
    target["html_url"] = json!(format!("{base_url}/{full_name}/pull/{}", pr.number));
    target["head"]["ref"] = json!(pr.head_ref);
    target["head"]["sha"] = json!(pr.head_sha);
    match &pr.head_repo {
        HeadRepo::Base => target["head"]["repo"]["full_name"] = json!(full_name),
        HeadRepo::Fork(fork) => {
            let (owner, name) = fork.split_once('/').unwrap_or((fork, fork));
            let head = &mut target["head"]["repo"];
            head["full_name"] = json!(fork);
            head["name"] = json!(name);
            head["owner"]["login"] = json!(owner);
            head["fork"] = json!(true);
        }
        HeadRepo::Deleted => target["head"]["repo"] = Value::Null,
    }
    target["base"]["ref"] = json!(pr.base_ref);
    target["base"]["sha"] = json!(pr.base_sha);
    target["base"]["repo"]["full_name"] = json!(full_name);
    for (k, v) in user(&pr.author, 7000).as_object().unwrap() {
        target["user"][k] = v.clone();
    }
    if target.get("merged").is_some() {
        target["merged"] = json!(pr.merged);
    }
    target["merge_commit_sha"] = json!(pr.merge_commit_sha);
}

pub fn pull_request(
    action: &str,
    repo: &Repo,
    pr: &Pr,
    base_url: &str,
    installation: u64,
    sender: &str,
) -> Value {
    let mut p = match action {
        "closed" if pr.merged => derived("pull_request.closed.merged.json"),
        _ => example("pull_request", Some(action)),
    };
    envelope(&mut p, repo, base_url, installation, sender);
    p["number"] = json!(pr.number);
    write_pr(&mut p["pull_request"], repo, pr, base_url);
    if pr.merged && p["pull_request"]["merged_by"].is_object() {
        for (k, v) in user(sender, 9000 + sender.len() as u64)
            .as_object()
            .unwrap()
        {
            p["pull_request"]["merged_by"][k] = v.clone();
        }
    }
    p
}

pub fn pr_comment(
    repo: &Repo,
    pr: &Pr,
    id: u64,
    body: &str,
    author: &str,
    base_url: &str,
    installation: u64,
) -> Value {
    let mut p = derived("issue_comment.created.pull_request.json");
    envelope(&mut p, repo, base_url, installation, author);
    p["issue"]["number"] = json!(pr.number);
    p["comment"]["id"] = json!(id);
    p["comment"]["body"] = json!(body);
    p["comment"]["html_url"] = json!(format!(
        "{base_url}/{}/pull/{}#issuecomment-{id}",
        repo.full_name(),
        pr.number
    ));
    for (k, v) in user(author, 9000).as_object().unwrap() {
        p["comment"]["user"][k] = v.clone();
    }
    p
}

pub fn push(
    repo: &Repo,
    branch: &str,
    before: &str,
    after: &str,
    base_url: &str,
    installation: u64,
    pusher: &str,
) -> Value {
    let mut p = example("push", None);
    envelope(&mut p, repo, base_url, installation, pusher);
    p["ref"] = json!(format!("refs/heads/{branch}"));
    p["before"] = json!(before);
    p["after"] = json!(after);
    p
}
