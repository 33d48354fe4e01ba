use super::*;

fn change(address: &str, actions: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "address": address,
        "mode": "managed",
        "change": { "actions": actions, "before": null, "after": {} }
    })
}

fn show(resource_changes: Vec<serde_json::Value>, outputs: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "format_version": "1.2",
        "resource_changes": resource_changes,
        "output_changes": outputs,
    }))
    .unwrap()
}

fn rc(address: &str, action: Action) -> ResourceChange {
    ResourceChange {
        address: address.into(),
        action,
    }
}

#[test]
fn summarise_counts_each_action_like_terraform() {
    let mut imported = change("terraform_data.i", &["update"]);
    imported["change"]["importing"] = serde_json::json!({ "id": "abc" });
    let json = show(
        vec![
            change("terraform_data.z", &["create"]),
            change("terraform_data.r1", &["delete", "create"]),
            change("terraform_data.r2", &["create", "delete"]),
            change("terraform_data.d", &["delete"]),
            change("terraform_data.u", &["update"]),
            change("data.external.x", &["read"]),
            change("terraform_data.same", &["no-op"]),
            imported,
        ],
        serde_json::json!({ "o": { "actions": ["no-op"] } }),
    );
    let summary = summarise(&json).unwrap();
    assert_eq!(
        summary,
        PlanSummary {
            add: 3,
            change: 2,
            destroy: 3,
            import: 1,
            changes: vec![
                rc("terraform_data.d", Action::Delete),
                rc("terraform_data.i", Action::Update),
                rc("terraform_data.r1", Action::Replace),
                rc("terraform_data.r2", Action::Replace),
                rc("terraform_data.u", Action::Update),
                rc("terraform_data.z", Action::Create),
            ],
            line: String::new(),
            output_changes: false,
            digest: summary.digest.clone(),
        }
    );
    assert_eq!(summary.digest.len(), 64, "a SHA-256 in hex");
    assert_eq!(
        summary.replaces().collect::<Vec<_>>(),
        ["terraform_data.r1", "terraform_data.r2"]
    );
    assert_eq!(summary.deletes().collect::<Vec<_>>(), ["terraform_data.d"]);
}

#[test]
fn an_import_without_other_change_counts_as_an_import_only() {
    let mut imported = change("terraform_data.i", &["no-op"]);
    imported["change"]["importing"] = serde_json::json!({ "id": "abc" });
    let summary = summarise(&show(vec![imported], serde_json::json!({}))).unwrap();
    assert_eq!((summary.import, summary.add, summary.change), (1, 0, 0));
    assert!(summary.changes.is_empty());
    assert_eq!(
        fallback_line(&summary),
        "Plan: 1 to import, 0 to add, 0 to change, 0 to destroy."
    );
}

#[test]
fn importing_null_is_not_an_import() {
    let mut c = change("terraform_data.a", &["create"]);
    c["change"]["importing"] = serde_json::Value::Null;
    assert_eq!(
        summarise(&show(vec![c], serde_json::json!({})))
            .unwrap()
            .import,
        0
    );
}

#[test]
fn output_changes_count_unless_no_op() {
    let json = show(
        vec![change("terraform_data.a", &["no-op"])],
        serde_json::json!({ "a": { "actions": ["no-op"] }, "b": { "actions": ["create"] } }),
    );
    let summary = summarise(&json).unwrap();
    assert!(summary.output_changes);
    assert!(summary.changes.is_empty());
    assert!(summary.has_changes());
    assert_eq!(
        fallback_line(&summary),
        "Plan: 0 to add, 0 to change, 0 to destroy. Changes to Outputs only."
    );
}

