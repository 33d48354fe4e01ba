//! GraphQL queries against the fake: a small parser for the query language, a check of every
//! field and argument against the part of GitHub's schema the fake models (pull requests'
//! review decision and their commits' check rollup), and an executor that answers from the
//! model. Fields outside that part are refused as GitHub refuses unknown fields, so a query
//! the fake cannot answer honestly never passes.

use std::collections::BTreeSet;
use std::iter::Peekable;
use std::str::Chars;

use serde_json::{Map, Value, json};

use super::super::model::{CheckRun, Model, Pr, Repo};

/// (type, field, the field's type, the arguments it takes). Types that appear first are
/// objects; `StatusCheckRollupContext` is the union below; anything else is a scalar or enum.
const SCHEMA: &[(&str, &str, &str, &[&str])] = &[
    ("Query", "repository", "Repository", &["owner", "name"]),
    ("Repository", "nameWithOwner", "String", &[]),
    ("Repository", "pullRequest", "PullRequest", &["number"]),
    ("PullRequest", "number", "Int", &[]),
    (
        "PullRequest",
        "reviewDecision",
        "PullRequestReviewDecision",
        &[],
    ),
    (
        "PullRequest",
        "commits",
        "PullRequestCommitConnection",
        &["first", "last"],
    ),
    ("PullRequestCommitConnection", "totalCount", "Int", &[]),
    (
        "PullRequestCommitConnection",
        "nodes",
        "PullRequestCommit",
        &[],
    ),
    ("PullRequestCommit", "commit", "Commit", &[]),
    ("Commit", "oid", "GitObjectID", &[]),
    ("Commit", "statusCheckRollup", "StatusCheckRollup", &[]),
    ("StatusCheckRollup", "state", "StatusState", &[]),
    (
        "StatusCheckRollup",
        "contexts",
        "StatusCheckRollupContextConnection",
        &["first"],
    ),
    (
        "StatusCheckRollupContextConnection",
        "totalCount",
        "Int",
        &[],
    ),
    (
        "StatusCheckRollupContextConnection",
        "nodes",
        "StatusCheckRollupContext",
        &[],
    ),
    ("CheckRun", "name", "String", &[]),
    ("CheckRun", "status", "CheckStatusState", &[]),
    ("CheckRun", "conclusion", "CheckConclusionState", &[]),
    (
        "CheckRun",
        "isRequired",
        "Boolean",
        &["pullRequestId", "pullRequestNumber"],
    ),
    ("StatusContext", "context", "String", &[]),
    ("StatusContext", "state", "StatusState", &[]),
    (
        "StatusContext",
        "isRequired",
        "Boolean",
        &["pullRequestId", "pullRequestNumber"],
    ),
];

const UNION: (&str, [&str; 2]) = ("StatusCheckRollupContext", ["CheckRun", "StatusContext"]);

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Var(String),
    Str(String),
    Int(i64),
    Spread,
    Punct(char),
}

/// An argument's value as written: a variable, or a literal (an enum value is a string).
#[derive(Debug, Clone)]
enum Arg {
    Var(String),
    Literal(Value),
}

#[derive(Debug, Clone)]
enum Selection {
    Field {
        alias: Option<String>,
        name: String,
        args: Vec<(String, Arg)>,
        selections: Vec<Selection>,
    },
    Fragment {
        on: String,
        selections: Vec<Selection>,
    },
}

