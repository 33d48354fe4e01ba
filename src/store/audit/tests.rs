use crate::ids::{PrNumber, Sha};
use std::sync::Arc;

use crate::audit::{Actor, Entry, Filter, Kind, NewEntry, Project};
use crate::plan::Target;
use crate::store::Store;
use crate::store::test_db::store_test;

fn target(dir: &str, name: Option<&str>) -> Target {
    Target {
        dir: dir.into(),
        workspace: "default".into(),
        name: name.map(str::to_owned),
    }
}

fn entry(kind: Kind, who: Actor, repo: &str, pr: u64, at: i64) -> NewEntry {
    let mut e = NewEntry::new(kind, who, repo, "done")
        .pr(PrNumber(pr))
        .sha(&Sha::new("abc123"));
    e.at = at;
    e
}

async fn all(s: &Arc<dyn Store>, filter: &Filter) -> Vec<Entry> {
    s.audit_entries(filter, None, 500).await.unwrap()
}

fn ids(entries: &[Entry]) -> Vec<i64> {
    entries.iter().map(|e| e.id).collect()
}

store_test! { async fn an_entry_round_trips_whole(db) {
    let s = db.open().await;
    let e = NewEntry::new(Kind::Apply, Actor::Github("alice".into()), "acme/infra", "applied")
        .pr(PrNumber(7))
        .project(&target("envs/prod", Some("prod")))
        .sha(&Sha::new("0123456789abcdef"))
        .detail("Apply complete! Resources: 1 added.")
        .run(42);
    let id = s.append_audit(&e).await.unwrap();
    let read = all(&s, &Filter::default()).await;
    assert_eq!(read, vec![Entry { id, entry: e.clone() }]);
    assert_eq!(
        read[0].entry.project,
        Some(Project { name: "prod".into(), dir: "envs/prod".into(), workspace: "default".into() })
    );
    let bare = NewEntry::new(Kind::ApiCall, Actor::ApiToken("operator".into()), "acme/infra", "locked");
    let id2 = s.append_audit(&bare).await.unwrap();
    assert!(id2 > id, "ids grow");
    assert_eq!(all(&s, &Filter::default()).await[0], Entry { id: id2, entry: bare });
}}

store_test! { async fn filters_narrow_and_combine(db) {
    let s = db.open().await;
    let alice = || Actor::Github("Alice".into());
    let a = s.append_audit(&entry(Kind::Plan, Actor::Bosun, "acme/infra", 1, 100)
        .project(&target("envs/prod", None))).await.unwrap();
    let b = s.append_audit(&entry(Kind::Apply, alice(), "acme/infra", 1, 200)
        .project(&target("envs/dev", Some("dev")))).await.unwrap();
    let c = s.append_audit(&entry(Kind::Apply, alice(), "acme/other", 2, 300)).await.unwrap();
    let d = s.append_audit(&entry(Kind::Unlock, Actor::Github("bob".into()), "acme/infra", 3, 400))
        .await.unwrap();
    let f = |f: Filter| f;
    let cases = [
        (f(Filter::default()), vec![d, c, b, a]),
        (f(Filter { repository: Some("acme/infra".into()), ..Default::default() }), vec![d, b, a]),
        (f(Filter { pr: Some(PrNumber(1)), ..Default::default() }), vec![b, a]),
        (f(Filter { project: Some("dev".into()), ..Default::default() }), vec![b]),
        (f(Filter { project: Some("envs/prod".into()), ..Default::default() }), vec![a]),
        (f(Filter { user: Some("alice".into()), ..Default::default() }), vec![c, b]),
        (f(Filter { kind: Some(Kind::Apply), ..Default::default() }), vec![c, b]),
        (f(Filter { since: Some(200), until: Some(400), ..Default::default() }), vec![c, b]),
        (f(Filter { repository: Some("acme/infra".into()), kind: Some(Kind::Apply), ..Default::default() }), vec![b]),
        (f(Filter { repository: Some("nobody/none".into()), ..Default::default() }), vec![]),
    ];
    for (filter, want) in cases {
        assert_eq!(ids(&all(&s, &filter).await), want, "{filter:?}");
    }
}}

