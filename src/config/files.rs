//! What configuration reads from files, and how a configuration error ends
//! the process: the `_FILE` variables of secrets, the files settings name,
//! and the exit code that tells a supervisor a restart will not help.

pub use crate::exit::{EXIT_MISCONFIGURED, Misconfigured, read_setting_file};

/// The secrets that may come from a file instead, as containers pass them
/// (Docker and Kubernetes secrets): `NAME_FILE` names a file whose contents,
/// less a final newline, are the value of `NAME`.
pub const FILE_VARIABLES: [&str; 2] = ["DATABASE_URL", "OAUTH_APPS_JWT_SECRET"];

/// The values of [`FILE_VARIABLES`] given as `NAME_FILE`, read, for the
/// process to set as `NAME` before its settings are parsed. `var` reads
/// the environment. Both `NAME` and `NAME_FILE` set is an error: which one
/// wins would be a guess.
pub fn secrets_from_files(
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Vec<(&'static str, String)>, Misconfigured> {
    let mut found = Vec::new();
    for name in FILE_VARIABLES {
        let file_var = format!("{name}_FILE");
        let Some(path) = var(&file_var).filter(|p| !p.is_empty()) else {
            continue;
        };
        if var(name).is_some() {
            return Err(Misconfigured(format!(
                "both {name} and {file_var} are set: set one of them"
            )));
        }
        let bytes = read_setting_file(&file_var, std::path::Path::new(&path))?;
        let value = String::from_utf8(bytes)
            .map_err(|_| Misconfigured(format!("{file_var} {path:?} is not UTF-8 text")))?;
        let value = value.strip_suffix('\n').unwrap_or(&value);
        let value = value.strip_suffix('\r').unwrap_or(value);
        found.push((name, value.to_owned()));
    }
    Ok(found)
}

/// What `serve --help` adds after its flags: the settings that have no
/// flag, and the exit codes.
pub const SERVE_AFTER_HELP: &str = "\
Settings read from the environment only (no flag):
  OAUTH_APPS_JWT_SECRET         HS256 key of bearer tokens, at least 32 bytes
                                (a flag would show in the process list)
  OAUTH_APPS_JWT_SECRET_FILE    a file holding OAUTH_APPS_JWT_SECRET
  DATABASE_URL_FILE             a file holding DATABASE_URL
  OTEL_EXPORTER_OTLP_ENDPOINT   OpenTelemetry over OTLP/gRPC (http:// or https://);
                                unset: nothing exported. Other OTEL_* as usual
  RUST_LOG                      log filter of our own code (default: info)

Exit codes: 0 stopped by SIGTERM/SIGINT; 78 a configuration error no restart
mends (an unreadable file, a refused database login, ...); 2 a flag or
variable refused; 1 anything else.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_files_but_not_from_both() {
        let dir = std::env::temp_dir().join(format!("oauth-apps-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("url");
        std::fs::write(&file, "postgres://u:p@db/x\n").unwrap();
        let env = |pairs: &[(&str, &std::ffi::OsStr)]| {
            let pairs: Vec<(String, std::ffi::OsString)> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            }
        };
        let read = secrets_from_files(env(&[("DATABASE_URL_FILE", file.as_os_str())])).unwrap();
        assert_eq!(read, [("DATABASE_URL", "postgres://u:p@db/x".to_owned())]);
        let both = secrets_from_files(env(&[
            ("DATABASE_URL_FILE", file.as_os_str()),
            ("DATABASE_URL", "postgres://x".as_ref()),
        ]))
        .unwrap_err();
        assert_eq!(
            both.to_string(),
            "both DATABASE_URL and DATABASE_URL_FILE are set: set one of them"
        );
        let missing = secrets_from_files(env(&[(
            "OAUTH_APPS_JWT_SECRET_FILE",
            "/nonexistent/secret".as_ref(),
        )]))
        .unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("cannot read OAUTH_APPS_JWT_SECRET_FILE /nonexistent/secret: "),
            "{missing}"
        );
        assert!(secrets_from_files(env(&[])).unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
