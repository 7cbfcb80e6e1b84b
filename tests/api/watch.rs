//! WatchApplications (contract section 9) through the real gRPC API against
//! a real PostgreSQL: every change type in order, across replicas and
//! restarts, a writer's transaction held open while others commit, the
//! snapshot, resume tokens, retention, heartbeats, and who may watch.

use std::time::Duration;

use diesel::sql_query;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use oauth_apps::{domain::Role, proto::v1 as pb};
use pb::ChangeType as T;
use tonic::{Code, Status, Streaming};

use crate::common::{TestApp, with_auth};

const ORG: &str = "acme";
const WATCH_SCOPE: &str = "oauthapps:watch";

type Events = Streaming<pb::WatchApplicationsResponse>;

/// A watch as `sub` (a member of `org`, or with the watch scope when `org`
/// is `None`).
async fn watch(
    app: &TestApp,
    token: &str,
    org: Option<&str>,
    resume_token: &str,
    initial_snapshot: bool,
) -> Result<Events, Status> {
    let req = pb::WatchApplicationsRequest {
        resume_token: resume_token.to_owned(),
        initial_snapshot,
    };
    app.client()
        .await
        .watch_applications(with_auth(req, Some(token), org))
        .await
        .map(|r| r.into_inner())
}

async fn member_watch(app: &TestApp, resume_token: &str, snapshot: bool) -> Events {
    watch(app, &app.token("alice"), Some(ORG), resume_token, snapshot)
        .await
        .expect("watch")
}

/// The next event, heartbeats included, within `within`.
async fn next_within(
    events: &mut Events,
    within: Duration,
) -> Option<pb::WatchApplicationsResponse> {
    match tokio::time::timeout(within, events.message()).await {
        Ok(Ok(Some(e))) => Some(e),
        Ok(Ok(None)) => panic!("the stream ended"),
        Ok(Err(status)) => panic!("the stream failed: {status:?}"),
        Err(_) => None,
    }
}

/// The next event that is not a heartbeat; fails the test after `within`.
async fn next_change_within(
    events: &mut Events,
    within: Duration,
) -> pb::WatchApplicationsResponse {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = next_within(events, left)
            .await
            .unwrap_or_else(|| panic!("no change within {within:?}"));
        if event.r#type() != T::Heartbeat {
            return event;
        }
    }
}

async fn next_change(events: &mut Events) -> pb::WatchApplicationsResponse {
    next_change_within(events, Duration::from_secs(5)).await
}

/// No change arrives within `quiet` (heartbeats may).
async fn assert_quiet(events: &mut Events, quiet: Duration) {
    let deadline = tokio::time::Instant::now() + quiet;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next_within(events, left).await {
            None => return,
            Some(e) if e.r#type() == T::Heartbeat => continue,
            Some(e) => panic!("unexpected event {:?} {:?}", e.r#type(), e.application),
        }
    }
}

fn app_id(e: &pb::WatchApplicationsResponse) -> String {
    e.application.as_ref().expect("application").id.clone()
}

/// The error a stream ends with, within `within`.
async fn end_of(events: &mut Events, within: Duration) -> Status {
    let ends = async {
        loop {
            match events.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the stream ended without an error"),
                Err(status) => return status,
            }
        }
    };
    tokio::time::timeout(within, ends)
        .await
        .unwrap_or_else(|_| panic!("the stream did not end within {within:?}"))
}

/// A server where alice is OWNER of acme.
pub async fn setup() -> TestApp {
    let app = TestApp::spawn().await;
    app.set_member(ORG, "alice", Role::Owner).await;
    app
}

