//! Runs a validated GraphQL query (see `query`) against the model, with GitHub's answer
//! shape: `data` as asked, `null` where a field failed, and an `errors` list.

use serde_json::{Map, Value, json};

use super::super::model::{CheckRun, Model, Pr, Repo};
use super::query::{Arg, Query, Selection};

/// A value of one of the modelled object types.
#[derive(Clone, Copy)]
enum Obj<'m> {
    Query,
    Repo(&'m Repo),
    Pr(&'m Repo, &'m Pr),
    Commits(&'m Repo, &'m Pr, usize, usize),
    PrCommit(&'m Repo, &'m Pr, usize),
    Commit(&'m Repo, &'m Pr, usize),
    Rollup(&'m Repo, &'m Pr),
    /// The contexts from an offset, at most so many.
    Contexts(&'m Repo, &'m Pr, usize, usize),
    PageInfo(&'m Repo, &'m Pr, usize, usize),
    /// The base branch of a pull request.
    Ref(&'m Repo, &'m Pr),
    RefUpdateRule(&'m Repo),
    CheckRun(&'m Repo, &'m CheckRun),
}

impl Obj<'_> {
    fn typename(&self) -> &'static str {
        match self {
            Obj::Query => "Query",
            Obj::Repo(..) => "Repository",
            Obj::Pr(..) => "PullRequest",
            Obj::Commits(..) => "PullRequestCommitConnection",
            Obj::PrCommit(..) => "PullRequestCommit",
            Obj::Commit(..) => "Commit",
            Obj::Rollup(..) => "StatusCheckRollup",
            Obj::Contexts(..) => "StatusCheckRollupContextConnection",
            Obj::PageInfo(..) => "PageInfo",
            Obj::Ref(..) => "Ref",
            Obj::RefUpdateRule(..) => "RefUpdateRule",
            Obj::CheckRun(..) => "CheckRun",
        }
    }
}

