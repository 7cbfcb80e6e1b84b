//! `OAUTH_APPS_CORS_ORIGINS`: the browser origins allowed, exact.

/// Exact browser origins (`scheme://host[:port]`), as CORS compares them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origins(pub Vec<String>);

pub(super) fn parse_origins(s: &str) -> Result<Origins, String> {
    let mut origins = Vec::new();
    for origin in s.split_whitespace() {
        let url =
            url::Url::parse(origin).map_err(|e| format!("{origin:?} is not an origin: {e}"))?;
        let exact = url.origin().ascii_serialization();
        if !matches!(url.scheme(), "http" | "https") || exact != origin || origin.contains('*') {
            return Err(format!(
                "{origin:?} is not an exact origin: write scheme://host[:port] with no path or trailing slash (like {exact:?})"
            ));
        }
        origins.push(exact);
    }
    Ok(Origins(origins))
}
