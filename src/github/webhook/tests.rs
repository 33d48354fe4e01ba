use super::*;
use crate::ids::PrNumber;
use std::path::Path;

fn fixture_dir() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/webhooks"
    ))
}

fn examples(event: &str) -> Vec<serde_json::Value> {
    let path = fixture_dir().join("examples").join(format!("{event}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn derived(name: &str) -> Vec<u8> {
    std::fs::read(fixture_dir().join("derived").join(name)).unwrap()
}

fn event(name: &str, payload: &[u8]) -> Event {
    match parse(name, payload).unwrap() {
        Parsed::Event(e) => *e,
        Parsed::Ignored(why) => panic!("ignored: {why}"),
    }
}

/// Every recorded example of every event bosun handles parses: into an event when bosun acts
/// on its action, else into a reasoned `Ignored`.
#[test]
fn every_recorded_example_parses() {
    let mut parsed = 0;
    for name in HANDLED_EVENTS {
        let all = examples(name);
        assert!(!all.is_empty(), "no examples of {name}");
        for (i, example) in all.iter().enumerate() {
            let bytes = serde_json::to_vec(example).unwrap();
            match parse(name, &bytes) {
                Ok(_) => parsed += 1,
                Err(e) => panic!(
                    "{name} example {i} (action {:?}): {e}",
                    example.get("action")
                ),
            }
        }
    }
    assert!(parsed > 30, "only {parsed} examples");
}

#[test]
fn handled_actions_of_examples_become_events() {
    let wanted = [
        (
            "pull_request",
            &[
                "opened",
                "reopened",
                "synchronize",
                "ready_for_review",
                "closed",
            ][..],
        ),
        ("pull_request_review", &["submitted", "dismissed"][..]),
        ("push", &[][..]),
        ("installation", &["created", "deleted"][..]),
        ("installation_repositories", &["added", "removed"][..]),
    ];
    for (name, actions) in wanted {
        for example in examples(name) {
            let action = example.get("action").and_then(|a| a.as_str()).unwrap_or("");
            if actions.is_empty() || actions.contains(&action) {
                let e = event(name, &serde_json::to_vec(&example).unwrap());
                assert!(
                    e.name().starts_with(name),
                    "{} from {name}.{action}",
                    e.name()
                );
            }
        }
    }
}

#[test]
fn comment_on_a_pull_request() {
    let e = event(
        "issue_comment",
        &derived("issue_comment.created.pull_request.json"),
    );
    let EventKind::PullRequestComment { pr_number, comment } = &e.kind else {
        panic!("{e:?}")
    };
    assert!(*pr_number > PrNumber(0));
    assert!(comment.body.starts_with("bosun plan"), "{}", comment.body);
    assert_eq!(e.pr_number(), Some(*pr_number));
    assert!(e.repo.is_some());
}

#[test]
fn comment_on_an_issue_is_ignored() {
    for example in examples("issue_comment") {
        if example["issue"].get("pull_request").is_none() {
            let r = parse("issue_comment", &serde_json::to_vec(&example).unwrap()).unwrap();
            assert!(matches!(r, Parsed::Ignored(_)), "{r:?}");
        }
    }
}

#[test]
fn merged_and_unmerged_close() {
    let e = event("pull_request", &derived("pull_request.closed.merged.json"));
    let EventKind::PullRequest { action, pr } = &e.kind else {
        panic!()
    };
    assert_eq!(*action, PullRequestAction::Closed { merged: true });
    assert!(pr.merged && !pr.open && pr.merge_commit_sha.is_some());
    assert_eq!(e.name(), "pull_request.merged");

    let e = event(
        "pull_request",
        &derived("pull_request.closed.unmerged.json"),
    );
    let EventKind::PullRequest { action, .. } = &e.kind else {
        panic!()
    };
    assert_eq!(*action, PullRequestAction::Closed { merged: false });
}

#[test]
fn approving_review() {
    let e = event(
        "pull_request_review",
        &derived("pull_request_review.submitted.approved.json"),
    );
    let EventKind::PullRequestReview { action, review, .. } = &e.kind else {
        panic!()
    };
    assert_eq!(*action, ReviewAction::Submitted);
    assert_eq!(review.state, ReviewState::Approved);
}

#[test]
fn derived_fixtures_match_github_schemas() {
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture_dir().join("schema.json")).unwrap()).unwrap();
    let index: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(fixture_dir().join("schema-index.json")).unwrap())
            .unwrap();
    assert!(index.len() >= 3);
    for (file, definition) in index {
        let definition = definition.as_str().unwrap();
        let root = serde_json::json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$ref": format!("#/definitions/{definition}"),
            "definitions": schema["definitions"],
        });
        let validator =
            jsonschema::draft7::new(&root).unwrap_or_else(|e| panic!("{definition}: {e}"));
        let instance: serde_json::Value = serde_json::from_slice(&derived(&file)).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{file} against {definition}: {errors:#?}"
        );
        // And bosun parses it.
        let event = file.split('.').next().unwrap();
        parse(event, &derived(&file)).unwrap();
    }
}

