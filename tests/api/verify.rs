//! VerifyClientCredentials and LookupClient, as a token endpoint uses them.

use std::time::{Duration, Instant};

use oauth_apps::{domain::Role, proto::v1 as pb};
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::common::{TestApp, violated_fields, web_app};

const ORG: &str = "org-acme";

async fn setup() -> TestApp {
    let app = TestApp::spawn().await;
    app.set_member(ORG, "owner", Role::Owner).await;
    app
}

#[tokio::test]
async fn only_the_right_secret_of_a_live_active_app_verifies() {
    let app = setup().await;
    let resp = app.create_app("owner", ORG, "Billing").await;
    let a = resp.application.unwrap();
    let secret = resp.client_secret;

    let ok = app.verify(&a.client_id, &secret).await;
    assert!(ok.valid);
    assert_eq!(ok.application.unwrap().id, a.id);

    let refused = [
        app.verify(&a.client_id, "oas_wrong").await,
        app.verify(&a.client_id, &format!("{secret}x")).await,
        app.verify("unknown-client", &secret).await,
        app.verify(&a.id, &secret).await,
    ];
    for r in refused {
        assert_eq!(
            r,
            pb::VerifyClientCredentialsResponse {
                valid: false,
                application: None
            }
        );
    }

    // Deactivated: refused at once, also from the verification cache.
    let inactive = app
        .update(
            "owner",
            ORG,
            pb::Application {
                active: false,
                ..a.clone()
            },
            &["active"],
            "",
        )
        .await
        .unwrap();
    assert!(!app.verify(&a.client_id, &secret).await.valid);
    assert_eq!(
        app.lookup(&a.client_id).await.unwrap_err().code(),
        Code::NotFound
    );
    app.update(
        "owner",
        ORG,
        pb::Application {
            active: true,
            ..inactive
        },
        &["active"],
        "",
    )
    .await
    .unwrap();
    assert!(app.verify(&a.client_id, &secret).await.valid);

    let err = app.try_verify("", "").await.unwrap_err();
    assert_eq!(violated_fields(&err), ["client_id", "client_secret"]);
}

#[tokio::test]
async fn public_apps_never_verify_but_can_be_looked_up() {
    let app = setup().await;
    let spa = app
        .create_typed(
            "owner",
            ORG,
            "SPA",
            pb::ApplicationType::UserAgentBased,
            &["https://spa.example.com/cb"],
        )
        .await
        .application
        .unwrap();
    assert!(!app.verify(&spa.client_id, "anything").await.valid);
    let found = app.lookup(&spa.client_id).await.unwrap();
    assert_eq!(found.redirect_uris, ["https://spa.example.com/cb"]);
    assert_eq!(found, spa);
    assert_eq!(app.lookup("nope").await.unwrap_err().code(), Code::NotFound);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Unknown client, wrong secret, inactive and deleted apps cost the same:
/// one lookup and one argon2 hash each. (Bounds are loose on purpose: they
/// catch a missing hash, which is an order of magnitude, not jitter.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_indistinguishable_in_timing() {
    let app = TestApp::spawn_with(|c| c.failed_verify_per_minute = 0).await;
    app.set_member(ORG, "owner", Role::Owner).await;
    let live = app.create_app("owner", ORG, "Live").await;
    let inactive = app.create_app("owner", ORG, "Inactive").await;
    let ia = inactive.application.clone().unwrap();
    app.update(
        "owner",
        ORG,
        pb::Application {
            active: false,
            ..ia
        },
        &["active"],
        "",
    )
    .await
    .unwrap();
    let deleted = app.create_app("owner", ORG, "Deleted").await;
    app.delete("owner", ORG, &deleted.application.clone().unwrap().id)
        .await
        .unwrap();

    let live_id = live.application.unwrap().client_id;
    let cases: Vec<(&str, String, String)> = vec![
        (
            "unknown client",
            "no-such-client".into(),
            live.client_secret.clone(),
        ),
        (
            "wrong secret",
            live_id.clone(),
            "oas_wrongwrongwrongwrongwrongwrongwrongwrongwro".into(),
        ),
        (
            "inactive, right secret",
            inactive.application.unwrap().client_id,
            inactive.client_secret.clone(),
        ),
        (
            "deleted, right secret",
            deleted.application.unwrap().client_id,
            deleted.client_secret.clone(),
        ),
    ];
    // Warm up connections and the cache of the live app's right secret.
    assert!(app.verify(&live_id, &live.client_secret).await.valid);
    let mut medians = Vec::new();
    for (what, client_id, secret) in &cases {
        let mut samples = Vec::new();
        for _ in 0..7 {
            let start = Instant::now();
            let r = app.verify(client_id, secret).await;
            samples.push(start.elapsed());
            assert!(!r.valid, "{what}");
            assert!(r.application.is_none(), "{what}");
        }
        medians.push((what, median(samples)));
    }
    let fastest = medians.iter().map(|(_, d)| *d).min().unwrap();
    let slowest = medians.iter().map(|(_, d)| *d).max().unwrap();
    assert!(
        slowest < fastest * 3,
        "refusals differ in timing: {medians:?}"
    );

    // The cached right secret is the one thing that is fast; it reveals
    // nothing a `valid = true` does not.
    let start = Instant::now();
    assert!(app.verify(&live_id, &live.client_secret).await.valid);
    let cached = start.elapsed();
    assert!(
        cached < fastest,
        "cache hit {cached:?} vs refusals {medians:?}"
    );
}

