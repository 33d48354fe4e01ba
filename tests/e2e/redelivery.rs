//! An outage loses nothing: what GitHub failed to deliver while bosun was down is asked for
//! again when bosun starts, and processed once.

use crate::support::TestContext;

#[tokio::test]
async fn deliveries_missed_while_down_are_redelivered_on_start() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("redelivery_interval", "1h");
    // bosun is down: GitHub's attempt fails.
    ctx.fake.model().hook_url = Some("http://127.0.0.1:9/events".into());
    let (_, missed) = ctx.open_pr("while down", &[("a.tf", "")]).await;
    assert_eq!(missed.status_code, 0, "{}", missed.response);

    ctx.start_bosun().await;
    let event = ctx.processed(&missed.guid).await;
    assert_eq!(event.kind, "pull_request.opened");

    let redeliveries = ctx.fake.requests("POST", "/attempts");
    assert_eq!(redeliveries.len(), 1);
    assert_eq!(
        redeliveries[0].path,
        format!("/app/hook/deliveries/{}/attempts", missed.id)
    );
    // The fake notes the redelivery's attempt once bosun's answer is back, which may be after
    // bosun has processed it: wait for the note (bounded).
    let attempts = || -> Vec<_> {
        ctx.fake
            .model()
            .attempts
            .iter()
            .filter(|a| a.guid == missed.guid)
            .cloned()
            .collect()
    };
    let started = std::time::Instant::now();
    while attempts().len() < 2 && started.elapsed() < std::time::Duration::from_secs(10) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let attempts = attempts();
    assert_eq!(attempts.len(), 2);
    assert!(attempts[1].redelivery);
    assert_eq!(attempts[1].status_code, 202);
    ctx.finish().await;
}

#[tokio::test]
async fn known_refused_and_already_requested_deliveries_are_not_asked_for() {
    let mut ctx = TestContext::start().await;
    // Delivered fine.
    let (_, ok) = ctx.open_pr("fine", &[("a.tf", "")]).await;
    ctx.processed(&ok.guid).await;
    // Refused by bosun (bad signature): asking again would be refused again.
    ctx.fake.model().webhook_secret = "rotated at GitHub only".into();
    let (_, refused) = ctx.open_pr("refused", &[("b.tf", "")]).await;
    assert_eq!(refused.status_code, 401);
    ctx.fake.model().webhook_secret = crate::support::fake::WEBHOOK_SECRET.into();
    // Failed while bosun was down.
    ctx.stop_bosun().await;
    ctx.fake.model().hook_url = Some("http://127.0.0.1:9/events".into());
    let (_, missed) = ctx.open_pr("missed", &[("c.tf", "")]).await;
    assert_eq!(missed.status_code, 0);

    ctx.set("redelivery_interval", "1h");
    ctx.start_bosun().await;
    ctx.processed(&missed.guid).await;
    let asked: Vec<String> = ctx
        .fake
        .requests("POST", "/attempts")
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(
        asked,
        vec![format!("/app/hook/deliveries/{}/attempts", missed.id)]
    );

    // A second scan finds nothing more to ask for.
    let scan = bosun::redelivery::Redelivery {
        github: std::sync::Arc::new(
            bosun::github::GitHub::new(
                &ctx.settings().github,
                crate::support::fast_retry(),
                ctx.bosun().metrics.clone(),
            )
            .unwrap(),
        ),
        store: ctx.store(),
        metrics: ctx.bosun().metrics.clone(),
        lookback: std::time::Duration::from_secs(3600),
    };
    let report = scan.scan().await.unwrap();
    assert!(report.requested.is_empty(), "{report:?}");
    assert!(report.examined >= 4, "{report:?}");
    assert_eq!(ctx.fake.requests("POST", "/attempts").len(), 1);
    ctx.finish().await;
}

#[tokio::test]
async fn the_scan_pages_through_many_deliveries() {
    let mut ctx = TestContext::without_bosun().await;
    ctx.set("redelivery_interval", "1h");
    ctx.fake.model().hook_url = Some("http://127.0.0.1:9/events".into());
    let mut missed = Vec::new();
    for i in 0..130 {
        let (_, a) = ctx.open_pr(&format!("pr {i}"), &[("a.tf", "")]).await;
        missed.push(a.guid);
    }
    ctx.start_bosun().await;
    for guid in &missed {
        ctx.processed(guid).await;
    }
    let pages = ctx.fake.requests("GET", "/app/hook/deliveries");
    assert!(pages.len() >= 2, "listed {} pages", pages.len());
    assert_eq!(ctx.fake.requests("POST", "/attempts").len(), 130);
    ctx.finish().await;
}
