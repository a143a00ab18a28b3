package scm

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/google/go-github/v60/github"
)

// ErrSignature is in the chain of every error VerifySignature returns.
var ErrSignature = errors.New("webhook signature check failed")

// VerifySignature checks header, the X-Hub-Signature-256 of a webhook
// request ("sha256=" and 64 hex digits), against the HMAC-SHA256 of body
// under secret, in constant time.
func VerifySignature(secret, body []byte, header string) error {
	v, err := NewBodyVerifier(secret, header)
	if err != nil {
		return err
	}
	v.Write(body)
	return v.Verify()
}

// BodyVerifier checks a webhook's signature while its body is read, so the
// body need not be held before it is known to come from GitHub: make one
// from the header (which fails at once when the header is missing or
// malformed), write the body through it, then Verify.
type BodyVerifier struct {
	want []byte
	mac  hash.Hash
}

// NewBodyVerifier checks the form of header, the X-Hub-Signature-256 of a
// webhook request, and returns a verifier for the body it signs.
func NewBodyVerifier(secret []byte, header string) (*BodyVerifier, error) {
	if len(secret) == 0 {
		return nil, fmt.Errorf("%w: no webhook secret is configured", ErrSignature)
	}
	if header == "" {
		return nil, fmt.Errorf("%w: the request has no X-Hub-Signature-256 header (is the webhook's secret set on GitHub?)", ErrSignature)
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return nil, fmt.Errorf("%w: X-Hub-Signature-256 %q does not start with sha256=", ErrSignature, cut(header, 20))
	}
	want, err := hex.DecodeString(hexSig)
	if err != nil || len(want) != sha256.Size {
		return nil, fmt.Errorf("%w: X-Hub-Signature-256 is not sha256= and %d hex digits", ErrSignature, 2*sha256.Size)
	}
	return &BodyVerifier{want: want, mac: hmac.New(sha256.New, secret)}, nil
}

// Write adds p to the signed body; it never fails.
func (v *BodyVerifier) Write(p []byte) (int, error) { return v.mac.Write(p) }

// Verify reports whether the body written so far is the one the header
// signs, comparing in constant time.
func (v *BodyVerifier) Verify() error {
	if !hmac.Equal(v.want, v.mac.Sum(nil)) {
		return fmt.Errorf("%w: X-Hub-Signature-256 does not match the body (a different secret, or an altered body)", ErrSignature)
	}
	return nil
}

// WebhookEvent is what gantry takes from a GitHub webhook.
type WebhookEvent struct {
	Kind     string // "push", "pull_request", "ping", or "" for events gantry ignores
	Delivery string // X-GitHub-Delivery
	Repo     string // owner/name
	CloneURL string // the repository's; for a pull request from a fork, the base repository's, which serves the head commit too
	Branch   string // push: the branch (refs/heads/ stripped); pull_request: the head branch
	Tag      string // push of a tag: the tag (refs/tags/ stripped); Branch is then ""
	SHA      string // push: after; pull_request: the head commit
	Deleted  bool   // push: the branch was deleted (callers ignore it)
	PR       int
	Action   string // pull_request: opened, synchronize, reopened, closed, ...
	Sender   string // login
	HeadRepo string // pull_request: owner/name of the repository the head branch is in; "" when GitHub gave none
	Fork     bool   // pull_request: the head branch is in another repository, or GitHub did not say which
}

