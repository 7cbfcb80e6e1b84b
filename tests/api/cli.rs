//! The command line: members and token.

use std::process::Command;

use oauth_apps::proto::v1 as pb;
use tonic::Code;

use crate::common::{JWT_SECRET, TestApp, with_auth, within_a_moment};

fn oauth_apps(args: &[&str], database_url: &str) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oauth-apps"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("OAUTH_APPS_JWT_SECRET", JWT_SECRET)
        .env_remove("OAUTH_APPS_JWT_ISSUER")
        .env_remove("OAUTH_APPS_JWT_AUDIENCE")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn members_and_tokens_from_the_command_line_drive_the_service() {
    let app = TestApp::spawn().await;
    let url = app.db.url.clone();
    let (ok, _, err) = oauth_apps(
        &[
            "members", "set", "--org", "acme", "--user", "alice", "--role", "owner",
        ],
        &url,
    );
    assert!(ok, "{err}");
    let (ok, _, _) = oauth_apps(
        &[
            "members", "set", "--org", "acme", "--user", "bob", "--role", "member",
        ],
        &url,
    );
    assert!(ok);
    let (ok, _, err) = oauth_apps(
        &[
            "members", "set", "--org", "acme", "--user", "eve", "--role", "root",
        ],
        &url,
    );
    assert!(
        !ok && err.contains("[possible values: owner, admin, member]"),
        "{err}"
    );
    let (ok, out, _) = oauth_apps(&["members", "list", "--org", "acme"], &url);
    assert!(ok);
    assert_eq!(out, "alice\tOWNER\nbob\tMEMBER\n");

    let (ok, token, err) = oauth_apps(&["token", "--sub", "alice", "--ttl", "5m"], &url);
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    let mut c = app.client().await;
    let created = c
        .create_application(with_auth(
            crate::common::web_app("From CLI"),
            Some(&token),
            Some("acme"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.application.unwrap().created_by, "alice");

    let (ok, verify_token, _) = oauth_apps(
        &["token", "--sub", "idp", "--scope", "oauthapps:verify"],
        &url,
    );
    assert!(ok);
    let r = c
        .lookup_client(with_auth(
            pb::LookupClientRequest {
                client_id: "none".into(),
            },
            Some(verify_token.trim()),
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(r.code(), Code::NotFound, "the scope was granted");

    let (ok, _, _) = oauth_apps(
        &["members", "remove", "--org", "acme", "--user", "alice"],
        &url,
    );
    assert!(ok);
    within_a_moment("removal by the CLI", || async {
        app.client()
            .await
            .list_applications(with_auth(
                pb::ListApplicationsRequest::default(),
                Some(&token),
                Some("acme"),
            ))
            .await
            .is_err_and(|e| e.code() == Code::PermissionDenied)
    })
    .await;
    let (ok, _, err) = oauth_apps(
        &["members", "remove", "--org", "acme", "--user", "alice"],
        &url,
    );
    assert!(!ok && err.contains("not a member"), "{err}");

    let (ok, _, err) = Command::new(env!("CARGO_BIN_EXE_oauth-apps"))
        .args(["token", "--sub", "x"])
        .env_remove("OAUTH_APPS_JWT_SECRET")
        .output()
        .map(|o| {
            (
                o.status.success(),
                (),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap();
    assert!(!ok && err.contains("OAUTH_APPS_JWT_SECRET"), "{err}");
}

/// An HS256 key short enough to brute-force from one token is refused at
/// start, by the server and by `token` alike.
#[test]
fn a_short_jwt_secret_is_refused() {
    for args in [&["serve"][..], &["token", "--sub", "alice"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_oauth-apps"))
            .args(args)
            .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
            .env("OAUTH_APPS_JWT_SECRET", "x")
            .env("OAUTH_APPS_LISTEN", "127.0.0.1:0")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("at least 32 bytes"), "{args:?}: {err}");
    }
}

/// A bad value from the environment names the variable, not a flag nobody
/// typed; a bad flag names the flag. Either way the exit code is clap's 2.
#[test]
fn a_bad_setting_names_where_it_came_from() {
    let run = |args: &[&str], listen: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_oauth-apps"));
        command.args(args).env_remove("OAUTH_APPS_LISTEN");
        if let Some(listen) = listen {
            command.env("OAUTH_APPS_LISTEN", listen);
        }
        let out = command.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for args in [&[][..], &["serve"][..]] {
        let (code, err) = run(args, Some("nonsense"));
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains("the environment variable OAUTH_APPS_LISTEN (the setting --listen)"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("'--listen"), "{args:?}: {err}");
    }
    let (code, err) = run(&["serve", "--listen", "nonsense"], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("'--listen <LISTEN>'"), "{err}");
}

/// `token` refuses what the server would refuse, and says why.
#[test]
fn token_refuses_what_the_server_would() {
    let mint = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_oauth-apps"))
            .arg("token")
            .args(args)
            .env("OAUTH_APPS_JWT_SECRET", "a-development-secret-of-32-bytes!")
            .env_remove("OAUTH_APPS_JWT_MAX_LIFETIME")
            .env_remove("OAUTH_APPS_DEV_DIR")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = mint(&["--sub", "alice", "--ttl", "2d"]);
    assert!(!ok);
    assert!(
        err.contains(
            "--ttl 2days is longer than the server accepts: OAUTH_APPS_JWT_MAX_LIFETIME is 1day"
        ),
        "{err}"
    );
    let (ok, err) = mint(&["--sub", " "]);
    assert!(!ok);
    assert!(err.contains("--sub: the token has no subject"), "{err}");
    let (ok, err) = mint(&["--sub", "alice", "--ttl", "2d", "--jwt-max-lifetime", "0s"]);
    assert!(ok, "no bound, no refusal: {err}");
    assert!(mint(&["--sub", "alice", "--ttl", "24h"]).0);
}

/// The attack review's forged audit line: ids holding a newline and tabs
/// are printed escaped, one record a line; the CLI refuses to store them.
#[tokio::test]
async fn control_characters_never_reach_the_terminal_raw() {
    use diesel_async::RunQueryDsl as _;
    let app = TestApp::spawn().await;
    let url = app.db.url.clone();
    let forged = "mallory\n2026-01-01T00:00:00.000Z\talice\tdelete\tapp_x";
    let (ok, _, err) = oauth_apps(
        &[
            "members", "set", "--org", "acme", "--user", forged, "--role", "member",
        ],
        &url,
    );
    assert!(!ok && err.contains("control characters"), "{err}");
    // Stored some other way (by an older version, by hand): still escaped.
    let mut conn = app.db_conn().await;
    diesel::sql_query(
        "INSERT INTO memberships (organization_id, user_id, role) VALUES ('acme', $1, 'member')",
    )
    .bind::<diesel::sql_types::Text, _>(forged)
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query(
        "INSERT INTO audit_events (organization_id, application_id, actor, action) \
         VALUES ('acme', 'app_1', $1, 'update')",
    )
    .bind::<diesel::sql_types::Text, _>(forged)
    .execute(&mut conn)
    .await
    .unwrap();
    for args in [
        &["members", "list", "--org", "acme"][..],
        &["audit", "--org", "acme"][..],
    ] {
        let (ok, out, err) = oauth_apps(args, &url);
        assert!(ok, "{err}");
        assert_eq!(out.lines().count(), 1, "{args:?}: {out:?}");
        assert!(out.contains("mallory\\n2026"), "{args:?}: {out:?}");
        assert!(!out.contains("\talice\t"), "{args:?}: {out:?}");
    }
}

/// Runs `oauth-apps health ARGS` with `env` (and no OAUTH_APPS_LISTEN or
/// OAUTH_APPS_TLS_CERT but those in `env`), off the test's runtime.
pub async fn health(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_oauth-apps"));
    command
        .arg("health")
        .args(args)
        .env_remove("OAUTH_APPS_LISTEN")
        .env_remove("OAUTH_APPS_TLS_CERT")
        .envs(env.iter().copied());
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The image's HEALTHCHECK: by default it asks where `serve` listens, on
/// loopback when that is 0.0.0.0, and prints the status.
#[tokio::test]
async fn health_is_serving_at_the_listen_address_and_at_addr() {
    let app = TestApp::spawn().await;
    let listen = format!("0.0.0.0:{}", app.addr.port());
    let out = health(&[], &[("OAUTH_APPS_LISTEN", &listen)]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "SERVING\n");

    let addr = app.addr.to_string();
    let out = health(
        &[
            "--addr",
            &addr,
            "--service",
            "oauthapps.v1.OAuthApplications",
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "SERVING\n");

    // A URL as buf curl takes it works too; a scheme that does not fit the
    // connection is refused with what to do.
    let url = format!("http://{addr}/");
    let out = health(&["--addr", &url], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "SERVING\n");
    let url = format!("https://{addr}");
    let out = health(&["--addr", &url], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("a TLS server needs --ca"),
        "{}",
        text(&out.stderr)
    );

    // A service the server does not know is no success.
    let out = health(&["--addr", &addr, "--service", "nope.v1.Nope"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("NotFound"),
        "{}",
        text(&out.stderr)
    );
}

/// Exit 1 with a one-line reason for anything but SERVING: a server that
/// says NOT_SERVING, nothing listening, and a peer that never answers.
#[tokio::test]
async fn health_fails_unless_serving() {
    use tonic_health::ServingStatus;

    // A health service that says NOT_SERVING, as ours does while the
    // database is down.
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let not_serving = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let out = health(&["--addr", &not_serving], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "NOT_SERVING\n");
    assert!(
        text(&out.stderr).contains(&format!("{not_serving} is NOT_SERVING")),
        "{}",
        text(&out.stderr)
    );
    server.abort();

    // Nothing listening: the port of a listener that is gone.
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let out = health(&["--addr", &gone], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("health check of {gone} failed")) && err.contains("refused"),
        "{err}"
    );

    // Accepted by the kernel, never answered: the timeout ends it.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let started = std::time::Instant::now();
    let out = health(&["--addr", &silent_addr, "--timeout", "300ms"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no answer within 300ms"),
        "{}",
        text(&out.stderr)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    drop(silent);
}

/// Shell completions and the manual page come from the command line itself.
#[test]
fn completions_and_the_manual_page_cover_every_command() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_oauth-apps"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let commands = [
        "serve",
        "members",
        "token",
        "dev",
        "health",
        "audit",
        "watch",
        "completions",
        "man",
    ];
    for shell in ["bash", "zsh", "fish"] {
        let script = run(&["completions", shell]);
        for command in commands {
            assert!(script.contains(command), "{shell}: {command} missing");
        }
        assert!(script.contains("owner"), "{shell}: role values missing");
    }
    let page = run(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH oauth-apps"),
        "{page}"
    );
    for command in commands {
        assert!(
            page.contains(&format!("oauth\\-apps\\-{command}")),
            "{command} missing"
        );
    }
    let dir = std::env::temp_dir().join(format!(
        "oauth-apps-man-{}",
        oauth_apps::domain::ids::random_base62(8)
    ));
    run(&["man", "--dir", dir.to_str().unwrap()]);
    let serve = std::fs::read_to_string(dir.join("oauth-apps-serve.1")).unwrap();
    assert!(serve.contains("OAUTH_APPS_JWT_SECRET_FILE"), "{serve}");
    assert!(dir.join("oauth-apps-members-set.1").exists());
    std::fs::remove_dir_all(dir).unwrap();
    let help = run(&["serve", "--help"]);
    assert!(
        help.contains("Settings read from the environment only"),
        "{help}"
    );
}
