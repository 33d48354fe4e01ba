//! The locks page: every project lock the viewer may see, each with an unlock form (a reason
//! required) where the viewer has the command permission on its repository.

use super::html::{self, Viewer, esc, project, repo_link, table, time};
use super::overview::pr_cell;
use crate::store::ProjectLock;

/// A lock and whether the viewer may unlock it.
pub struct LockView {
    /// The name now of the lock's repository.
    pub repo: String,
    pub lock: ProjectLock,
    pub may_unlock: bool,
}

/// The page; `notice` (text) is the outcome of the last unlock, shown above the table.
pub fn render(locks: &[LockView], notice: Option<&str>, viewer: &Viewer<'_>) -> String {
    let mut body = String::new();
    if let Some(notice) = notice {
        body.push_str(&format!(
            "<p class=\"notice\" role=\"status\">{}</p>",
            esc(notice)
        ));
    }
    let rows: Vec<Vec<String>> = locks
        .iter()
        .map(|l| {
            let t = &l.lock.target;
            let action = if l.may_unlock {
                format!(
                    "<form method=\"post\" action=\"/locks/unlock\" class=\"inline\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                     <input type=\"hidden\" name=\"repository\" value=\"{repo}\">\
                     <input type=\"hidden\" name=\"dir\" value=\"{dir}\">\
                     <input type=\"hidden\" name=\"workspace\" value=\"{ws}\">\
                     {name}\
                     <label>Reason <input name=\"reason\" required maxlength=\"200\"></label>\
                     <button type=\"submit\">Unlock</button></form>",
                    csrf = esc(viewer.csrf),
                    repo = esc(&l.repo),
                    dir = esc(t.dir.as_str()),
                    ws = esc(t.workspace.as_str()),
                    name = t.name.as_deref().map_or_else(String::new, |n| format!(
                        "<input type=\"hidden\" name=\"project\" value=\"{}\">",
                        esc(n)
                    )),
                )
            } else {
                String::from("<span class=\"empty\">needs the command permission</span>")
            };
            vec![
                repo_link(&l.repo),
                project(&t.dir, &t.workspace, t.name.as_deref()),
                pr_cell(&l.repo, l.lock.pr),
                time(l.lock.created_at),
                action,
            ]
        })
        .collect();
    body.push_str(&table(
        "Project locks",
        &["Repository", "Project", "Held by", "Since", "Unlock"],
        &rows,
        "No project is locked.",
    ));
    html::page("Locks", "/locks", viewer, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PrNumber;
    use crate::projects::Target;

    fn lock(name: Option<&str>) -> ProjectLock {
        ProjectLock {
            repository: "acme/infra".into(),
            target: Target {
                dir: "prod\"".into(),
                workspace: "default".into(),
                name: name.map(Into::into),
            },
            pr: PrNumber(4),
            created_at: 0,
        }
    }

    #[test]
    fn an_unlock_form_carries_the_csrf_token_and_the_project_and_needs_a_reason() {
        let viewer = Viewer {
            login: Some("octocat"),
            csrf: "tok",
        };
        let html = render(
            &[
                LockView {
                    repo: "acme/infra".into(),
                    lock: lock(Some("api")),
                    may_unlock: true,
                },
                LockView {
                    repo: "acme/infra".into(),
                    lock: lock(None),
                    may_unlock: false,
                },
            ],
            Some("Unlocked <prod>"),
            &viewer,
        );
        assert!(html.contains("<p class=\"notice\" role=\"status\">Unlocked &lt;prod&gt;</p>"));
        assert_eq!(html.matches("action=\"/locks/unlock\"").count(), 1);
        assert!(html.contains("name=\"csrf\" value=\"tok\""));
        assert!(html.contains("name=\"dir\" value=\"prod&quot;\""));
        assert!(html.contains("name=\"project\" value=\"api\""));
        assert!(html.contains("name=\"reason\" required"));
        assert!(html.contains("needs the command permission"));
    }
}
