// A client that registers itself with oauth4webapi (npm), as RFC 7591 and
// 7592 have it: a confidential web client and a public native client, each
// registered with a registration token through dynamicClientRegistrationRequest
// and read back through processDynamicClientRegistrationResponse (which
// insists on 201, a string client_id, and a numeric client_secret_expires_at
// beside a client_secret); then the native client's registration access token
// reads (GET, 200) and deletes (DELETE, 204) its registration, after which it
// is refused (401). A refused metadata and a bad token come back as the
// library's own errors.
//
//   OAUTH_APPS_URL=http://127.0.0.1:8080 OAUTH_APPS_REGISTRATION_TOKEN=oarg_... \
//     node examples/dcr/register.mjs
//
// OAUTH4WEBAPI may name the package's entry file (examples/dcr.sh installs
// it outside the repository); otherwise `oauth4webapi` is imported as usual.
import { pathToFileURL } from "node:url";

const oauth = await import(
  process.env.OAUTH4WEBAPI ? pathToFileURL(process.env.OAUTH4WEBAPI).href : "oauth4webapi"
);

const base = process.env.OAUTH_APPS_URL ?? "http://127.0.0.1:8080";
const registrationToken = process.env.OAUTH_APPS_REGISTRATION_TOKEN;
if (!registrationToken) throw new Error("set OAUTH_APPS_REGISTRATION_TOKEN (oarg_...)");

// The authorization server as oauth4webapi sees it: only its issuer and
// registration endpoint matter here. Plain http is for this local run only.
const as = { issuer: base, registration_endpoint: `${base}/oauth2/register` };
const options = { initialAccessToken: registrationToken, [oauth.allowInsecureRequests]: true };

function check(ok, what, detail) {
  if (!ok) {
    throw new Error(`${what}${detail === undefined ? "" : `: ${JSON.stringify(detail)}`}`);
  }
}

async function register(metadata) {
  const response = await oauth.dynamicClientRegistrationRequest(as, metadata, options);
  return oauth.processDynamicClientRegistrationResponse(response);
}

// A confidential web client: a secret that never expires (0).
const web = await register({
  client_name: "oauth4webapi web client",
  application_type: "web",
  redirect_uris: ["https://app.example/callback"],
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
  token_endpoint_auth_method: "client_secret_basic",
  scope: "read:user read:organization",
});
check(typeof web.client_secret === "string" && web.client_secret.length > 0, "web: a client_secret", web);
check(web.client_secret_expires_at === 0, "web: client_secret_expires_at 0", web);
check(web.token_endpoint_auth_method === "client_secret_basic", "web: the method", web);
check(web.scope === "read:user read:organization", "web: the scope", web);
check(typeof web.registration_access_token === "string", "web: a registration_access_token", web);
console.log(`web client (confidential): ${web.client_id}`);
console.log(JSON.stringify(web, (k, v) =>
  ["client_secret", "registration_access_token"].includes(k) ? `${v.slice(0, 6)}...` : v, 2));

// A public native client on a loopback redirect: no secret at all.
const native = await register({
  client_name: "oauth4webapi native client",
  application_type: "native",
  redirect_uris: ["http://127.0.0.1:53682/callback"],
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
  token_endpoint_auth_method: "none",
  scope: "read:user",
});
check(native.client_secret === undefined, "native: no client_secret", native);
check(native.client_secret_expires_at === undefined, "native: no client_secret_expires_at", native);
check(native.application_type === "native", "native: application_type", native);
check(native.token_endpoint_auth_method === "none", "native: the method", native);
console.log(`native client (public): ${native.client_id}`);

// RFC 7592 with the registration access token: read, delete, then refused.
const uri = native.registration_client_uri;
check(uri === `${base}/oauth2/register/${encodeURIComponent(native.client_id)}`, "registration_client_uri", uri);
const bearer = { authorization: `Bearer ${native.registration_access_token}` };
let r = await fetch(uri, { headers: bearer });
const read = await r.json();
check(r.status === 200, `GET ${uri}: 200`, { status: r.status, body: read });
check(read.client_id === native.client_id && read.scope === "read:user", "GET: the registered metadata", read);
console.log(`RFC 7592 GET: ${r.status}`);
r = await fetch(uri, { method: "DELETE", headers: bearer });
check(r.status === 204, `DELETE ${uri}: 204`, { status: r.status, body: await r.text() });
console.log(`RFC 7592 DELETE: ${r.status}`);
r = await fetch(uri, { headers: bearer });
check(r.status === 401, `GET after DELETE: 401`, { status: r.status, body: await r.text() });
check(/invalid_token/.test(r.headers.get("www-authenticate") ?? ""), "GET after DELETE: WWW-Authenticate");
console.log(`RFC 7592 GET after DELETE: ${r.status}`);

// Refusals, as the library reports them: metadata without a scope is
// invalid_client_metadata; a bad registration token is a Bearer challenge.
try {
  await register({ application_type: "native", redirect_uris: ["http://127.0.0.1:53682/callback"] });
  throw new Error("a registration without a scope was accepted");
} catch (e) {
  check(e instanceof oauth.ResponseBodyError && e.error === "invalid_client_metadata",
    "no scope: a ResponseBodyError invalid_client_metadata", { name: e.name, message: e.message, error: e.error });
  console.log(`refused: ${e.error}: ${e.error_description}`);
}
try {
  const response = await oauth.dynamicClientRegistrationRequest(
    as, { scope: "read:user", redirect_uris: ["https://app.example/callback"] },
    { ...options, initialAccessToken: "oarg_not-a-token" });
  await oauth.processDynamicClientRegistrationResponse(response);
  throw new Error("a bad registration token was accepted");
} catch (e) {
  check(e instanceof oauth.WWWAuthenticateChallengeError && e.status === 401
    && e.cause?.[0]?.scheme === "bearer" && e.cause[0].parameters.error === "invalid_token",
    "bad token: a WWWAuthenticateChallengeError invalid_token", { name: e.name, message: e.message, cause: e.cause });
  console.log(`refused: ${e.status} ${e.cause[0].parameters.error}`);
}
