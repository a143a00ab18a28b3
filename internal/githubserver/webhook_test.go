package githubserver_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/gantry-ci/gantry/internal/githubserver"
)

// receive sends req to a handler that checks it as a gantry webhook
// endpoint would, with go-github's own validation, and returns the event.
func receive(t *testing.T, req *http.Request, secret string) any {
	t.Helper()
	var event any
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := github.ValidatePayload(r, []byte(secret))
		if err != nil {
			t.Errorf("ValidatePayload: %v", err)
			return
		}
		if r.Header.Get("X-GitHub-Delivery") != "d-1" {
			t.Errorf("delivery = %q", r.Header.Get("X-GitHub-Delivery"))
		}
		if event, err = github.ParseWebHook(github.WebHookType(r), body); err != nil {
			t.Errorf("ParseWebHook: %v", err)
		}
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return event
}

func TestPushWebhook(t *testing.T) {
	srv, _, first := setup(t)
	second := srv.AddCommit("acme/hello", "main", map[string]string{"x": "y"})
	p := srv.PushFor("acme/hello", "main")
	if p.After != second || p.Before != first || p.Message != "Update x" {
		t.Errorf("PushFor = %+v", p)
	}
	req := githubserver.SignedRequest("http://gantry.example/github", "s3cret", "push", "d-1", githubserver.PushPayload(p))
	if req.Header.Get("Content-Type") != "application/json" || req.Header.Get("X-GitHub-Event") != "push" {
		t.Errorf("headers = %v", req.Header)
	}
	body, _ := io.ReadAll(req.Body)
	if got := req.Header.Get("X-Hub-Signature-256"); got != githubserver.Sign("s3cret", body) || len(got) != len("sha256=")+64 {
		t.Errorf("signature = %q", got)
	}
	req = githubserver.SignedRequest("http://gantry.example/github", "s3cret", "push", "d-1", githubserver.PushPayload(p))
	ev, ok := receive(t, req, "s3cret").(*github.PushEvent)
	if !ok {
		t.Fatalf("event = %T", ev)
	}
	if ev.GetRef() != "refs/heads/main" || ev.GetAfter() != second || ev.GetBefore() != first || ev.GetDeleted() ||
		ev.GetRepo().GetFullName() != "acme/hello" || ev.GetRepo().GetCloneURL() != srv.CloneURL("acme/hello") ||
		ev.GetPusher().GetName() != "octocat" || ev.GetHeadCommit().GetMessage() != "Update x" || ev.GetSender().GetLogin() != "octocat" {
		t.Errorf("push event = %s", ev)
	}

	del := githubserver.PushPayload(githubserver.Push{Repo: "acme/hello", Branch: "old", Deleted: true, Before: first})
	ev = receive(t, githubserver.SignedRequest("http://x/", "s", "push", "d-1", del), "s").(*github.PushEvent)
	if !ev.GetDeleted() || ev.GetAfter() != githubserver.ZeroSHA || ev.HeadCommit != nil {
		t.Errorf("deleted push = %s", ev)
	}
	tag := githubserver.PushPayload(githubserver.Push{Repo: "acme/hello", Tag: "v1"})
	ev = receive(t, githubserver.SignedRequest("http://x/", "s", "push", "d-1", tag), "s").(*github.PushEvent)
	if ev.GetRef() != "refs/tags/v1" || len(ev.GetAfter()) != 40 {
		t.Errorf("tag push = %s", ev)
	}

	// No secret: no signature, as GitHub does for a hook without one.
	req = githubserver.SignedRequest("http://x/", "", "push", "d-1", []byte(`{}`))
	if req.Header.Get("X-Hub-Signature-256") != "" {
		t.Error("signed without a secret")
	}
}

func TestPullRequestWebhook(t *testing.T) {
	for _, action := range []string{"opened", "synchronize", "closed"} {
		p := githubserver.PullRequest{Repo: "acme/hello", Number: 7, Action: action, HeadRef: "feature/x", HeadSHA: githubserver.ZeroSHA[:39] + "1", Merged: action == "closed", Sender: "alice"}
		ev, ok := receive(t, githubserver.SignedRequest("http://x/", "s", "pull_request", "d-1", githubserver.PullRequestPayload(p)), "s").(*github.PullRequestEvent)
		if !ok {
			t.Fatalf("%s: not a PullRequestEvent", action)
		}
		pr := ev.GetPullRequest()
		if ev.GetAction() != action || ev.GetNumber() != 7 || pr.GetNumber() != 7 || pr.GetHead().GetRef() != "feature/x" ||
			pr.GetHead().GetSHA() != p.HeadSHA || pr.GetBase().GetRef() != "main" || ev.GetSender().GetLogin() != "alice" ||
			ev.GetRepo().GetFullName() != "acme/hello" || ev.GetRepo().GetCloneURL() == "" {
			t.Errorf("%s: event = %+v", action, ev)
		}
		if action == "closed" && (!pr.GetMerged() || pr.GetState() != "closed") {
			t.Errorf("closed: merged %v state %s", pr.GetMerged(), pr.GetState())
		}
		if action == "synchronize" && ev.GetAfter() != p.HeadSHA {
			t.Errorf("synchronize: after = %q", ev.GetAfter())
		}
	}
}

func TestPingWebhook(t *testing.T) {
	ev, ok := receive(t, githubserver.SignedRequest("http://x/", "s", "ping", "d-1", githubserver.PingPayload("acme/hello", 42)), "s").(*github.PingEvent)
	if !ok || ev.GetHookID() != 42 || ev.GetZen() == "" || ev.GetRepo().GetFullName() != "acme/hello" {
		t.Errorf("ping = %v", ev)
	}
}