#[test]
fn an_empty_plan_has_no_changes() {
    let summary = summarise(br#"{"format_version":"1.2"}"#).unwrap();
    assert_eq!(
        summary,
        PlanSummary {
            digest: summary.digest.clone(),
            ..PlanSummary::default()
        }
    );
    assert!(!summary.digest.is_empty(), "an empty plan has a digest too");
    assert_eq!(
        fallback_line(&summary),
        "No changes. Your infrastructure matches the configuration."
    );
}

#[test]
fn unknown_actions_are_skipped_not_fatal() {
    let json = show(
        vec![
            change("terraform_data.f", &["forget"]),
            change("terraform_data.n", &["teleport"]),
            change("terraform_data.c", &["create", "forget"]),
        ],
        serde_json::json!({}),
    );
    let summary = summarise(&json).unwrap();
    assert_eq!(summary.changes, [rc("terraform_data.c", Action::Create)]);
    assert_eq!((summary.add, summary.destroy), (1, 0));
}

#[test]
fn garbage_is_an_error() {
    let err = summarise(b"Error: no plan").unwrap_err();
    assert!(
        format!("{err:#}").contains("reading the plan JSON"),
        "{err:#}"
    );
    assert!(summarise(b"{\"resource_changes\": [{\"address\": 1}]}").is_err());
}

const UPDATE_WITH_WARNING: &str = "\
terraform_data.b: Refreshing state... [id=33cd]
terraform_data.a: Refreshing state... [id=8d52]

Terraform used the selected providers to generate the following execution
plan. Resource actions are indicated with the following symbols:
  ~ update in-place

Terraform will perform the following actions:

  # terraform_data.b will be updated in-place
  ~ resource \"terraform_data\" \"b\" {
        id     = \"33cd\"
      ~ input  = <<-EOT
            Plan: 9 to add, 0 to change, 0 to destroy.
        EOT
    }

Plan: 0 to add, 1 to change, 0 to destroy.

Warning: Value for undeclared variable

The root module does not declare a variable named \"nope\" but a value was
found in file \"terraform.tfvars\".

─────────────────────────────────────────────────────────────────────────────

Saved the plan to: /tmp/x/.bosun.tfplan

To perform exactly these actions, run the following command to apply:
    terraform apply \"/tmp/x/.bosun.tfplan\"
";

#[test]
fn plan_text_keeps_changes_and_warnings_and_drops_noise_and_footer() {
    assert_eq!(
        plan_text(UPDATE_WITH_WARNING),
        "\
Terraform used the selected providers to generate the following execution
plan. Resource actions are indicated with the following symbols:
  ~ update in-place

Terraform will perform the following actions:

  # terraform_data.b will be updated in-place
  ~ resource \"terraform_data\" \"b\" {
        id     = \"33cd\"
      ~ input  = <<-EOT
            Plan: 9 to add, 0 to change, 0 to destroy.
        EOT
    }

Plan: 0 to add, 1 to change, 0 to destroy.

Warning: Value for undeclared variable

The root module does not declare a variable named \"nope\" but a value was
found in file \"terraform.tfvars\"."
    );
}

#[test]
fn plan_line_ignores_indented_lookalikes() {
    assert_eq!(
        plan_line(UPDATE_WITH_WARNING).as_deref(),
        Some("Plan: 0 to add, 1 to change, 0 to destroy.")
    );
}

const NO_CHANGES: &str = "\
Acquiring state lock. This may take a few moments...
data.external.x: Reading...
data.external.x: Read complete after 0s [id=1]
terraform_data.a: Refreshing state... [id=8d52]



No changes. Your infrastructure matches the configuration.

Terraform has compared your real infrastructure against your configuration
and found no differences, so no changes are needed.
Releasing state lock. This may take a few moments...
";

#[test]
fn plan_text_of_no_changes_is_the_no_changes_paragraph() {
    assert_eq!(
        plan_text(NO_CHANGES),
        "\
No changes. Your infrastructure matches the configuration.

Terraform has compared your real infrastructure against your configuration
and found no differences, so no changes are needed."
    );
    assert_eq!(
        plan_line(NO_CHANGES).as_deref(),
        Some("No changes. Your infrastructure matches the configuration.")
    );
}

#[test]
fn plan_text_keeps_drift_and_output_only_changes() {
    let drift = "\
terraform_data.a: Refreshing state... [id=1]

Note: Objects have changed outside of Terraform

Terraform detected the following changes made outside of Terraform since the
last \"terraform apply\" which may have affected this plan:

  # terraform_data.a has been deleted
  - resource \"terraform_data\" \"a\" {
    }

─────────────────────────────────────────────────────────────────────────────

Changes to Outputs:
  + p = 1

You can apply this plan to save these new output values to the Terraform
state, without changing any real infrastructure.