// ParseWebhook parses the body of a webhook whose X-GitHub-Event is
// eventType. Events other than push, pull_request and ping, and pushes of
// refs other than branches and tags, come back with Kind "" (the
// repository and sender filled in where the body names them). A push or pull_request without a
// usable repository, branch or SHA is an error.
func ParseWebhook(eventType, delivery string, body []byte) (*WebhookEvent, error) {
	if eventType == "" {
		return nil, errors.New("webhook has no X-GitHub-Event header")
	}
	ev := &WebhookEvent{Delivery: delivery}
	switch eventType {
	case "push", "pull_request", "ping":
	default:
		var common struct {
			Repository struct {
				FullName string `json:"full_name"`
			} `json:"repository"`
			Sender struct {
				Login string `json:"login"`
			} `json:"sender"`
		}
		_ = json.Unmarshal(body, &common) // best effort, for the log
		ev.Repo, ev.Sender = common.Repository.FullName, common.Sender.Login
		return ev, nil
	}
	parsed, err := github.ParseWebHook(eventType, body)
	if err != nil {
		return nil, fmt.Errorf("parse %s webhook %s: %w", eventType, delivery, err)
	}
	switch e := parsed.(type) {
	case *github.PushEvent:
		err = fromPush(ev, e)
	case *github.PullRequestEvent:
		err = fromPullRequest(ev, e)
	case *github.PingEvent:
		ev.Kind, ev.Repo, ev.CloneURL, ev.Sender = "ping", e.GetRepo().GetFullName(), e.GetRepo().GetCloneURL(), e.GetSender().GetLogin()
	default:
		err = fmt.Errorf("go-github parsed it as %T", parsed)
	}
	if err != nil {
		return nil, fmt.Errorf("%s webhook %s: %w", eventType, delivery, err)
	}
	return ev, nil
}

func fromPush(ev *WebhookEvent, e *github.PushEvent) error {
	ev.Repo, ev.CloneURL = e.GetRepo().GetFullName(), e.GetRepo().GetCloneURL()
	ev.Sender = e.GetSender().GetLogin()
	if ev.Sender == "" {
		ev.Sender = e.GetPusher().GetName()
	}
	ev.Deleted = e.GetDeleted()
	if _, _, err := splitRepo(ev.Repo); err != nil {
		return fmt.Errorf("repository.full_name %q is not owner/name", ev.Repo)
	}
	branch, ok := strings.CutPrefix(e.GetRef(), "refs/heads/")
	tag, isTag := strings.CutPrefix(e.GetRef(), "refs/tags/")
	switch {
	case isTag:
		if !validRef(tag) {
			return fmt.Errorf("ref %q is not a valid tag name", e.GetRef())
		}
		ev.Kind, ev.Tag = "push", tag
	case !ok && e.GetRef() == "":
		return errors.New("it has no ref")
	case !ok:
		return nil // another kind of ref: Kind "" (ignored)
	case !validRef(branch):
		return fmt.Errorf("ref %q is not a valid branch name", e.GetRef())
	default:
		ev.Kind, ev.Branch = "push", branch
	}
	ev.SHA = strings.ToLower(e.GetAfter())
	if id := e.GetHeadCommit().GetID(); isTag && id != "" {
		// An annotated tag's "after" is the tag object, which is not a
		// commit; head_commit is the commit it tags.
		ev.SHA = strings.ToLower(id)
	}
	if !isSHA(ev.SHA) {
		return fmt.Errorf("after %q is not a commit SHA", e.GetAfter())
	}
	return nil
}

func fromPullRequest(ev *WebhookEvent, e *github.PullRequestEvent) error {
	pr := e.GetPullRequest()
	ev.Kind, ev.Action = "pull_request", e.GetAction()
	ev.Repo, ev.CloneURL = e.GetRepo().GetFullName(), e.GetRepo().GetCloneURL()
	ev.Sender = e.GetSender().GetLogin()
	ev.PR = e.GetNumber()
	if ev.PR == 0 {
		ev.PR = pr.GetNumber()
	}
	ev.Branch, ev.SHA = pr.GetHead().GetRef(), strings.ToLower(pr.GetHead().GetSHA())
	ev.HeadRepo = pr.GetHead().GetRepo().GetFullName()
	// A head repository that is missing or null (GitHub sends null once
	// a fork is deleted) cannot be shown to be the base repository, so it
	// counts as a fork: its code is a stranger's until someone asks.
	ev.Fork = ev.HeadRepo == "" || !strings.EqualFold(ev.HeadRepo, ev.Repo)
	if _, _, err := splitRepo(ev.Repo); err != nil {
		return fmt.Errorf("repository.full_name %q is not owner/name", ev.Repo)
	}
	switch {
	case ev.PR <= 0:
		return errors.New("it has no pull request number")
	case ev.Action == "":
		return errors.New("it has no action")
	case !validRef(ev.Branch):
		return fmt.Errorf("head ref %q is not a valid branch name", ev.Branch)
	case !isSHA(ev.SHA):
		return fmt.Errorf("head sha %q is not a commit SHA", pr.GetHead().GetSHA())
	}
	return nil
}
