//! The overview page: jobs queued and running, project locks, drift per repository, and the
//! global apply lock. Pure: data in, HTML out (the handler gathers what the viewer may see).

use crate::ids::PrNumber;
use std::collections::BTreeMap;

use super::html::{self, Viewer, badge, esc, project, repo_link, table, time};
use crate::drift::DriftStatus;
use crate::projects::Target;
use crate::store::{ApplyLock, Job, ProjectLock};

/// What the overview shows, already filtered to what the viewer may read.
pub struct Overview {
    /// Each with its repository's name now.
    pub jobs: Vec<(String, Job)>,
    /// Each with its repository's name now.
    pub locks: Vec<(String, ProjectLock)>,
    /// Each project's latest drift status, by repository.
    pub drift: Vec<(String, Target, DriftStatus)>,
    pub apply_lock: Option<ApplyLock>,
    /// Whether the viewer may turn the global apply lock on or off.
    pub may_switch_apply_lock: bool,
}

pub fn render(o: &Overview, viewer: &Viewer<'_>) -> String {
    let mut body = apply_lock(o, viewer);

    let jobs: Vec<Vec<String>> = o
        .jobs
        .iter()
        .map(|(repo, j)| {
            vec![
                j.id.to_string(),
                esc(&j.kind),
                repo_link(repo),
                pr_cell(repo, j.pr),
                badge(j.status.as_str()),
                j.attempts.to_string(),
            ]
        })
        .collect();
    body.push_str(&table(
        "Jobs queued and running",
        &[
            "Job",
            "Kind",
            "Repository",
            "Pull request",
            "Status",
            "Attempts",
        ],
        &jobs,
        "Nothing is queued or running.",
    ));

    body.push_str(&locks_table(o.locks.iter().map(|(r, l)| (r.as_str(), l))));

    let mut per_repo: BTreeMap<&str, [u32; 4]> = BTreeMap::new();
    for (repo, _, status) in &o.drift {
        let counts = per_repo.entry(repo).or_default();
        counts[match status {
            DriftStatus::Drifted => 0,
            DriftStatus::Error => 1,
            DriftStatus::InSync => 2,
            DriftStatus::Skipped => 3,
        }] += 1;
    }
    let drift: Vec<Vec<String>> = per_repo
        .iter()
        .map(|(repo, [drifted, error, in_sync, skipped])| {
            let state = if *drifted > 0 {
                "drifted"
            } else if *error > 0 {
                "error"
            } else {
                "in_sync"
            };
            vec![
                repo_link(repo),
                badge(state),
                drifted.to_string(),
                error.to_string(),
                in_sync.to_string(),
                skipped.to_string(),
            ]
        })
        .collect();
    body.push_str(&table(
        "Drift by repository",
        &[
            "Repository",
            "State",
            "Drifted",
            "Errors",
            "In sync",
            "Skipped",
        ],
        &drift,
        "No drift run has finished yet.",
    ));
    html::page("Overview", "/", viewer, &body)
}

fn apply_lock(o: &Overview, viewer: &Viewer<'_>) -> String {
    let state = match &o.apply_lock {
        Some(lock) => format!(
            "<p class=\"notice\"><strong>Applies are locked</strong> for every repository since {}.</p>",
            time(lock.locked_at)
        ),
        None => String::from("<p>Applies are allowed.</p>"),
    };
    if !o.may_switch_apply_lock {
        return format!("<section><h2>Global apply lock</h2>{state}</section>");
    }
    let (action, label) = if o.apply_lock.is_some() {
        ("unlock", "Allow applies")
    } else {
        ("lock", "Lock all applies")
    };
    format!(
        "<section><h2>Global apply lock</h2>{state}\
         <form method=\"post\" action=\"/apply-lock\" class=\"inline\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"hidden\" name=\"action\" value=\"{action}\">\
         <button type=\"submit\">{label}</button></form></section>",
        esc(viewer.csrf)
    )
}

