use super::*;
use crate::github::layer::http::graphql_url;
use crate::github::layer::retry::error_message;

#[test]
fn next_cursor_from_link_header() {
    let mut h = HeaderMap::new();
    h.insert(
        header::LINK,
        "<https://api.github.com/app/hook/deliveries?per_page=100&cursor=v1_12077215967>; rel=\"next\"".parse().unwrap(),
    );
    assert_eq!(next_cursor(&h).as_deref(), Some("v1_12077215967"));
    h.insert(
        header::LINK,
        "<https://x/y?page=1>; rel=\"prev\"".parse().unwrap(),
    );
    assert_eq!(next_cursor(&h), None);
    assert_eq!(next_cursor(&HeaderMap::new()), None);
}

#[test]
fn graphql_lives_next_to_the_rest_api() {
    assert_eq!(
        graphql_url("https://api.github.com"),
        "https://api.github.com/graphql"
    );
    assert_eq!(
        graphql_url("https://ghe.example.com/api/v3"),
        "https://ghe.example.com/api/graphql"
    );
    assert_eq!(
        graphql_url("http://127.0.0.1:8080"),
        "http://127.0.0.1:8080/graphql"
    );
}

#[test]
fn error_messages_are_short_and_only_the_message() {
    assert_eq!(
        error_message(br#"{"message":"Bad credentials","documentation_url":"x"}"#),
        "Bad credentials"
    );
    assert_eq!(error_message(b"<html>"), "no message");
    assert_eq!(
        error_message(format!(r#"{{"message":"{}"}}"#, "a".repeat(1000)).as_bytes()).len(),
        300
    );
}

#[test]
fn merge_requirements_keep_only_required_contexts_and_add_the_unreported() {
    let data = json!({ "repository": { "pullRequest": {
        "reviewDecision": "CHANGES_REQUESTED",
        "baseRef": { "refUpdateRule": { "requiredStatusCheckContexts": ["ci", "lint", "late", "later"] } },
        "commits": { "nodes": [{ "commit": { "statusCheckRollup": { "contexts": {
            "pageInfo": { "hasNextPage": true, "endCursor": "c2" },
            "nodes": [
            { "__typename": "CheckRun", "name": "ci", "conclusion": "SUCCESS", "status": "COMPLETED", "isRequired": true },
            { "__typename": "CheckRun", "name": "lint", "conclusion": null, "status": "IN_PROGRESS", "isRequired": true },
            { "__typename": "CheckRun", "name": "docs", "conclusion": "FAILURE", "status": "COMPLETED", "isRequired": false },
            { "__typename": "StatusContext", "context": "legacy", "state": "PENDING", "isRequired": true },
            null,
        ] } } } }] },
    } } });
    let first = requirements_page("t", data).unwrap();
    assert_eq!(first.next.as_deref(), Some("c2"));
    let second = json!({ "repository": { "pullRequest": {
        "reviewDecision": "CHANGES_REQUESTED",
        "commits": { "nodes": [{ "commit": { "statusCheckRollup": { "contexts": {
            "pageInfo": { "hasNextPage": false, "endCursor": "c3" },
            "nodes": [
            { "__typename": "CheckRun", "name": "late", "conclusion": "SUCCESS", "status": "COMPLETED", "isRequired": true },
        ] } } } }] },
    } } });
    let second = requirements_page("t", second).unwrap();
    assert_eq!(second.next, None);
    let r = merge_requirements(vec![first, second]);
    assert_eq!(r.review_decision, Some(ReviewDecision::ChangesRequested));
    let checks: Vec<(&str, bool)> = r
        .required_checks
        .iter()
        .map(|c| (c.name.as_str(), c.passed))
        .collect();
    assert_eq!(
        checks,
        vec![
            ("ci", true),
            ("lint", false),
            ("legacy", false),
            ("late", true),
            // Required, never reported: not passing.
            ("later", false)
        ]
    );

    let none = json!({ "repository": { "pullRequest": {
        "reviewDecision": null, "commits": { "nodes": [{ "commit": { "statusCheckRollup": null } }] },
    } } });
    assert_eq!(
        merge_requirements(vec![requirements_page("t", none).unwrap()]),
        MergeRequirements::default()
    );
    assert!(requirements_page("t", json!({ "repository": null })).is_err());
}

#[test]
fn repositories_must_be_owner_slash_name() {
    for ok in ["acme/infra", "a-b/c_d.e", "A1/.github"] {
        assert!(check_repo("t", ok).is_ok(), "{ok}");
    }
    for bad in [
        "acme",
        "acme/",
        "/infra",
        "acme/infra/x",
        "acme/..",
        "../infra",
        "acme/in fra",
        "acme/infra?x=1",
        "acme/infra#1",
    ] {
        let e = check_repo("t", bad).unwrap_err();
        assert_eq!(e.status(), Some(404), "{bad}");
    }
}

#[test]
fn pages_are_added_to_the_query() {
    assert_eq!(page_path("/a", 100, 2), "/a?per_page=100&page=2");
    assert_eq!(page_path("/a?x=1", 10, 1), "/a?x=1&per_page=10&page=1");
}

#[test]
fn installation_repos_read_the_wrapped_list() {
    let page: InstallationRepos = serde_json::from_value(json!({
        "total_count": 1,
        "repositories": [{ "id": 1, "full_name": "acme/infra", "private": true,
            "clone_url": "https://github.com/acme/infra.git", "default_branch": "trunk" }],
    }))
    .unwrap();
    let repos: Vec<RepoInfo> = page.items().into_iter().map(Into::into).collect();
    assert_eq!(
        repos,
        vec![RepoInfo {
            id: crate::ids::RepoId(1),
            full_name: "acme/infra".into(),
            clone_url: "https://github.com/acme/infra.git".into(),
            default_branch: "trunk".into(),
        }]
    );
    let ids: Vec<Id> =
        serde_json::from_value(json!([{ "id": 7, "account": { "login": "acme" } }])).unwrap();
    assert_eq!(
        ids.items().iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![7]
    );
}

fn issue(number: u64, state: &str, title: &str, kind: &str, updated: &str) -> Value {
    json!({
        "number": number, "title": title, "body": format!("body {number}"), "state": state,
        "labels": [{ "id": 1, "name": "Drift" }], "user": { "login": "x", "type": kind },
        "updated_at": updated,
    })
}

fn issues(values: Vec<Value>) -> Vec<Issue> {
    serde_json::from_value(Value::Array(values)).unwrap()
}

#[test]
fn the_search_prefers_the_open_issue() {
    let mut search = IssueSearch::new("drift", "Drift report");
    let mut pr = issue(1, "open", "Drift report", "Bot", "2024-01-05T00:00:00Z");
    pr["pull_request"] = json!({ "url": "x" });
    let mut unlabelled = issue(2, "open", "Drift report", "Bot", "2024-01-05T00:00:00Z");
    unlabelled["labels"] = json!(["other"]);
    let first = issues(vec![
        pr,
        unlabelled,
        issue(3, "open", "Drift report", "User", "2024-01-04T00:00:00Z"),
        issue(
            4,
            "open",
            "Drift report (old)",
            "Bot",
            "2024-01-03T00:00:00Z",
        ),
        issue(5, "closed", "Drift report", "Bot", "2024-01-02T00:00:00Z"),
    ]);
    assert_eq!(search.page(first), None);
    let open = search.page(issues(vec![issue(
        6,
        "open",
        "Drift report",
        "Bot",
        "2024-01-01T00:00:00Z",
    )]));
    assert_eq!(
        open,
        Some(IssueInfo {
            number: 6,
            open: true,
            title: "Drift report".into(),
            body: "body 6".into(),
        })
    );
}

#[test]
fn without_an_open_issue_the_latest_closed_one_is_found() {
    let mut search = IssueSearch::new("drift", "Drift report");
    let mut no_body = issue(9, "closed", "Drift report", "Bot", "2024-01-01T00:00:00Z");
    no_body["body"] = Value::Null;
    let page = issues(vec![
        issue(7, "closed", "Drift report", "Bot", "2024-01-02T00:00:00Z"),
        issue(8, "closed", "Drift report", "Bot", "2024-03-01T00:00:00Z"),
        no_body,
    ]);
    assert_eq!(search.page(page), None);
    let found = search.closed().unwrap();
    assert_eq!((found.number, found.open), (8, false));
    assert_eq!(IssueSearch::new("drift", "x").closed(), None);
}

#[test]
fn issue_bodies_are_cut_to_githubs_limit() {
    assert_eq!(issue_body("short"), "short");
    let long = "é".repeat(ISSUE_BODY_MAX + 10);
    assert_eq!(issue_body(&long).chars().count(), ISSUE_BODY_MAX);
    let created = new_issue_body("t", "b", &["drift".to_owned()]);
    assert_eq!(
        created,
        json!({ "title": "t", "body": "b", "labels": ["drift"] })
    );
}

#[test]
fn issue_updates_send_only_what_changes() {
    assert_eq!(issue_update_body(&IssueUpdate::default()), None);
    let close = IssueUpdate {
        body: Some("done".into()),
        open: Some(false),
    };
    assert_eq!(
        issue_update_body(&close),
        Some(json!({ "body": "done", "state": "closed", "state_reason": "completed" }))
    );
    let reopen = IssueUpdate {
        body: None,
        open: Some(true),
    };
    assert_eq!(issue_update_body(&reopen), Some(json!({ "state": "open" })));
}
