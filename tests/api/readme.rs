//! The README's walk-through runs as printed: its ` ```sh walkthrough `
//! blocks, in order, as one bash script against the real binary, with buf
//! curl for gRPC and curl for HTTP/JSON. Only the port is changed.

use std::process::Command;

use crate::{common::TestDb, process::ServerProcess, tools};

/// The secret the walk-through exports.
const README_SECRET: &str = "dev-secret-change-me-0123456789abcdef";

fn walkthrough_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match &mut current {
            None if line.trim_end() == "```sh walkthrough" => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    blocks
}

#[tokio::test]
async fn the_readme_walkthrough_runs_as_printed() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let blocks = walkthrough_blocks(&readme);
    assert!(blocks.len() >= 3, "the walk-through's blocks: {blocks:?}");
    assert!(readme.contains(&format!("OAUTH_APPS_JWT_SECRET={README_SECRET}")));
    let Some(buf) = tools::buf() else { return };
    let db = TestDb::new().await;
    let server = ServerProcess::start_command(
        &["serve"],
        &[
            ("DATABASE_URL", &db.url),
            ("OAUTH_APPS_JWT_SECRET", README_SECRET),
        ],
        &[],
    );
    let script = blocks
        .join("\n")
        .replace("127.0.0.1:50051", &server.addr.to_string());
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_oauth-apps"));
    let path = std::env::join_paths(
        [binary.parent().unwrap(), buf.parent().unwrap()]
            .into_iter()
            .map(Into::into)
            .chain(std::env::split_paths(
                &std::env::var_os("PATH").unwrap_or_default(),
            )),
    )
    .unwrap();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-c", &format!("set -euo pipefail\n{script}")])
            .env("PATH", path)
            .env("DATABASE_URL", &db.url)
            .env_remove("OAUTH_APPS_JWT_SECRET")
            .output()
            .expect("bash")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the walk-through failed:\n{stdout}\n{stderr}\nserver:\n{}",
        server.logs()
    );
    // What a reader is told to expect.
    assert!(stdout.contains("refused, as it should be"), "{stdout}");
    assert!(stderr.contains("invalid_argument"), "{stderr}");
    let valid_lines =
        stdout.matches("\"valid\": true").count() + stdout.matches("\"valid\":true").count();
    assert_eq!(valid_lines, 2, "both doors verified:\n{stdout}");
    assert!(stdout.contains("\"valid\": false"), "{stdout}");
    assert!(stdout.contains("\"field\":\"redirectUri\""), "{stdout}");
    assert!(
        stdout.contains("application.rotated") || stdout.contains("rotate"),
        "{stdout}"
    );
    // The client that registered itself was read and deleted.
    assert!(
        stdout.contains("\"client_name\":\"Deploy bot\""),
        "{stdout}"
    );
    assert!(stdout.contains("DELETE: 204"), "{stdout}");
}
