//! A project is its (repository, dir, workspace, name): two named projects on one dir and
//! workspace keep their own plans, reviewed plans and lock waits, under one lock; and the
//! migration that made the name part of the key kept the rows stored before it.

use crate::ids::{InstallationId, PrNumber, Sha};
use std::str::FromStr as _;

use super::seal::{Binding, KEY_LEN};
use super::test_db::store_test;
use super::*;
use crate::ids::RepoKey;
use crate::plan::{Outcome, PlanSummary, Target};

const REPO: &str = "acme/infra";

fn named(name: Option<&str>) -> Target {
    Target {
        dir: ".".into(),
        workspace: "default".into(),
        name: name.map(Into::into),
    }
}

fn plan(name: Option<&str>, sha: &str, planfile: &[u8]) -> StoredPlan {
    StoredPlan {
        repository: REPO.into(),
        pr: PrNumber(5),
        target: named(name),
        head_sha: Sha::new(sha.repeat(40)),
        outcome: Outcome::Planned {
            summary: PlanSummary {
                digest: format!("{name:?}"),
                ..Default::default()
            },
            text: String::new(),
        },
        planfile: Some(planfile.to_vec()),
        job_id: 1,
        created_at: 1,
        tool: None,
    }
}

fn sealer() -> Sealer {
    Sealer::new(&[9; KEY_LEN]).unwrap()
}

store_test! { async fn two_named_projects_on_one_dir_and_workspace_keep_their_own_plans(db) {
    let s = db.open_with(sealer()).await;
    s.record_plan(&plan(Some("staging"), "a", b"staging planfile"))
        .await
        .unwrap();
    s.record_plan(&plan(Some("default"), "a", b"default planfile"))
        .await
        .unwrap();
    let plans = s.plans_of_pr(&RepoKey::new(REPO), PrNumber(5)).await.unwrap();
    assert_eq!(
        plans,
        [
            plan(Some("default"), "a", b"default planfile"),
            plan(Some("staging"), "a", b"staging planfile"),
        ],
        "both kept, by name"
    );

    // A new plan of one replaces its own only.
    s.record_plan(&plan(Some("default"), "b", b"default again"))
        .await
        .unwrap();
    let plans = s.plans_of_pr(&RepoKey::new(REPO), PrNumber(5)).await.unwrap();
    assert_eq!(plans[0], plan(Some("default"), "b", b"default again"));
    assert_eq!(plans[1], plan(Some("staging"), "a", b"staging planfile"));

    // Applying one forgets its planfile only.
    assert!(
        s.forget_planfile(&RepoKey::new(REPO), PrNumber(5), &named(Some("staging")), &Sha::new("a".repeat(40)))
            .await
            .unwrap()
    );
    let plans = s.plans_of_pr(&RepoKey::new(REPO), PrNumber(5)).await.unwrap();
    assert_eq!(plans[0].planfile.as_deref(), Some(&b"default again"[..]));
    assert_eq!(plans[1].planfile, None);

    // A planfile sealed for one does not open in the other's row.
    db.execute(
        "UPDATE plans SET planfile = (SELECT planfile FROM plans WHERE project = 'default'),
                          head_sha = (SELECT head_sha FROM plans WHERE project = 'default')
         WHERE project = 'staging'",
    )
    .await;
    let plans = s.plans_of_pr(&RepoKey::new(REPO), PrNumber(5)).await.unwrap();
    assert_eq!(plans[1].target, named(Some("staging")));
    assert_eq!(plans[1].planfile, None);

    // Reviewed plans are kept per project too.
    s.record_plan(&plan(Some("staging"), "b", b"staging again"))
        .await
        .unwrap();
    assert_eq!(
        s.keep_reviewed_plans(&RepoKey::new(REPO), PrNumber(5), &Sha::new("b".repeat(40)))
            .await
            .unwrap(),
        2
    );
    let reviewed: Vec<Target> = s
        .reviewed_plans(&RepoKey::new(REPO), PrNumber(5))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.target)
        .collect();
    assert_eq!(reviewed, [named(Some("default")), named(Some("staging"))]);

    // Deleting one project's plan keeps the other's.
    assert_eq!(
        s.delete_plans_of(&RepoKey::new(REPO), PrNumber(5), &[named(Some("default"))])
            .await
            .unwrap(),
        1
    );
    let left: Vec<Target> = s
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(5))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.target)
        .collect();
    assert_eq!(left, [named(Some("staging"))]);
}}

