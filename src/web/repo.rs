//! A repository's page: its pull requests with their projects, plans and applies, its locks,
//! and its drift history. Pure: data in, HTML out.

use crate::ids::PrNumber;
use std::fmt::Write as _;

use super::html::{self, Viewer, badge, esc, plan_diff, project, table, time};
use super::overview::locks_table;
use crate::plan::Outcome;
use crate::store::{ApplyRecord, DriftRun, Job, ProjectLock, StoredPlan};

/// One pull request as the page shows it.
pub struct PrView {
    pub number: PrNumber,
    /// Its title on GitHub (its author's text), when GitHub said.
    pub title: Option<String>,
    pub jobs: Vec<Job>,
    pub plans: Vec<StoredPlan>,
    pub applies: Vec<ApplyRecord>,
}

pub struct RepoView {
    pub repository: String,
    pub prs: Vec<PrView>,
    pub locks: Vec<ProjectLock>,
    pub drift_runs: Vec<DriftRun>,
}

pub fn render(r: &RepoView, viewer: &Viewer<'_>) -> String {
    let mut body = String::new();
    body.push_str(&locks_table(
        r.locks.iter().map(|l| (r.repository.as_str(), l)),
    ));
    body.push_str("<section><h2>Pull requests</h2>");
    if r.prs.is_empty() {
        body.push_str(
            "<p class=\"empty\">bosun has no pull request of this repository on record.</p>",
        );
    }
    for pr in &r.prs {
        let title = pr
            .title
            .as_deref()
            .map(|t| format!(": {}", esc(t)))
            .unwrap_or_default();
        let _ = write!(
            body,
            "<article id=\"pr-{n}\"><h3>Pull request #{n}{title}</h3>",
            n = pr.number
        );
        let plans: Vec<Vec<String>> = pr
            .plans
            .iter()
            .map(|p| {
                let (state, detail) = match &p.outcome {
                    Outcome::Planned { summary, text } => (
                        "planned",
                        format!(
                            "<details><summary>{}</summary>{}</details>",
                            esc(&summary.line),
                            plan_diff(text)
                        ),
                    ),
                    Outcome::Failed { step, output } => (
                        "failed",
                        format!(
                            "<details><summary>{} failed</summary><pre>{}</pre></details>",
                            esc(step.as_str()),
                            esc(output)
                        ),
                    ),
                };
                vec![
                    project(&p.target.dir, &p.target.workspace, p.target.name.as_deref()),
                    format!("<code>{}</code>", esc(short(p.head_sha.as_str()))),
                    badge(state),
                    detail,
                    time(p.created_at),
                ]
            })
            .collect();
        body.push_str(&table(
            &format!("Plans of #{}", pr.number),
            &["Project", "Commit", "State", "Plan", "At"],
            &plans,
            "No plan stored (none made yet, or discarded after an apply or a close).",
        ));
        let applies: Vec<Vec<String>> = pr
            .applies
            .iter()
            .map(|a| {
                vec![
                    project(&a.target.dir, &a.target.workspace, a.target.name.as_deref()),
                    format!("<code>{}</code>", esc(short(a.sha.as_str()))),
                    badge(a.status.as_str()),
                    time(a.started_at),
                    a.finished_at.map_or_else(|| "—".to_owned(), time),
                ]
            })
            .collect();
        body.push_str(&table(
            &format!("Applies of #{}", pr.number),
            &["Project", "Commit", "Outcome", "Started", "Finished"],
            &applies,
            "No apply.",
        ));
        let jobs: Vec<Vec<String>> = pr
            .jobs
            .iter()
            .map(|j| {
                vec![
                    j.id.to_string(),
                    esc(&j.kind),
                    badge(j.status.as_str()),
                    esc(j.summary.as_deref().unwrap_or("")),
                ]
            })
            .collect();
        body.push_str(&table(
            &format!("Jobs of #{}", pr.number),
            &["Job", "Kind", "Status", "Summary"],
            &jobs,
            "No job.",
        ));
        body.push_str("</article>");
    }
    body.push_str("</section>");

    let drift: Vec<Vec<String>> = r
        .drift_runs
        .iter()
        .map(|d| {
            vec![
                time(d.started_at),
                esc(d.trigger.as_str()),
                format!("<code>{}</code>", esc(short(d.sha.as_str()))),
                if d.finished_at.is_some() {
                    esc(&d.summary)
                } else {
                    badge("running")
                },
            ]
        })
        .collect();
    body.push_str(&table(
        "Drift runs",
        &["Started", "Trigger", "Commit", "Result"],
        &drift,
        "No drift run yet.",
    ));
    html::page(&r.repository, "", viewer, &body)
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::InstallationId;
    use crate::plan::{PlanSummary, Step};
    use crate::projects::Target;
    use crate::store::{ApplyStatus, JobStatus};

    fn target() -> Target {
        Target {
            dir: "prod".into(),
            workspace: "default".into(),
            name: None,
        }
    }

    #[test]
    fn a_repository_page_shows_each_prs_plans_applies_and_jobs() {
        let planned = StoredPlan {
            repository: "acme/infra".into(),
            pr: PrNumber(7),
            target: target(),
            head_sha: "0123456789abcdef0123".into(),
            outcome: Outcome::Planned {
                summary: PlanSummary {
                    line: "Plan: 1 to add, 0 to change, 0 to destroy.".into(),
                    ..PlanSummary::default()
                },
                text: "  + resource \"terraform_data\" \"x\" {\n<b>".into(),
            },
            planfile: Some(vec![1, 2, 3]),
            job_id: 1,
            created_at: 0,
            tool: None,
        };
        let mut failed = planned.clone();
        failed.target.dir = "staging".into();
        failed.outcome = Outcome::Failed {
            step: Step::Init,
            output: "Error: <bad>".into(),
        };
        let view = RepoView {
            repository: "acme/infra".into(),
            prs: vec![PrView {
                number: PrNumber(7),
                title: Some("Grow the <b>bucket</b>".into()),
                jobs: vec![Job {
                    id: 1,
                    kind: "autoplan".into(),
                    repository: "acme/infra".into(),
                    installation_id: InstallationId(1),
                    pr: PrNumber(7),
                    spec: String::new(),
                    status: JobStatus::Done,
                    attempts: 1,
                    summary: Some("planned 2 projects".into()),
                    claim: 1,
                }],
                plans: vec![planned, failed],
                applies: vec![ApplyRecord {
                    id: 1,
                    repository: "acme/infra".into(),
                    pr: PrNumber(7),
                    target: target(),
                    sha: "0123456789abcdef0123".into(),
                    job_id: 2,
                    claim: 1,
                    status: ApplyStatus::Failed,
                    started_at: 0,
                    finished_at: None,
                }],
            }],
            locks: vec![],
            drift_runs: vec![],
        };
        let html = render(
            &view,
            &Viewer {
                login: Some("octocat"),
                csrf: "t",
            },
        );
        assert!(html.contains(
            "<article id=\"pr-7\"><h3>Pull request #7: Grow the &lt;b&gt;bucket&lt;/b&gt;</h3>"
        ));
        assert!(html.contains("<code>0123456789ab</code>"));
        assert!(html.contains("<summary>Plan: 1 to add, 0 to change, 0 to destroy.</summary>"));
        assert!(html.contains(
            "<span class=\"add\">  + resource &quot;terraform_data&quot; &quot;x&quot; {</span>"
        ));
        assert!(html.contains("&lt;b&gt;") && !html.contains("<b>"));
        assert!(html.contains("<summary>init failed</summary><pre>Error: &lt;bad&gt;</pre>"));
        assert!(html.contains("<td><span class=\"badge bad\">failed</span></td>"));
        assert!(html.contains("planned 2 projects"));
        assert!(html.contains("No drift run yet."));
    }
}
