//! Evaluating a set's Rego with `regorus`, in conftest's conventions: in every package of the
//! set, the rules `deny` and `violation` are failures and `warn` warnings; a rule's value is a
//! set (or array) of strings, or of objects whose `msg` is the message. Unbounded by itself:
//! bosun runs it in a child process ([`super::child`]).

use std::num::NonZeroU32;
use std::time::Duration;

use regorus::Engine;
use regorus::utils::limits::ExecutionTimerConfig;

use super::{RegoModule, SetOutcome};

/// The rules read, and whether each is a failure.
const RULES: &[(&str, bool)] = &[("deny", true), ("violation", true), ("warn", false)];

/// The most messages kept per set: a policy that denies every resource of a large plan says
/// enough with these.
const MAX_MESSAGES: usize = 200;

/// An engine holding `modules` (Rego v1), or the first parse error, naming file and line.
pub fn compile(modules: &[RegoModule]) -> Result<Engine, String> {
    let mut engine = Engine::new();
    for m in modules {
        engine
            .add_policy(m.path.clone(), m.text.clone())
            .map_err(|e| format!("{e:#}"))?;
    }
    Ok(engine)
}

/// Evaluates `modules` on `input` (a plan's `show -json`), stopping cooperatively after
/// `limit` (the child's wall-clock kill is the backstop).
pub fn evaluate(
    modules: &[RegoModule],
    input: &str,
    limit: Duration,
) -> Result<SetOutcome, String> {
    let mut engine = compile(modules)?;
    engine.set_execution_timer_config(ExecutionTimerConfig {
        limit,
        check_interval: NonZeroU32::MIN,
    });
    engine
        .set_input_json(input)
        .map_err(|e| format!("the plan's JSON: {e:#}"))?;
    let packages = engine.get_packages().map_err(|e| format!("{e:#}"))?;
    let mut out = SetOutcome::default();
    let mut seen = std::collections::BTreeSet::new();
    for package in packages {
        if !seen.insert(package.clone()) {
            continue;
        }
        let results = engine
            .eval_query(package.clone(), false)
            .map_err(|e| format!("{package}: {e:#}"))?;
        let Some(value) = results
            .result
            .first()
            .and_then(|r| r.expressions.first())
            .map(|e| serde_json::to_value(&e.value))
            .transpose()
            .map_err(|e| format!("{package}: {e}"))?
        else {
            continue;
        };
        for (rule, failure) in RULES {
            let Some(v) = value.get(rule) else { continue };
            let to = if *failure {
                &mut out.failures
            } else {
                &mut out.warnings
            };
            for msg in messages(v) {
                if to.len() < MAX_MESSAGES {
                    to.push(capped(msg));
                }
            }
        }
    }
    Ok(out)
}

/// The most characters kept of one message.
const MAX_MESSAGE_CHARS: usize = 1000;

fn capped(msg: String) -> String {
    if msg.chars().count() <= MAX_MESSAGE_CHARS {
        return msg;
    }
    let mut cut: String = msg.chars().take(MAX_MESSAGE_CHARS).collect();
    cut.push('…');
    cut
}

/// The messages of a rule's value: a set or array of strings or `{msg: ...}` objects; `true`
/// (a boolean rule) is one message naming the rule's value; anything else, its JSON.
fn messages(v: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    let one = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => match o.get("msg") {
            Some(Value::String(s)) => s.clone(),
            _ => v.to_string(),
        },
        other => other.to_string(),
    };
    match v {
        Value::Array(items) => items.iter().map(one).collect(),
        Value::Bool(false) | Value::Null => Vec::new(),
        Value::Bool(true) => vec!["(a rule without a message held)".into()],
        other => vec![one(other)],
    }
}