#[test]
fn bad_payloads_say_where() {
    let e = parse("pull_request", br#"{"action":"opened"}"#).unwrap_err();
    assert!(e.to_string().contains("pull_request"), "{e}");
    let e = parse("pull_request", b"[1,2]").unwrap_err();
    assert!(e.message.contains("invalid type"), "{e}");
    let mut example = examples("pull_request")
        .into_iter()
        .find(|e| e["action"] == "opened")
        .unwrap();
    example["pull_request"]["head"]["sha"] = serde_json::json!(12);
    let e = parse("pull_request", &serde_json::to_vec(&example).unwrap()).unwrap_err();
    assert!(e.message.starts_with("pull_request.head.sha"), "{e}");
}

#[test]
fn unknown_events_and_actions_are_ignored_with_a_reason() {
    assert_eq!(
        parse("star", b"{}").unwrap(),
        Parsed::Ignored("bosun does not subscribe to star events".into())
    );
    assert_eq!(
        parse("pull_request", br#"{"action":"labeled"}"#).unwrap(),
        Parsed::Ignored("bosun does not act on pull_request.labeled".into())
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn mutate(value: &mut serde_json::Value, seed: u64) {
        // Replace one node, chosen by the seed, with null: a field GitHub might omit.
        let mut n = seed;
        fn walk(v: &mut serde_json::Value, n: &mut u64) -> bool {
            if *n == 0 {
                *v = serde_json::Value::Null;
                return true;
            }
            *n -= 1;
            match v {
                serde_json::Value::Object(m) => m.values_mut().any(|c| walk(c, n)),
                serde_json::Value::Array(a) => a.iter_mut().any(|c| walk(c, n)),
                _ => false,
            }
        }
        walk(value, &mut n);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(event in prop::sample::select(HANDLED_EVENTS), bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(event, &bytes);
        }

        #[test]
        fn damaged_examples_never_panic(event in prop::sample::select(HANDLED_EVENTS), pick in 0usize..64, seed in 0u64..4000, cut in 0usize..30_000) {
            let all = examples(event);
            let mut example = all[pick % all.len()].clone();
            mutate(&mut example, seed);
            let bytes = serde_json::to_vec(&example).unwrap();
            let _ = parse(event, &bytes);
            let _ = parse(event, &bytes[..cut.min(bytes.len())]);
        }
    }
}

/// What bosun makes of the payloads it lives on, in full.
#[test]
fn typed_events_snapshot() {
    insta::assert_debug_snapshot!(
        "comment_on_pr",
        event(
            "issue_comment",
            &derived("issue_comment.created.pull_request.json")
        )
    );
    insta::assert_debug_snapshot!(
        "merged_pr",
        event("pull_request", &derived("pull_request.closed.merged.json"))
    );
    insta::assert_debug_snapshot!(
        "approved_review",
        event(
            "pull_request_review",
            &derived("pull_request_review.submitted.approved.json")
        )
    );
}

#[test]
fn the_leading_action_is_read_without_a_full_parse() {
    assert_eq!(
        leading_action(br#"{"action":"opened","x":1}"#).as_deref(),
        Some("opened")
    );
    assert_eq!(
        leading_action(b" {\n  \"action\" : \"closed\" ").as_deref(),
        Some("closed")
    );
    assert_eq!(leading_action(br#"{"ref":"x","action":"opened"}"#), None);
    assert_eq!(
        leading_action(br#"{"action":"a\"b"}"#),
        None,
        "escapes go the slow way"
    );
    assert_eq!(leading_action(br#"{"action":null}"#), None);
    assert_eq!(leading_action(br#"{"action":"unterminated"#), None);
    // Either way, the same answer.
    for name in HANDLED_EVENTS {
        for example in examples(name) {
            let compact = serde_json::to_vec(&example).unwrap();
            let pretty = serde_json::to_vec_pretty(&example).unwrap();
            assert_eq!(parse(name, &compact), parse(name, &pretty));
        }
    }
}