/// A parsed query: the variables it declares and its selections on `Query`.
pub struct Query {
    declared: BTreeSet<String>,
    selections: Vec<Selection>,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars: Peekable<Chars> = text.chars().peekable();
    let word = |chars: &mut Peekable<Chars>| {
        let mut w = String::new();
        while let Some(c) = chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_') {
            w.push(c);
        }
        w
    };
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() || c == ',' => {
                chars.next();
            }
            '#' => while chars.next_if(|c| *c != '\n').is_some() {},
            '$' => {
                chars.next();
                out.push(Token::Var(word(&mut chars)));
            }
            '"' => {
                chars.next();
                let s: String = chars.by_ref().take_while(|c| *c != '"').collect();
                out.push(Token::Str(s));
            }
            '.' => {
                let dots: String = chars.by_ref().take(3).collect();
                if dots != "..." {
                    return Err(format!("unexpected `{dots}`"));
                }
                out.push(Token::Spread);
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut n = String::from(c);
                chars.next();
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    n.push(d);
                }
                out.push(Token::Int(
                    n.parse().map_err(|_| format!("bad number {n}"))?,
                ));
            }
            c if c.is_ascii_alphabetic() || c == '_' => out.push(Token::Name(word(&mut chars))),
            '{' | '}' | '(' | ')' | ':' | '!' | '[' | ']' | '=' => {
                chars.next();
                out.push(Token::Punct(c));
            }
            other => return Err(format!("unexpected character `{other}`")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(&Token::Punct(c));
        if hit {
            self.at += 1;
        }
        hit
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.eat(c) {
            true => Ok(()),
            false => Err(format!("expected `{c}`, found {:?}", self.peek())),
        }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Name(n)) => Ok(n),
            other => Err(format!("expected a name, found {other:?}")),
        }
    }

    /// `( $a: Type! = default, … )`: the declared names; types are not checked.
    fn variable_definitions(&mut self) -> Result<BTreeSet<String>, String> {
        let mut declared = BTreeSet::new();
        if !self.eat('(') {
            return Ok(declared);
        }
        while !self.eat(')') {
            match self.next() {
                Some(Token::Var(v)) => declared.insert(v),
                other => return Err(format!("expected a variable, found {other:?}")),
            };
            self.expect(':')?;
            while !matches!(
                self.peek(),
                Some(Token::Var(_)) | Some(Token::Punct(')')) | None
            ) {
                self.next();
            }
        }
        Ok(declared)
    }

    fn selection_set(&mut self) -> Result<Vec<Selection>, String> {
        self.expect('{')?;
        let mut out = Vec::new();
        while !self.eat('}') {
            if self.peek() == Some(&Token::Spread) {
                self.next();
                if self.name()? != "on" {
                    return Err("only inline fragments (`... on Type`) are modelled".into());
                }
                let on = self.name()?;
                out.push(Selection::Fragment {
                    on,
                    selections: self.selection_set()?,
                });
                continue;
            }
            let first = self.name()?;
            let (alias, name) = match self.eat(':') {
                true => (Some(first), self.name()?),
                false => (None, first),
            };
            let mut args = Vec::new();
            if self.eat('(') {
                while !self.eat(')') {
                    let arg = self.name()?;
                    self.expect(':')?;
                    let value = match self.next() {
                        Some(Token::Var(v)) => Arg::Var(v),
                        Some(Token::Str(s) | Token::Name(s)) => Arg::Literal(json!(s)),
                        Some(Token::Int(n)) => Arg::Literal(json!(n)),
                        other => return Err(format!("unsupported argument value {other:?}")),
                    };
                    args.push((arg, value));
                }
            }
            let selections = match self.peek() {
                Some(Token::Punct('{')) => self.selection_set()?,
                _ => Vec::new(),
            };
            out.push(Selection::Field {
                alias,
                name,
                args,
                selections,
            });
        }
        Ok(out)
    }
}

/// Parses a `query` operation (named or not, or a bare selection set).
pub fn parse(text: &str) -> Result<Query, String> {
    let mut p = Parser {
        tokens: tokenize(text)?,
        at: 0,
    };
    let mut declared = BTreeSet::new();
    if p.peek() != Some(&Token::Punct('{')) {
        if p.name()? != "query" {
            return Err("not a query".into());
        }
        if let Some(Token::Name(_)) = p.peek() {
            p.next();
        }
        declared = p.variable_definitions()?;
    }
    let selections = p.selection_set()?;
    if p.peek().is_some() {
        return Err("more than one operation".into());
    }
    Ok(Query {
        declared,
        selections,
    })
}

