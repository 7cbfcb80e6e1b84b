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
    ".oauthapps.v1.CreateRegistrationTokenResponse",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let fds = protox::compile([PROTO], ["proto"])?;
    fs::write(
        out_dir.join("oauthapps_descriptor.bin"),
        fds.encode_to_vec(),
    )?;
    let descriptor_bytes = fds.encode_to_vec();
    // The well-known types come from pbjson-types: the same messages as
    // prost-types, with the proto3 JSON mapping (RFC 3339 timestamps,
    // "3600s" durations, a FieldMask as one string) the HTTP door needs.
    tonic_prost_build::configure()
        .skip_debug(SECRET_BEARING.iter().copied())
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(fds)?;
    // serde impls of the proto3 JSON mapping: lowerCamelCase out, both
    // spellings in, enums by name, every field emitted, and an unknown field
    // an error (a caller's misspelt field must not vanish).
    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .emit_fields()
        .build(&[".oauthapps"])?;
    Ok(())
}
