//! Which variables of bosun's environment Terraform gets: per stage (a plan runs a pull
//! request's unreviewed code; an apply runs a reviewed plan) and per repository.
//!
//! Each of `terraform_pass_env`, `terraform_plan_pass_env` and `terraform_apply_pass_env` is
//! a comma-separated list of `[GLOB:]NAME[=FROM]`: Terraform gets `NAME`, set to bosun's
//! variable `FROM` (`NAME` itself when no `=`), for the repositories `GLOB` (over
//! `owner/name`) matches, or every repository without one. The plan list, when set, replaces
//! `terraform_pass_env` for plan-stage runs; the apply list, when set, replaces it for apply
//! runs. When several entries give one repository the same `NAME`, the last one wins.

use super::allowlist::RepoAllowlist;
use super::secret::Secret;

/// The stage a Terraform run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Plans of pull requests (by comment, autoplan, or of the merge commit before an apply
    /// on merge) and drift checks: code nobody has reviewed may run.
    Plan,
    /// The apply of a reviewed plan, with the `init` (and `workspace select`) before it.
    Apply,
}

/// One entry of a list, parsed: `[GLOB:]NAME[=FROM]`.
#[derive(Debug, Clone)]
pub struct Entry {
    scope: Option<RepoAllowlist>,
    /// The name Terraform sees.
    pub name: String,
    /// bosun's variable the value comes from.
    pub from: String,
}

impl Entry {
    /// Parses a comma-separated list; the error names the bad item.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(Self::parse)
            .collect()
    }

    fn parse(item: &str) -> Result<Self, String> {
        let (scope, rest) = match item.rsplit_once(':') {
            Some((glob, rest)) => (Some(glob.trim()), rest.trim()),
            None => (None, item),
        };
        let (name, from) = match rest.split_once('=') {
            Some((name, from)) => (name.trim(), from.trim()),
            None => (rest, rest),
        };
        for var in [name, from] {
            if !valid_name(var) {
                return Err(format!("`{var}` is not an environment variable name"));
            }
            if var.starts_with("BOSUN_") {
                return Err(format!(
                    "`{var}`: bosun's own settings are never passed to Terraform"
                ));
            }
        }
        let scope = match scope {
            None => None,
            Some("") => return Err(format!("`{item}`: nothing before `:`")),
            Some(glob) => Some(RepoAllowlist::parse(glob)?),
        };
        Ok(Self {
            scope,
            name: name.to_owned(),
            from: from.to_owned(),
        })
    }

    /// bosun's variable an item of a list reads, if the item can be read at all (for loading
    /// the environment before the lists are checked).
    pub fn source_of(item: &str) -> Option<&str> {
        let rest = item.rsplit_once(':').map_or(item, |(_, rest)| rest);
        let from = rest.split_once('=').map_or(rest, |(_, from)| from).trim();
        Some(from).filter(|f| !f.is_empty())
    }
}

fn valid_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A passed variable with its value.
#[derive(Debug, Clone)]
struct Passed {
    scope: Option<RepoAllowlist>,
    name: String,
    value: Secret,
}

/// What each stage passes, resolved (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct PassEnv {
    plan: Vec<Passed>,
    apply: Vec<Passed>,
}

impl PassEnv {
    /// The stages' entries with their values (`value` looks up bosun's variable `FROM`);
    /// `Err` names the first variable bosun does not have.
    pub fn resolve(
        plan: &[Entry],
        apply: &[Entry],
        value: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let with_values = |entries: &[Entry]| {
            entries
                .iter()
                .map(|e| {
                    let v = value(&e.from)
                        .ok_or_else(|| format!("`{}` is not set in bosun's environment", e.from))?;
                    Ok(Passed {
                        scope: e.scope.clone(),
                        name: e.name.clone(),
                        value: Secret::new(v),
                    })
                })
                .collect::<Result<Vec<_>, String>>()
        };
        Ok(Self {
            plan: with_values(plan)?,
            apply: with_values(apply)?,
        })
    }

    /// The variables a run of `stage` for `repo` (`owner/name`) gets, in order.
    pub fn of(&self, repo: &str, stage: Stage) -> Vec<(String, String)> {
        let list = match stage {
            Stage::Plan => &self.plan,
            Stage::Apply => &self.apply,
        };
        let mut out: Vec<(String, String)> = Vec::new();
        for p in list {
            if p.scope.as_ref().is_none_or(|s| s.allows(repo)) {
                out.retain(|(k, _)| *k != p.name);
                out.push((p.name.clone(), p.value.expose().to_owned()));
            }
        }
        out
    }

