//! `oauth-apps watch`: the real binary against a real server, its stdout
//! read line by line as it prints.

use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use oauth_apps::domain::Role;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::common::{JWT_SECRET, TestApp};

const ORG: &str = "acme";

/// `oauth-apps watch` as a child process.
struct Watcher {
    child: Option<Child>,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Watcher {
    fn start(app: &TestApp, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_oauth-apps"))
            .arg("watch")
            .args(["--addr", &app.addr.to_string()])
            .args(args)
            .env("OAUTH_APPS_JWT_SECRET", JWT_SECRET)
            .env("RUST_LOG", "warn")
            .env_remove("OAUTH_APPS_TOKEN")
            .env_remove("OAUTH_APPS_DEV_DIR")
            .env_remove("OAUTH_APPS_JWT_ISSUER")
            .env_remove("OAUTH_APPS_JWT_AUDIENCE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn oauth-apps watch");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self {
            child: Some(child),
            lines,
        }
    }

    /// The next line, as JSON, within 5 s.
    async fn next_event(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(5), self.lines.recv())
            .await
            .expect("a line within 5 s")
            .expect("a line before the end");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Waits (up to 10 s) for the exit: its status and stderr.
    async fn exit(&mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let waited = tokio::task::spawn_blocking(move || {
            for _ in 0..200 {
                if let Some(status) = child.try_wait().unwrap() {
                    let mut err = String::new();
                    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err)
                        .unwrap();
                    return Some((status, err));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            None
        });
        waited.await.unwrap().expect("exited within 10 s")
    }

    fn signal(&self, name: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let sent = Command::new("kill").args([name, &pid]).status().unwrap();
        assert!(sent.success());
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test]
async fn watch_prints_one_json_line_an_event_and_exits_0_on_ctrl_c() {
    let app = TestApp::spawn().await;
    app.set_member(ORG, "alice", Role::Owner).await;
    let one = app
        .create_app("alice", ORG, "one")
        .await
        .application
        .unwrap();
    let mut watcher = Watcher::start(&app, &["--org", ORG, "--sub", "alice", "--snapshot"]);
    let snapshot = watcher.next_event().await;
    assert_eq!(snapshot["type"], "CHANGE_TYPE_SNAPSHOT");
    assert_eq!(snapshot["application"]["id"], one.id.as_str());
    let end = watcher.next_event().await;
    assert_eq!(end["type"], "CHANGE_TYPE_SNAPSHOT_END");
    let two = app
        .create_app("alice", ORG, "two")
        .await
        .application
        .unwrap();
    let created = watcher.next_event().await;
    assert_eq!(created["type"], "CHANGE_TYPE_CREATED");
    assert_eq!(created["application"]["id"], two.id.as_str());
    assert!(
        created["resumeToken"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    watcher.signal("-INT");
    let (status, err) = watcher.exit().await;
    assert_eq!(status.code(), Some(0), "{err}");
}

#[tokio::test]
async fn watch_exits_non_zero_with_the_error_that_ends_its_stream() {
    let app = TestApp::spawn().await;
    app.set_member(ORG, "bob", Role::Member).await;
    // Every organization's stream, minted for bob: without --org, the
    // minted token carries the watch scope, and the stream starts.
    let mut all = Watcher::start(&app, &["--sub", "bob", "--snapshot"]);
    assert_eq!(all.next_event().await["type"], "CHANGE_TYPE_SNAPSHOT_END");
    drop(all);
    // A token without the scope is refused before the stream.
    let plain = app.token("bob");
    let mut refused = Watcher::start(&app, &["--token", &plain]);
    let (status, err) = refused.exit().await;
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("PermissionDenied"), "{err}");
    // A member removed mid-stream: the error on stderr, a failure.
    let mut bob = Watcher::start(&app, &["--org", ORG, "--sub", "bob", "--snapshot"]);
    assert_eq!(bob.next_event().await["type"], "CHANGE_TYPE_SNAPSHOT_END");
    app.remove_member(ORG, "bob").await;
    let (status, err) = bob.exit().await;
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("the stream ended: PERMISSION_DENIED"), "{err}");
}