fn field_type(parent: &str, name: &str) -> Option<(&'static str, &'static [&'static str])> {
    SCHEMA
        .iter()
        .find(|(t, f, _, _)| *t == parent && *f == name)
        .map(|(_, _, ty, args)| (*ty, *args))
}

fn is_composite(ty: &str) -> bool {
    ty == UNION.0 || SCHEMA.iter().any(|(t, ..)| *t == ty)
}

impl Query {
    /// Checks every field, argument, fragment and variable against the modelled schema, with
    /// GitHub's wording for what it refuses.
    pub fn validate(&self) -> Result<(), String> {
        self.validate_set("Query", &self.selections)
    }

    fn validate_set(&self, parent: &str, selections: &[Selection]) -> Result<(), String> {
        for s in selections {
            match s {
                Selection::Fragment { on, selections } => {
                    let fits =
                        on == parent || (parent == UNION.0 && UNION.1.contains(&on.as_str()));
                    if !fits {
                        return Err(format!("Fragment on {on} can't be spread inside {parent}"));
                    }
                    self.validate_set(on, selections)?;
                }
                Selection::Field { name, .. } if name == "__typename" => {}
                Selection::Field {
                    name,
                    args,
                    selections,
                    ..
                } => {
                    let Some((ty, allowed)) = field_type(parent, name) else {
                        return Err(format!("Field '{name}' doesn't exist on type '{parent}'"));
                    };
                    for (arg, value) in args {
                        if !allowed.contains(&arg.as_str()) {
                            return Err(format!("Field '{name}' doesn't accept argument '{arg}'"));
                        }
                        if let Arg::Var(v) = value
                            && !self.declared.contains(v)
                        {
                            return Err(format!(
                                "Variable ${v} is used by anonymous query but not declared"
                            ));
                        }
                    }
                    match (is_composite(ty), selections.is_empty()) {
                        (true, true) => {
                            return Err(format!(
                                "Field '{name}' of type '{ty}' must have a selection of subfields"
                            ));
                        }
                        (false, false) => {
                            return Err(format!(
                                "Selections can't be made on scalars (field '{name}' returns {ty})"
                            ));
                        }
                        _ => {}
                    }
                    if !selections.is_empty() {
                        self.validate_set(ty, selections)?;
                    }
                }
            }
        }
        Ok(())
    }
}

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
    Contexts(&'m Repo, &'m Pr, usize),
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
                Some(n) => Ok(Out::One(Obj::Contexts(r, pr, n))),
                None => Err((
                    "INVALID",
                    "You must provide a `first` or `last` value to properly paginate the `contexts` connection.".into(),
                )),
            },
            (Obj::Contexts(r, pr, _), "totalCount") => {
                scalar(json!(latest_runs(r, &pr.head_sha).len()))
            }
            (Obj::Contexts(r, pr, n), "nodes") => Ok(Out::Many(
                latest_runs(r, &pr.head_sha)
                    .into_iter()
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

#[test]
fn queries_are_parsed_and_checked_against_the_schema() {
    let q = parse("query($n: Int!) { repository(owner: \"a\", name: \"b\") { pullRequest(number: $n) { reviewDecision commits(last: 1) { nodes { commit { oid } } } } } }").unwrap();
    q.validate().unwrap();
    let q =
        parse("{ repository(owner: \"a\", name: \"b\") { pullRequest(number: $n) { number } } }")
            .unwrap();
    assert!(q.validate().unwrap_err().contains("$n"));
    let q =
        parse("query { repository(owner: \"a\", name: \"b\") { issues { totalCount } } }").unwrap();
    assert!(
        q.validate()
            .unwrap_err()
            .contains("'issues' doesn't exist on type 'Repository'")
    );
    let q =
        parse("query { repository(owner: \"a\", name: \"b\", x: 1) { nameWithOwner } }").unwrap();
    assert!(q.validate().unwrap_err().contains("argument 'x'"));
    let q = parse("query { repository(owner: \"a\", name: \"b\") }").unwrap();
    assert!(q.validate().unwrap_err().contains("selection of subfields"));
    let q = parse("query { repository(owner: \"a\", name: \"b\") { pullRequest(number: 1) { commits(first: 1) { nodes { commit { statusCheckRollup { contexts(first: 1) { nodes { ... on Commit { oid } } } } } } } } } }").unwrap();
    assert!(q.validate().unwrap_err().contains("can't be spread"));
    assert!(parse("mutation { x }").is_err());
    assert!(parse("query { a } query { b }").is_err());
}
