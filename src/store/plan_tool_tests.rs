//! The Terraform or OpenTofu a plan ran, recorded with it (both backends).

use super::test_db::store_test;
use super::*;
use crate::config::repo::Distribution;
use crate::ids::RepoKey;
use crate::ids::{PrNumber, Sha};
use crate::plan::{Outcome, PlanSummary, Target};
use crate::versions::{Pinned, Version};

fn plan(dir: &str, tool: Option<Pinned>) -> StoredPlan {
    StoredPlan {
        repository: "acme/infra".into(),
        pr: PrNumber(9),
        target: Target {
            dir: dir.into(),
            workspace: "default".into(),
            name: None,
        },
        head_sha: Sha::new("c".repeat(40)),
        outcome: Outcome::Planned {
            summary: PlanSummary::default(),
            text: "+ resource".into(),
        },
        planfile: Some(b"planfile".to_vec()),
        job_id: 1,
        created_at: 1,
        tool,
    }
}

fn pinned(distribution: Distribution, version: &str) -> Option<Pinned> {
    Some(Pinned {
        distribution,
        version: Version::parse(version).unwrap(),
        sha256: (distribution == Distribution::Terraform).then(|| "ab".repeat(32)),
    })
}

store_test! { async fn a_plan_keeps_the_version_it_ran_and_a_replanned_one_its_own(db) {
    let s = db.open().await;
    let terraform = plan("a", pinned(Distribution::Terraform, "1.6.0"));
    let tofu = plan("b", pinned(Distribution::OpenTofu, "1.8.0-rc1"));
    let unasked = plan("c", None);
    for p in [&terraform, &tofu, &unasked] {
        s.record_plan(p).await.unwrap();
    }
    assert_eq!(
        s.plans_of_pr(&RepoKey::new("acme/infra"), PrNumber(9)).await.unwrap(),
        vec![terraform.clone(), tofu.clone(), unasked.clone()]
    );
    // The reviewed plans keep it too.
    s.keep_reviewed_plans(&RepoKey::new("acme/infra"), PrNumber(9), &Sha::new("c".repeat(40))).await.unwrap();
    let reviewed = s.reviewed_plans(&RepoKey::new("acme/infra"), PrNumber(9)).await.unwrap();
    let tools: Vec<_> = reviewed.into_iter().map(|p| p.tool).collect();
    assert_eq!(tools, vec![terraform.tool.clone(), tofu.tool, None]);
    // A new plan of the project replaces it, also with none.
    s.record_plan(&plan("a", pinned(Distribution::Terraform, "1.6.1"))).await.unwrap();
    s.record_plan(&plan("b", None)).await.unwrap();
    let tools: Vec<_> = s
        .plans_of_pr(&RepoKey::new("acme/infra"), PrNumber(9))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.tool)
        .collect();
    assert_eq!(tools, vec![pinned(Distribution::Terraform, "1.6.1"), None, None]);
}}
