//! A run's page: what ran where and for whom, its outcome, its plan as a coloured diff, and
//! its log, followed live (Server-Sent Events from `/api/runs/{id}/log`) while it runs. The
//! log stored so far is in the page itself, so it reads without script too.

use super::html::{self, Viewer, badge, esc, plan_diff, project, repo_link, time};
use super::overview::pr_cell;
use crate::ids::PrNumber;

/// What the page shows of one run.
pub struct RunPage<'a> {
    pub id: i64,
    pub repository: &'a str,
    pub pr: PrNumber,
    pub dir: &'a crate::ids::Dir,
    pub workspace: &'a crate::ids::Workspace,
    pub project: Option<&'a str>,
    pub kind: &'a str,
    pub status: &'a str,
    pub commit: &'a str,
    pub requested_by: &'a str,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Whether the run may still write to its log (queued or running).
    pub live: bool,
    /// The log stored so far (redacted when it was written).
    pub log: &'a str,
    /// The project's plan at this commit, when one is stored: its summary line and text.
    pub plan: Option<(&'a str, &'a str)>,
}

pub fn render(r: &RunPage<'_>, viewer: &Viewer<'_>) -> String {
    let fact = |k: &str, v: String| format!("<dt>{}</dt><dd>{v}</dd>", esc(k));
    let mut body = String::from("<dl class=\"facts\">");
    body.push_str(&fact("Repository", repo_link(r.repository)));
    body.push_str(&fact("Pull request", pr_cell(r.repository, r.pr)));
    body.push_str(&fact("Project", project(r.dir, r.workspace, r.project)));
    body.push_str(&fact("Command", esc(r.kind)));
    body.push_str(&fact("Commit", format!("<code>{}</code>", esc(r.commit))));
    body.push_str(&fact("Asked by", esc(r.requested_by)));
    body.push_str(&fact(
        "Outcome",
        format!("<span id=\"run-outcome\">{}</span>", badge(r.status)),
    ));
    body.push_str(&fact(
        "Started",
        r.started_at.map_or_else(|| "—".to_owned(), time),
    ));
    body.push_str(&fact(
        "Finished",
        r.finished_at.map_or_else(|| "—".to_owned(), time),
    ));
    body.push_str("</dl>");
    if let Some((line, text)) = r.plan {
        body.push_str(&format!(
            "<section><h2>Plan</h2><p>{}</p>{}</section>",
            esc(line),
            plan_diff(text)
        ));
    }
    let src = if r.live {
        format!(" data-src=\"/api/runs/{}/log\"", r.id)
    } else {
        String::new()
    };
    body.push_str(&format!(
        "<section><h2>Log</h2><p id=\"log-status\" role=\"status\">{}</p>\
         <pre id=\"log\" tabindex=\"0\" aria-label=\"Log\"{src}>{}</pre></section>",
        if r.live { "Running…" } else { "Finished." },
        esc(r.log)
    ));
    let title = format!(
        "{} of {} in {}",
        r.kind,
        r.project.unwrap_or(r.dir.as_str()),
        r.repository
    );
    html::page(&title, "", viewer, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(live: bool) -> RunPage<'static> {
        RunPage {
            id: 12,
            repository: "acme/infra",
            pr: PrNumber(3),
            dir: Box::leak(Box::new("prod".into())),
            workspace: Box::leak(Box::new("default".into())),
            project: None,
            kind: "apply",
            status: if live { "running" } else { "succeeded" },
            commit: "abc123",
            requested_by: "octocat",
            started_at: Some(0),
            finished_at: None,
            live,
            log: "line <1>\nline 2\n",
            plan: Some(("Plan: 1 to add", "  + x\n")),
        }
    }

    #[test]
    fn a_running_runs_page_follows_its_log_and_a_finished_one_does_not() {
        let viewer = Viewer {
            login: None,
            csrf: "",
        };
        let live = render(&page(true), &viewer);
        assert!(live.contains("data-src=\"/api/runs/12/log\""));
        assert!(live.contains(">line &lt;1&gt;\nline 2\n</pre>"));
        assert!(live.contains("<span class=\"add\">  + x</span>"));
        assert!(live.contains("<title>apply of prod in acme/infra · bosun</title>"));
        let done = render(&page(false), &viewer);
        assert!(!done.contains("data-src"));
        assert!(done.contains("<span class=\"badge ok\">succeeded</span>"));
    }
}