    /// Every value either stage may pass, with the name Terraform sees (for the redactor).
    pub fn secrets(&self) -> impl Iterator<Item = (&str, &Secret)> {
        self.plan
            .iter()
            .chain(&self.apply)
            .map(|p| (p.name.as_str(), &p.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(plan: &str, apply: &str) -> PassEnv {
        let value = |name: &str| Some(format!("value-of-{name}")).filter(|_| name != "UNSET");
        PassEnv::resolve(
            &Entry::parse_list(plan).unwrap(),
            &Entry::parse_list(apply).unwrap(),
            value,
        )
        .unwrap()
    }

    #[test]
    fn each_stage_gets_its_own_list_scoped_by_repo() {
        let e = env(
            "AWS_ACCESS_KEY_ID=RO_KEY, acme/prod-*:AWS_ACCESS_KEY_ID=PROD_RO_KEY, TF_VAR_x",
            "AWS_ACCESS_KEY_ID=RW_KEY, other/*:TF_VAR_other",
        );
        assert_eq!(
            e.of("acme/prod-infra", Stage::Plan),
            [
                ("AWS_ACCESS_KEY_ID".into(), "value-of-PROD_RO_KEY".into()),
                ("TF_VAR_x".into(), "value-of-TF_VAR_x".into()),
            ]
        );
        assert_eq!(
            e.of("acme/dev", Stage::Plan),
            [
                ("AWS_ACCESS_KEY_ID".into(), "value-of-RO_KEY".into()),
                ("TF_VAR_x".into(), "value-of-TF_VAR_x".into()),
            ]
        );
        assert_eq!(
            e.of("ACME/dev", Stage::Apply),
            [("AWS_ACCESS_KEY_ID".to_owned(), "value-of-RW_KEY".to_owned())]
        );
        assert_eq!(e.of("other/x", Stage::Apply).len(), 2);
        assert_eq!(e.secrets().count(), 5);
    }

    #[test]
    fn bad_entries_are_named() {
        for (bad, says) in [
            ("1X", "`1X` is not an environment variable name"),
            ("A=B-C", "`B-C` is not an environment variable name"),
            ("BOSUN_GITHUB_WEBHOOK_SECRET", "bosun's own settings"),
            ("A=BOSUN_API_TOKEN", "bosun's own settings"),
            (":A", "nothing before `:`"),
            ("acme:A", "owner/name"),
            ("acme/*:", "`` is not an environment variable name"),
        ] {
            let err = Entry::parse_list(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let missing = PassEnv::resolve(&Entry::parse_list("A=UNSET").unwrap(), &[], |_| None);
        assert_eq!(
            missing.unwrap_err(),
            "`UNSET` is not set in bosun's environment"
        );
        assert_eq!(Entry::source_of("acme/*:A=B"), Some("B"));
        assert_eq!(Entry::source_of("A"), Some("A"));
    }

    proptest::proptest! {
        /// Any list parses or is refused with a reason, never a panic; what parses names
        /// only valid variables, never one of bosun's own, and `source_of` agrees on where
        /// each value comes from.
        #[test]
        fn any_list_parses_or_is_refused(list in "[ -~]{0,80}") {
            match Entry::parse_list(&list) {
                Ok(entries) => {
                    let items: Vec<&str> =
                        list.split(',').map(str::trim).filter(|i| !i.is_empty()).collect();
                    proptest::prop_assert_eq!(entries.len(), items.len());
                    for (e, item) in entries.iter().zip(items) {
                        proptest::prop_assert!(valid_name(&e.name) && valid_name(&e.from));
                        proptest::prop_assert!(!e.from.starts_with("BOSUN_"));
                        proptest::prop_assert_eq!(Entry::source_of(item), Some(e.from.as_str()));
                    }
                }
                Err(reason) => proptest::prop_assert!(!reason.is_empty()),
            }
        }

        /// Lists made of valid parts always parse, to those parts.
        #[test]
        fn well_formed_entries_parse_to_their_parts(
            parts in proptest::collection::vec(
                ("(acme/[a-z*]{1,5}:)?", "[A-Z_][A-Z0-9_]{0,6}", "(=[A-Z_][A-Z0-9_]{0,6})?"),
                1..5,
            ),
        ) {
            let parts: Vec<_> = parts
                .into_iter()
                .filter(|(_, n, f)| !n.starts_with("BOSUN_") && !f.starts_with("=BOSUN_"))
                .collect();
            let list = parts
                .iter()
                .map(|(g, n, f)| format!("{g}{n}{f}"))
                .collect::<Vec<_>>()
                .join(", ");
            let entries = Entry::parse_list(&list).unwrap();
            for (e, (_, name, from)) in entries.iter().zip(&parts) {
                proptest::prop_assert_eq!(&e.name, name);
                let from = from.strip_prefix('=').unwrap_or(name);
                proptest::prop_assert_eq!(&e.from, from);
            }
        }
    }
}
