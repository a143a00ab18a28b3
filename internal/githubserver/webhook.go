package githubserver

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ZeroSHA is what GitHub puts in a push's before (branch created) or after
// (branch deleted).
const ZeroSHA = "0000000000000000000000000000000000000000"

// Sign returns the X-Hub-Signature-256 value GitHub sends for body:
// "sha256=" and the hex HMAC-SHA256 of body under secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// SignedRequest builds the POST GitHub makes to a webhook at url: the
// payload as JSON (a []byte or json.RawMessage is sent as it is), signed
// with secret in X-Hub-Signature-256 (and the legacy SHA-1 X-Hub-Signature),
// with X-GitHub-Event, X-GitHub-Delivery and the other headers GitHub sends.
// An empty secret sends no signature, as GitHub does for a hook without one.
// It panics when the payload cannot be encoded or url is not valid: it is a
// test helper.
func SignedRequest(url, secret, event, deliveryID string, payload any) *http.Request {
	var body []byte
	switch p := payload.(type) {
	case []byte:
		body = p
	case json.RawMessage:
		body = p
	default:
		var err error
		if body, err = json.Marshal(payload); err != nil {
			panic(fmt.Sprintf("githubserver: encode %s payload: %v", event, err))
		}
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		panic(fmt.Sprintf("githubserver: webhook request to %q: %v", url, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/githubserver")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", deliveryID)
	req.Header.Set("X-GitHub-Hook-ID", "424242")
	req.Header.Set("X-GitHub-Hook-Installation-Target-Type", "repository")
	req.Header.Set("X-GitHub-Hook-Installation-Target-ID", "100001")
	if secret != "" {
		req.Header.Set("X-Hub-Signature-256", Sign(secret, body))
		mac := hmac.New(sha1.New, []byte(secret))
		mac.Write(body)
		req.Header.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(mac.Sum(nil)))
	}
	return req
}

// Push describes a push webhook. Zero values get realistic defaults.
type Push struct {
	Repo          string // owner/name; required
	Branch        string // sets Ref to refs/heads/Branch
	Tag           string // sets Ref to refs/tags/Tag
	Ref           string // the full ref, when neither Branch nor Tag is set
	Before, After string // default: ZeroSHA for Before, a made-up SHA for After
	// TagObject, for an annotated tag, is the tag object's SHA: GitHub
	// sends it as "after", and the commit (After) as head_commit.id only.
	TagObject     string
	Created       bool
	Deleted       bool // After becomes ZeroSHA and there is no head commit
	Forced        bool
	Message       string // the head commit's message; default "Update"
	Pusher        string // login; default "octocat"
	Sender        string // login; default Pusher
	CloneURL      string // default https://github.com/{Repo}.git
	DefaultBranch string // default "main"
}

// PushFor fills a Push from the server's state: branch's head as After, its
// parent as Before, the head commit's message, and the server's clone URL.
func (s *Server) PushFor(repoName, branch string) Push {
	s.tb.Helper()
	p := Push{Repo: repoName, Branch: branch, CloneURL: s.CloneURL(repoName)}
	head := s.Head(repoName, branch)
	if head == "" {
		s.errorf("PushFor: no branch %s in %s", branch, repoName)
		return p
	}
	c, _ := s.Commit(repoName, head)
	p.After, p.Before, p.Message = head, c.Parent, c.Message
	if p.Before == "" {
		p.Before, p.Created = ZeroSHA, true
	}
	s.mu.Lock()
	if r := s.repos[strings.ToLower(repoName)]; r != nil {
		p.Repo, p.DefaultBranch = r.fullName(), r.defaultBranch
	}
	s.mu.Unlock()
	return p
}

// PushPayload builds the body of a push webhook as GitHub sends it.
func PushPayload(p Push) map[string]any {
	ref := p.Ref
	switch {
	case p.Branch != "":
		ref = "refs/heads/" + p.Branch
	case p.Tag != "":
		ref = "refs/tags/" + p.Tag
	}
	if p.Pusher == "" {
		p.Pusher = "octocat"
	}
	if p.Sender == "" {
		p.Sender = p.Pusher
	}
	if p.Message == "" {
		p.Message = "Update"
	}
	if p.Before == "" {
		p.Before = ZeroSHA
	}
	if p.Deleted {
		p.After = ZeroSHA
	} else if p.After == "" {
		p.After = fakeSHA(p.Repo + ref + p.Message)
	}
	repo := hookRepo(p.Repo, p.CloneURL, p.DefaultBranch, true)
	now := time.Now().UTC().Truncate(time.Second)
	after := p.After
	if p.TagObject != "" && !p.Deleted {
		after = p.TagObject
	}
	out := map[string]any{
		"ref": ref, "before": p.Before, "after": after,
		"created": p.Created || p.Before == ZeroSHA, "deleted": p.Deleted, "forced": p.Forced,
		"base_ref": nil, "compare": repo["html_url"].(string) + "/compare/" + prefix(p.Before, 12) + "..." + prefix(after, 12),
		"repository":  repo,
		"pusher":      map[string]any{"name": p.Pusher, "email": p.Pusher + "@users.noreply.github.com"},
		"sender":      hookUser(p.Sender),
		"commits":     []any{},
		"head_commit": nil,
	}
	if !p.Deleted {
		commit := map[string]any{
			"id": p.After, "tree_id": fakeSHA("tree" + p.After), "distinct": true, "message": p.Message,
			"timestamp": now.Format(time.RFC3339), "url": repo["html_url"].(string) + "/commit/" + p.After,
			"author":    map[string]any{"name": p.Pusher, "email": p.Pusher + "@users.noreply.github.com", "username": p.Pusher},
			"committer": map[string]any{"name": p.Pusher, "email": p.Pusher + "@users.noreply.github.com", "username": p.Pusher},
			"added":     []string{}, "removed": []string{}, "modified": []string{".gantry.yml"},
		}
		out["commits"] = []any{commit}
		out["head_commit"] = commit
	}
	return out
}

// PullRequest describes a pull_request webhook. Zero values get realistic
// defaults.
type PullRequest struct {
	Repo     string // owner/name of the base repository; required
	Number   int    // default 1
	Action   string // opened, synchronize, reopened, closed, ...; default "opened"
	Title    string
	HeadRef  string // default "feature"
	HeadSHA  string // default a made-up SHA
	HeadRepo string // owner/name the head branch lives in; default Repo (a fork otherwise)
	BaseRef  string // default "main"
	BaseSHA  string
	Before   string // synchronize: the previous head
	Merged   bool   // closed: whether it was merged
	Sender   string // login; default "octocat"
	CloneURL string // of the base repository; default https://github.com/{Repo}.git
	// HeadRepoGone sends "repo": null in head, as GitHub does once the
	// fork the pull request came from has been deleted.
	HeadRepoGone bool
}

// PullRequestPayload builds the body of a pull_request webhook as GitHub
// sends it.
func PullRequestPayload(p PullRequest) map[string]any {
	if p.Number == 0 {
		p.Number = 1
	}
	if p.Action == "" {
		p.Action = "opened"
	}
	if p.HeadRef == "" {
		p.HeadRef = "feature"
	}
	if p.HeadSHA == "" {
		p.HeadSHA = fakeSHA(p.Repo + p.HeadRef)
	}
	if p.HeadRepo == "" {
		p.HeadRepo = p.Repo
	}
	if p.BaseRef == "" {
		p.BaseRef = "main"
	}
	if p.BaseSHA == "" {
		p.BaseSHA = fakeSHA(p.Repo + p.BaseRef)
	}
	if p.Sender == "" {
		p.Sender = "octocat"
	}
	if p.Title == "" {
		p.Title = "Change " + p.HeadRef
	}
	base := hookRepo(p.Repo, p.CloneURL, p.BaseRef, false)
	head := base
	if p.HeadRepo != p.Repo {
		head = hookRepo(p.HeadRepo, "", p.BaseRef, false)
		head["fork"] = true
	}
	var headRepo any = head
	if p.HeadRepoGone {
		headRepo = nil
	}
	now := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
	state := "open"
	var closedAt, mergedAt any
	if p.Action == "closed" {
		state, closedAt = "closed", now
		if p.Merged {
			mergedAt = now
		}
	}
	htmlURL := fmt.Sprintf("%s/pull/%d", base["html_url"], p.Number)
	pr := map[string]any{
		"id": 900000 + p.Number, "node_id": fmt.Sprintf("PR_%d", p.Number), "number": p.Number, "state": state,
		"title": p.Title, "body": nil, "draft": false, "locked": false,
		"user": hookUser(p.Sender), "html_url": htmlURL, "diff_url": htmlURL + ".diff",
		"created_at": now, "updated_at": now, "closed_at": closedAt, "merged_at": mergedAt,
		"merged": p.Merged, "merge_commit_sha": nil,
		"head": map[string]any{
			"label": ownerOf(p.HeadRepo) + ":" + p.HeadRef, "ref": p.HeadRef, "sha": p.HeadSHA,
			"user": hookUser(ownerOf(p.HeadRepo)), "repo": headRepo,
		},
		"base": map[string]any{
			"label": ownerOf(p.Repo) + ":" + p.BaseRef, "ref": p.BaseRef, "sha": p.BaseSHA,
			"user": hookUser(ownerOf(p.Repo)), "repo": base,
		},
		"commits": 1, "additions": 1, "deletions": 0, "changed_files": 1,
	}
	out := map[string]any{
		"action": p.Action, "number": p.Number, "pull_request": pr,
		"repository": base, "sender": hookUser(p.Sender),
	}
	if p.Action == "synchronize" {
		before := p.Before
		if before == "" {
			before = fakeSHA("before" + p.HeadSHA)
		}
		out["before"], out["after"] = before, p.HeadSHA
	}
	return out
}

// PingPayload builds the body of the ping GitHub sends when a repository
// webhook is created.
func PingPayload(repo string, hookID int64) map[string]any {
	return map[string]any{
		"zen": "Keep it logically awesome.", "hook_id": hookID,
		"hook": map[string]any{
			"type": "Repository", "id": hookID, "name": "web", "active": true, "events": []string{"push", "pull_request"},
			"config": map[string]any{"content_type": "json", "insecure_ssl": "0", "url": "https://gantry.example/github/webhook"},
		},
		"repository": hookRepo(repo, "", "main", false),
		"sender":     hookUser(ownerOf(repo)),
	}
}

func ownerOf(repo string) string {
	owner, _, _ := strings.Cut(repo, "/")
	return owner
}

// hookRepo is the repository object of a webhook payload. Push payloads
// carry created_at and pushed_at as Unix seconds, others as RFC 3339.
func hookRepo(full, cloneURL, defaultBranch string, push bool) map[string]any {
	owner, name, _ := strings.Cut(full, "/")
	if cloneURL == "" {
		cloneURL = "https://github.com/" + full + ".git"
	}
	if defaultBranch == "" {
		defaultBranch = "main"
	}
	html := strings.TrimSuffix(cloneURL, ".git")
	created := any(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC).Format(time.RFC3339))
	pushed := any(time.Now().UTC().Truncate(time.Second).Format(time.RFC3339))
	if push {
		created, pushed = int64(1577934245), time.Now().Unix()
	}
	return map[string]any{
		"id": 100001, "node_id": "R_100001", "name": name, "full_name": full, "private": true,
		"owner":    map[string]any{"login": owner, "name": owner, "id": 100002, "type": "Organization"},
		"html_url": html, "url": html, "clone_url": cloneURL, "git_url": strings.Replace(cloneURL, "https://", "git://", 1),
		"ssh_url": "git@" + hostOf(cloneURL) + ":" + full + ".git", "default_branch": defaultBranch, "master_branch": defaultBranch,
		"fork": false, "archived": false, "disabled": false, "visibility": "private",
		"created_at": created, "pushed_at": pushed, "updated_at": time.Now().UTC().Truncate(time.Second).Format(time.RFC3339),
	}
}

func hostOf(url string) string {
	_, rest, ok := strings.Cut(url, "://")
	if !ok {
		rest = url
	}
	host, _, _ := strings.Cut(rest, "/")
	return host
}

func hookUser(login string) map[string]any {
	return map[string]any{
		"login": login, "id": 500000 + len(login), "node_id": "U_" + login, "type": "User", "site_admin": false,
		"html_url": "https://github.com/" + login,
	}
}

func fakeSHA(seed string) string {
	h := sha1.Sum([]byte(seed))
	return hex.EncodeToString(h[:])
}

func prefix(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
