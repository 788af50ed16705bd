// Package github talks to GitHub for Corral: it parses a pool's scope URL, loads GitHub App
// or token credentials from Secrets, mints and caches installation tokens (through
// ghinstallation), registers just-in-time runners, lists and deletes runner registrations
// (through go-github), and maps GitHub's answers to errors the controller acts on.
//
// Permissions each scope needs (see docs/github.md):
//
//   - Repository (https://github.com/OWNER/REPO): a GitHub App with the repository
//     permission "Administration: Read and write" (administration=write), installed on the
//     repository; or a fine-grained token with the same permission, or a classic token with
//     the repo scope.
//   - Organization (https://github.com/ORG): a GitHub App with the organization permission
//     "Self-hosted runners: Read and write" (organization_self_hosted_runners=write),
//     installed on the organization; or a classic token with admin:org.
//   - Enterprise (https://github.com/enterprises/NAME): GitHub App installation tokens are
//     refused by the enterprise runner endpoints; use a personal access token (classic) of
//     an enterprise owner with the manage_runners:enterprise scope.
//
// Every HTTP request goes through an instrumented transport (metrics per endpoint and
// status, rate-limit remaining per credential, token mints, response-size cap). Tokens,
// JWTs, private keys and JIT configurations never reach a log line or an error message.
package github
