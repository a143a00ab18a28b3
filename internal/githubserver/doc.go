// Package githubserver is a fake GitHub for tests: a local HTTP server that
// speaks enough of GitHub's REST API for the real go-github client
// (github.com/google/go-github/v60) to run against it unmodified, plus helpers
// that send webhooks the way GitHub does.
//
// # Starting it
//
//	srv := githubserver.New(t) // closed by t.Cleanup
//	base, _ := url.Parse(srv.URL() + "/")
//	gh := github.NewClient(nil).WithAuthToken(githubserver.Token)
//	gh.BaseURL = base
//
// client.WithEnterpriseURLs(srv.URL(), srv.URL()) works as well: the server
// answers under /api/v3 too. Every call needs "Authorization: Bearer TOKEN"
// (or "token TOKEN") with Token, or the token given to WithToken; anything
// else is 401 "Requires authentication" or "Bad credentials". Answers carry
// X-RateLimit-* headers (RateLimit calls an hour, counted for real).
//
// # Repositories
//
//	srv.AddRepo("acme/hello", "main")
//	sha := srv.AddCommit("acme/hello", "main", map[string]string{".gantry.yml": "image: go\n"})
//
// AddCommit adds a commit on top of the branch (a new branch starts from the
// default branch) whose tree is its parent's with the given files written
// over it; Remove deletes a file. SHAs are 40 hex digits. AddTag,
// DeleteBranch, Head, Commit and CloneURL complete the picture; names are
// matched without regard to case, as on GitHub. The server does not serve
// git itself: the clone URLs of these repositories cannot be cloned.
//
// A repository that must really build is backed by git instead:
//
//	srv.AddGitRepo("acme/hello", dir) // dir: a repository made with git
//
// Its branches, tags, commits and files are read from dir (again whenever
// they are looked at, so later commits in dir show up), its SHAs are git's,
// and its clone URL is file://DIR, so `git clone` gets the same commits the
// API reports.
//
// # Endpoints
//
//	GET  /repos/{owner}/{repo}                      RouteGetRepo
//	GET  /repos/{owner}/{repo}/commits/{ref}        RouteGetCommit
//	GET  /repos/{owner}/{repo}/contents/{path}?ref= RouteGetContents
//	POST /repos/{owner}/{repo}/statuses/{sha}       RouteCreateStatus
//	POST /repos/{owner}/{repo}/deployments          RouteCreateDeployment
//	POST /repos/{owner}/{repo}/deployments/{id}/statuses RouteCreateDeploymentStatus
//
// An unknown repository is 404. A ref is a full or abbreviated SHA, a branch
// or a tag (also as refs/heads/NAME or refs/tags/NAME); the commits endpoint
// answers an unknown ref with 422 "No commit found for SHA: REF" and an empty
// repository with 409, as GitHub does. With Accept
// application/vnd.github.v3.sha (go-github's GetCommitSHA1) it answers the
// SHA as plain text with an ETag, and 304 to a matching If-None-Match;
// otherwise the commit as JSON. Contents come base64-encoded in lines of 60
// characters, directories as a listing, files over MaxContentSize with
// encoding "none"; a missing path or ref is 404.
//
// Commit statuses need a known full SHA and a valid state; a description
// over MaxDescription characters is 422, as is status number
// MaxStatusesPerContext+1 for one context. Deployments follow GitHub's rules
// where they matter to a client: auto_merge (default true) of a branch that
// is behind the default branch answers 202 "Auto-merged ..." and creates
// nothing; required_contexts left out means every context of the commit must
// be successful, else 409 (send [] to deploy regardless); environment
// defaults to production, task to deploy. A deployment status needs a valid
// state; a success with auto_inactive (default true) adds an inactive status
// to earlier successful deployments to the same non-production environment.
// Any other path is 404 and logged through the test.
//
// # Inspecting
//
// Calls(routes...) lists every request with its headers, body, status and
// any injected fault; CallCount counts them. Statuses(repo, sha),
// LatestStatus, Deployments(repo) and Deployment(id) (with its Statuses)
// show what a person would see on GitHub. WaitFor(tb, timeout, what, cond)
// re-checks cond on every change and fails with Summary on timeout;
// WaitStatuses is built on it.
//
// # Faults
//
// Each applies to the next n calls of a route (AnyRoute: of every route), in
// the order added, before the token is checked, and does nothing else:
// FailNext answers an HTTP status such as 500 or 502; SecondaryRateLimit
// answers 403 "You have exceeded a secondary rate limit" with Retry-After in
// whole seconds (go-github: *github.AbuseRateLimitError); PrimaryRateLimit
// answers 403 with X-RateLimit-Remaining: 0 and X-RateLimit-Reset (go-github:
// *github.RateLimitError); DropNext closes the connection without answering.
// go-github remembers both rate limits and refuses calls itself until they
// pass, so those calls never reach the server.
//
// # Webhooks
//
//	req := githubserver.SignedRequest(hookURL, secret, "push", "delivery-1",
//		githubserver.PushPayload(srv.PushFor("acme/hello", "main")))
//
// SignedRequest sets X-Hub-Signature-256 (Sign), X-GitHub-Event,
// X-GitHub-Delivery and Content-Type as GitHub does. PushPayload,
// PullRequestPayload and PingPayload build realistic bodies that go-github's
// PushEvent, PullRequestEvent and PingEvent parse.
package githubserver
