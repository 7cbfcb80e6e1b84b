// A Go client of oauth-apps, generated from proto/ by `buf generate`: it
// creates an application, then sends a create the service refuses and
// prints the google.rpc.BadRequest field violations the refusal carries.
//
//	OAUTH_APPS_ADDR=127.0.0.1:50051 OAUTH_APPS_ORG=acme \
//	OAUTH_APPS_TOKEN=$(oauth-apps token --sub alice --ttl 1h) go run .
//
// The token's subject must be an OWNER or ADMIN of the organization
// (`oauth-apps members set --org acme --user alice --role owner`). See
// README, "Clients in other languages", for building it (examples/clients.sh
// does it in CI with Debian's packages, offline).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	oauthappsv1 "github.com/oauth-apps/oauth-apps/gen/go/oauthapps/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func env(name string) string {
	value := os.Getenv(name)
	if value == "" {
		fail("set %s", name)
	}
	return value
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go example: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Plaintext, as the service listens without TLS by default. (grpc-go
	// 1.34 and later also have grpc.WithTransportCredentials(insecure.NewCredentials()).)
	conn, err := grpc.DialContext(ctx, env("OAUTH_APPS_ADDR"), grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		fail("connect: %v", err)
	}
	defer conn.Close()
	client := oauthappsv1.NewOAuthApplicationsClient(conn)
	// Every call names the caller (a bearer token) and the organization.
	ctx = metadata.AppendToOutgoingContext(ctx,
		"authorization", "Bearer "+env("OAUTH_APPS_TOKEN"),
		"x-organization-id", env("OAUTH_APPS_ORG"))

	created, err := client.CreateApplication(ctx, &oauthappsv1.CreateApplicationRequest{
		Name:         fmt.Sprintf("Billing (Go) %d", time.Now().UnixNano()),
		Type:         oauthappsv1.ApplicationType_APPLICATION_TYPE_WEB,
		RedirectUris: []string{"https://billing.example.com/callback"},
		Scopes:       []string{"read:user"},
	})
	if err != nil {
		fail("create: %v", err)
	}
	app := created.GetApplication()
	fmt.Printf("created %s, client_id %s, secret shown once (%d characters)\n",
		app.GetId(), app.GetClientId(), len(created.GetClientSecret()))

	// A blank name and two redirect URIs the service refuses: one
	// INVALID_ARGUMENT listing every violation.
	_, err = client.CreateApplication(ctx, &oauthappsv1.CreateApplicationRequest{
		Name:         " ",
		RedirectUris: []string{"http://evil.example/cb", "javascript:alert(1)"},
		Scopes:       []string{"read:user"},
	})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		fail("the bad create was not refused with INVALID_ARGUMENT: %v", err)
	}
	fmt.Printf("refused: %s: %s\n", st.Code(), st.Message())
	violations := 0
	for _, detail := range st.Details() {
		if badRequest, ok := detail.(*errdetails.BadRequest); ok {
			for _, v := range badRequest.GetFieldViolations() {
				fmt.Printf("  %s: %s\n", v.GetField(), v.GetDescription())
				violations++
			}
		}
	}
	if violations < 3 {
		fail("expected a BadRequest with 3 field violations, got %d", violations)
	}
}
