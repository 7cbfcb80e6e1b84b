//! Database and other URLs as they may be shown: without their password.

/// The URL with any password replaced, for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    // A password may also come as a query parameter (`?password=`).
    if url
        .split_once('?')
        .is_some_and(|(_, q)| q.contains("password"))
    {
        return "<URL with a password parameter>".to_owned();
    }
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => redact_multi_host(url).unwrap_or_else(|| "<unparseable URL>".to_owned()),
    }
}

/// A URL the `url` crate cannot read, such as PostgreSQL's several hosts
/// (`postgres://u:pw@h1:5432,h2:5433/db`), with its password replaced.
fn redact_multi_host(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let secret = if userinfo.contains(':') {
                ":redacted"
            } else {
                ""
            };
            Some(format!("{scheme}://{user}{secret}@{hosts}{tail}"))
        }
        None => Some(url.to_owned()),
    }
}
