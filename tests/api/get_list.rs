//! GetApplication and ListApplications.

use std::collections::HashSet;

use oauth_apps::{domain::Role, proto::v1 as pb};
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::common::{TestApp, violated_fields};

const ORG: &str = "org-acme";

#[tokio::test]
async fn get_unknown_malformed_and_missing_ids() {
    let app = TestApp::spawn().await;
    app.set_member(ORG, "owner", Role::Owner).await;
    let mut c = app.client().await;
    for id in ["app_0000000000000000000000", "app_doesnotexist", "nonsense"] {
        let err = c
            .get_application(app.req(pb::GetApplicationRequest { id: id.into() }, "owner", ORG))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{id}");
    }
    let err = c
        .get_application(app.req(pb::GetApplicationRequest { id: "".into() }, "owner", ORG))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["id"]);
}

async fn list_all(app: &TestApp, page_size: i32) -> (Vec<pb::Application>, usize) {
    let mut token = String::new();
    let mut out = Vec::new();
    let mut pages = 0;
    loop {
        let page = app
            .list(
                "owner",
                ORG,
                pb::ListApplicationsRequest {
                    page_size,
                    page_token: token.clone(),
                    show_deleted: false,
                },
            )
            .await
            .unwrap();
        pages += 1;
        assert!(
            page.applications.len()
                <= if page_size == 0 {
                    50
                } else {
                    page_size as usize
                }
        );
        out.extend(page.applications);
        if page.next_page_token.is_empty() {
            return (out, pages);
        }
        token = page.next_page_token;
    }
}

#[tokio::test]
async fn pages_walk_every_app_once_in_creation_order() {
    let app = TestApp::spawn().await;
    app.set_member(ORG, "owner", Role::Owner).await;
    app.set_member("org-b", "owner", Role::Owner).await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            app.create_app("owner", ORG, &format!("app {i}"))
                .await
                .application
                .unwrap()
                .id,
        );
    }
    app.create_app("owner", "org-b", "elsewhere").await;

    let (all, pages) = list_all(&app, 3).await;
    assert_eq!(pages, 3);
    let ids: Vec<_> = all.iter().map(|a| a.id.clone()).collect();
    assert_eq!(ids, created, "every app once, oldest first");
    let (all, pages) = list_all(&app, 7).await;
    assert_eq!((all.len(), pages), (7, 1), "an exact fit has no next page");
    let (all, _) = list_all(&app, 0).await;
    assert_eq!(all.len(), 7, "0 means the default size");
    let unique: HashSet<_> = all.iter().map(|a| a.id.clone()).collect();
    assert_eq!(unique.len(), 7);
}

