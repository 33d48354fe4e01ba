//! What policy checks show: a project's section of the plan comment, its
//! `bosun/policy: <project>` check run, and the replies to `approve_policies`. A policy's
//! messages may quote what the pull request wrote (resource names, values): they are shown
//! as code spans.

use super::check::CheckOutput;
use super::{code_span, marker, one_line};
use crate::policy::{ProjectPolicies, SetStatus};

/// `bosun/policy: <project>`
pub fn check_name(p: &ProjectPolicies) -> String {
    format!("bosun/policy: {}", p.target.display_name())
}

/// The most messages shown per set.
const SHOWN: usize = 20;

fn messages(out: &mut String, list: &[String]) {
    for m in list.iter().take(SHOWN) {
        out.push_str(&format!("  - {}\n", code_span(&one_line(m))));
    }
    if list.len() > SHOWN {
        out.push_str(&format!("  - …and {} more\n", list.len() - SHOWN));
    }
}

fn approvals(s: &SetStatus) -> String {
    let by: Vec<String> = s.approved_by.iter().map(|u| format!("@{u}")).collect();
    let who = if s.owners.is_empty() {
        "no one (the set has no owners)".to_owned()
    } else {
        s.owners.join(", ")
    };
    let mut line = format!(
        "{}/{} approval(s) from {who}",
        s.approved_by.len(),
        s.needed
    );
    if !by.is_empty() {
        line.push_str(&format!("; approved by {}", by.join(", ")));
    }
    line
}

/// Each set: passed, failed (its failures, who may approve), or approved.
fn sets_text(p: &ProjectPolicies) -> String {
    let mut out = String::new();
    for s in &p.sets {
        let state = if s.failures.is_empty() {
            "passed"
        } else if s.passes() {
            "failed, approved"
        } else {
            "**failed**"
        };
        out.push_str(&format!("- policy set {}: {state}", code_span(&s.set)));
        if !s.failures.is_empty() {
            out.push_str(&format!(" ({})", approvals(s)));
        }
        out.push('\n');
        messages(&mut out, &s.failures);
        if !s.warnings.is_empty() {
            out.push_str("  - warnings:\n");
            for w in s.warnings.iter().take(SHOWN) {
                out.push_str(&format!("    - {}\n", code_span(&one_line(w))));
            }
        }
    }
    out
}

/// The plan comment's section for a project's policy checks.
pub fn section(command_name: &str, p: &ProjectPolicies) -> String {
    let blocking = p.blocking().count();
    let title = if blocking > 0 {
        format!("{blocking} policy set(s) failed")
    } else if p.sets.iter().any(|s| !s.failures.is_empty()) {
        "failed sets approved".to_owned()
    } else {
        "passed".to_owned()
    };
    let mut out = format!(
        "#### Policy checks for {}: {title}\n\n{}",
        code_span(&p.target.display_name()),
        sets_text(p)
    );
    if blocking > 0 {
        out.push_str(&format!(
            "\nThis project cannot be applied until an owner of each failed set approves it \
             with `{} approve_policies`.\n",
            one_line(command_name)
        ));
    }
    out
}

/// The check run: failure while a failed set is not approved; success otherwise (saying so
/// when a failed set was approved or a set warned).
pub fn check(p: &ProjectPolicies) -> (bool, CheckOutput) {
    let blocking = p.blocking().count();
    let approved = p
        .sets
        .iter()
        .filter(|s| !s.failures.is_empty() && s.passes())
        .count();
    let warned = p.sets.iter().any(|s| !s.warnings.is_empty());
    let title = if blocking > 0 {
        format!("{blocking} of {} policy set(s) failed", p.sets.len())
    } else if approved > 0 {
        let by: Vec<String> = p
            .sets
            .iter()
            .flat_map(|s| s.approved_by.iter().map(|u| format!("@{u}")))
            .collect();
        format!("Failed policies approved by {}", by.join(", "))
    } else if warned {
        format!("{} policy set(s) passed, with warnings", p.sets.len())
    } else {
        format!("{} policy set(s) passed", p.sets.len())
    };
    let output = CheckOutput {
        title,
        summary: sets_text(p),
        text: None,
    };
    (blocking == 0, output)
}

