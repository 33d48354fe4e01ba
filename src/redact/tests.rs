use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

fn redactor(secrets: &[&str]) -> Redactor {
    let r = Redactor::default();
    for s in secrets {
        assert!(r.add(s), "{s} should be long enough");
    }
    r
}

#[test]
fn plain_values_are_replaced_everywhere() {
    let r = redactor(&["hunter2hunter2"]);
    assert_eq!(
        r.redact("a hunter2hunter2 b hunter2hunter2"),
        "a [redacted] b [redacted]"
    );
    assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
}

#[test]
fn base64_of_a_secret_is_found_at_any_alignment() {
    let secret = "s3cr3t-token-value";
    let r = redactor(&[secret]);
    for prefix in ["", "a", "ab", "abc", "x-access-token:"] {
        for engine in [STANDARD, URL_SAFE] {
            let encoded = engine.encode(format!("{prefix}{secret}!"));
            let out = r.redact(&encoded);
            assert!(
                out.contains(REDACTED),
                "{prefix:?}: {encoded} -> {out} should be redacted"
            );
            // What is left cannot be decoded back into the secret.
            let left = out.replace(REDACTED, "");
            assert!(!left.contains(&engine.encode(secret)[..8]));
        }
    }
}

#[test]
fn escaped_and_encoded_forms_are_found() {
    let r = redactor(&["pass \"word\"\nline two"]);
    let json = serde_json::json!({ "v": "pass \"word\"\nline two" }).to_string();
    assert_eq!(r.redact(&json), r#"{"v":"[redacted]"}"#);
    let debug = format!("{:?}", "pass \"word\"\nline two");
    assert_eq!(r.redact(&debug), "\"[redacted]\"");
    let r = redactor(&["a b&c=d+e/f"]);
    assert_eq!(r.redact("q=a+b%26c%3Dd%2Be%2Ff&x=1"), "q=[redacted]&x=1");
}

#[test]
fn each_line_of_a_key_is_a_secret_but_not_its_armour() {
    let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";
    let r = redactor(&[pem]);
    assert_eq!(
        r.redact("leaked: BKcwggSjAgEAAoIBAQC7 and -----BEGIN PRIVATE KEY-----"),
        "leaked: [redacted] and -----BEGIN PRIVATE KEY-----"
    );
    assert_eq!(r.redact(pem), "[redacted]");
}

#[test]
fn overlapping_and_adjacent_secrets_become_one() {
    let r = redactor(&["abcdef12", "ef12ghij", "zzzzzzzz"]);
    assert_eq!(r.redact("x abcdef12ghij y"), "x [redacted] y");
    assert_eq!(r.redact("abcdef12zzzzzzzz!"), "[redacted]!");
    assert_eq!(r.redact("zzzzzzzzzz"), "[redacted]");
}

#[test]
fn short_values_are_ignored() {
    let r = Redactor::default();
    assert!(!r.add("1"));
    assert!(!r.add("  short "));
    assert!(!r.add_until("abc", SystemTime::now()));
    assert_eq!(r.redact("1 short abc"), "1 short abc");
}

#[test]
fn run_time_secrets_are_kept_until_after_their_expiry() {
    let r = Redactor::default();
    let long_ago = SystemTime::now() - Duration::from_secs(3 * 3600);
    assert!(r.add_until("ghs_old_token_value", long_ago));
    assert!(r.add_until("ghs_new_token_value", SystemTime::now()));
    // Adding prunes what expired long ago.
    assert!(r.add_until(
        "ghs_newer_token_value",
        SystemTime::now() + Duration::from_secs(60)
    ));
    assert_eq!(
        r.redact("ghs_old_token_value ghs_new_token_value ghs_newer_token_value"),
        "ghs_old_token_value [redacted] [redacted]"
    );
}

#[test]
fn clones_share_the_set_and_text_stays_valid_utf8() {
    let r = Redactor::default();
    let c = r.clone();
    c.add("gehëim-wört");
    assert_eq!(r.redact("é gehëim-wört é"), "é [redacted] é");
    assert_eq!(format!("{r:?}"), "Redactor { secrets: 1 }");
}

proptest::proptest! {
    #[test]
    fn redacted_text_never_holds_a_secret(
        secret in "[a-zA-Z0-9+/=_-]{8,40}",
        before in ".{0,40}",
        after in ".{0,40}",
    ) {
        let r = redactor(&[&secret]);
        let out = r.redact(&format!("{before}{secret}{after}")).into_owned();
        proptest::prop_assert!(!out.contains(&secret));
    }
}
