//! The fake's `POST /graphql`: GraphQL is not in GitHub's REST description, so mutations are
//! read loosely (the `query` text and its `variables`) and only the one bosun sends is
//! modelled; queries are parsed and checked against the modelled part of GitHub's schema (see
//! `query`). Like GitHub, errors in the query come back with status 200 and an `errors` list.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::model::Model;
use super::{Caller, error};

mod execute;
mod query;

/// The classifiers `minimizeComment` takes (`ReportedContentClassifiers`).
const CLASSIFIERS: [&str; 6] = [
    "SPAM",
    "ABUSE",
    "OFF_TOPIC",
    "OUTDATED",
    "DUPLICATE",
    "RESOLVED",
];

fn violation(m: &mut Model, v: String) {
    m.violations.push(format!("POST /graphql: {v}"));
}

fn errors(errors: Value) -> Response {
    axum::Json(json!({ "errors": errors })).into_response()
}

/// Answers one GraphQL request, changing the model; requests GitHub would refuse or the fake
/// does not model are also recorded as violations.
pub fn handle(m: &mut Model, caller: Caller, body: &[u8]) -> Response {
    let Caller::Installation(installation) = caller else {
        return error(
            StatusCode::FORBIDDEN,
            "An installation token is required for this endpoint",
        );
    };
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        violation(m, "body is not JSON".into());
        return error(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let Some(query) = request.get("query").and_then(Value::as_str) else {
        violation(m, "no `query` string".into());
        return errors(
            json!([{ "message": "A query attribute must be specified and must be a string." }]),
        );
    };
    let variables = request.get("variables").cloned().unwrap_or(Value::Null);
    if !query.trim_start().starts_with("mutation") {
        return answer_query(m, installation, query, &variables);
    }
    if !query.contains("minimizeComment") {
        let v = format!("not modelled by the fake: {query}");
        violation(m, v.clone());
        return error(StatusCode::NOT_IMPLEMENTED, &v);
    }
    if !query.trim_start().starts_with("mutation") {
        violation(m, "minimizeComment outside a mutation".into());
        return errors(
            json!([{ "message": "Field 'minimizeComment' doesn't exist on type 'Query'" }]),
        );
    }
    let subject = argument(query, "subjectId", &variables);
    let classifier = argument(query, "classifier", &variables);
    let (Some(subject), Some(classifier)) = (subject, classifier) else {
        violation(m, "minimizeComment without subjectId or classifier".into());
        return errors(json!([{
            "message": "Argument 'input' on Field 'minimizeComment' has an invalid value. Expected type 'MinimizeCommentInput!'."
        }]));
    };
    if !CLASSIFIERS.contains(&classifier.as_str()) {
        violation(m, format!("unknown classifier {classifier}"));
        return errors(json!([{
            "message": format!("Argument 'classifier' on InputObject 'MinimizeCommentInput' has an invalid value ({classifier}). Expected type 'ReportedContentClassifiers!'.")
        }]));
    }
    // Only comments of the installation's repositories resolve.
    let visible: Vec<String> = m
        .installations
        .get(&installation)
        .map(|i| i.repos.iter().cloned().collect())
        .unwrap_or_default();
    let comment = m
        .repos
        .iter_mut()
        .filter(|(key, _)| visible.contains(key))
        .flat_map(|(_, r)| r.comments.iter_mut())
        .find(|c| c.node_id == subject);
    let Some(comment) = comment else {
        return axum::Json(json!({
            "data": { "minimizeComment": null },
            "errors": [{
                "type": "NOT_FOUND",
                "path": ["minimizeComment"],
                "locations": [{ "line": 1, "column": 1 }],
                "message": format!("Could not resolve to a node with the global id of '{subject}'"),
            }],
        }))
        .into_response();
    };
    comment.minimized = Some(classifier.clone());
    axum::Json(json!({
        "data": { "minimizeComment": { "minimizedComment": {
            "isMinimized": true, "minimizedReason": classifier.to_ascii_lowercase(),
        } } }
    }))
    .into_response()
}

/// Answers a query (not a mutation). A query that does not parse, asks for what the fake does
/// not model, or that the model cannot answer as asked is also a violation; a pull request or
/// repository that is not there is not (GitHub answers it with a `NOT_FOUND` error too).
fn answer_query(m: &mut Model, installation: u64, text: &str, variables: &Value) -> Response {
    let parsed = query::parse(text).and_then(|q| q.validate().map(|()| q));
    let q = match parsed {
        Ok(q) => q,
        Err(e) => {
            violation(m, format!("{e}: {text}"));
            return errors(json!([{ "message": e, "locations": [{ "line": 1, "column": 1 }] }]));
        }
    };
    let answer = query::execute(m, installation, &q, variables);
    let refused: Vec<String> = answer["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"] != "NOT_FOUND")
        .map(|e| e["message"].as_str().unwrap_or("").to_owned())
        .collect();
    for r in refused {
        violation(m, r);
    }
    axum::Json(answer).into_response()
}

/// The value of argument `name` in `query`: a `$variable` looked up in `variables`, a string
/// literal or an enum value.
fn argument(query: &str, name: &str, variables: &Value) -> Option<String> {
    let word = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let after = query.split_once(name)?.1.trim_start().strip_prefix(':')?;
    let value = after.trim_start();
    if let Some(var) = value.strip_prefix('$') {
        return variables.get(word(var))?.as_str().map(str::to_owned);
    }
    if let Some(literal) = value.strip_prefix('"') {
        return literal.split_once('"').map(|(v, _)| v.to_owned());
    }
    Some(word(value)).filter(|w| !w.is_empty())
}

#[test]
fn arguments_are_read_from_variables_and_literals() {
    let vars = json!({ "id": "IC_1", "how": "SPAM" });
    let q = "mutation($id: ID!) { minimizeComment(input: {subjectId: $id, classifier: OUTDATED}) { x } }";
    assert_eq!(argument(q, "subjectId", &vars).as_deref(), Some("IC_1"));
    assert_eq!(
        argument(q, "classifier", &vars).as_deref(),
        Some("OUTDATED")
    );
    let q = r#"mutation { minimizeComment(input: {subjectId : "IC_2", classifier: $how}) { x } }"#;
    assert_eq!(argument(q, "subjectId", &vars).as_deref(), Some("IC_2"));
    assert_eq!(argument(q, "classifier", &vars).as_deref(), Some("SPAM"));
    assert_eq!(argument(q, "clientMutationId", &vars), None);
}
