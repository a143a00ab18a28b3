package scm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"
)

// DefaultStatusContext is the context of gantry's commit statuses unless a
// CommitStatus names another.
const DefaultStatusContext = "gantry/build"

// maxDescription is the longest description GitHub accepts on a commit or
// deployment status, in characters.
const maxDescription = 140

const (
	// maxWait is the longest gantry waits for a rate limit to pass before
	// it gives up on a call.
	maxWait = time.Minute
	// maxBackoff caps the exponential backoff between retries.
	maxBackoff = 30 * time.Second
)

// GitHubConfig configures a GitHub client. Zero values are sensible.
type GitHubConfig struct {
	Token      string           // required: a token that may read contents and write statuses and deployments
	APIURL     string           // API base URL; "" is GitHub's own, Enterprise is https://HOST/api/v3
	HTTPClient *http.Client     // nil: a client with a 30 s timeout
	Logger     *slog.Logger     // nil: logs are dropped
	Now        func() time.Time // nil: time.Now; decides how long a rate limit lasts
	MaxRetries int              // retries after the first attempt of a call; 0 means 4, negative none
	RetryBase  time.Duration    // first backoff, doubling each retry; 0 means 500 ms
	// ReadFailed, when set, is told of every read (a repository, a ref, a
	// file, a comparison) that failed after its retries, by kind of call.
	// Writes are counted by the Reporter that sends them.
	ReadFailed func(call string)
}

// GitHub reads repositories on GitHub and reports statuses and deployments
// to it, through go-github. Every call retries what may mend by itself
// (5xx answers, network errors, rate limits that pass within a minute) and
// respects its context. Errors that retrying cannot mend satisfy
// errors.Is(err, jobs.ErrPermanent); those people should read carry a
// *jobs.UserError.
type GitHub struct {
	api        *github.Client
	log        *slog.Logger
	now        func() time.Time
	maxRetries int
	retryBase  time.Duration
	readFailed func(call string)
}

// NewGitHub returns a client for cfg.
func NewGitHub(cfg GitHubConfig) (*GitHub, error) {
	token := strings.TrimSpace(cfg.Token)
	if token == "" {
		return nil, errors.New("GitHub token is empty")
	}
	if strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, errors.New("GitHub token contains spaces or control characters")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	api := github.NewClient(hc).WithAuthToken(token)
	api.UserAgent = "gantry (go-github/" + github.Version + ")"
	if cfg.APIURL != "" {
		u, err := url.Parse(cfg.APIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("GitHub API URL %q is not an http(s) URL", cfg.APIURL)
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		api.BaseURL, api.UploadURL = u, u
	}
	g := &GitHub{api: api, log: cfg.Logger, now: cfg.Now, maxRetries: cfg.MaxRetries, retryBase: cfg.RetryBase, readFailed: cfg.ReadFailed}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	switch {
	case g.maxRetries == 0:
		g.maxRetries = 4
	case g.maxRetries < 0:
		g.maxRetries = 0
	}
	if g.retryBase <= 0 {
		g.retryBase = 500 * time.Millisecond
	}
	return g, nil
}

// Resolve finds the commit ref names in repo ("owner/name"); "" is the
// repository's default branch. It returns the commit's SHA, the URL to clone
// the repository from, and its default branch.
func (g *GitHub) Resolve(ctx context.Context, repo, ref string) (sha, cloneURL, defaultBranch string, err error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", "", "", err
	}
	if ref != "" && !validRef(ref) {
		return "", "", "", jobs.Permanent(jobs.Userf("%q is not a valid branch, tag or commit name", ref))
	}
	var r *github.Repository
	err = g.read(ctx, "get_repository", "read repository "+repo, func(ctx context.Context) (resp *github.Response, err error) {
		r, resp, err = g.api.Repositories.Get(ctx, owner, name)
		return resp, err
	})
	if err != nil {
		if httpStatus(err) == http.StatusNotFound {
			return "", "", "", jobs.Permanent(jobs.Userf("GitHub has no repository %s, or gantry's token may not read it", repo))
		}
		return "", "", "", err
	}
	cloneURL, defaultBranch = r.GetCloneURL(), r.GetDefaultBranch()
	if ref == "" {
		if defaultBranch == "" {
			return "", "", "", jobs.Permanent(fmt.Errorf("GitHub reports no default branch for %s", repo))
		}
		ref = defaultBranch
	}
	var out string
	err = g.read(ctx, "get_commit", fmt.Sprintf("resolve %s@%s", repo, ref), func(ctx context.Context) (resp *github.Response, err error) {
		out, resp, err = g.api.Repositories.GetCommitSHA1(ctx, owner, name, ref, "")
		return resp, err
	})
	switch httpStatus(err) {
	case 0:
	case http.StatusNotFound, http.StatusUnprocessableEntity:
		return "", "", "", jobs.Permanent(jobs.Userf("%s has no branch, tag or commit called %q", repo, ref))
	case http.StatusConflict:
		return "", "", "", jobs.Permanent(jobs.Userf("%s is empty: it has no commits yet", repo))
	}
	if err != nil {
		return "", "", "", err
	}
	sha = strings.ToLower(strings.TrimSpace(out))
	if !isSHA(sha) {
		return "", "", "", fmt.Errorf("resolve %s@%s: GitHub answered %q, not a commit SHA", repo, ref, cut(out, 80))
	}
	return sha, cloneURL, defaultBranch, nil
}

