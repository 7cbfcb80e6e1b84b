// The generated Go client (buf generate writes gen/go/oauthapps/v1; this
// file is the only one under gen/ that is committed). Use it from another
// module with:
//
//	require github.com/oauth-apps/oauth-apps/gen/go v0.0.0
//	replace github.com/oauth-apps/oauth-apps/gen/go => ./path/to/oauth-apps/gen/go
//
// The versions are those the generated code was built with (Debian 12's
// packages, with protoc-gen-go 1.28 and protoc-gen-go-grpc 1.33). Code from
// newer plugins needs newer libraries, which your module requires (newer
// protoc-gen-go-grpc output: grpc 1.64 or later).
module github.com/oauth-apps/oauth-apps/gen/go

go 1.19

require (
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)