#[tokio::test]
async fn forged_stale_or_foreign_page_tokens_are_invalid() {
    let app = TestApp::spawn().await;
    app.set_member(ORG, "owner", Role::Owner).await;
    app.set_member("org-b", "owner", Role::Owner).await;
    for i in 0..3 {
        app.create_app("owner", ORG, &format!("app {i}")).await;
    }
    let first = app
        .list(
            "owner",
            ORG,
            pb::ListApplicationsRequest {
                page_size: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let token = first.next_page_token;
    assert!(!token.is_empty());

    let mut tampered = token.clone().into_bytes();
    tampered[3] ^= 1;
    let tampered = String::from_utf8_lossy(&tampered).into_owned();
    for (what, bad, org, show_deleted) in [
        ("garbage", "garbage".to_owned(), ORG, false),
        ("tampered", tampered, ORG, false),
        ("other org", token.clone(), "org-b", false),
        ("other query", token.clone(), ORG, true),
    ] {
        let err = app
            .list(
                "owner",
                org,
                pb::ListApplicationsRequest {
                    page_size: 1,
                    page_token: bad,
                    show_deleted,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&err), ["page_token"], "{what}");
    }
    let err = app
        .list(
            "owner",
            ORG,
            pb::ListApplicationsRequest {
                page_size: -1,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["page_size"]);

    // The genuine token still works, and a page size above 1000 is capped.
    let next = app
        .list(
            "owner",
            ORG,
            pb::ListApplicationsRequest {
                page_size: 5000,
                page_token: token,
                show_deleted: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(next.applications.len(), 2);
}

#[tokio::test]
async fn page_tokens_work_on_another_replica() {
    let app = TestApp::spawn().await;
    app.set_member(ORG, "owner", Role::Owner).await;
    for i in 0..2 {
        app.create_app("owner", ORG, &format!("app {i}")).await;
    }
    let token = app
        .list(
            "owner",
            ORG,
            pb::ListApplicationsRequest {
                page_size: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .next_page_token;
    // A second instance on the same database shares the signing key.
    let replica = app.replica().await;
    let page = replica
        .list(
            "owner",
            ORG,
            pb::ListApplicationsRequest {
                page_size: 1,
                page_token: token,
                show_deleted: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.applications[0].name, "app 1");
}

/// Deep pages stay as cheap as the first: the cursor is a range of the
/// index, not a filter over every row before it. The planner's choice is
/// checked, not a timing.
#[tokio::test]
async fn the_list_cursor_is_an_index_condition() {
    use diesel_async::{AsyncConnection as _, RunQueryDsl as _};
    let app = TestApp::spawn().await;
    let mut conn = app.db_conn().await;
    diesel::sql_query(
        "INSERT INTO applications (id, organization_id, name, app_type, scopes, client_id, created_by, create_time, grant_types) \
         SELECT 'app_' || lpad(i::text, 22, '0'), CASE WHEN i % 10 = 0 THEN 'big' ELSE 'org-' || (i % 97) END, \
                'app ' || i, 'web', '{read:user}', 'client' || i, 'seed', \
                now() - make_interval(secs => 50000 - i), '{client_credentials}' \
         FROM generate_series(1, 50000) AS i",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("ANALYZE applications")
        .execute(&mut conn)
        .await
        .unwrap();
    let cursor = oauth_apps::store::applications::Cursor {
        create_time: chrono::Utc::now() - chrono::Duration::seconds(25_000),
        id: format!("app_{:0>22}", 25_000),
    };
    let plan = conn
        .transaction::<_, oauth_apps::store::StoreError, _>(async |conn| {
            oauth_apps::store::applications::explain_list(conn, "big", &cursor).await
        })
        .await
        .unwrap();
    let plan = plan.join("\n");
    let index_cond = plan
        .lines()
        .find(|l| l.trim_start().starts_with("Index Cond:") && l.contains("organization_id"))
        .unwrap_or_else(|| panic!("no index condition on the organization:\n{plan}"));
    assert!(
        index_cond.contains("ROW(applications.create_time, applications.id) >")
            || index_cond.contains("(create_time, id) >"),
        "the cursor is not part of the index condition:\n{plan}"
    );
    assert!(
        !plan
            .lines()
            .any(|l| l.contains("Filter:") && l.contains("create_time")),
        "the cursor is filtered row by row:\n{plan}"
    );
}

/// An application as large as the rules allow: 20 redirect URIs of about
/// 2000 bytes each, a full description.
fn max_size_app(i: usize) -> pb::CreateApplicationRequest {
    pb::CreateApplicationRequest {
        name: format!("big {i}"),
        description: "d".repeat(500),
        r#type: pb::ApplicationType::Native.into(),
        redirect_uris: (0..20)
            .map(|u| format!("https://app.example.com/cb/{i}/{u}/{}", "p".repeat(1950)))
            .collect(),
        scopes: vec!["read:user".to_owned()],
        ..Default::default()
    }
}

/// A page_size=1000 List of max-size apps stops at the byte cap with a
/// next_page_token, and paging still returns every app exactly once.
#[tokio::test]
async fn a_page_ends_at_the_byte_cap_and_paging_returns_every_app_once() {
    use prost::Message as _;
    const CAP: usize = 128 * 1024;
    let app = TestApp::spawn_with(|c| c.max_list_response_bytes = CAP).await;
    app.set_member(ORG, "owner", Role::Owner).await;
    let mut c = app.client().await;
    let mut created = Vec::new();
    for i in 0..8 {
        let resp = c
            .create_application(app.req(max_size_app(i), "owner", ORG))
            .await
            .expect("a max-size app is valid");
        created.push(resp.into_inner().application.unwrap().id);
    }
    let (mut seen, mut token, mut pages) = (Vec::new(), String::new(), 0);
    loop {
        let page = app
            .list(
                "owner",
                ORG,
                pb::ListApplicationsRequest {
                    page_size: 1000,
                    page_token: token,
                    show_deleted: false,
                },
            )
            .await
            .unwrap();
        pages += 1;
        let apps_bytes = page.encoded_len() - page.next_page_token.len() - 3;
        assert!(apps_bytes <= CAP, "page {pages}: {apps_bytes} bytes");
        assert!(!page.applications.is_empty());
        seen.extend(page.applications.into_iter().map(|a| a.id));
        if page.next_page_token.is_empty() {
            break;
        }
        assert!(pages < 10, "paging does not end");
        token = page.next_page_token;
    }
    assert!(
        pages >= 3,
        "8 apps of ~41 KiB under a 128 KiB cap: {pages} pages"
    );
    assert_eq!(seen, created, "every app exactly once, in order");
}

/// Pages larger than the rows read at a time are assembled from several
/// reads, without losing or repeating a row at their seams.
#[tokio::test]
async fn large_pages_are_read_in_chunks_without_gaps_or_repeats() {
    use diesel_async::RunQueryDsl as _;
    let app = TestApp::spawn().await;
    app.set_member(ORG, "owner", Role::Owner).await;
    let mut conn = app.db_conn().await;
    diesel::sql_query(
        "INSERT INTO applications (id, organization_id, name, app_type, scopes, client_id, created_by, create_time, grant_types) \
         SELECT 'app_' || lpad(i::text, 22, '0'), 'org-acme', 'app ' || i, 'web', '{read:user}', \
                'client' || i, 'seed', now() - make_interval(secs => 1000 - i), '{client_credentials}' \
         FROM generate_series(1, 230) AS i",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let expected: Vec<String> = (1..=230).map(|i| format!("app_{i:0>22}")).collect();
    for (page_size, want_pages) in [(1000, 1), (150, 2), (100, 3), (115, 2)] {
        let (all, pages) = list_all(&app, page_size).await;
        let ids: Vec<_> = all.into_iter().map(|a| a.id).collect();
        assert_eq!(ids, expected, "page_size {page_size}");
        assert_eq!(pages, want_pages, "page_size {page_size}");
    }
}

/// Reads count against a per-caller limit: over it, RESOURCE_EXHAUSTED
/// with RetryInfo; another caller keeps their own budget.
#[tokio::test]
async fn reads_are_limited_per_caller_with_retry_info() {
    let app = TestApp::spawn_with(|c| c.reads_per_minute = 3).await;
    app.set_member(ORG, "owner", Role::Owner).await;
    app.set_member(ORG, "member", Role::Member).await;
    let id = app
        .create_app("owner", ORG, "one")
        .await
        .application
        .unwrap()
        .id;
    let mut c = app.client().await;
    for _ in 0..2 {
        app.list("owner", ORG, pb::ListApplicationsRequest::default())
            .await
            .unwrap();
    }
    c.get_application(app.req(pb::GetApplicationRequest { id: id.clone() }, "owner", ORG))
        .await
        .unwrap();
    let err = app
        .list("owner", ORG, pb::ListApplicationsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    let delay = err.get_details_retry_info().and_then(|r| r.retry_delay);
    assert!(delay.is_some_and(|d| !d.is_zero()), "{err:?}");
    let err = c
        .get_application(app.req(pb::GetApplicationRequest { id: id.clone() }, "owner", ORG))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    c.get_application(app.req(pb::GetApplicationRequest { id }, "member", ORG))
        .await
        .expect("another caller has a budget of its own");
}
