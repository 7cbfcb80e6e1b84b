//! VerifyClientCredentials and LookupClient, as a token endpoint uses them.

use std::time::{Duration, Instant};

use oauth_apps::{domain::Role, proto::v1 as pb};
use tonic::Code;
use tonic_types::StatusExt as _;

use oauth_apps::domain::ids::random_base62;

use crate::common::{TestApp, VERIFY_SCOPE, violated_fields, web_app, with_auth, within_a_moment};

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

/// B answers from its cache; each change made on A reaches it through the
/// database's notification, within a moment, without any call to B.
#[tokio::test]
async fn a_second_replica_follows_rotation_deactivation_and_deletion() {
    let a = setup().await;
    let b = a.replica().await;
    let resp = a.create_app("owner", ORG, "Billing").await;
    let app_msg = resp.application.unwrap();
    let client_id = app_msg.client_id.clone();
    let old = resp.client_secret;

    // B verifies (and caches) the secret, twice to be sure the cache is hot.
    assert!(b.verify(&client_id, &old).await.valid);
    assert!(b.verify(&client_id, &old).await.valid);

    // Rotation on A, no grace: the new secret verifies on B at once (a
    // cached copy never refuses: refusals come from the database), and B
    // refuses the old one once the change is announced.
    let new = a
        .rotate("owner", ORG, &app_msg.id, 0)
        .await
        .unwrap()
        .client_secret;
    assert!(b.verify(&client_id, &new).await.valid);
    within_a_moment("B to refuse the rotated-out secret", || async {
        !b.verify(&client_id, &old).await.valid
    })
    .await;
    assert!(b.verify(&client_id, &new).await.valid);
    assert!(b.verify(&client_id, &new).await.valid);

    let current = a.get("owner", ORG, &app_msg.id).await.unwrap();
    let inactive = a
        .update(
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
    within_a_moment("B to refuse a deactivated app", || async {
        !b.verify(&client_id, &new).await.valid
    })
    .await;
    a.update(
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
    assert!(
        b.verify(&client_id, &new).await.valid,
        "a reactivated app verifies everywhere at once"
    );

    a.delete("owner", ORG, &app_msg.id).await.unwrap();
    within_a_moment("B to refuse a deleted app", || async {
        !b.verify(&client_id, &new).await.valid
    })
    .await;
}

/// A change made in the database by hand (a DBA with psql) is announced by
/// the database itself, so no replica keeps answering from its copy.
#[tokio::test]
async fn a_change_made_with_plain_sql_reaches_every_cache() {
    use diesel_async::RunQueryDsl as _;
    let a = setup().await;
    let b = a.replica().await;
    let resp = a.create_app("owner", ORG, "Billing").await;
    let app_msg = resp.application.unwrap();
    let client_id = app_msg.client_id.clone();
    let secret = resp.client_secret;
    for replica in [&a, &b] {
        assert!(replica.verify(&client_id, &secret).await.valid);
        assert!(replica.verify(&client_id, &secret).await.valid);
        assert_eq!(replica.lookup(&client_id).await.unwrap().name, "Billing");
        assert_eq!(
            replica.get("owner", ORG, &app_msg.id).await.unwrap().name,
            "Billing"
        );
    }

    let mut conn = a.db_conn().await;
    diesel::sql_query("UPDATE applications SET name = 'Renamed by hand' WHERE id = $1")
        .bind::<diesel::sql_types::Text, _>(&app_msg.id)
        .execute(&mut conn)
        .await
        .unwrap();
    for replica in [&a, &b] {
        within_a_moment("Get to show the new name", || async {
            replica.get("owner", ORG, &app_msg.id).await.unwrap().name == "Renamed by hand"
        })
        .await;
        within_a_moment("LookupClient to show the new name", || async {
            replica.lookup(&client_id).await.unwrap().name == "Renamed by hand"
        })
        .await;
    }

    diesel::sql_query("DELETE FROM client_secrets")
        .execute(&mut conn)
        .await
        .unwrap();
    for replica in [&a, &b] {
        within_a_moment("the removed secret to be refused", || async {
            !replica.verify(&client_id, &secret).await.valid
        })
        .await;
    }
}

/// What one replica changed, it answers at once, cache or not.
#[tokio::test]
async fn a_replica_reads_its_own_writes() {
    let a = setup().await;
    let resp = a.create_app("owner", ORG, "Billing").await;
    let app_msg = resp.application.unwrap();
    let secret = resp.client_secret;
    for _ in 0..2 {
        assert!(a.verify(&app_msg.client_id, &secret).await.valid);
        assert_eq!(
            a.get("owner", ORG, &app_msg.id).await.unwrap().name,
            "Billing"
        );
    }
    let current = a.get("owner", ORG, &app_msg.id).await.unwrap();
    a.update(
        "owner",
        ORG,
        pb::Application {
            name: "Invoices".into(),
            ..current
        },
        &["name"],
        "",
    )
    .await
    .unwrap();
    assert_eq!(
        a.get("owner", ORG, &app_msg.id).await.unwrap().name,
        "Invoices"
    );
    assert_eq!(a.lookup(&app_msg.client_id).await.unwrap().name, "Invoices");
    a.rotate("owner", ORG, &app_msg.id, 0).await.unwrap();
    assert!(!a.verify(&app_msg.client_id, &secret).await.valid);
    a.delete("owner", ORG, &app_msg.id).await.unwrap();
    assert!(a.lookup(&app_msg.client_id).await.is_err());
    assert!(
        a.get("owner", ORG, &app_msg.id)
            .await
            .unwrap()
            .delete_time
            .is_some()
    );
}

#[tokio::test]
async fn failed_verifications_are_limited_per_client_id() {
    let app = TestApp::spawn_with(|c| c.failed_verify_per_minute = 3).await;
    app.set_member(ORG, "owner", Role::Owner).await;
    let resp = app.create_app("owner", ORG, "Billing").await;
    let client_id = resp.application.unwrap().client_id;
    let other = app.create_app("owner", ORG, "Other").await;

    // Successes cost nothing; each failure one unit. Budget 3.
    for _ in 0..3 {
        assert!(app.verify(&client_id, &resp.client_secret).await.valid);
    }
    for i in 0..3 {
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
    // The real client keeps working, and other clients are unaffected.
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

/// The attack review's lockout: 31 wrong secrets, then the right one, on a
/// replica that never verified it (as after a restart). Guesses spend the
/// budget, so more guesses are refused, but they cannot carry our checksum:
/// the right secret is still checked, and verifies. So does a secret fresh
/// from a rotation, with the budget spent.
#[tokio::test]
async fn guesses_never_lock_the_right_secret_out() {
    let app = setup().await;
    let created = app.create_app("owner", ORG, "Target").await;
    let target = created.application.unwrap();
    let replica = app.replica().await;
    let right = &created.client_secret;
    // Guessers may know the hint (members see it): keep it.
    let hint = &right[right.len() - 4..];
    for i in 0..31 {
        let guess = format!("oas_{}{hint}", random_base62(45));
        let wrong = if i % 2 == 0 {
            guess
        } else {
            format!("guess-{i}")
        };
        match replica.try_verify(&target.client_id, &wrong).await {
            Ok(r) => assert!(!r.valid),
            Err(e) => assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}"),
        }
    }
    // Guesses are limited: the budget refills slowly (one a few seconds), so
    // on a loaded machine a guess or two more may still be answered first.
    let mut limited = false;
    for _ in 0..10 {
        match replica.try_verify(&target.client_id, "one more").await {
            Ok(r) => assert!(!r.valid),
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                limited = true;
                break;
            }
        }
    }
    assert!(limited, "guesses are limited");
    assert!(
        replica.verify(&target.client_id, right).await.valid,
        "the right secret is locked out"
    );
    let rotated = app.rotate("owner", ORG, &target.id, 0).await.unwrap();
    assert!(
        replica
            .verify(&target.client_id, &rotated.client_secret)
            .await
            .valid
    );
    // The revoked secret is refused (or, with the budget spent, limited).
    let revoked = replica.try_verify(&target.client_id, right).await;
    assert!(revoked.map_or(true, |r| !r.valid));
}

/// The attack review's spray: a caller with the verify scope sends made-up
/// client_ids, about 250 in flight. None costs an argon2 hash, and
/// meanwhile creates and rotations succeed and a secret nobody verified
/// before verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_spray_costs_no_hash_and_starves_nothing() {
    let app = setup().await;
    let fresh = app.create_app("owner", ORG, "Fresh").await;
    let fresh_id = fresh.application.unwrap().client_id;
    let rotating = app
        .create_app("owner", ORG, "Rotating")
        .await
        .application
        .unwrap();
    let hashes_before = app.state.ops.verifier.hasher.runs();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spray_token = app.token_with_scope("relay", VERIFY_SCOPE);
    let channel = app.channel().await;
    let mut sprayers = Vec::new();
    for _ in 0..250 {
        let (stop, token) = (stop.clone(), spray_token.clone());
        let mut c = oauth_apps::proto::OAuthApplicationsClient::new(channel.clone());
        sprayers.push(tokio::spawn(async move {
            let mut sent = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let req = with_auth(
                    pb::VerifyClientCredentialsRequest {
                        client_id: random_base62(26),
                        client_secret: format!("oas_{}", random_base62(49)),
                    },
                    Some(&token),
                    None,
                );
                let _ = c.verify_client_credentials(req).await;
                sent += 1;
            }
            sent
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut created = 0;
    for i in 0..10 {
        let ok = app
            .client()
            .await
            .create_application(app.req(web_app(&format!("during spray {i}")), "owner", ORG))
            .await
            .is_ok();
        created += usize::from(ok);
    }
    let mut rotated = 0;
    for _ in 0..3 {
        rotated += usize::from(app.rotate("owner", ORG, &rotating.id, 0).await.is_ok());
    }
    let verified = app.verify(&fresh_id, &fresh.client_secret).await.valid;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut sent = 0;
    for s in sprayers {
        sent += s.await.unwrap();
    }
    assert!(created >= 9, "{created} of 10 creates succeeded");
    assert_eq!(rotated, 3);
    assert!(verified, "the fresh secret did not verify");
    assert!(sent > 250, "the spray sent only {sent}");
    let hashed = app.state.ops.verifier.hasher.runs() - hashes_before;
    assert_eq!(hashed, 1, "the spray cost {hashed} hashes");
}

/// Secrets minted before checksums existed keep verifying; their guessers
/// cannot be told apart by checksum, so every attempt is hashed, and only
/// wrong ones spend the budget: once it is spent they are
/// RESOURCE_EXHAUSTED, but the right one still verifies.
#[tokio::test]
async fn secrets_from_before_checksums_keep_working() {
    use diesel_async::RunQueryDsl as _;
    let app = TestApp::spawn_with(|c| c.failed_verify_per_minute = 3).await;
    app.set_member(ORG, "owner", Role::Owner).await;
    let target = app
        .create_app("owner", ORG, "Old")
        .await
        .application
        .unwrap();
    let old =
        oauth_apps::domain::ClientSecret::from_presented(format!("oas_{}", random_base62(43)));
    // Hashed as the service hashes (argon2id, argon2's default parameters:
    // m=19 MiB, t=2, p=1), with the argon2 crate itself.
    let hash = tokio::task::spawn_blocking({
        let old = old.clone();
        move || {
            use argon2::password_hash::PasswordHasher as _;
            argon2::Argon2::default()
                .hash_password(old.expose().as_bytes())
                .unwrap()
                .to_string()
        }
    })
    .await
    .unwrap();
    let mut conn = app.db_conn().await;
    diesel::sql_query(
        "UPDATE client_secrets SET secret_hash = $1, hint = $2, checksummed = false \
         WHERE application_id = $3",
    )
    .bind::<diesel::sql_types::Text, _>(&hash)
    .bind::<diesel::sql_types::Text, _>(old.hint())
    .bind::<diesel::sql_types::Text, _>(&target.id)
    .execute(&mut conn)
    .await
    .unwrap();
    // Issue 22, finding 4: guesses that keep the hint cannot be told from
    // it; 35 of them spend the budget (3), yet the right one, never
    // verified before (so hashed), still verifies.
    let guess = format!("oas_{}{}", random_base62(39), old.hint());
    let mut limited = 0;
    for _ in 0..35 {
        match app.try_verify(&target.client_id, &guess).await {
            Ok(r) => assert!(!r.valid),
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                limited += 1;
            }
        }
    }
    assert!(limited >= 20, "guesses are limited: {limited}");
    assert!(
        app.verify(&target.client_id, old.expose()).await.valid,
        "the right legacy secret is locked out"
    );
    // Cached, it still verifies; a rotation gives it a checksummed successor.
    assert!(app.verify(&target.client_id, old.expose()).await.valid);
    let rotated = app.rotate("owner", ORG, &target.id, 0).await.unwrap();
    assert!(
        app.verify(&target.client_id, &rotated.client_secret)
            .await
            .valid
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

/// A change made while a replica's listener is down cannot reach it by
/// notification; the replica must still stop answering from its copy.
#[tokio::test]
async fn a_lost_listener_never_leaves_a_stale_application() {
    use diesel_async::RunQueryDsl as _;
    let a = setup().await;
    let resp = a.create_app("owner", ORG, "Billing").await;
    let app_msg = resp.application.unwrap();
    let client_id = app_msg.client_id.clone();
    let secret = resp.client_secret;
    assert!(a.verify(&client_id, &secret).await.valid);
    assert!(a.verify(&client_id, &secret).await.valid);

    let mut conn = a.db_conn().await;
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'oauth-apps listener'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("UPDATE applications SET active = false WHERE id = $1")
        .bind::<diesel::sql_types::Text, _>(&app_msg.id)
        .execute(&mut conn)
        .await
        .unwrap();
    within_a_moment("the deactivation, with the listener down", || async {
        !a.verify(&client_id, &secret).await.valid
    })
    .await;
    // And once the listener is back, the cache serves again, correctly.
    assert!(a.lookup(&client_id).await.is_err());
}
