//! Generates the gRPC server and client from `proto/` with no system `protoc`:
//! `protox` parses the files in pure Rust and `tonic-prost-build` generates code
//! from the resulting descriptor set, which is also kept for gRPC reflection.

use std::{env, fs, path::PathBuf};

use protox::prost::Message as _;

const PROTO: &str = "proto/oauthapps/v1/oauth_applications.proto";

/// Messages that carry a client secret, a client assertion or key material
/// (a `jwks` as a caller sent it may hold private keys): their `Debug` is
/// written by hand in `src/api/proto.rs` so that those are redacted.
const SECRET_BEARING: &[&str] = &[
    ".oauthapps.v1.Application",
    ".oauthapps.v1.CreateApplicationRequest",
    ".oauthapps.v1.CreateApplicationResponse",
    ".oauthapps.v1.RotateClientSecretResponse",
    ".oauthapps.v1.VerifyClientCredentialsRequest",
    ".oauthapps.v1.VerifyClientAssertionRequest",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let fds = protox::compile([PROTO], ["proto"])?;
    fs::write(
        out_dir.join("oauthapps_descriptor.bin"),
        fds.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .skip_debug(SECRET_BEARING.iter().copied())
        .compile_fds(fds)?;
    Ok(())
}