/// The reply to `approve_policies`: what was approved (or cleared), what was refused, and
/// what still fails.
pub fn approve_reply(
    approved: &[String],
    cleared: u64,
    refused: &[String],
    still_failing: &[String],
) -> String {
    let mut out = format!("{}\n", marker("approve-policies"));
    if cleared > 0 {
        out.push_str(&format!("Cleared {cleared} policy approval(s).\n\n"));
    }
    if !approved.is_empty() {
        let sets: Vec<String> = approved.iter().map(|s| code_span(s)).collect();
        out.push_str(&format!(
            "Approved the policy set(s) {}.\n\n",
            sets.join(", ")
        ));
    }
    for r in refused {
        out.push_str(&format!("{r}\n\n"));
    }
    if approved.is_empty() && cleared == 0 && refused.is_empty() {
        out.push_str("No failed policy set to approve at this commit.\n\n");
    }
    if !still_failing.is_empty() {
        let sets: Vec<String> = still_failing.iter().map(|s| code_span(s)).collect();
        out.push_str(&format!(
            "Still failing, not approved: {}.\n",
            sets.join(", ")
        ));
    }
    out
}

/// Why an approval was refused: the commenter owns no failed set named.
pub fn not_owner(user: &str, set: &str, owners: &[String]) -> String {
    format!(
        "@{} is not an owner of the policy set {} (its owners: {}).",
        one_line(user).replace('@', ""),
        code_span(set),
        if owners.is_empty() {
            "none".to_owned()
        } else {
            owners.join(", ")
        }
    )
}

/// Why `--clear-policy-approval` was refused: the commenter owns no set.
pub fn owns_none(user: &str) -> String {
    format!(
        "@{} is not an owner of any policy set: there is no approval of theirs to clear.",
        one_line(user).replace('@', "")
    )
}

/// Why the author's approval was refused (`prevent_self_approve`).
pub fn self_approval(set: &str) -> String {
    format!(
        "The policy set {} may not be approved by the pull request's author.",
        code_span(set)
    )
}

/// The reply to `approve_policies -d/-p/-w`: approvals are of a set, for the whole pull
/// request.
pub fn no_project_selection() -> String {
    format!(
        "{}\nAn approval is of a policy set for every project of the pull request: \
         `approve_policies` takes `--policy-set`, not `-d`, `-p` or `-w`. Nothing was done.\n",
        marker("approve-policies")
    )
}

/// The reply to `approve_policies` where policy checks are off for the repository.
pub fn not_configured() -> String {
    format!(
        "{}\n**Policy checks are not configured for this repository**, so there are no \
         policy failures to approve: nothing was done.\n",
        marker("approve-policies")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Target;

    fn project(failures: &[&str], warnings: &[&str], approved_by: &[&str]) -> ProjectPolicies {
        ProjectPolicies {
            target: Target {
                dir: "envs/prod".into(),
                workspace: "default".into(),
                name: None,
            },
            sets: vec![SetStatus {
                set: "sec".into(),
                failures: failures.iter().map(|s| (*s).to_owned()).collect(),
                warnings: warnings.iter().map(|s| (*s).to_owned()).collect(),
                approved_by: approved_by.iter().map(|s| (*s).to_owned()).collect(),
                needed: 1,
                owners: vec!["@carol".into(), "team acme/sec".into()],
            }],
        }
    }

    #[test]
    fn the_check_fails_until_approved_and_says_when_it_warned() {
        let (ok, out) = check(&project(&["no `@admins` here"], &[], &[]));
        assert!(!ok);
        assert_eq!(out.title, "1 of 1 policy set(s) failed");
        assert!(
            out.summary
                .contains("0/1 approval(s) from @carol, team acme/sec")
        );
        assert!(
            out.summary.contains("``no `@admins` here``"),
            "{}",
            out.summary
        );

        let (ok, out) = check(&project(&["no"], &[], &["carol"]));
        assert!(ok);
        assert_eq!(out.title, "Failed policies approved by @carol");

        let (ok, out) = check(&project(&[], &["careful"], &[]));
        assert!(ok);
        assert_eq!(out.title, "1 policy set(s) passed, with warnings");
        assert!(out.summary.contains("- warnings:\n    - `careful`"));
    }

    #[test]
    fn the_comment_section_lists_failures_and_how_to_approve() {
        let text = section("bosun", &project(&["bad thing"], &[], &[]));
        assert!(text.starts_with("#### Policy checks for `envs/prod`: 1 policy set(s) failed"));
        assert!(text.contains("- policy set `sec`: **failed**"));
        assert!(text.contains("  - `bad thing`"));
        assert!(text.contains("`bosun approve_policies`"));
        let approved = section("bosun", &project(&["bad thing"], &[], &["carol"]));
        assert!(approved.starts_with("#### Policy checks for `envs/prod`: failed sets approved"));
        assert!(
            approved.contains(
                "failed, approved (1/1 approval(s) from @carol, team acme/sec; approved by @carol)"
            ),
            "{approved}"
        );
        let passed = section("bosun", &project(&[], &[], &[]));
        assert!(passed.starts_with("#### Policy checks for `envs/prod`: passed"));
        assert!(!passed.contains("approve_policies"));
    }
}
