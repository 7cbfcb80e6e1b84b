//! The settings of clients that register themselves (RFC 7591/7592).

use clap::Args;

/// How clients register themselves.
#[derive(Args, Clone, Debug)]
pub struct RegistrationArgs {
    /// This service's public base URL (such as `https://apps.example.com`):
    /// RFC 7591's `registration_client_uri` is it plus
    /// `/oauth2/register/{client_id}`. Unset: the request's own host.
    #[arg(long, env = "OAUTH_APPS_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// Open dynamic client registration (RFC 7591 with no registration
    /// token) lands in this organization; unset: off, every registration
    /// needs a token.
    #[arg(long, env = "OAUTH_APPS_OPEN_REGISTRATION_ORG", value_parser = parse_org)]
    pub open_registration_org: Option<String>,

    /// Open registrations per source address (an IPv6 /64) per hour; 0
    /// turns the limit off.
    #[arg(
        long,
        env = "OAUTH_APPS_OPEN_REGISTRATIONS_PER_HOUR",
        default_value_t = 20
    )]
    pub open_registrations_per_hour: u32,

    /// Live, dynamically registered applications the open-registration
    /// organization may hold; further open registrations are refused (429).
    #[arg(long, env = "OAUTH_APPS_MAX_DYNAMIC_APPS", default_value_t = 10000)]
    pub max_dynamic_apps: u32,
}

/// An http(s) base URL with no query, fragment or user info; its trailing
/// slash dropped.
fn parse_public_url(s: &str) -> Result<String, String> {
    let url = url::Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !plain {
        return Err(format!(
            "{s:?} must be an http(s) base URL with no query, fragment or user info, such as https://apps.example.com"
        ));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// An organization id as the service takes them: 1 to 128 characters, no
/// control characters.
fn parse_org(s: &str) -> Result<String, String> {
    let ok = !s.is_empty() && s.len() <= 128 && !s.chars().any(char::is_control);
    ok.then(|| s.to_owned()).ok_or_else(|| {
        format!("{s:?} is not an organization id (1 to 128 characters, no control characters)")
    })
}