// CommitMessage returns the message of repo's commit sha.
func (g *GitHub) CommitMessage(ctx context.Context, repo, sha string) (string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	var c *github.RepositoryCommit
	err = g.read(ctx, "get_commit", fmt.Sprintf("read commit %s of %s", sha, repo), func(ctx context.Context) (resp *github.Response, err error) {
		c, resp, err = g.api.Repositories.GetCommit(ctx, owner, name, sha, nil)
		return resp, err
	})
	if err != nil {
		return "", err
	}
	return c.GetCommit().GetMessage(), nil
}

// ReadFile returns the file at path in repo's commit sha. A file larger
// than spec.MaxFileSize is refused by the size GitHub reports, before its
// content is decoded.
func (g *GitHub) ReadFile(ctx context.Context, repo, sha, path string) ([]byte, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	path = strings.Trim(path, "/")
	if path == "" || strings.Contains(path, "..") {
		return nil, jobs.Permanent(fmt.Errorf("read %q from %s: not a usable file path", path, repo))
	}
	if sha == "" {
		return nil, jobs.Permanent(fmt.Errorf("read %s from %s: no commit given", path, repo))
	}
	var (
		file *github.RepositoryContent
		dir  []*github.RepositoryContent
	)
	err = g.read(ctx, "get_contents", fmt.Sprintf("read %s from %s at %s", path, repo, short(sha)), func(ctx context.Context) (resp *github.Response, err error) {
		file, dir, resp, err = g.api.Repositories.GetContents(ctx, owner, name, path, &github.RepositoryContentGetOptions{Ref: sha})
		return resp, err
	})
	if httpStatus(err) == http.StatusNotFound {
		return nil, jobs.Permanent(jobs.Userf("%s has no %s at %s", repo, path, short(sha)))
	}
	if err != nil {
		return nil, err
	}
	switch {
	case file == nil && dir != nil:
		return nil, jobs.Permanent(jobs.Userf("%s in %s at %s is a directory, not a file", path, repo, short(sha)))
	case file == nil:
		return nil, fmt.Errorf("read %s from %s at %s: GitHub answered no content", path, repo, short(sha))
	case file.GetType() != "" && file.GetType() != "file":
		return nil, jobs.Permanent(jobs.Userf("%s in %s at %s is a %s, not a file", path, repo, short(sha), file.GetType()))
	case int64(file.GetSize()) > spec.MaxFileSize:
		return nil, jobs.Permanent(tooLarge(fmt.Sprintf("%s in %s at %s", path, repo, short(sha)), int64(file.GetSize())))
	case file.GetEncoding() == "none":
		return nil, jobs.Permanent(jobs.Userf("%s in %s at %s is too large (%d bytes) to read through the GitHub API", path, repo, short(sha), file.GetSize()))
	}
	content, err := file.GetContent()
	if err != nil {
		return nil, fmt.Errorf("read %s from %s at %s: %w", path, repo, short(sha), err)
	}
	return []byte(content), nil
}

// CommitStatus is one status of a commit, as GitHub shows it next to the
// commit and in pull requests.
type CommitStatus struct {
	State       string // pending, success, failure or error
	TargetURL   string // where "Details" links to; may be empty
	Description string // cut to 140 characters
	Context     string // default DefaultStatusContext
}

var commitStates = []string{"pending", "success", "failure", "error"}

// SetStatus sets a status on commit sha of repo.
func (g *GitHub) SetStatus(ctx context.Context, repo, sha string, st CommitStatus) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	if !slices.Contains(commitStates, st.State) {
		return jobs.Permanent(fmt.Errorf("commit status state %q: want one of %s", st.State, strings.Join(commitStates, ", ")))
	}
	if !isSHA(sha) {
		return jobs.Permanent(fmt.Errorf("set status on %s: %q is not a commit SHA", repo, sha))
	}
	if st.Context == "" {
		st.Context = DefaultStatusContext
	}
	status := &github.RepoStatus{
		State: &st.State, Context: &st.Context, TargetURL: optional(st.TargetURL),
		Description: github.String(cut(st.Description, maxDescription)),
	}
	return g.do(ctx, fmt.Sprintf("set status %s=%s on %s@%s", st.Context, st.State, repo, short(sha)), func(ctx context.Context) (*github.Response, error) {
		_, resp, err := g.api.Repositories.CreateStatus(ctx, owner, name, sha, status)
		return resp, err
	})
}

