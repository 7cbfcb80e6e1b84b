//! `oauth-apps token`: a bearer token signed with the HS256 secret, for
//! development and scripts.

use std::time::Duration;

use clap::Args;
use oauth_apps::{
    auth::{TokenIssuer, token::check_subject},
    config::{DevDirArgs, JwtArgs},
};

#[derive(Args)]
pub struct TokenArgs {
    /// The token's subject (the user id).
    #[arg(long)]
    sub: String,
    /// Space-separated scopes, such as "oauthapps:verify".
    #[arg(long)]
    scope: Option<String>,
    /// Lifetime, such as 15m, 1h or 7d.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    ttl: Duration,
    #[command(flatten)]
    jwt: JwtArgs,
    #[command(flatten)]
    dev: DevDirArgs,
}

/// Prints the token. Without OAUTH_APPS_JWT_SECRET, the secret of the
/// `oauth-apps dev` folder that OAUTH_APPS_DEV_DIR names signs it.
pub fn run(mut args: TokenArgs) -> anyhow::Result<()> {
    let token = mint(
        &mut args.jwt,
        &args.dev,
        &args.sub,
        args.scope.as_deref(),
        args.ttl,
    )?;
    println!("{token}");
    Ok(())
}

/// A token as `token` prints it: signed with OAUTH_APPS_JWT_SECRET, else
/// with the secret of the dev folder.
pub fn mint(
    jwt: &mut JwtArgs,
    dev: &DevDirArgs,
    sub: &str,
    scope: Option<&str>,
    ttl: Duration,
) -> anyhow::Result<String> {
    if let Some(dir) = dev.dir()
        && jwt.jwt_secret.as_deref().is_none_or(str::is_empty)
    {
        jwt.jwt_secret = Some(super::dev::jwt_secret(dir)?);
    }
    // What the server would refuse is refused here, with the reason.
    check_subject(sub).map_err(|e| anyhow::anyhow!("--sub: {e}"))?;
    let max = jwt.jwt_max_lifetime;
    anyhow::ensure!(
        max.is_zero() || ttl <= max,
        "--ttl {} is longer than the server accepts: OAUTH_APPS_JWT_MAX_LIFETIME is {}",
        humantime::format_duration(ttl),
        humantime::format_duration(max)
    );
    let issuer = TokenIssuer::hs256(
        jwt.secret()?,
        jwt.jwt_issuer.as_deref(),
        jwt.jwt_audience.as_deref(),
    );
    Ok(issuer.mint(sub, scope, ttl))
}
