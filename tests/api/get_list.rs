//! GetApplication and ListApplications.

use std::collections::HashSet;

use oauth_apps::{domain::Role, proto::v1 as pb};
use tonic::Code;

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
