//! Checks requests against GitHub's OpenAPI description (the vendored subset of
//! `@octokit/openapi`): the operation exists, query parameters are known, and the JSON body
//! has the required fields with the declared types.

use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Subset {
    operations: Vec<Operation>,
}

#[derive(Deserialize, Clone, Debug)]
pub struct Operation {
    pub method: String,
    pub path: String,
    #[serde(rename = "operationId")]
    pub operation_id: String,
    #[serde(default)]
    query_params: Vec<QueryParam>,
    body: Option<BodySpec>,
}

#[derive(Deserialize, Clone, Debug)]
struct QueryParam {
    name: String,
}

#[derive(Deserialize, Clone, Debug)]
struct BodySpec {
    #[serde(default)]
    body_required: bool,
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    properties: serde_json::Map<String, Value>,
    #[serde(default = "yes")]
    additional_properties: bool,
}

fn yes() -> bool {
    true
}

pub struct OpenApi {
    operations: Vec<Operation>,
}

impl OpenApi {
    pub fn load() -> Self {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/openapi/github-subset.json"
        );
        let subset: Subset = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        Self {
            operations: subset.operations,
        }
    }

    /// The operation a request is, or what is wrong with it.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Operation, String> {
        let method = method.to_ascii_lowercase();
        let op = self
            .operations
            .iter()
            .find(|op| op.method == method && template_matches(&op.path, path))
            .ok_or_else(|| {
                format!(
                    "{} {path}: no such operation in GitHub's OpenAPI description",
                    method.to_uppercase()
                )
            })?;
        let name = &op.operation_id;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let key = pair.split('=').next().unwrap_or("");
            if !op.query_params.iter().any(|q| q.name == key) {
                return Err(format!("{name}: unknown query parameter `{key}`"));
            }
        }
        match (&op.body, body.is_empty()) {
            (None, false) if body != b"null" => return Err(format!("{name}: takes no body")),
            (Some(spec), true) if spec.body_required => {
                return Err(format!("{name}: body required"));
            }
            (Some(spec), false) => check_body(name, spec, body)?,
            _ => {}
        }
        Ok(op.clone())
    }
}

fn template_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    // `{path}` in the contents API, and a ref (`heads/feature/x`) at the end of the git refs
    // API, may span several segments.
    if matches!(t.last(), Some(&"{path}") | Some(&"{ref}")) && p.len() >= t.len() {
        return t[..t.len() - 1]
            .iter()
            .zip(&p)
            .all(|(t, p)| seg_matches(t, p));
    }
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| seg_matches(t, p))
}

fn seg_matches(t: &str, p: &str) -> bool {
    (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p
}

fn check_body(name: &str, spec: &BodySpec, body: &[u8]) -> Result<(), String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("{name}: body is not JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err(format!("{name}: body is not a JSON object"));
    };
    for field in &spec.required {
        if !map.contains_key(field) {
            return Err(format!("{name}: required body field `{field}` is missing"));
        }
    }
    for (key, value) in &map {
        match spec.properties.get(key) {
            None if !spec.additional_properties => {
                return Err(format!("{name}: unknown body field `{key}`"));
            }
            None => {}
            Some(prop) => {
                if !type_ok(prop.get("type"), value) {
                    return Err(format!(
                        "{name}: body field `{key}` should be {:?}, is {value}",
                        prop.get("type")
                    ));
                }
                if let Some(Value::Array(allowed)) = prop.get("enum")
                    && !value.is_null()
                    && !allowed.contains(value)
                {
                    return Err(format!(
                        "{name}: body field `{key}` = {value} is not one of {allowed:?}"
                    ));
                }
            }
        }
    }
    Ok(())
}

fn type_ok(declared: Option<&Value>, value: &Value) -> bool {
    let one = |t: &str| match t {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => true,
    };
    match declared {
        Some(Value::String(t)) => one(t),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).any(one),
        _ => true,
    }
}

#[test]
fn the_checker_catches_what_github_would_refuse() {
    let api = OpenApi::load();
    assert!(
        api.check(
            "GET",
            "/app/hook/deliveries",
            Some("per_page=100&cursor=x"),
            b""
        )
        .is_ok()
    );
    assert!(api.check("GET", "/app/hook/deliverie", None, b"").is_err());
    assert!(
        api.check("GET", "/app/hook/deliveries", Some("bogus=1"), b"")
            .unwrap_err()
            .contains("bogus")
    );
    let comments = "/repos/acme/infra/issues/1/comments";
    assert!(
        api.check("POST", comments, None, br#"{"body":"hi"}"#)
            .is_ok()
    );
    assert!(
        api.check("POST", comments, None, br#"{"text":"hi"}"#)
            .unwrap_err()
            .contains("`body` is missing")
    );
    assert!(
        api.check("POST", comments, None, br#"{"body":1}"#)
            .unwrap_err()
            .contains("should be")
    );
    assert!(
        api.check("POST", comments, None, b"")
            .unwrap_err()
            .contains("body required")
    );
}