#[tokio::test]
async fn a_second_replica_sees_rotation_deactivation_and_deletion_at_once() {
    let a = setup().await;
    let b = a.replica().await;
    let resp = a.create_app("owner", ORG, "Billing").await;
    let app_msg = resp.application.unwrap();
    let old = resp.client_secret;

    // B verifies (and caches) the secret, twice to be sure the cache is hot.
    assert!(b.verify(&app_msg.client_id, &old).await.valid);
    assert!(b.verify(&app_msg.client_id, &old).await.valid);

    // Rotation on A, no grace: B refuses the old secret on its very next call.
    let new = a
        .rotate("owner", ORG, &app_msg.id, 0)
        .await
        .unwrap()
        .client_secret;
    assert!(!b.verify(&app_msg.client_id, &old).await.valid);
    assert!(b.verify(&app_msg.client_id, &new).await.valid);
    assert!(b.verify(&app_msg.client_id, &new).await.valid);

    let current = a.get("owner", ORG, &app_msg.id).await.unwrap();
    a.update(
        "owner",
        ORG,
        pb::Application {
            active: false,
            ..current.clone()
        },
        &["active"],
        "",
    )
    .await
    .unwrap();
    assert!(!b.verify(&app_msg.client_id, &new).await.valid);
    a.update(
        "owner",
        ORG,
        pb::Application {
            active: true,
            ..current
        },
        &["active"],
        "",
    )
    .await
    .unwrap();
    assert!(b.verify(&app_msg.client_id, &new).await.valid);

    a.delete("owner", ORG, &app_msg.id).await.unwrap();
    assert!(!b.verify(&app_msg.client_id, &new).await.valid);
}

#[tokio::test]
async fn failed_verifications_are_limited_per_client_id() {
    let app = TestApp::spawn_with(|c| c.failed_verify_per_minute = 3).await;
    app.set_member(ORG, "owner", Role::Owner).await;
    let resp = app.create_app("owner", ORG, "Billing").await;
    let client_id = resp.application.unwrap().client_id;
    let other = app.create_app("owner", ORG, "Other").await;

    // The first success costs one hash (then it is cached and free); each
    // failure costs one. Budget 3: one success, two failures.
    for _ in 0..3 {
        assert!(app.verify(&client_id, &resp.client_secret).await.valid);
    }
    for i in 0..2 {
        assert!(!app.verify(&client_id, &format!("wrong-{i}")).await.valid);
    }
    let err = app.try_verify(&client_id, "wrong-4").await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    let retry = err
        .get_details_retry_info()
        .expect("RetryInfo")
        .retry_delay
        .expect("delay");
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(60),
        "{retry:?}"
    );
    // While blocked, further guesses are refused before any hashing...
    assert_eq!(
        app.try_verify(&client_id, "wrong-5")
            .await
            .unwrap_err()
            .code(),
        Code::ResourceExhausted
    );
    // ...but the real client keeps working from the cache, and other clients are unaffected.
    assert!(app.verify(&client_id, &resp.client_secret).await.valid);
    assert!(
        app.verify(&other.application.unwrap().client_id, &other.client_secret)
            .await
            .valid
    );
    // Unknown client ids are limited alike, so limits reveal nothing either.
    for _ in 0..3 {
        assert!(!app.verify("ghost", "x").await.valid);
    }
    assert_eq!(
        app.try_verify("ghost", "x").await.unwrap_err().code(),
        Code::ResourceExhausted
    );
}

#[tokio::test]
async fn mutations_are_limited_per_caller_and_reads_are_not() {
    let app = TestApp::spawn_with(|c| c.mutations_per_minute = 3).await;
    app.set_member(ORG, "owner", Role::Owner).await;
    app.set_member(ORG, "admin", Role::Admin).await;
    for i in 0..3 {
        app.create_app("owner", ORG, &format!("app {i}")).await;
    }
    let mut c = app.client().await;
    let err = c
        .create_application(app.req(web_app("one too many"), "owner", ORG))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(
        err.get_details_retry_info()
            .and_then(|r| r.retry_delay)
            .is_some()
    );
    for _ in 0..10 {
        app.list("owner", ORG, pb::ListApplicationsRequest::default())
            .await
            .unwrap();
    }
    assert!(
        c.create_application(app.req(web_app("admin's"), "admin", ORG))
            .await
            .is_ok()
    );
}