#[tokio::test]
async fn every_change_type_arrives_in_order_with_the_state_after_it() {
    let app = setup().await;
    app.set_member("globex", "alice", Role::Owner).await;
    let mut events = member_watch(&app, "", false).await;

    let created = app.create_app("alice", ORG, "billing").await;
    let id = created.application.as_ref().unwrap().id.clone();
    let etag = created.application.as_ref().unwrap().etag.clone();
    // Another organization's change is not in this stream.
    app.create_app("alice", "globex", "other").await;
    let mut changed = created.application.clone().unwrap();
    changed.description = "changed".into();
    app.update("alice", ORG, changed, &["description"], &etag)
        .await
        .unwrap();
    app.delete("alice", ORG, &id).await.unwrap();
    app.undelete("alice", ORG, &id).await.unwrap();
    let rotated = app.rotate("alice", ORG, &id, 0).await.unwrap();

    let mut tokens = Vec::new();
    for (want, check) in [
        (T::Created, "created"),
        (T::Updated, "updated"),
        (T::Deleted, "deleted"),
        (T::Undeleted, "undeleted"),
        (T::SecretRotated, "rotated"),
    ] {
        let e = next_change(&mut events).await;
        assert_eq!(e.r#type(), want, "{check}");
        assert_eq!(app_id(&e), id);
        assert!(e.commit_time.is_some());
        assert!(!e.resume_token.is_empty());
        tokens.push(e.resume_token.clone());
        let a = e.application.unwrap();
        match want {
            T::Updated => assert_eq!(a.description, "changed"),
            T::Deleted => assert!(a.delete_time.is_some() && !a.active),
            T::Undeleted => assert!(a.delete_time.is_none()),
            T::SecretRotated => assert_eq!(
                a.client_secret_hint,
                rotated.application.as_ref().unwrap().client_secret_hint
            ),
            _ => {}
        }
    }
    assert_quiet(&mut events, Duration::from_millis(700)).await;
    // Resuming after each event gives exactly the events after it.
    for (i, token) in tokens.iter().enumerate() {
        let mut resumed = member_watch(&app, token, false).await;
        for _ in i + 1..tokens.len() {
            assert_eq!(app_id(&next_change(&mut resumed).await), id);
        }
        assert_quiet(&mut resumed, Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn a_change_through_another_replica_reaches_a_watcher_within_a_second() {
    let a = setup().await;
    let b = a.replica().await;
    let mut on_a = member_watch(&a, "", false).await;
    // A change through B, watched on A.
    let created = b.create_app("alice", ORG, "from-b").await;
    let started = std::time::Instant::now();
    let e = next_change_within(&mut on_a, Duration::from_secs(1)).await;
    assert_eq!(e.r#type(), T::Created);
    assert_eq!(app_id(&e), created.application.unwrap().id);
    assert!(started.elapsed() <= Duration::from_secs(1));
    // B's token resumes on A and the other way round.
    let mut on_b = member_watch(&b, &e.resume_token, false).await;
    let second = a.create_app("alice", ORG, "from-a").await;
    let e = next_change(&mut on_b).await;
    assert_eq!(app_id(&e), second.application.unwrap().id);
    assert_eq!(app_id(&next_change(&mut on_a).await), app_id(&e));
}

#[tokio::test]
async fn resuming_after_a_restart_misses_nothing_and_repeats_nothing() {
    let mut first = setup().await;
    let mut events = member_watch(&first, "", false).await;
    first.create_app("alice", ORG, "one").await;
    let token = next_change(&mut events).await.resume_token;
    drop(events);
    first.shutdown().await.unwrap();

    let second = first.replica().await;
    let two = second.create_app("alice", ORG, "two").await;
    let three = second.create_app("alice", ORG, "three").await;
    let mut resumed = member_watch(&second, &token, false).await;
    assert_eq!(
        app_id(&next_change(&mut resumed).await),
        two.application.unwrap().id
    );
    assert_eq!(
        app_id(&next_change(&mut resumed).await),
        three.application.unwrap().id
    );
    assert_quiet(&mut resumed, Duration::from_millis(700)).await;
}

#[tokio::test]
async fn a_transaction_held_open_is_delivered_once_in_its_place_and_nothing_is_skipped() {
    let app = setup().await;
    let held_app = app
        .create_app("alice", ORG, "held")
        .await
        .application
        .unwrap();
    let mut events = member_watch(&app, "", false).await;
    let start = member_watch(&app, "", false).await;
    drop(start);
    let before = {
        // A token from before the held transaction began.
        let a = app.create_app("alice", ORG, "before").await;
        let e = next_change(&mut events).await;
        assert_eq!(app_id(&e), a.application.unwrap().id);
        e.resume_token
    };

    // A writer that takes its transaction id first and commits last.
    let mut writer = AsyncPgConnection::establish(&app.db.url).await.unwrap();
    sql_query("BEGIN").execute(&mut writer).await.unwrap();
    sql_query(format!(
        "UPDATE applications SET description = 'held', revision = revision + 1 WHERE id = '{}'",
        held_app.id
    ))
    .execute(&mut writer)
    .await
    .unwrap();

    // Others commit meanwhile; they wait behind the held one.
    let later1 = app
        .create_app("alice", ORG, "later-1")
        .await
        .application
        .unwrap();
    let later2 = app
        .create_app("alice", ORG, "later-2")
        .await
        .application
        .unwrap();
    assert_quiet(&mut events, Duration::from_millis(1500)).await;

    sql_query("COMMIT").execute(&mut writer).await.unwrap();
    let held = next_change(&mut events).await;
    assert_eq!(
        (held.r#type(), app_id(&held)),
        (T::Updated, held_app.id.clone())
    );
    assert_eq!(held.application.unwrap().description, "held");
    assert_eq!(app_id(&next_change(&mut events).await), later1.id);
    assert_eq!(app_id(&next_change(&mut events).await), later2.id);
    assert_quiet(&mut events, Duration::from_millis(700)).await;

    // A watcher resuming from before the hold gets the same, once.
    let mut resumed = member_watch(&app, &before, false).await;
    for want in [&held_app.id, &later1.id, &later2.id] {
        assert_eq!(&app_id(&next_change(&mut resumed).await), want);
    }
    assert_quiet(&mut resumed, Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_snapshot_ends_where_the_feed_continues() {
    let app = setup().await;
    let one = app
        .create_app("alice", ORG, "one")
        .await
        .application
        .unwrap();
    let gone = app
        .create_app("alice", ORG, "gone")
        .await
        .application
        .unwrap();
    app.delete("alice", ORG, &gone.id).await.unwrap();
    let two = app
        .create_app("alice", ORG, "two")
        .await
        .application
        .unwrap();

    let mut events = member_watch(&app, "", true).await;
    let mut seen = Vec::new();
    let end = loop {
        let e = next_change(&mut events).await;
        match e.r#type() {
            T::Snapshot => seen.push(app_id(&e)),
            T::SnapshotEnd => break e,
            other => panic!("unexpected {other:?} before the snapshot's end"),
        }
    };
    seen.sort();
    let mut want = vec![one.id.clone(), two.id.clone()];
    want.sort();
    assert_eq!(seen, want);
    assert!(end.application.is_none());

    let three = app
        .create_app("alice", ORG, "three")
        .await
        .application
        .unwrap();
    assert_eq!(app_id(&next_change(&mut events).await), three.id);
    let mut resumed = member_watch(&app, &end.resume_token, false).await;
    assert_eq!(app_id(&next_change(&mut resumed).await), three.id);
    assert_quiet(&mut resumed, Duration::from_millis(500)).await;
}

#[tokio::test]
async fn forged_or_foreign_resume_tokens_are_invalid() {
    let app = setup().await;
    app.set_member("globex", "alice", Role::Member).await;
    let mut events = member_watch(&app, "", false).await;
    app.create_app("alice", ORG, "one").await;
    let token = next_change(&mut events).await.resume_token;
    let alice = app.token("alice");
    let service = app.token_with_scope("as", WATCH_SCOPE);
    let (payload, tag) = token.split_once('.').unwrap();
    let tampered = format!("{}A.{tag}", payload);
    for (what, token_used, org, resume, snapshot) in [
        (
            "another org's stream",
            &alice,
            Some("globex"),
            token.as_str(),
            false,
        ),
        ("the all-org stream", &service, None, token.as_str(), false),
        ("tampered", &alice, Some(ORG), tampered.as_str(), false),
        ("garbage", &alice, Some(ORG), "garbage", false),
        (
            "a snapshot with a token",
            &alice,
            Some(ORG),
            token.as_str(),
            true,
        ),
    ] {
        let status = watch(&app, token_used, org, resume, snapshot)
            .await
            .expect_err(what);
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
    }
}

#[tokio::test]
async fn a_token_older_than_the_retention_is_failed_precondition() {
    let app = TestApp::spawn_with(|c| c.watch_retention = Duration::from_secs(1)).await;
    app.set_member(ORG, "alice", Role::Owner).await;
    let mut events = member_watch(&app, "", false).await;
    app.create_app("alice", ORG, "one").await;
    let token = next_change(&mut events).await.resume_token;
    // The retention is counted in whole seconds of issue time.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let status = watch(&app, &app.token("alice"), Some(ORG), &token, false)
        .await
        .expect_err("expired");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
}

#[tokio::test]
async fn heartbeats_carry_fresh_tokens_that_resume() {
    let app = TestApp::spawn_with(|c| c.watch_heartbeat = Duration::from_millis(300)).await;
    app.set_member(ORG, "alice", Role::Owner).await;
    let mut events = member_watch(&app, "", false).await;
    let beat = next_within(&mut events, Duration::from_secs(2))
        .await
        .expect("a heartbeat");
    assert_eq!(beat.r#type(), T::Heartbeat);
    assert!(beat.application.is_none());
    let created = app.create_app("alice", ORG, "after-beat").await;
    let mut resumed = member_watch(&app, &beat.resume_token, false).await;
    assert_eq!(
        app_id(&next_change(&mut resumed).await),
        created.application.unwrap().id
    );
}

#[tokio::test]
async fn a_removed_member_is_cut_off_within_five_seconds() {
    let app = setup().await;
    app.set_member(ORG, "bob", Role::Member).await;
    let mut events = watch(&app, &app.token("bob"), Some(ORG), "", false)
        .await
        .unwrap();
    app.remove_member(ORG, "bob").await;
    let status = end_of(&mut events, Duration::from_secs(5)).await;
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
}

#[tokio::test]
async fn the_all_organization_stream_needs_the_watch_scope() {
    let app = setup().await;
    app.set_member("globex", "alice", Role::Owner).await;
    let plain = app.token("alice");
    let status = watch(&app, &plain, None, "", false).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let outsider = app.token("mallory");
    let status = watch(&app, &outsider, Some(ORG), "", false)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    let service = app.token_with_scope("as", WATCH_SCOPE);
    let mut all = watch(&app, &service, None, "", false).await.unwrap();
    let one = app
        .create_app("alice", ORG, "one")
        .await
        .application
        .unwrap();
    let two = app
        .create_app("alice", "globex", "two")
        .await
        .application
        .unwrap();
    assert_eq!(app_id(&next_change(&mut all).await), one.id);
    assert_eq!(app_id(&next_change(&mut all).await), two.id);
}

#[tokio::test]
async fn a_watcher_that_does_not_read_is_ended_not_buffered() {
    let app = setup().await;
    let mut events = member_watch(&app, "", false).await;
    // Thousands of changes in one statement, the watcher reading none.
    let mut conn = app.db_conn().await;
    sql_query(
        "INSERT INTO applications (id, organization_id, name, description, app_type, scopes, client_id, created_by) \
         SELECT 'app_bulk' || i, 'acme', 'bulk ' || i, repeat('x', 400), 'web', '{}', 'c_bulk' || i, 'dba' \
         FROM generate_series(1, 20000) i",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut received = 0;
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(10), events.message()).await {
            Ok(Ok(Some(_))) => received += 1,
            Ok(Ok(None)) => panic!("ended without an error after {received}"),
            Ok(Err(status)) => break status,
            Err(_) => panic!("neither ended nor delivered everything: {received}"),
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(received < 20000, "{received}");
}

#[tokio::test]
async fn a_write_that_would_land_behind_a_later_commit_of_the_same_app_is_refused() {
    let app = setup().await;
    let first = app
        .create_app("alice", ORG, "first")
        .await
        .application
        .unwrap();
    let second = app
        .create_app("alice", ORG, "second")
        .await
        .application
        .unwrap();
    // `early` takes its transaction id first, by changing another app.
    let mut early = AsyncPgConnection::establish(&app.db.url).await.unwrap();
    sql_query("BEGIN").execute(&mut early).await.unwrap();
    sql_query(format!(
        "UPDATE applications SET description = 'early' WHERE id = '{}'",
        first.id
    ))
    .execute(&mut early)
    .await
    .unwrap();
    // A later transaction changes `second` and commits.
    let mut later = app.db_conn().await;
    sql_query(format!(
        "UPDATE applications SET description = 'later' WHERE id = '{}'",
        second.id
    ))
    .execute(&mut later)
    .await
    .unwrap();
    // `early` changing `second` now would be delivered before `later`'s
    // change though committed after it: refused, to be retried.
    let refused = sql_query(format!(
        "UPDATE applications SET description = 'early' WHERE id = '{}'",
        second.id
    ))
    .execute(&mut early)
    .await
    .expect_err("a write behind a later commit");
    assert!(refused.to_string().contains("retry"), "{refused}");
    sql_query("ROLLBACK").execute(&mut early).await.unwrap();
}

#[tokio::test]
async fn a_stream_outlives_the_request_timeout() {
    let app = TestApp::spawn_with(|c| {
        c.request_timeout = Duration::from_millis(500);
        c.watch_heartbeat = Duration::from_millis(200);
    })
    .await;
    app.set_member(ORG, "alice", Role::Owner).await;
    let mut events = member_watch(&app, "", false).await;
    assert_quiet(&mut events, Duration::from_millis(1500)).await;
    let created = app.create_app("alice", ORG, "late").await;
    assert_eq!(
        app_id(&next_change(&mut events).await),
        created.application.unwrap().id
    );
}

#[tokio::test]
async fn a_shutdown_ends_streams_with_unavailable() {
    let mut app = setup().await;
    let mut events = member_watch(&app, "", false).await;
    let shutdown = tokio::time::timeout(Duration::from_secs(10), app.shutdown()).await;
    assert!(shutdown.is_ok(), "the shutdown waited for the stream");
    let status = end_of(&mut events, Duration::from_secs(5)).await;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
}

#[tokio::test]
async fn a_snapshot_taken_while_a_writer_is_open_repeats_nothing_and_misses_nothing() {
    let app = setup().await;
    let held_app = app
        .create_app("alice", ORG, "held")
        .await
        .application
        .unwrap();
    // A writer takes its transaction id and stays open...
    let mut writer = AsyncPgConnection::establish(&app.db.url).await.unwrap();
    sql_query("BEGIN").execute(&mut writer).await.unwrap();
    sql_query(format!(
        "UPDATE applications SET description = 'held' WHERE id = '{}'",
        held_app.id
    ))
    .execute(&mut writer)
    .await
    .unwrap();
    // ...while a later transaction commits: the snapshot has it, though
    // the feed's bound is still below it.
    let later = app
        .create_app("alice", ORG, "later")
        .await
        .application
        .unwrap();
    let mut events = member_watch(&app, "", true).await;
    let mut seen = Vec::new();
    let end = loop {
        let e = next_change(&mut events).await;
        match e.r#type() {
            T::Snapshot => seen.push((app_id(&e), e.application.unwrap().description)),
            T::SnapshotEnd => break e,
            other => panic!("unexpected {other:?} before the snapshot's end"),
        }
    };
    seen.sort();
    let mut want = vec![
        (held_app.id.clone(), held_app.description.clone()),
        (later.id.clone(), later.description.clone()),
    ];
    want.sort();
    assert_eq!(seen, want);

    sql_query("COMMIT").execute(&mut writer).await.unwrap();
    // The held change follows the snapshot; the later creation, which the
    // snapshot already had, does not come again.
    let held = next_change(&mut events).await;
    assert_eq!(
        (held.r#type(), app_id(&held)),
        (T::Updated, held_app.id.clone())
    );
    assert_quiet(&mut events, Duration::from_millis(1000)).await;
    let mut resumed = member_watch(&app, &end.resume_token, false).await;
    assert_eq!(app_id(&next_change(&mut resumed).await), held_app.id);
    assert_quiet(&mut resumed, Duration::from_millis(700)).await;
}

#[tokio::test]
async fn changes_past_the_retention_are_pruned_in_batches() {
    let app = setup().await;
    for name in ["one", "two", "three"] {
        app.create_app("alice", ORG, name).await;
    }
    let mut conn = app.db_conn().await;
    sql_query("UPDATE application_changes SET create_time = now() - interval '30 days'")
        .execute(&mut conn)
        .await
        .unwrap();
    app.create_app("alice", ORG, "recent").await;
    let before = chrono::Utc::now() - chrono::Duration::days(8);
    let pruned = oauth_apps::store::changes::prune(&mut conn, before, 2)
        .await
        .unwrap();
    assert_eq!(pruned, 2, "one batch of two");
    let pruned = oauth_apps::store::changes::prune(&mut conn, before, 2)
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM application_changes")
            .await,
        1,
        "the recent change stays"
    );
}
