//! The audit trail's page: filters (a GET form, so a filtered view is a link), the entries
//! newest first, and a link to the next page.

use super::html::{self, Viewer, badge, esc, repo_link, table, time, url_part};
use super::overview::pr_cell;
use crate::ids::{PrNumber, Sha};

/// One entry as the page shows it.
pub struct AuditRow {
    pub at: i64,
    /// `login`, `token:NAME` or `bosun`.
    pub actor: String,
    pub kind: String,
    pub repository: String,
    pub pr: Option<PrNumber>,
    pub project: Option<String>,
    pub sha: Option<Sha>,
    pub outcome: String,
    pub detail: String,
    pub run_id: Option<i64>,
}

/// The filters as given (echoed into the form and the next page's link).
#[derive(Default)]
pub struct AuditFilters {
    pub repo: String,
    pub pr: String,
    pub project: String,
    pub user: String,
    pub kind: String,
    pub since: String,
    pub until: String,
}

impl AuditFilters {
    fn fields(&self) -> [(&'static str, &'static str, &str); 7] {
        [
            ("repo", "Repository", &self.repo),
            ("pr", "Pull request", &self.pr),
            ("project", "Project", &self.project),
            ("user", "User", &self.user),
            ("kind", "Kind", &self.kind),
            ("since", "Since", &self.since),
            ("until", "Until", &self.until),
        ]
    }
}

/// The page. `next` is the `before` id of the next page; `error` a bad filter's message.
pub fn render(
    rows: &[AuditRow],
    filters: &AuditFilters,
    next: Option<i64>,
    error: Option<&str>,
    viewer: &Viewer<'_>,
) -> String {
    let mut body = String::from("<form method=\"get\" action=\"/audit\" class=\"filters\">");
    for (name, label, value) in filters.fields() {
        body.push_str(&format!(
            "<label>{label}<input name=\"{name}\" value=\"{}\"></label>",
            esc(value)
        ));
    }
    body.push_str("<button type=\"submit\">Filter</button></form>");
    if let Some(error) = error {
        body.push_str(&format!(
            "<p class=\"notice\" role=\"alert\">{}</p>",
            esc(error)
        ));
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                time(r.at),
                esc(&r.actor),
                esc(&r.kind),
                if r.repository.is_empty() {
                    "—".into()
                } else {
                    repo_link(&r.repository)
                },
                r.pr.map_or_else(|| "—".into(), |n| pr_cell(&r.repository, n)),
                esc(r.project.as_deref().unwrap_or("—")),
                r.sha.as_ref().map(Sha::as_str).map_or_else(
                    || "—".into(),
                    |s| format!("<code>{}</code>", esc(s.get(..12).unwrap_or(s))),
                ),
                badge(&r.outcome),
                esc(&r.detail),
                r.run_id.map_or_else(
                    || "—".into(),
                    |id| format!("<a href=\"/runs/{id}\">log</a>"),
                ),
            ]
        })
        .collect();
    body.push_str(&table(
        "Entries",
        &[
            "When",
            "Who",
            "What",
            "Repository",
            "PR",
            "Project",
            "Commit",
            "Outcome",
            "Detail",
            "Run",
        ],
        &cells,
        "No entry matches.",
    ));
    if let Some(before) = next {
        let mut query = String::new();
        for (name, _, value) in filters.fields() {
            if !value.is_empty() {
                query.push_str(&format!("{name}={}&", url_part(value)));
            }
        }
        body.push_str(&format!(
            "<nav class=\"pager\" aria-label=\"Pages\"><a href=\"/audit?{}before={before}\" rel=\"next\">Older entries</a></nav>",
            esc(&query)
        ));
    }
    html::page("Audit trail", "/audit", viewer, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_escaped_filters_echoed_and_the_next_page_keeps_them() {
        let rows = vec![AuditRow {
            at: 0,
            actor: "octocat".into(),
            kind: "unlock".into(),
            repository: "acme/infra".into(),
            pr: Some(PrNumber(5)),
            project: Some("prod".into()),
            sha: Some("0123456789abcdef".into()),
            outcome: "released".into(),
            detail: "reason: <maintenance>".into(),
            run_id: Some(9),
        }];
        let filters = AuditFilters {
            repo: "acme/infra".into(),
            user: "o\"c".into(),
            ..AuditFilters::default()
        };
        let html = render(
            &rows,
            &filters,
            Some(41),
            None,
            &Viewer {
                login: Some("octocat"),
                csrf: "t",
            },
        );
        assert!(html.contains("reason: &lt;maintenance&gt;"));
        assert!(html.contains("name=\"user\" value=\"o&quot;c\""));
        assert!(html.contains("<a href=\"/runs/9\">log</a>"));
        assert!(html.contains("href=\"/audit?repo=acme%2Finfra&amp;user=o%22c&amp;before=41\""));
        assert!(html.contains("<code>0123456789ab</code>"));
        let empty = render(
            &[],
            &AuditFilters::default(),
            None,
            Some("bad `since`"),
            &Viewer {
                login: None,
                csrf: "",
            },
        );
        assert!(
            empty.contains("No entry matches.") && empty.contains("role=\"alert\">bad `since`")
        );
        assert!(!empty.contains("Older entries"));
    }
}