// CreateDeployment records on GitHub that commit sha of repo is being
// deployed to env, and returns the deployment's id. It asks GitHub neither
// to merge the default branch first nor to check commit statuses: gantry
// decides what may be deployed.
//
// A retried call whose first attempt reached GitHub but whose answer was
// lost creates a second deployment; GitHub offers no way to make it
// idempotent.
func (g *GitHub) CreateDeployment(ctx context.Context, repo, sha, env, description string) (int64, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return 0, err
	}
	if env == "" {
		return 0, jobs.Permanent(fmt.Errorf("create deployment of %s: no environment given", repo))
	}
	if !isSHA(sha) {
		return 0, jobs.Permanent(fmt.Errorf("create deployment of %s: %q is not a commit SHA", repo, sha))
	}
	req := &github.DeploymentRequest{
		Ref: &sha, Task: github.String("deploy"), Environment: &env,
		AutoMerge: github.Bool(false), RequiredContexts: &[]string{},
		Description: github.String(cut(description, maxDescription)),
	}
	var d *github.Deployment
	err = g.do(ctx, fmt.Sprintf("create deployment of %s@%s to %s", repo, short(sha), env), func(ctx context.Context) (resp *github.Response, err error) {
		d, resp, err = g.api.Repositories.CreateDeployment(ctx, owner, name, req)
		return resp, err
	})
	if err != nil {
		return 0, err
	}
	if d.GetID() == 0 {
		return 0, fmt.Errorf("create deployment of %s@%s to %s: GitHub answered no deployment id", repo, short(sha), env)
	}
	return d.GetID(), nil
}

var deploymentStates = []string{"in_progress", "queued", "pending", "success", "failure", "error", "inactive"}

// SetDeploymentStatus adds a status to deployment id of repo: in_progress,
// queued, pending, success, failure, error or inactive. logURL links to the
// job's log.
func (g *GitHub) SetDeploymentStatus(ctx context.Context, repo string, id int64, state, logURL, description string) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	if !slices.Contains(deploymentStates, state) {
		return jobs.Permanent(fmt.Errorf("deployment status state %q: want one of %s", state, strings.Join(deploymentStates, ", ")))
	}
	req := &github.DeploymentStatusRequest{
		State: &state, LogURL: optional(logURL), Description: github.String(cut(description, maxDescription)),
	}
	return g.do(ctx, fmt.Sprintf("set status %s on deployment %d of %s", state, id, repo), func(ctx context.Context) (*github.Response, error) {
		_, resp, err := g.api.Repositories.CreateDeploymentStatus(ctx, owner, name, id, req)
		return resp, err
	})
}

// do runs call until it succeeds, fails in a way retrying cannot mend, has
// been retried g.maxRetries times, or ctx ends.
func (g *GitHub) do(ctx context.Context, what string, call func(context.Context) (*github.Response, error)) error {
	for attempt := 1; ; attempt++ {
		resp, err := call(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, context.Cause(ctx))
		}
		wait, final := g.classify(resp, err, attempt)
		if final != nil {
			return fmt.Errorf("%s: %w", what, final)
		}
		if attempt > g.maxRetries {
			return fmt.Errorf("%s: gave up after %d attempts: %w", what, attempt, err)
		}
		g.log.Warn("GitHub call failed; retrying", "call", what, "attempt", attempt, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (while waiting to retry after: %v)", what, context.Cause(ctx), err)
		case <-t.C:
		}
	}
}