/// The locks table (the overview's and the locks page's), without unlock buttons: each lock
/// with its repository's name now.
pub fn locks_table<'a>(locks: impl IntoIterator<Item = (&'a str, &'a ProjectLock)>) -> String {
    let rows: Vec<Vec<String>> = locks
        .into_iter()
        .map(|(repo, l)| {
            vec![
                repo_link(repo),
                project(&l.target.dir, &l.target.workspace, l.target.name.as_deref()),
                pr_cell(repo, l.pr),
                time(l.created_at),
            ]
        })
        .collect();
    table(
        "Project locks",
        &["Repository", "Project", "Held by", "Since"],
        &rows,
        "No project is locked.",
    )
}

/// `#N`, linking to the pull request's section of its repository's page; `—` for jobs of
/// no pull request (drift).
pub fn pr_cell(repository: &str, pr: PrNumber) -> String {
    if pr == PrNumber(0) {
        return String::from("—");
    }
    let (owner, name) = repository.split_once('/').unwrap_or((repository, ""));
    format!(
        "<a href=\"/repos/{}/{}#pr-{pr}\">#{pr}</a>",
        html::url_part(owner),
        html::url_part(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::InstallationId;
    use crate::store::JobStatus;

    fn viewer() -> Viewer<'static> {
        Viewer {
            login: Some("octocat"),
            csrf: "c5rf",
        }
    }

    fn job(id: i64, repo: &str, status: JobStatus) -> Job {
        Job {
            id,
            kind: "autoplan".into(),
            repository: crate::ids::RepoKey::new(repo),
            installation_id: InstallationId(1),
            pr: PrNumber(7),
            spec: "{\"secret\": \"never shown\"}".into(),
            status,
            attempts: 1,
            summary: None,
            claim: 1,
        }
    }

    fn target(dir: &str) -> Target {
        Target {
            dir: dir.into(),
            workspace: "default".into(),
            name: None,
        }
    }

    #[test]
    fn the_overview_lists_jobs_locks_and_drift_per_repo() {
        let o = Overview {
            jobs: vec![(
                "acme/infra".into(),
                job(3, "acme/infra", JobStatus::Running),
            )],
            locks: vec![(
                "acme/infra".into(),
                ProjectLock {
                    repository: "acme/infra".into(),
                    target: target("prod"),
                    pr: PrNumber(7),
                    created_at: 0,
                },
            )],
            drift: vec![
                ("acme/infra".into(), target("a"), DriftStatus::Drifted),
                ("acme/infra".into(), target("b"), DriftStatus::InSync),
                ("acme/web".into(), target("c"), DriftStatus::InSync),
            ],
            apply_lock: None,
            may_switch_apply_lock: false,
        };
        let html = render(&o, &viewer());
        assert!(html.contains("<td>3</td><td>autoplan</td>"));
        assert!(html.contains("<a href=\"/repos/acme/infra#pr-7\">#7</a>"));
        assert!(html.contains("<span class=\"badge busy\">running</span>"));
        assert!(html.contains("<td>prod</td>"));
        assert!(html.contains("<td><span class=\"badge bad\">drifted</span></td><td>1</td>"));
        assert!(html.contains("<a href=\"/repos/acme/web\">acme/web</a></td><td><span class=\"badge ok\">in_sync</span>"));
        assert!(html.contains("Applies are allowed."));
        assert!(
            !html.contains("action=\"/apply-lock\""),
            "no switch for this viewer"
        );
        assert!(!html.contains("never shown"), "a job's spec is not shown");
    }

    #[test]
    fn the_apply_lock_switch_is_a_csrf_protected_form_for_those_allowed() {
        let o = Overview {
            jobs: vec![],
            locks: vec![],
            drift: vec![],
            apply_lock: Some(ApplyLock { locked_at: 0 }),
            may_switch_apply_lock: true,
        };
        let html = render(&o, &viewer());
        assert!(html.contains("Applies are locked"));
        assert!(html.contains("name=\"csrf\" value=\"c5rf\""));
        assert!(html.contains("name=\"action\" value=\"unlock\""));
        assert!(html.contains("Nothing is queued or running."));
        assert!(html.contains("No project is locked."));
    }
}
