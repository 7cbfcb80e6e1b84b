//! `oauth-apps dev`: a private, durable cluster, a demo org and a token.

use diesel_async::AsyncConnection as _;
use oauth_apps::proto::{OAuthApplicationsClient, v1 as pb};

use crate::{common::web_app, common::with_auth, process::ServerProcess};

fn start_dev(dir: &std::path::Path) -> (ServerProcess, String) {
    start_dev_with(dir, &[])
}

fn start_dev_with(dir: &std::path::Path, env: &[(&str, &str)]) -> (ServerProcess, String) {
    let server = ServerProcess::start_command(&["dev", "--dir", dir.to_str().unwrap()], &[], env);
    let token = server.wait_for_line("export TOKEN=");
    (server, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_runs_a_private_cluster_that_survives_restarts() {
    let root = std::env::temp_dir().join(format!(
        "oauth-apps-dev-{}",
        oauth_apps::domain::ids::random_base62(8)
    ));
    std::fs::create_dir_all(&root).unwrap();
    let _ = std::process::Command::new("chmod")
        .arg("755")
        .arg(&root)
        .status();
    let dir = root.join("project/.oauth-apps-dev");

    let (mut first, token) = start_dev(&dir);
    let mut c = OAuthApplicationsClient::connect(first.url()).await.unwrap();
    let created = c
        .create_application(with_auth(
            web_app("Made in dev"),
            Some(&token),
            Some("demo"),
        ))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!(created.created_by, "demo-owner");
    let banner = first.logs();
    assert!(
        banner.contains("buf curl") && banner.contains("grpcurl"),
        "{banner}"
    );
    // Other local users cannot walk in: the cluster wants its password.
    let port = std::fs::read_to_string(dir.join("port")).unwrap();
    let anonymous = diesel_async::AsyncPgConnection::establish(&format!(
        "postgres://postgres@127.0.0.1:{}/oauth_apps",
        port.trim()
    ))
    .await;
    assert!(anonymous.is_err(), "connected without a password");
    assert!(
        !banner.contains(&std::fs::read_to_string(dir.join("pg-password")).unwrap()),
        "password printed"
    );
    // The banner's environment drives the other commands against this
    // cluster, with no DATABASE_URL or token secret of their own.
    let dev_dir = first.wait_for_line("export OAUTH_APPS_DEV_DIR=");
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauth-apps"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("OAUTH_APPS_DEV_DIR", &dev_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    cli(&[
        "members", "set", "--org", "demo", "--user", "alice", "--role", "admin",
    ]);
    let alice = cli(&["token", "--sub", "alice"]);
    let listed = c
        .list_applications(with_auth(
            pb::ListApplicationsRequest::default(),
            Some(alice.trim()),
            Some("demo"),
        ))
        .await
        .expect("a token from `oauth-apps token` works against dev");
    assert_eq!(listed.into_inner().applications.len(), 1);
    let audit = cli(&["audit", "--org", "demo"]);
    assert!(audit.contains("demo-owner\tcreate"), "{audit}");
    let first_name = banner_app_name(&banner);
    assert!(first.terminate().success(), "{}", first.logs());
    drop(c);
    // Its PostgreSQL stopped with it, and the commands say so.
    assert!(!cluster_answers(&port).await, "PostgreSQL outlived SIGTERM");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauth-apps"))
        .args(["members", "list", "--org", "demo"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("OAUTH_APPS_DEV_DIR", &dev_dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the dev server is not running; start `oauth-apps dev`"),
        "{err}"
    );

    // The second run reuses the cluster (and its data) and the token secret.
    let (mut second, token2) = start_dev(&dir);
    assert!(!second.logs().contains("creating a PostgreSQL cluster"));
    let mut c = OAuthApplicationsClient::connect(second.url())
        .await
        .unwrap();
    let list = c
        .list_applications(with_auth(
            pb::ListApplicationsRequest::default(),
            Some(&token),
            Some("demo"),
        ))
        .await
        .expect("the first run's token still works")
        .into_inner();
    assert_eq!(list.applications, vec![created]);
    assert!(!token2.is_empty());
    // The ready-made create of the second banner names a new app.
    assert_ne!(banner_app_name(&second.logs()), first_name);
    // A closed terminal (SIGHUP) stops its PostgreSQL too.
    assert!(second.signal("HUP").success(), "{}", second.logs());
    assert!(!cluster_answers(&port).await, "PostgreSQL outlived SIGHUP");

    // A run killed outright leaves its PostgreSQL behind; the next run
    // finds that stale server, stops it, and owns the one it starts.
    let (mut third, _) = start_dev(&dir);
    assert!(!third.signal("KILL").success());
    assert!(
        cluster_answers(&port).await,
        "SIGKILL cannot stop PostgreSQL"
    );
    let (mut fourth, _) = start_dev(&dir);
    assert!(
        fourth
            .logs()
            .contains("stopping the PostgreSQL an earlier `oauth-apps dev` left running"),
        "{}",
        fourth.logs()
    );
    assert!(fourth.terminate().success());
    assert!(
        !cluster_answers(&port).await,
        "the stale PostgreSQL was kept"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// Whether anything listens on the dev cluster's port.
async fn cluster_answers(port: &str) -> bool {
    tokio::net::TcpStream::connect(format!("127.0.0.1:{}", port.trim()))
        .await
        .is_ok()
}

/// The app name in a banner's ready-made CreateApplication.
fn banner_app_name(banner: &str) -> String {
    let start = banner.find(r#"{"name": ""#).expect("create command") + 10;
    banner[start..].split('"').next().unwrap().to_owned()
}