store_test! { async fn keyset_pages_walk_every_entry_once_newest_first(db) {
    let s = db.open().await;
    let mut made = Vec::new();
    for i in 0..25 {
        let kind = if i % 2 == 0 { Kind::Plan } else { Kind::Apply };
        made.push(s.append_audit(&entry(kind, Actor::Bosun, "acme/infra", 1, i)).await.unwrap());
    }
    made.reverse();
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let read = s.audit_entries(&Filter::default(), before, 7 + 1).await.unwrap();
        let page = crate::audit::Page::of(read, 7);
        assert!(page.entries.len() <= 7);
        seen.extend(ids(&page.entries));
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, made);
    // Filtered pages walk only what matches.
    let plans = Filter { kind: Some(Kind::Plan), ..Default::default() };
    let first = crate::audit::Page::of(s.audit_entries(&plans, None, 6).await.unwrap(), 5);
    let rest = s.audit_entries(&plans, first.next, 100).await.unwrap();
    assert_eq!(first.entries.len() + rest.len(), 13);
    assert!(rest.iter().all(|e| e.entry.kind == Kind::Plan && Some(e.id) < first.next));
}}

store_test! { async fn pruning_removes_only_entries_older_than_the_cutoff(db) {
    let s = db.open().await;
    for at in [10, 20, 30, 40] {
        s.append_audit(&entry(Kind::Plan, Actor::Bosun, "acme/infra", 1, at)).await.unwrap();
    }
    assert_eq!(s.prune_audit(30).await.unwrap(), 2);
    let left: Vec<i64> = all(&s, &Filter::default()).await.iter().map(|e| e.entry.at).collect();
    assert_eq!(left, vec![40, 30]);
    assert_eq!(s.prune_audit(30).await.unwrap(), 0);
}}

store_test! { async fn the_retention_duty_prunes_by_age_and_keeps_the_rest(db) {
    let s = db.open().await;
    let day = 24 * 3600 * 1000;
    let now = 1_000 * day;
    for at in [now - 500 * day, now - 401 * day, now - 399 * day, now] {
        s.append_audit(&entry(Kind::Plan, Actor::Bosun, "acme/infra", 1, at)).await.unwrap();
    }
    let pruner = crate::audit::retention::Pruner {
        store: s.clone(),
        keep: std::time::Duration::from_secs(400 * 24 * 3600),
    };
    assert_eq!(pruner.tick_if_leader(now).await.unwrap(), Some(2));
    assert_eq!(all(&s, &Filter::default()).await.len(), 2);
}}

store_test! { async fn a_long_detail_is_stored_bounded(db) {
    let s = db.open().await;
    let mut e = entry(Kind::ConfigError, Actor::Bosun, "acme/infra", 1, 1);
    e.detail = "x".repeat(10_000);
    s.append_audit(&e).await.unwrap();
    let read = all(&s, &Filter::default()).await;
    assert!(read[0].entry.detail.len() <= crate::audit::MAX_DETAIL_BYTES);
}}

/// Append-only: no statement of bosun updates an entry, and the only deletes are the prunes
/// by age (one a backend).
#[test]
fn no_statement_edits_the_trail_and_only_pruning_deletes() {
    fn sources(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs" || x == "sql") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path.display().to_string(), text.to_uppercase()));
            }
        }
    }
    let mut all = Vec::new();
    sources(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut all,
    );
    let count = |needle: &str| -> Vec<&str> {
        all.iter()
            .filter(|(path, text)| !path.ends_with("audit/tests.rs") && text.contains(needle))
            .map(|(path, _)| path.as_str())
            .collect()
    };
    assert!(
        count("UPDATE AUDIT").is_empty(),
        "{:?}",
        count("UPDATE AUDIT")
    );
    let deletes = count("DELETE FROM AUDIT");
    assert_eq!(deletes.len(), 2, "{deletes:?}");
    assert!(
        deletes
            .iter()
            .all(|p| p.ends_with("sqlite/audit.rs") || p.ends_with("postgres/audit.rs"))
    );
}
