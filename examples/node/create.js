// A Node client of oauth-apps with @grpc/grpc-js: it creates an application,
// then sends a create the service refuses and prints the google.rpc.BadRequest
// field violations the refusal carries. The service is loaded from proto/ at
// run time (@grpc/proto-loader); the google.rpc types come from npm
// google-proto-files, decoded with protobufjs.
//
//   npm install --prefix gen/node @grpc/grpc-js@1 @grpc/proto-loader@0.8 \
//     protobufjs@7 google-proto-files@6
//   OAUTH_APPS_ADDR=127.0.0.1:50051 OAUTH_APPS_ORG=acme \
//   OAUTH_APPS_TOKEN=$(oauth-apps token --sub alice --ttl 1h) \
//   NODE_PATH=gen/node/node_modules node examples/node/create.js
//
// The token's subject must be an OWNER or ADMIN of the organization
// (`oauth-apps members set --org acme --user alice --role owner`).
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const { getProtoPath } = require('google-proto-files');

function env(name) {
  const value = process.env[name];
  if (!value) fail(`set ${name}`);
  return value;
}

function fail(message) {
  console.error(`node example: ${message}`);
  process.exit(1);
}

// The service, from proto/ (keepCase: fields as the proto names them).
const definition = protoLoader.loadSync('oauthapps/v1/oauth_applications.proto', {
  includeDirs: [path.join(__dirname, '..', '..', 'proto')],
  keepCase: true,
  enums: String,
  longs: String,
  defaults: true,
});
const { OAuthApplications } = grpc.loadPackageDefinition(definition).oauthapps.v1;

// google.rpc.Status (what grpc-status-details-bin holds) and BadRequest, with
// fields as the protos name them (type_url, field_violations).
const rpcTypes = new protobuf.Root().loadSync([
  getProtoPath('rpc', 'status.proto'),
  getProtoPath('rpc', 'error_details.proto'),
], { keepCase: true });
const Status = rpcTypes.lookupType('google.rpc.Status');
const BadRequest = rpcTypes.lookupType('google.rpc.BadRequest');

// The BadRequest field violations of a gRPC error, if it carries any.
function fieldViolations(err) {
  const [bytes] = err.metadata ? err.metadata.get('grpc-status-details-bin') : [];
  if (!bytes) return [];
  return Status.decode(bytes).details
    .filter((any) => any.type_url === 'type.googleapis.com/google.rpc.BadRequest')
    .flatMap((any) => BadRequest.decode(any.value).field_violations);
}

function call(client, method, request, metadata) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 20000);
    client[method](request, metadata, { deadline }, (err, response) =>
      err ? reject(err) : resolve(response));
  });
}

async function main() {
  const client = new OAuthApplications(env('OAUTH_APPS_ADDR'), grpc.credentials.createInsecure());
  // Every call names the caller (a bearer token) and the organization.
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${env('OAUTH_APPS_TOKEN')}`);
  metadata.set('x-organization-id', env('OAUTH_APPS_ORG'));

  const created = await call(client, 'CreateApplication', {
    name: `Billing (Node) ${Date.now()}`,
    type: 'APPLICATION_TYPE_WEB',
    redirect_uris: ['https://billing.example.com/callback'],
    scopes: ['read:user'],
  }, metadata);
  const app = created.application;
  console.log(`created ${app.id}, client_id ${app.client_id}, ` +
    `secret shown once (${created.client_secret.length} characters)`);

  // A blank name and two redirect URIs the service refuses: one
  // INVALID_ARGUMENT listing every violation.
  let refusal;
  try {
    await call(client, 'CreateApplication', {
      name: ' ',
      redirect_uris: ['http://evil.example/cb', 'javascript:alert(1)'],
      scopes: ['read:user'],
    }, metadata);
  } catch (err) {
    refusal = err;
  }
  if (!refusal || refusal.code !== grpc.status.INVALID_ARGUMENT) {
    fail(`the bad create was not refused with INVALID_ARGUMENT: ${refusal}`);
  }
  console.log(`refused: INVALID_ARGUMENT: ${refusal.details}`);
  const violations = fieldViolations(refusal);
  for (const v of violations) console.log(`  ${v.field}: ${v.description}`);
  if (violations.length < 3) {
    fail(`expected a BadRequest with 3 field violations, got ${violations.length}`);
  }
  client.close();
}

main().catch((err) => fail(err.stack || String(err)));
