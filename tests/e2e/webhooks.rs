//! `POST /events` end to end: GitHub's signed deliveries are stored, answered and processed;
//! everything else gets a clear answer and the server keeps serving.

use bosun::ids::PrNumber;
use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use serde_json::json;

use crate::support::TestContext;
use crate::support::fake::payloads;

#[tokio::test]
async fn an_opened_pull_request_is_accepted_stored_and_processed() {
    let ctx = TestContext::start().await;
    let (number, attempt) = ctx
        .open_pr(
            "add bucket",
            &[("main.tf", "resource \"terraform_data\" \"x\" {}\n")],
        )
        .await;
    assert_eq!(attempt.status_code, 202, "{}", attempt.response);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&attempt.response).unwrap()["status"],
        "accepted"
    );
    let event = ctx.processed(&attempt.guid).await;
    assert_eq!(event.kind, "pull_request.opened");
    assert_eq!(event.repository.as_deref(), Some("acme/infra"));
    assert_eq!(event.pr, Some(PrNumber(number)));
    assert!(event.handled);
    assert!(
        event
            .summary
            .starts_with(&format!("acme/infra#{number} opened at ")),
        "{}",
        event.summary
    );
    ctx.finish().await;
}

#[tokio::test]
async fn a_comment_and_a_push_become_typed_events() {
    let ctx = TestContext::start().await;
    let (number, _) = ctx.open_pr("x", &[("a.tf", "")]).await;
    let payload = {
        let m = ctx.fake.model();
        let repo = m.repo("acme/infra").unwrap();
        payloads::pr_comment(
            repo,
            &repo.prs[&number],
            77,
            "bosun plan -d .",
            "bob",
            &ctx.fake.url,
            1,
        )
    };
    let a = ctx.fake.send_webhook("issue_comment", payload).await;
    let e = ctx.processed(&a.guid).await;
    assert_eq!(
        (e.kind.as_str(), e.pr),
        ("issue_comment.created", Some(PrNumber(number)))
    );
    assert!(
        e.summary.starts_with(&format!(
            "acme/infra#{number} comment 77 by bob: comment job "
        )),
        "{}",
        e.summary
    );

    let payload = ctx.push_payload("acme/infra", &"a".repeat(40), "carol");
    let a = ctx.fake.send_webhook("push", payload).await;
    let e = ctx.processed(&a.guid).await;
    assert_eq!(
        e.summary,
        "acme/infra push to refs/heads/main at aaaaaaa by carol: nothing to do"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn a_repeated_delivery_is_answered_and_not_processed_again() {
    let ctx = TestContext::start().await;
    let (_, attempt) = ctx.open_pr("x", &[("a.tf", "")]).await;
    ctx.processed(&attempt.guid).await;
    let again = ctx
        .post_event("pull_request", &attempt.guid, &attempt.payload)
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["status"], "duplicate");
    let record = ctx.store().delivery(&attempt.guid).await.unwrap().unwrap();
    assert_eq!(record.attempts, 1, "processed once");
    ctx.finish().await;
}

#[tokio::test]
async fn repositories_outside_the_allowlist_are_dropped() {
    let ctx = TestContext::start().await;
    ctx.fake.add_repo(2, "evil/infra");
    let payload = ctx.push_payload("evil/infra", &"b".repeat(40), "mallory");
    let a = ctx.fake.send_webhook("push", payload).await;
    assert_eq!(a.status_code, 200);
    let reply: serde_json::Value = serde_json::from_str(&a.response).unwrap();
    assert_eq!(reply["status"], "dropped");
    assert_eq!(reply["reason"], "evil/infra is not in BOSUN_REPO_ALLOWLIST");
    assert!(
        ctx.store().delivery(&a.guid).await.unwrap().is_none(),
        "not stored"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn ping_unknown_events_and_unused_actions_get_a_clear_2xx() {
    let ctx = TestContext::start().await;
    let ping = payloads::example("ping", None);
    let r = ctx
        .post_event("ping", "p-1", &serde_json::to_vec(&ping).unwrap())
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["status"].clone()),
        (200, json!("pong"))
    );

    let r = ctx
        .post_event("star", "s-1", br#"{"action":"created"}"#)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["reason"],
        "bosun does not subscribe to star events"
    );

    let labeled = payloads::example("pull_request", Some("labeled"));
    let r = ctx
        .post_event(
            "pull_request",
            "l-1",
            &serde_json::to_vec(&labeled).unwrap(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["reason"],
        "bosun does not act on pull_request.labeled"
    );
    ctx.finish().await;
}

#[tokio::test]
async fn signatures_are_checked_before_anything_else() {
    let ctx = TestContext::start().await;
    let body = b"not even json";
    let send = |sig: Option<String>| {
        let mut headers = vec![
            ("content-type", "application/json".to_string()),
            ("x-github-event", "push".to_string()),
            ("x-github-delivery", "d-1".to_string()),
        ];
        if let Some(sig) = sig {
            headers.push(("x-hub-signature-256", sig));
        }
        let url = ctx.url("/events");
        let http = ctx.http.clone();
        async move {
            http.send(Method::POST, &url, &headers, Bytes::from_static(body))
                .await
                .unwrap()
        }
    };
    let r = send(None).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["reason"].clone()),
        (401, json!("missing X-Hub-Signature-256 header"))
    );
    let r = send(Some(bosun::server::signature::sign("wrong secret", body))).await;
    assert_eq!(r.status, 401);
    assert!(
        r.json()["reason"]
            .as_str()
            .unwrap()
            .contains("does not match")
    );
    let r = send(Some("sha256=xyz".into())).await;
    assert_eq!(r.status, 401);
    // With the right signature, the same body is refused for what it is.
    let r = ctx.post_event("push", "d-2", body).await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["reason"]
            .as_str()
            .unwrap()
            .starts_with("invalid push payload"),
        "{}",
        r.text()
    );
    ctx.finish().await;
}