─────────────────────────────────────────────────────────────────────────────

Saved the plan to: p.tfplan
";
    let text = plan_text(drift);
    assert!(text.starts_with("Note: Objects have changed outside of Terraform\n"));
    assert!(
        text.contains("\n─────"),
        "the drift separator stays: {text}"
    );
    assert!(text.ends_with("without changing any real infrastructure."));
    assert_eq!(plan_line(drift), None);
}

#[test]
fn plan_text_without_a_known_start_keeps_everything_but_noise() {
    assert_eq!(
        plan_text("x: Refreshing state...\nsomething new\n\n\n  detail\n"),
        "something new\n\n  detail"
    );
    assert_eq!(plan_text(""), "");
}

/// A plan that changes one `terraform_data`'s input from `from` to `to`, and an output.
fn input_change(from: &str, to: &str) -> String {
    format!(
        r#"{{"format_version":"1.2","resource_changes":[{{"address":"terraform_data.rule","mode":"managed","change":{{"actions":["update"],"before":{{"input":"{from}","id":"1"}},"after":{{"input":"{to}"}},"after_unknown":{{"id":false,"output":true}},"before_sensitive":{{}},"after_sensitive":{{}}}}}},{{"address":"terraform_data.same","change":{{"actions":["no-op"],"before":{{"input":"x"}},"after":{{"input":"x"}}}}}}],"output_changes":{{"cidr":{{"actions":["update"],"before":"{from}","after":"{to}","after_unknown":false}}}}}}"#
    )
}

#[test]
fn the_digest_covers_values_not_only_addresses_and_actions() {
    let reviewed = summarise(input_change("10.0.0.0/8", "10.1.0.0/16").as_bytes()).unwrap();
    let merged = summarise(input_change("10.0.0.0/8", "0.0.0.0/0").as_bytes()).unwrap();
    assert_eq!(
        reviewed.changes, merged.changes,
        "same addresses and actions"
    );
    assert_ne!(
        reviewed.digest, merged.digest,
        "another value: another digest"
    );

    // An output's value alone.
    let a = show(
        vec![],
        serde_json::json!({ "o": { "actions": ["update"], "after": "1" } }),
    );
    let b = show(
        vec![],
        serde_json::json!({ "o": { "actions": ["update"], "after": "2" } }),
    );
    assert_ne!(summarise(&a).unwrap().digest, summarise(&b).unwrap().digest);

    // An import of the same address with another id.
    let mut x = change("terraform_data.i", &["no-op"]);
    x["change"]["importing"] = serde_json::json!({ "id": "abc" });
    let mut y = x.clone();
    y["change"]["importing"] = serde_json::json!({ "id": "xyz" });
    let (x, y) = (
        show(vec![x], serde_json::json!({})),
        show(vec![y], serde_json::json!({})),
    );
    assert_ne!(summarise(&x).unwrap().digest, summarise(&y).unwrap().digest);
    let nothing = summarise(&show(vec![], serde_json::json!({}))).unwrap();
    assert_ne!(
        summarise(&x).unwrap().digest,
        nothing.digest,
        "an import counts"
    );
}

#[test]
fn the_digest_ignores_key_order_whitespace_resource_order_and_no_ops() {
    let text = input_change("10.0.0.0/8", "0.0.0.0/0");
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Pretty-printed, top-level keys and resources in another order.
    let mut resources = value["resource_changes"].as_array().unwrap().clone();
    resources.reverse();
    let spaced = format!(
        "{{\n  \"output_changes\" : {} ,\n  \"resource_changes\": {},\n  \"format_version\": \"1.2\"\n}}",
        serde_json::to_string_pretty(&value["output_changes"]).unwrap(),
        serde_json::to_string_pretty(&resources).unwrap()
    );
    // Keys inside a change reordered by hand, as text.
    let reordered = text.replace(
        r#""before_sensitive":{},"after_sensitive":{}"#,
        r#""after_sensitive":{},"before_sensitive":{}"#,
    );
    assert_ne!(reordered, text);
    let digest = summarise(text.as_bytes()).unwrap().digest;
    assert_eq!(summarise(spaced.as_bytes()).unwrap().digest, digest);
    assert_eq!(summarise(reordered.as_bytes()).unwrap().digest, digest);
    // A no-op resource more or less is no change.
    let without_no_op: serde_json::Value = {
        let mut v = value.clone();
        v["resource_changes"].as_array_mut().unwrap().pop();
        v
    };
    let v = serde_json::to_vec(&without_no_op).unwrap();
    assert_eq!(summarise(&v).unwrap().digest, digest);
}

