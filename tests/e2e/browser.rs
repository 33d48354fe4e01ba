//! The browser harness itself: headless Chromium through ChromeDriver opens a page bosun
//! serves, reads it at a phone's width and a desktop's, and takes screenshots.

use std::time::Duration;

use crate::support::TestContext;
use crate::support::browser::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_reads_a_page_bosun_serves_and_takes_a_screenshot() {
    let ctx = TestContext::start().await;
    let shots = tempfile::tempdir().unwrap();
    for (width, height) in [(400, 800), (1400, 900)] {
        let browser = Browser::start(width, height).await;
        browser.goto(&ctx.url("/healthz")).await;
        assert_eq!(browser.url().await, ctx.url("/healthz"));
        let text = browser.wait_for_text("ok", Duration::from_secs(10)).await;
        assert_eq!(text.trim(), "ok");
        let inner = browser
            .script("return window.innerWidth", serde_json::json!([]))
            .await;
        assert_eq!(inner.as_u64(), Some(u64::from(width)), "{inner}");
        let png = browser
            .screenshot(&shots.path().join(format!("healthz-{width}.png")))
            .await;
        assert!(std::fs::metadata(&png).unwrap().len() > 100);
        browser.quit().await;
    }
}
