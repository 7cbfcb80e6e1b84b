//! Start-up against a PostgreSQL that refuses: what can never succeed fails
//! at once, with the cause and what to do, and exit code 78; what may pass
//! (nothing listens yet) is retried with host:port named. Secrets come from
//! `_FILE` variables too.

use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};

use crate::common::{JWT_SECRET, admin_url};

fn serve(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_oauth-apps"));
    command
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("OAUTH_APPS_JWT_SECRET", JWT_SECRET)
        .env("OAUTH_APPS_LISTEN", "127.0.0.1:0")
        .env_remove("DATABASE_URL_FILE")
        .env_remove("OAUTH_APPS_JWT_SECRET_FILE")
        .env_remove("OAUTH_APPS_JWKS_FILE")
        .env_remove("OAUTH_APPS_JWKS_URL")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    command
}

/// The admin URL with another user and database.
fn url_as(user: &str, database: &str) -> String {
    let mut url = url::Url::parse(&admin_url()).unwrap();
    url.set_username(user).unwrap();
    url.set_password(None).unwrap();
    url.set_path(&format!("/{database}"));
    url.to_string()
}

/// Runs `serve` to its end: its exit code, stderr, and how long it took.
fn fails(database_url: &str) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let out = serve(database_url).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_role_that_does_not_exist_fails_at_once_naming_it() {
    let (code, err, took) = fails(&url_as("oauth_apps_no_such_role", "oauth_apps_x"));
    assert_eq!(code, Some(78), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}: {err}");
    assert!(
        err.contains("role \"oauth_apps_no_such_role\" does not exist"),
        "{err}"
    );
    assert!(
        err.contains("127.0.0.1:5432") || err.contains("PostgreSQL at"),
        "{err}"
    );
    assert!(!err.contains("retrying"), "{err}");
}

#[tokio::test]
async fn a_database_that_cannot_be_created_fails_at_once_naming_it() {
    let suffix = oauth_apps::domain::ids::random_base62(8).to_lowercase();
    let role = format!("oauth_apps_nocreatedb_{suffix}");
    let mut admin = AsyncPgConnection::establish(&admin_url()).await.unwrap();
    diesel::sql_query(format!("CREATE ROLE {role} LOGIN NOCREATEDB"))
        .execute(&mut admin)
        .await
        .unwrap();
    let database = format!("oauth_apps_missing_{suffix}");
    let (code, err, took) = fails(&url_as(&role, &database));
    diesel::sql_query(format!("DROP ROLE {role}"))
        .execute(&mut admin)
        .await
        .unwrap();
    assert_eq!(code, Some(78), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}: {err}");
    assert!(
        err.contains(&format!(
            "database \"{database}\" does not exist and cannot be created"
        )),
        "{err}"
    );
    assert!(err.contains("CREATEDB"), "{err}");
}

/// Nothing listens at the port: the server may be starting, so `serve`
/// retries, and every retry names host:port and the cause.
#[test]
fn a_refused_connection_is_retried_naming_host_and_port() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = serve(&format!("postgres://postgres@127.0.0.1:{port}/x"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(10));
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    let line = line.expect("a line within 10 s");
    assert!(line.contains("retrying"), "{line}");
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    assert!(line.contains("Connection refused"), "{line}");
    assert!(still_running, "{line}");
}

/// `OAUTH_APPS_JWT_SECRET_FILE` stands for the secret; with the variable
/// too, the command refuses to guess, with exit code 78.
#[test]
fn secrets_come_from_files() {
    let dir = std::env::temp_dir().join(format!(
        "oauth-apps-secret-{}",
        oauth_apps::domain::ids::random_base62(8)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jwt");
    std::fs::write(&file, format!("{JWT_SECRET}\n")).unwrap();
    let token = |both: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_oauth-apps"));
        command
            .args(["token", "--sub", "alice"])
            .env("OAUTH_APPS_JWT_SECRET_FILE", &file)
            .env_remove("OAUTH_APPS_JWT_SECRET")
            .env_remove("OAUTH_APPS_DEV_DIR");
        if both {
            command.env("OAUTH_APPS_JWT_SECRET", JWT_SECRET);
        }
        command.output().unwrap()
    };
    let out = token(false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let minted = String::from_utf8(out.stdout).unwrap();
    let signed = jsonwebtoken::decode::<serde_json::Value>(
        minted.trim(),
        &jsonwebtoken::DecodingKey::from_secret(JWT_SECRET.as_bytes()),
        &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256),
    )
    .expect("signed with the secret of the file");
    assert_eq!(signed.claims["sub"], "alice");
    let out = token(true);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("both OAUTH_APPS_JWT_SECRET and OAUTH_APPS_JWT_SECRET_FILE are set"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