store_test! { async fn named_projects_share_their_lock_and_each_is_woken(db) {
    let s = db.open().await;
    let both = [named(Some("default")), named(Some("staging"))];
    assert_eq!(
        s.lock_projects(&RepoKey::new(REPO), PrNumber(1), &both, true, 1).await.unwrap(),
        LockAttempt::Locked
    );
    assert_eq!(s.locks_of_pr(&RepoKey::new(REPO), PrNumber(1)).await.unwrap().len(), 1, "one lock");
    // Another pull request waits for both projects, and gets both when woken.
    let LockAttempt::Held { held } = s.lock_projects(&RepoKey::new(REPO), PrNumber(2), &both, true, 2).await.unwrap() else {
        panic!("#1 holds the lock");
    };
    assert_eq!(held.len(), 1);
    assert_eq!(s.waiters(&RepoKey::new(REPO)).await.unwrap()[0].targets, both);
    let wake = |w: &Waiter| NewJob {
        source: format!("wake {}", w.pr),
        kind: "replan".into(),
        repository: REPO.into(),
        installation_id: InstallationId(1),
        pr: w.pr,
        priority: 0,
        spec: "{}".into(),
        created_at: 3,
        supersedes_kind: None,
    };
    let released = s
        .release_locks(&RepoKey::new(REPO), PrNumber(1), Some(&both[1..]), &wake)
        .await
        .unwrap();
    assert_eq!(released.released.len(), 1, "the one lock, by either name");
    assert_eq!(released.woken[0].targets, both);
}}

#[tokio::test]
async fn the_migration_to_named_keys_keeps_the_rows_stored_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("b.db").display());
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlite::MIGRATOR.run_to(7, &pool).await.unwrap();
    let sha = "c".repeat(40);
    // Sealed as before names were bound into planfiles.
    let sealed = |dir: &str| {
        let binding = Binding {
            repository: REPO,
            pr: PrNumber(5),
            dir: &dir.into(),
            workspace: &"default".into(),
            project: None,
            head_sha: &sha,
        };
        sealer().seal(b"old planfile", &binding).unwrap()
    };
    let outcome = serde_json::to_string(&plan(None, "c", b"").outcome).unwrap();
    for (dir, project, planfile) in [
        ("envs/dev", None, sealed("envs/dev")),
        ("envs/prod", Some("prod"), sealed("envs/prod")),
    ] {
        for table in ["plans", "reviewed_plans"] {
            let planfile_column = if table == "plans" { ", planfile" } else { "" };
            let planfile_value = if table == "plans" { ", ?" } else { "" };
            let sql = format!(
                "INSERT INTO {table} (repository, pr, dir, workspace, project, head_sha, outcome,
                                      job_id, created_at{planfile_column})
                 VALUES (?, 5, ?, 'default', ?, ?, ?, 1, 1{planfile_value})"
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(REPO)
                .bind(dir)
                .bind(project)
                .bind(&sha)
                .bind(&outcome);
            if table == "plans" {
                q = q.bind(&planfile);
            }
            q.execute(&pool).await.unwrap();
        }
        sqlx::query(
            "INSERT INTO lock_waits (repository, dir, workspace, pr, project, created_at)
             VALUES (?, ?, 'default', 6, ?, 1)",
        )
        .bind(REPO)
        .bind(dir)
        .bind(project)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let s = SqliteStore::open_with(&url, sealer()).await.unwrap();
    let target = |dir: &str, name: Option<&str>| Target {
        dir: dir.into(),
        workspace: "default".into(),
        name: name.map(Into::into),
    };
    let plans = s
        .plans_of_pr(&RepoKey::new(REPO), PrNumber(5))
        .await
        .unwrap();
    let kept: Vec<(Target, Option<&[u8]>)> = plans
        .iter()
        .map(|p| (p.target.clone(), p.planfile.as_deref()))
        .collect();
    assert_eq!(
        kept,
        [
            (target("envs/dev", None), Some(&b"old planfile"[..])),
            (target("envs/prod", Some("prod")), None),
        ],
        "rows kept; an unnamed project's planfile still opens, a named one's is planned again"
    );
    let reviewed: Vec<Target> = s
        .reviewed_plans(&RepoKey::new(REPO), PrNumber(5))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.target)
        .collect();
    assert_eq!(
        reviewed,
        [target("envs/dev", None), target("envs/prod", Some("prod"))]
    );
    assert_eq!(
        s.waiters(&RepoKey::new(REPO)).await.unwrap()[0].targets,
        [target("envs/dev", None), target("envs/prod", Some("prod"))]
    );
    // The old unnamed row is the one a new plan of that project replaces.
    s.record_plan(&StoredPlan {
        target: target("envs/dev", None),
        ..plan(None, "d", b"new")
    })
    .await
    .unwrap();
    assert_eq!(
        s.plans_of_pr(&RepoKey::new(REPO), PrNumber(5))
            .await
            .unwrap()
            .len(),
        2
    );
}
