//! GraphQL queries against the fake: a small parser for the query language and a check of
//! every field and argument against the part of GitHub's schema the fake models (pull
//! requests' review decision and their commits' check rollup); `execute` answers from the
//! model. Fields outside that part are refused as GitHub refuses unknown fields, so a query
//! the fake cannot answer honestly never passes.

use std::collections::BTreeSet;
use std::iter::Peekable;
use std::str::Chars;

use serde_json::{Value, json};

pub use super::execute::execute;

/// (type, field, the field's type, the arguments it takes). Types that appear first are
/// objects; `StatusCheckRollupContext` is the union below; anything else is a scalar or enum.
const SCHEMA: &[(&str, &str, &str, &[&str])] = &[
    ("Query", "repository", "Repository", &["owner", "name"]),
    ("Repository", "nameWithOwner", "String", &[]),
    ("Repository", "pullRequest", "PullRequest", &["number"]),
    ("PullRequest", "number", "Int", &[]),
    ("PullRequest", "baseRef", "Ref", &[]),
    ("Ref", "name", "String", &[]),
    ("Ref", "refUpdateRule", "RefUpdateRule", &[]),
    (
        "RefUpdateRule",
        "requiredStatusCheckContexts",
        "[String]",
        &[],
    ),
    ("RefUpdateRule", "requiredApprovingReviewCount", "Int", &[]),
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
        &["first", "after"],
    ),
    (
        "StatusCheckRollupContextConnection",
        "pageInfo",
        "PageInfo",
        &[],
    ),
    ("PageInfo", "hasNextPage", "Boolean", &[]),
    ("PageInfo", "endCursor", "String", &[]),
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
pub(super) enum Arg {
    Var(String),
    Literal(Value),
}

#[derive(Debug, Clone)]
pub(super) enum Selection {
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
    pub(super) selections: Vec<Selection>,
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