#[tokio::test]
async fn invalid_payloads_and_headers_are_refused_with_reasons() {
    let ctx = TestContext::start().await;
    let mut pr = payloads::example("pull_request", Some("opened"));
    pr["pull_request"]["head"]["sha"] = json!(42);
    let r = ctx
        .post_event("pull_request", "bad-1", &serde_json::to_vec(&pr).unwrap())
        .await;
    assert_eq!(r.status, 400);
    let reason = r.json()["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("pull_request.head.sha"), "{reason}");

    let r = ctx
        .post_event(
            "pull_request",
            "trunc-1",
            br#"{"action":"opened","pull_request":{"#,
        )
        .await;
    assert_eq!(r.status, 400);

    let body = br#"{"ref":"x"}"#;
    let r = ctx.post_event("push", "bad id with spaces", body).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["reason"].clone()),
        (400, json!("missing or invalid X-GitHub-Delivery header"))
    );

    let r = ctx.post_signed("push", "ct-1", "text/plain", body).await;
    assert_eq!(r.status, 415);
    assert!(r.json()["reason"].as_str().unwrap().contains("text/plain"));
    ctx.finish().await;
}

#[tokio::test]
async fn form_encoded_deliveries_are_accepted() {
    let ctx = TestContext::start().await;
    let payload = ctx.push_payload("acme/infra", &"c".repeat(40), "dave");
    let json = serde_json::to_string(&payload).unwrap();
    let body = serde_urlencoded::to_string([("payload", json.as_str())]).unwrap();
    let r = ctx
        .post_signed(
            "push",
            "form-1",
            "application/x-www-form-urlencoded",
            body.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(ctx.processed("form-1").await.kind, "push");
    ctx.finish().await;
}

#[tokio::test]
async fn oversized_truncated_and_huge_header_requests_do_not_stop_the_server() {
    let ctx = TestContext::start().await;
    // 26 MiB, announced.
    let big = Bytes::from(vec![b' '; 26 << 20]);
    let headers = vec![
        ("content-type", "application/json".to_string()),
        ("x-github-event", "push".to_string()),
    ];
    let r = ctx
        .http
        .send(Method::POST, &ctx.url("/events"), &headers, big)
        .await
        .unwrap();
    assert_eq!(r.status, 413);
    assert!(
        r.json()["reason"]
            .as_str()
            .unwrap()
            .contains("over 26214400 bytes")
    );

    let addr = ctx.bosun().addr;
    // Writes a raw request while another thread reads the answer: a server that refuses a
    // body closes the connection without reading the rest of it.
    // (On a blocking thread: the server runs on this test's runtime.)
    let raw = |request: Vec<u8>| {
        tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reader = s.try_clone().unwrap();
            let read = std::thread::spawn(move || {
                let mut out = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(&buf[..n]);
                }
                String::from_utf8_lossy(&out).into_owned()
            });
            let _ = s.write_all(&request);
            let _ = s.shutdown(std::net::Shutdown::Write);
            read.join().unwrap()
        })
    };
    // 26 MiB, chunked (no length announced): cut off at the limit.
    let mut chunked = b"POST /events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..26 {
        chunked.extend_from_slice(format!("{:x}\r\n", 1 << 20).as_bytes());
        chunked.extend(std::iter::repeat_n(b' ', 1 << 20));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let out = raw(chunked).await.unwrap();
    assert!(
        out.starts_with("HTTP/1.1 413"),
        "{}",
        &out[..out.len().min(200)]
    );

    // A body shorter than announced.
    let out = raw(b"POST /events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"a\":".to_vec()).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("could not read the body"), "{out}");

    // A huge header.
    let mut huge = b"POST /events HTTP/1.1\r\nhost: x\r\nx-junk: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1 << 20));
    huge.extend_from_slice(b"\r\ncontent-length: 0\r\n\r\n");
    let out = raw(huge).await.unwrap();
    assert!(
        out.starts_with("HTTP/1.1 431") || out.starts_with("HTTP/1.1 400"),
        "{}",
        &out[..out.len().min(200)]
    );

    // Garbage.
    let out = raw(b"\x00\x01\x02 garbage\r\n\r\n".to_vec()).await.unwrap();
    assert!(out.is_empty() || out.starts_with("HTTP/1.1 400"), "{out}");

    // Still serving.
    let r = ctx.http.get(&ctx.url("/healthz")).await;
    assert_eq!(r.status, 200);
    let (_, a) = ctx.open_pr("still here", &[("b.tf", "")]).await;
    assert_eq!(a.status_code, 202);
    ctx.processed(&a.guid).await;
    ctx.finish().await;
}

#[tokio::test]
async fn health_and_metrics() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("redelivery_interval", "1h");
    ctx.start_bosun().await;
    let (_, a) = ctx.open_pr("x", &[("a.tf", "")]).await;
    ctx.processed(&a.guid).await;
    ctx.post_event("push", "bad", b"{").await;
    let r = ctx.http.get(&ctx.url("/healthz")).await;
    assert_eq!((r.status.as_u16(), r.text()), (200, "ok\n".to_string()));
    let r = ctx.http.get(&ctx.url("/metrics")).await;
    assert_eq!(r.status, 200);
    let text = r.text();
    for want in [
        r#"bosun_webhook_deliveries_total{outcome="accepted",reason=""} 1"#,
        r#"bosun_webhook_deliveries_total{outcome="rejected",reason="invalid_payload"} 1"#,
        r#"bosun_deliveries_processed_total{result="handled"} 1"#,
        "bosun_delivery_queue_depth 0",
        "bosun_delivery_processing_seconds_count 1",
        r#"bosun_github_api_requests_total{status="200"} "#,
        "bosun_redeliveries_requested_total 0",
    ] {
        assert!(text.contains(want), "metrics lack {want}:\n{text}");
    }
    ctx.finish().await;
}