enum Out<'m> {
    Scalar(Value),
    One(Obj<'m>),
    Many(Vec<Obj<'m>>),
}

/// Runs a validated query as `installation`; GitHub's `{data, errors}` answer.
pub fn execute(m: &Model, installation: u64, query: &Query, variables: &Value) -> Value {
    let mut ctx = Exec {
        m,
        installation,
        variables,
        errors: Vec::new(),
        path: Vec::new(),
    };
    let data = ctx.object(Obj::Query, &query.selections);
    let mut answer = json!({ "data": data });
    if !ctx.errors.is_empty() {
        answer["errors"] = Value::Array(ctx.errors);
    }
    answer
}

struct Exec<'m, 'v> {
    m: &'m Model,
    installation: u64,
    variables: &'v Value,
    errors: Vec<Value>,
    path: Vec<String>,
}

impl<'m> Exec<'m, '_> {
    fn object(&mut self, obj: Obj<'m>, selections: &[Selection]) -> Value {
        let mut out = Map::new();
        self.fill(obj, selections, &mut out);
        Value::Object(out)
    }

    fn fill(&mut self, obj: Obj<'m>, selections: &[Selection], out: &mut Map<String, Value>) {
        for s in selections {
            match s {
                Selection::Fragment { on, selections } if on == obj.typename() => {
                    self.fill(obj, selections, out)
                }
                Selection::Fragment { .. } => {}
                Selection::Field {
                    alias,
                    name,
                    args,
                    selections,
                } => {
                    let key = alias.clone().unwrap_or_else(|| name.clone());
                    self.path.push(key.clone());
                    let value = match self.resolve(obj, name, args) {
                        Ok(Out::Scalar(v)) => v,
                        Ok(Out::One(o)) => self.object(o, selections),
                        Ok(Out::Many(all)) => Value::Array(
                            all.into_iter()
                                .map(|o| self.object(o, selections))
                                .collect(),
                        ),
                        Err((kind, message)) => {
                            self.errors.push(json!({
                                "type": kind, "path": self.path, "message": message,
                                "locations": [{ "line": 1, "column": 1 }],
                            }));
                            Value::Null
                        }
                    };
                    self.path.pop();
                    out.insert(key, value);
                }
            }
        }
    }

    fn arg(&self, args: &[(String, Arg)], name: &str) -> Option<Value> {
        let (_, arg) = args.iter().find(|(n, _)| n == name)?;
        match arg {
            Arg::Var(v) => self.variables.get(v).filter(|v| !v.is_null()).cloned(),
            Arg::Literal(l) => Some(l.clone()),
        }
    }

    fn resolve(
        &self,
        obj: Obj<'m>,
        field: &str,
        args: &[(String, Arg)],
    ) -> Result<Out<'m>, (&'static str, String)> {
        let scalar = |v: Value| Ok(Out::Scalar(v));
        let count = |name: &str| {
            self.arg(args, name)
                .and_then(|v| v.as_u64())
                .map(|n| n.min(100) as usize)
        };
        match (obj, field) {
            (_, "__typename") => scalar(json!(obj.typename())),
            (Obj::Query, "repository") => {
                let owner = self.arg(args, "owner");
                let name = self.arg(args, "name");
                let (Some(owner), Some(name)) = (
                    owner.as_ref().and_then(Value::as_str),
                    name.as_ref().and_then(Value::as_str),
                ) else {
                    return Err(("INVALID", "repository needs owner and name".into()));
                };
                let full = format!("{owner}/{name}");
                let visible = self.m.installation_of(&full) == Some(self.installation);
                match self.m.repo(&full).filter(|_| visible) {
                    Some(r) => Ok(Out::One(Obj::Repo(r))),
                    None => Err((
                        "NOT_FOUND",
                        format!("Could not resolve to a Repository with the name '{full}'."),
                    )),
                }
            }
            (Obj::Repo(r), "nameWithOwner") => scalar(json!(r.full_name())),
            (Obj::Repo(r), "pullRequest") => {
                let number = self.arg(args, "number").and_then(|n| n.as_u64());
                match number.and_then(|n| r.prs.get(&n)) {
                    Some(pr) => Ok(Out::One(Obj::Pr(r, pr))),
                    None => Err((
                        "NOT_FOUND",
                        format!(
                            "Could not resolve to a PullRequest with the number of {}.",
                            number.unwrap_or(0)
                        ),
                    )),
                }
            }
            (Obj::Pr(_, pr), "number") => scalar(json!(pr.number)),
            (Obj::Pr(r, pr), "baseRef") => Ok(Out::One(Obj::Ref(r, pr))),
            (Obj::Ref(_, pr), "name") => scalar(json!(pr.base_ref)),
            // Branch protection as non-admins see it (modelled for every branch alike).
            (Obj::Ref(r, _), "refUpdateRule") => match &r.protection {
                Some(_) => Ok(Out::One(Obj::RefUpdateRule(r))),
                None => scalar(Value::Null),
            },
            (Obj::RefUpdateRule(r), "requiredStatusCheckContexts") => scalar(json!(
                r.protection.as_ref().map(|p| p.required_checks.clone())
            )),
            (Obj::RefUpdateRule(r), "requiredApprovingReviewCount") => scalar(json!(
                r.protection.as_ref().map(|p| p.required_approvals)
            )),
            (Obj::Pr(r, pr), "reviewDecision") => scalar(json!(r.review_decision(pr))),
            (Obj::Pr(r, pr), "commits") => {
                let total = pr_commits(r, pr).len();
                match (count("first"), count("last")) {
                    (Some(n), None) => Ok(Out::One(Obj::Commits(r, pr, 0, n.min(total)))),
                    (None, Some(n)) => Ok(Out::One(Obj::Commits(r, pr, total - n.min(total), total))),
                    _ => Err((
                        "INVALID",
                        "You must provide a `first` or `last` value to properly paginate the `commits` connection.".into(),
                    )),
                }
            }
            (Obj::Commits(r, pr, ..), "totalCount") => scalar(json!(pr_commits(r, pr).len())),
            (Obj::Commits(r, pr, from, to), "nodes") => Ok(Out::Many(
                (from..to).map(|i| Obj::PrCommit(r, pr, i)).collect(),
            )),
            (Obj::PrCommit(r, pr, i), "commit") => Ok(Out::One(Obj::Commit(r, pr, i))),
            (Obj::Commit(r, pr, i), "oid") => scalar(json!(pr_commits(r, pr).get(i))),
            (Obj::Commit(r, pr, i), "statusCheckRollup") => {
                // Check runs are recorded for pull request heads only.
                let is_head = pr_commits(r, pr).get(i) == Some(&pr.head_sha);
                match is_head && !latest_runs(r, &pr.head_sha).is_empty() {
                    true => Ok(Out::One(Obj::Rollup(r, pr))),
                    false => scalar(Value::Null),
                }
            }
            (Obj::Rollup(r, pr), "state") => {
                let runs = latest_runs(r, &pr.head_sha);
                let state = match () {
                    _ if runs.iter().any(|c| c.status != "completed") => "PENDING",
                    _ if runs.iter().all(|c| passed(c)) => "SUCCESS",
                    _ => "FAILURE",
                };
                scalar(json!(state))
            }
            (Obj::Rollup(r, pr), "contexts") => match count("first") {
                Some(n) => {
                    // The fake's cursors are offsets: `ctx:<offset of the next item>`.
                    let after = self.arg(args, "after");
                    let from = match after.as_ref().map(|a| a.as_str()) {
                        None => 0,
                        Some(Some(c)) => match c.strip_prefix("ctx:").and_then(|n| n.parse().ok()) {
                            Some(from) => from,
                            None => return Err(("INVALID", format!("`{c}` does not appear to be a valid cursor."))),
                        },
                        Some(None) => return Err(("INVALID", "after must be a String".into())),
                    };
                    Ok(Out::One(Obj::Contexts(r, pr, from, n)))
                }
                None => Err((
                    "INVALID",
                    "You must provide a `first` or `last` value to properly paginate the `contexts` connection.".into(),
                )),
            },
            (Obj::Contexts(r, pr, ..), "totalCount") => {
                scalar(json!(latest_runs(r, &pr.head_sha).len()))
            }
            (Obj::Contexts(r, pr, from, n), "pageInfo") => Ok(Out::One(Obj::PageInfo(r, pr, from, n))),
            (Obj::PageInfo(r, pr, from, n), "hasNextPage") => {
                scalar(json!(latest_runs(r, &pr.head_sha).len() > from + n))
            }
            (Obj::PageInfo(r, pr, from, n), "endCursor") => {
                let end = (from + n).min(latest_runs(r, &pr.head_sha).len());
                scalar(json!((end > from).then(|| format!("ctx:{end}"))))
            }
            (Obj::Contexts(r, pr, from, n), "nodes") => Ok(Out::Many(
                latest_runs(r, &pr.head_sha)
                    .into_iter()
                    .skip(from)
                    .take(n)
                    .map(|c| Obj::CheckRun(r, c))
                    .collect(),
            )),
            (Obj::CheckRun(_, c), "name") => scalar(json!(c.name)),
            (Obj::CheckRun(_, c), "status") => scalar(json!(c.status.to_ascii_uppercase())),
            (Obj::CheckRun(_, c), "conclusion") => {
                scalar(json!(c.conclusion.as_deref().map(str::to_ascii_uppercase)))
            }
            (Obj::CheckRun(r, c), "isRequired") => {
                let number = self.arg(args, "pullRequestNumber").and_then(|n| n.as_u64());
                match number.and_then(|n| r.prs.get(&n)) {
                    Some(_) => scalar(json!(r.is_required(&c.name))),
                    None => Err((
                        "INVALID",
                        "isRequired needs the pullRequestNumber of a pull request (pullRequestId is not modelled)".into(),
                    )),
                }
            }
            (obj, field) => Err((
                "NOT_MODELLED",
                format!("the fake does not model {}.{field}", obj.typename()),
            )),
        }
    }
}

