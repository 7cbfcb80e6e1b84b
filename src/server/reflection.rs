//! gRPC reflection, v1 and v1alpha (older grpcurl): our service, health,
//! and the `google.rpc` error details our statuses carry, so that buf curl
//! and grpcurl can decode `BadRequest` and `RetryInfo` without any file of
//! ours.
//!
//! tonic-types ships the `google.rpc` descriptors under bare file names
//! (`error_details.proto`, `status.proto`). Every client knows them by their
//! googleapis paths (`google/rpc/error_details.proto`), and buf curl then
//! prints details as base64 instead of decoding them. So they are served
//! under those paths: the descriptors are renamed here, not copied.

use prost::Message as _;
use prost_types::FileDescriptorSet;

use crate::api::proto::FILE_DESCRIPTOR_SET;

/// The googleapis folder of the `google.rpc` protos.
const GOOGLE_RPC_DIR: &str = "google/rpc/";

use tonic_reflection::server::{v1, v1alpha};

/// The v1 and v1alpha reflection services.
pub fn services() -> anyhow::Result<(
    v1::ServerReflectionServer<impl v1::ServerReflection>,
    v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection>,
)> {
    let error_details = error_details()?;
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_file_descriptor_set(error_details.clone())
    };
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}

/// tonic-types' descriptors of `google.rpc` (and the well-known types they
/// import), with the `google.rpc` files under their googleapis paths.
pub fn error_details() -> anyhow::Result<FileDescriptorSet> {
    let mut set = FileDescriptorSet::decode(tonic_types::pb::FILE_DESCRIPTOR_SET)?;
    let renamed: Vec<String> = set
        .file
        .iter()
        .filter(|f| f.package() == "google.rpc" && !f.name().contains('/'))
        .map(|f| f.name().to_owned())
        .collect();
    let googleapis_path = |name: &str| {
        if renamed.iter().any(|r| r == name) {
            format!("{GOOGLE_RPC_DIR}{name}")
        } else {
            name.to_owned()
        }
    };
    for file in &mut set.file {
        file.name = Some(googleapis_path(file.name()));
        for dependency in &mut file.dependency {
            *dependency = googleapis_path(dependency);
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn error_details_are_served_under_their_googleapis_paths() {
        let set = error_details().unwrap();
        let names: BTreeSet<&str> = set.file.iter().map(|f| f.name()).collect();
        for expected in ["google/rpc/error_details.proto", "google/rpc/status.proto"] {
            assert!(names.contains(expected), "{names:?}");
        }
        for file in &set.file {
            assert!(file.name().contains('/'), "bare file name {}", file.name());
            // Every import resolves within what reflection serves.
            for dependency in &file.dependency {
                assert!(names.contains(dependency.as_str()), "{dependency}");
            }
        }
        let details = set
            .file
            .iter()
            .find(|f| f.name() == "google/rpc/error_details.proto")
            .unwrap();
        let messages: Vec<&str> = details.message_type.iter().map(|m| m.name()).collect();
        assert!(messages.contains(&"BadRequest"), "{messages:?}");
        assert!(messages.contains(&"RetryInfo"), "{messages:?}");
    }
}