mod digest_properties {
    use super::*;
    use proptest::prelude::*;

    /// Arbitrary JSON values a few levels deep.
    fn value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i32>().prop_map(|n| serde_json::json!(n)),
            "[a-z0-9./ ]{0,12}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// However the JSON is spaced, the digest is the same; another `after` value gives
        /// another digest.
        #[test]
        fn the_digest_follows_values_not_formatting(before in value(), after in value(), other in value()) {
            let plan = |after: &serde_json::Value| serde_json::json!({
                "resource_changes": [{
                    "address": "terraform_data.x",
                    "change": { "actions": ["update"], "before": before, "after": after },
                }],
            });
            let compact = serde_json::to_vec(&plan(&after)).unwrap();
            let pretty = serde_json::to_vec_pretty(&plan(&after)).unwrap();
            let a = summarise(&compact).unwrap().digest;
            prop_assert_eq!(&a, &summarise(&pretty).unwrap().digest);
            let b = summarise(&serde_json::to_vec(&plan(&other)).unwrap()).unwrap().digest;
            prop_assert_eq!(a == b, after == other);
        }

        /// Whatever the bytes, `summarise` answers without panicking.
        #[test]
        fn arbitrary_plan_json_never_panics(v in value()) {
            let _ = summarise(&serde_json::to_vec(&v).unwrap());
        }
    }
}

#[test]
fn the_summary_from_plan_output_counts_the_proposed_actions_only() {
    let output = "\
terraform_data.a: Refreshing state... [id=1]

Note: Objects have changed outside of Terraform

  # terraform_data.gone has been deleted
  # terraform_data.z will be destroyed
    (drift notes are not proposed actions, even when they read like one)

Terraform will perform the following actions:

  # module.m.terraform_data.b (deposed object 1a2b3c4d) will be destroyed
  - resource \"terraform_data\" \"b\" {
        input = \"  # terraform_data.fake will be created\"
    }

  # terraform_data.c is tainted, so must be replaced
-/+ resource \"terraform_data\" \"c\" {}

  # terraform_data.d will be read during apply
  # terraform_data.e will be imported
  # terraform_data.f will be created
  + resource \"terraform_data\" \"f\" {}

Plan: 1 to import, 2 to add, 0 to change, 2 to destroy.

Changes to Outputs:
  + o = \"x\"
";
    let s = summarise_text(output).unwrap();
    assert_eq!(
        s.line,
        "Plan: 1 to import, 2 to add, 0 to change, 2 to destroy."
    );
    assert_eq!((s.import, s.add, s.change, s.destroy), (1, 2, 0, 2));
    assert!(s.output_changes);
    assert_eq!(
        s.changes,
        [
            rc("module.m.terraform_data.b", Action::Delete),
            rc("terraform_data.c", Action::Replace),
            rc("terraform_data.f", Action::Create),
        ]
    );
    assert_eq!(s.digest, "");
    assert!(summarise_text("Error: something\n").is_none());
    let none = summarise_text("No changes. Your infrastructure matches the configuration.\n");
    assert!(none.is_some_and(|s| !s.has_changes()));
}

#[test]
fn the_summary_from_plan_output_reads_opentofus_words_and_none_that_does_not_add_up() {
    let tofu = "\
OpenTofu will perform the following actions:

  # terraform_data.a will be created
  + resource \"terraform_data\" \"a\" {}

Plan: 1 to add, 0 to change, 0 to destroy.
";
    let s = summarise_text(tofu).unwrap();
    assert_eq!(s.changes, [rc("terraform_data.a", Action::Create)]);
    // A header this does not know (the count says two adds): no early summary at all.
    let unknown = tofu.replace(
        "Plan: 1 to add",
        "  # terraform_data.b will be conjured\n\nPlan: 2 to add",
    );
    assert!(summarise_text(&unknown).is_none());
}