/// A pull request's commits, oldest first: the head's ancestors that are not in its base.
fn pr_commits(r: &Repo, pr: &Pr) -> Vec<String> {
    let walk = || -> Result<Vec<String>, git2::Error> {
        let repo = git2::Repository::open_bare(&r.git_dir)?;
        let mut walk = repo.revwalk()?;
        walk.push(git2::Oid::from_str(&pr.head_sha)?)?;
        walk.hide(git2::Oid::from_str(&pr.base_sha)?)?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
        walk.take(250)
            .map(|oid| oid.map(|o| o.to_string()))
            .collect()
    };
    walk().unwrap_or_else(|_| vec![pr.head_sha.clone()])
}

/// The newest check run of each name on `sha`, in the order the names first appeared.
fn latest_runs<'r>(r: &'r Repo, sha: &str) -> Vec<&'r CheckRun> {
    let mut names: Vec<&str> = Vec::new();
    for c in r.check_runs.iter().filter(|c| c.head_sha == sha) {
        if !names.contains(&c.name.as_str()) {
            names.push(&c.name);
        }
    }
    names
        .into_iter()
        .filter_map(|n| {
            r.check_runs
                .iter()
                .rev()
                .find(|c| c.head_sha == sha && c.name == n)
        })
        .collect()
}

fn passed(c: &CheckRun) -> bool {
    c.conclusion
        .as_deref()
        .is_some_and(|c| ["success", "neutral", "skipped"].contains(&c))
}
