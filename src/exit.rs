//! How the process ends when its configuration cannot work: an error type
//! any module may return, and the exit code `main` gives it. A leaf module,
//! so that configuration, telemetry and the server can all use it.

/// The exit code of a configuration that cannot work (EX_CONFIG of
/// sysexits.h): distinct from 1 (a failure a restart may mend) and from 2
/// (a command line or variable clap refused), so a supervisor can tell
/// that restarting will not help.
pub const EXIT_MISCONFIGURED: u8 = 78;

/// A setting that cannot work as given (a file that cannot be read, a
/// certificate that does not match its key, two sources for one secret):
/// the process exits with [`EXIT_MISCONFIGURED`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Misconfigured(pub String);

/// Reads the file a setting names; a failure names the setting.
pub fn read_setting_file(setting: &str, path: &std::path::Path) -> Result<Vec<u8>, Misconfigured> {
    std::fs::read(path)
        .map_err(|e| Misconfigured(format!("cannot read {setting} {}: {e}", path.display())))
}
