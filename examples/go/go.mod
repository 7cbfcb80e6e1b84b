module github.com/oauth-apps/oauth-apps/examples/go

go 1.19

require (
	github.com/oauth-apps/oauth-apps/gen/go v0.0.0
	google.golang.org/genproto v0.0.0-20200526211855-cb27e3aa2013
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)

// The client generated from proto/: `buf generate` at the repository's root.
replace github.com/oauth-apps/oauth-apps/gen/go => ../../gen/go
