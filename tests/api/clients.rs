//! What the code generators of other languages need from the proto: the
//! file options that place the generated code. protoc-gen-go refuses a file
//! without a Go import path; Java, C#, PHP, Ruby and Objective-C fall back
//! to names derived from the package, which are not the ones we publish.
//! (`.ci/run` also runs the generators: `buf generate` for Go and
//! TypeScript, grpcio-tools for Python.)

use prost::Message as _;
use prost_types::{FileDescriptorProto, FileDescriptorSet};

const PROTO: &str = "oauthapps/v1/oauth_applications.proto";

fn our_file() -> FileDescriptorProto {
    FileDescriptorSet::decode(oauth_apps::proto::FILE_DESCRIPTOR_SET)
        .unwrap()
        .file
        .into_iter()
        .find(|f| f.name() == PROTO)
        .expect("the descriptor set holds the proto")
}

/// Go's reserved words: a package clause cannot use them.
const GO_KEYWORDS: &[&str] = &[
    "break",
    "case",
    "chan",
    "const",
    "continue",
    "default",
    "defer",
    "else",
    "fallthrough",
    "for",
    "func",
    "go",
    "goto",
    "if",
    "import",
    "interface",
    "map",
    "package",
    "range",
    "return",
    "select",
    "struct",
    "switch",
    "type",
    "var",
];

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[test]
fn go_package_is_an_import_path_with_a_package_name() {
    let options = our_file().options.expect("file options");
    let go_package = options.go_package();
    // protoc-gen-go: "IMPORT_PATH;NAME"; the path decides where the code
    // lives and how others import it, the name what they call it.
    let (path, name) = go_package
        .split_once(';')
        .unwrap_or_else(|| panic!("go_package {go_package:?} names no package"));
    let segments: Vec<&str> = path.split('/').collect();
    assert!(
        segments.len() >= 2 && segments[0].contains('.'),
        "{path:?} is not an import path under a domain"
    );
    assert!(
        segments.iter().all(|s| !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))),
        "{path:?} has an empty or odd segment"
    );
    // A major version in the path, as buf and Go modules lay them out.
    assert_eq!(segments.last(), Some(&"v1"), "{path:?}");
    assert!(
        is_identifier(name) && !GO_KEYWORDS.contains(&name) && name.to_lowercase() == name,
        "{name:?} is not a Go package name"
    );
}

#[test]
fn java_csharp_php_ruby_and_objc_options_are_set() {
    let file = our_file();
    let options = file.options.clone().expect("file options");

    // One Java file per message, in a package of dotted identifiers, and an
    // outer class that collides with no message, enum or service (protoc's
    // Java generator refuses one that does).
    assert!(options.java_multiple_files(), "java_multiple_files");
    let java_package = options.java_package();
    assert!(
        java_package.split('.').count() >= 2 && java_package.split('.').all(is_identifier),
        "java_package {java_package:?}"
    );
    let outer = options.java_outer_classname();
    assert!(is_identifier(outer), "java_outer_classname {outer:?}");
    let type_names: Vec<&str> = file
        .message_type
        .iter()
        .map(|m| m.name())
        .chain(file.enum_type.iter().map(|e| e.name()))
        .chain(file.service.iter().map(|s| s.name()))
        .collect();
    assert!(
        !type_names.contains(&outer),
        "java_outer_classname {outer:?} collides with a type"
    );

    let csharp = options.csharp_namespace();
    assert!(
        csharp.split('.').count() >= 2 && csharp.split('.').all(is_identifier),
        "csharp_namespace {csharp:?}"
    );
    let php = options.php_namespace();
    assert!(
        php.split('\\').count() >= 2 && php.split('\\').all(is_identifier),
        "php_namespace {php:?}"
    );
    let ruby = options.ruby_package();
    assert!(
        ruby.split("::").count() >= 2
            && ruby
                .split("::")
                .all(|c| is_identifier(c) && c.starts_with(|c: char| c.is_ascii_uppercase())),
        "ruby_package {ruby:?}"
    );
    // Objective-C: three or more capitals (two-letter prefixes are Apple's).
    let objc = options.objc_class_prefix();
    assert!(
        objc.len() >= 3 && objc.chars().all(|c| c.is_ascii_uppercase()),
        "objc_class_prefix {objc:?}"
    );

    // The same major version everywhere, so v2 can live beside v1.
    for (what, value) in [
        ("java_package", java_package.to_lowercase()),
        ("csharp_namespace", csharp.to_lowercase()),
        ("php_namespace", php.to_lowercase()),
        ("ruby_package", ruby.to_lowercase()),
        ("go_package", options.go_package().to_owned()),
    ] {
        assert!(value.contains("v1"), "{what} {value:?} has no v1");
    }
}