// classify decides what to do about a failed call: wait and retry (final
// nil), or stop with final.
func (g *GitHub) classify(resp *github.Response, err error, attempt int) (wait time.Duration, final error) {
	var (
		primary   *github.RateLimitError
		secondary *github.AbuseRateLimitError
		apiErr    *github.ErrorResponse
		accepted  *github.AcceptedError
		netErr    *url.Error
	)
	switch {
	case errors.As(err, &primary):
		reset := primary.Rate.Reset.Time
		if reset.IsZero() {
			return g.backoff(attempt), nil
		}
		wait = reset.Sub(g.now())
		if wait > maxWait {
			return 0, fmt.Errorf("GitHub's API rate limit of %d calls an hour is used up until %s (in %s); not waiting that long: %w",
				primary.Rate.Limit, reset.UTC().Format("15:04:05 UTC"), wait.Round(time.Second), err)
		}
		return max(wait, 0), nil
	case errors.As(err, &secondary):
		wait = g.backoff(attempt)
		if secondary.RetryAfter != nil {
			wait = *secondary.RetryAfter
		}
		return g.limitWait(wait, "secondary rate limit", err)
	case errors.As(err, &accepted):
		return 0, jobs.Permanent(fmt.Errorf("GitHub accepted the request but did not carry it out: %w", err))
	case errors.As(err, &apiErr):
		return g.classifyStatus(apiErr, resp, err, attempt)
	case errors.As(err, &netErr), errors.Is(err, io.ErrUnexpectedEOF):
		return g.backoff(attempt), nil
	}
	return 0, err
}

func (g *GitHub) classifyStatus(apiErr *github.ErrorResponse, resp *github.Response, err error, attempt int) (time.Duration, error) {
	code := 0
	if apiErr.Response != nil {
		code = apiErr.Response.StatusCode
	}
	switch {
	case code >= 500 || code == http.StatusRequestTimeout:
		return g.backoff(attempt), nil
	case code == http.StatusTooManyRequests ||
		code == http.StatusForbidden && strings.Contains(strings.ToLower(apiErr.Message), "secondary rate limit"):
		wait := g.backoff(attempt)
		if resp != nil {
			if d, ok := retryAfter(resp.Header.Get("Retry-After"), g.now()); ok {
				wait = d
			} else if resp.Header.Get("X-RateLimit-Remaining") == "0" && !resp.Rate.Reset.IsZero() {
				wait = resp.Rate.Reset.Sub(g.now())
			}
		}
		return g.limitWait(wait, "rate limit", err)
	case code == http.StatusUnauthorized:
		return 0, jobs.Permanent(&jobs.UserError{Msg: "GitHub rejected gantry's token (401 Bad credentials): check GITHUB_TOKEN", Err: err})
	case code == http.StatusForbidden:
		return 0, jobs.Permanent(fmt.Errorf("GitHub refused (403): gantry's token may lack a permission: %w", err))
	}
	return 0, jobs.Permanent(err)
}

func (g *GitHub) limitWait(wait time.Duration, what string, err error) (time.Duration, error) {
	if wait > maxWait {
		return 0, fmt.Errorf("GitHub's %s asks to wait %s; not waiting that long: %w", what, wait.Round(time.Second), err)
	}
	return max(wait, 0), nil
}

// backoff is the wait before retry number attempt: RetryBase doubling, at
// most maxBackoff, with jitter.
func (g *GitHub) backoff(attempt int) time.Duration {
	d := g.retryBase
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	var secs int64
	if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// httpStatus returns the HTTP status of a GitHub API error in err's chain,
// or 0.
func httpStatus(err error) int {
	var apiErr *github.ErrorResponse
	if errors.As(err, &apiErr) && apiErr.Response != nil {
		return apiErr.Response.StatusCode
	}
	return 0
}

// splitRepo checks that repo is "owner/name" as GitHub allows them.
func splitRepo(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || !validRepoPart(owner) || !validRepoPart(name) || name == "." || name == ".." {
		return "", "", jobs.Permanent(jobs.Userf("%q is not a GitHub repository: want owner/name", repo))
	}
	return owner, name, nil
}

func validRepoPart(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// validRef reports whether ref is a name git allows for a branch or tag (or
// a SHA): it also keeps a ref from climbing out of the API path.
func validRef(ref string) bool {
	if ref == "" || len(ref) > 255 || strings.HasPrefix(ref, "-") || strings.HasPrefix(ref, "/") ||
		strings.HasSuffix(ref, "/") || strings.HasSuffix(ref, ".") || strings.HasSuffix(ref, ".lock") ||
		strings.Contains(ref, "..") || strings.Contains(ref, "//") || strings.Contains(ref, "@{") || ref == "@" {
		return false
	}
	for _, part := range strings.Split(ref, "/") {
		if strings.HasPrefix(part, ".") {
			return false
		}
	}
	for _, c := range ref {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(" ~^:?*[\\", c) {
			return false
		}
	}
	return utf8.ValidString(ref)
}

func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// cut shortens s to at most n characters, marking the cut with "…".
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// read is do for a call that only reads, counting its failure.
func (g *GitHub) read(ctx context.Context, kind, what string, call func(context.Context) (*github.Response, error)) error {
	err := g.do(ctx, what, call)
	if err != nil && g.readFailed != nil && ctx.Err() == nil {
		g.readFailed(kind)
	}
	return err
}
