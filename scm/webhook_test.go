package scm_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-ci/gantry/internal/githubserver"
	"github.com/gantry-ci/gantry/scm"
)

func TestVerifySignature(t *testing.T) {
	secret := []byte("It's a Secret to Everybody")
	body := []byte("Hello, World!")
	// The example from GitHub's documentation on validating deliveries.
	const documented = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if err := scm.VerifySignature(secret, body, documented); err != nil {
		t.Errorf("documented example: %v", err)
	}
	if err := scm.VerifySignature(secret, body, githubserver.Sign(string(secret), body)); err != nil {
		t.Errorf("githubserver.Sign: %v", err)
	}
	upper := "sha256=" + strings.ToUpper(strings.TrimPrefix(documented, "sha256="))
	if err := scm.VerifySignature(secret, body, upper); err != nil {
		t.Errorf("upper-case hex: %v", err)
	}

	for name, tc := range map[string]struct {
		secret []byte
		body   []byte
		header string
		want   string
	}{
		"wrong secret":   {[]byte("other"), body, documented, "does not match the body"},
		"altered body":   {secret, []byte("Hello, World?"), documented, "does not match the body"},
		"missing":        {secret, body, "", "no X-Hub-Signature-256 header"},
		"sha1":           {secret, body, "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59", "does not start with sha256="},
		"no prefix":      {secret, body, strings.TrimPrefix(documented, "sha256="), "does not start with sha256="},
		"not hex":        {secret, body, "sha256=" + strings.Repeat("zz", 32), "not sha256= and 64 hex digits"},
		"short":          {secret, body, documented[:len(documented)-2], "not sha256= and 64 hex digits"},
		"no secret set":  {nil, body, documented, "no webhook secret is configured"},
		"empty body sig": {secret, nil, documented, "does not match the body"},
	} {
		err := scm.VerifySignature(tc.secret, tc.body, tc.header)
		if err == nil || !errors.Is(err, scm.ErrSignature) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrSignature saying %q", name, err, tc.want)
		}
	}
}

func payload(t *testing.T, p any) []byte {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseWebhookPush(t *testing.T) {
	srv := githubserver.New(t)
	srv.AddRepo("acme/hello", "main")
	first := srv.AddCommit("acme/hello", "main", map[string]string{".gantry.yml": gantryYML})
	feature := srv.AddCommit("acme/hello", "feature/x", map[string]string{"a": "b"})

	for _, tc := range []struct {
		name string
		push githubserver.Push
		want scm.WebhookEvent
	}{{
		name: "branch",
		push: srv.PushFor("acme/hello", "main"),
		want: scm.WebhookEvent{Kind: "push", Delivery: "d-1", Repo: "acme/hello", CloneURL: srv.CloneURL("acme/hello"), Branch: "main", SHA: first, Sender: "octocat"},
	}, {
		name: "branch with a slash, pusher only",
		push: githubserver.Push{Repo: "acme/hello", Branch: "feature/x", After: feature, Pusher: "alice"},
		want: scm.WebhookEvent{Kind: "push", Delivery: "d-1", Repo: "acme/hello", CloneURL: "https://github.com/acme/hello.git", Branch: "feature/x", SHA: feature, Sender: "alice"},
	}, {
		name: "tag",
		push: githubserver.Push{Repo: "acme/hello", Tag: "v1.0.0", After: first},
		want: scm.WebhookEvent{Kind: "push", Delivery: "d-1", Repo: "acme/hello", CloneURL: "https://github.com/acme/hello.git", Tag: "v1.0.0", SHA: first, Sender: "octocat"},
	}, {
		// GitHub sends an annotated tag's tag object as "after", and the
		// commit it tags as head_commit.
		name: "annotated tag",
		push: githubserver.Push{Repo: "acme/hello", Tag: "v1.1.0", After: first, TagObject: "5d1f0c3b9a7e2d4c6b8a0f1e3d5c7b9a1f2e4d6c"},
		want: scm.WebhookEvent{Kind: "push", Delivery: "d-1", Repo: "acme/hello", CloneURL: "https://github.com/acme/hello.git", Tag: "v1.1.0", SHA: first, Sender: "octocat"},
	}, {
		name: "deleted branch",
		push: githubserver.Push{Repo: "acme/hello", Branch: "old", Deleted: true, Before: first, Sender: "bob"},
		want: scm.WebhookEvent{Kind: "push", Delivery: "d-1", Repo: "acme/hello", CloneURL: "https://github.com/acme/hello.git", Branch: "old", SHA: githubserver.ZeroSHA, Deleted: true, Sender: "bob"},
	}} {
		ev, err := scm.ParseWebhook("push", "d-1", payload(t, githubserver.PushPayload(tc.push)))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if diff := cmp.Diff(tc.want, *ev); diff != "" {
			t.Errorf("%s: event (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestParseWebhookPullRequest(t *testing.T) {
	head := strings.Repeat("ab", 20)
	for _, action := range []string{"opened", "synchronize", "reopened", "closed"} {
		p := githubserver.PullRequestPayload(githubserver.PullRequest{
			Repo: "acme/hello", Number: 12, Action: action, HeadRef: "feature/y", HeadSHA: head, Sender: "carol",
			HeadRepo: "carol/hello", CloneURL: "https://git.example/acme/hello.git",
		})
		ev, err := scm.ParseWebhook("pull_request", "d-2", payload(t, p))
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		want := scm.WebhookEvent{
			Kind: "pull_request", Delivery: "d-2", Repo: "acme/hello", CloneURL: "https://git.example/acme/hello.git",
			Branch: "feature/y", SHA: head, PR: 12, Action: action, Sender: "carol",
			HeadRepo: "carol/hello", Fork: true,
		}
		if diff := cmp.Diff(want, *ev); diff != "" {
			t.Errorf("%s: event (-want +got):\n%s", action, diff)
		}
	}
}

func TestParseWebhookOthers(t *testing.T) {
	ev, err := scm.ParseWebhook("ping", "d-3", payload(t, githubserver.PingPayload("acme/hello", 7)))
	if err != nil || ev.Kind != "ping" || ev.Repo != "acme/hello" || ev.Delivery != "d-3" {
		t.Errorf("ping = %+v, %v", ev, err)
	}
	ev, err = scm.ParseWebhook("issues", "d-4", []byte(`{"action":"opened","repository":{"full_name":"acme/hello"},"sender":{"login":"dave"}}`))
	if err != nil || ev.Kind != "" || ev.Repo != "acme/hello" || ev.Sender != "dave" {
		t.Errorf("issues = %+v, %v", ev, err)
	}
	ev, err = scm.ParseWebhook("workflow_run", "d-5", []byte(`not json`))
	if err != nil || ev.Kind != "" {
		t.Errorf("an ignored event need not parse: %+v, %v", ev, err)
	}

	good := githubserver.PushPayload(githubserver.Push{Repo: "acme/hello", Branch: "main"})
	for name, tc := range map[string]struct {
		event string
		body  []byte
		want  string
	}{
		"no event type": {"", payload(t, good), "no X-GitHub-Event header"},
		"bad json":      {"push", []byte(`{"ref":`), "parse push webhook d-9"},
		"no repository": {"push", []byte(`{"ref":"refs/heads/main","after":"` + strings.Repeat("a", 40) + `"}`), "repository.full_name"},
		"bad sha":       {"push", payload(t, githubserver.PushPayload(githubserver.Push{Repo: "acme/hello", Branch: "main", After: "abc"})), `after "abc" is not a commit SHA`},
		"bad branch":    {"push", payload(t, githubserver.PushPayload(githubserver.Push{Repo: "acme/hello", Ref: "refs/heads/../x"})), "not a valid branch name"},
		"no ref":        {"push", payload(t, githubserver.PushPayload(githubserver.Push{Repo: "acme/hello"})), "no ref"},
		"pr no number":  {"pull_request", []byte(`{"action":"opened","repository":{"full_name":"acme/hello"},"pull_request":{"head":{"ref":"x","sha":"` + strings.Repeat("a", 40) + `"}}}`), "no pull request number"},
		"pr bad sha":    {"pull_request", payload(t, githubserver.PullRequestPayload(githubserver.PullRequest{Repo: "acme/hello", HeadSHA: "zz"})), `head sha "zz"`},
	} {
		_, err := scm.ParseWebhook(tc.event, "d-9", tc.body)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

func TestParseWebhookPullRequestWithoutHeadRepoIsAFork(t *testing.T) {
	head := strings.Repeat("cd", 20)
	gone := payload(t, githubserver.PullRequestPayload(githubserver.PullRequest{
		Repo: "acme/hello", Number: 4, HeadRef: "feature", HeadSHA: head, HeadRepoGone: true,
	}))
	if !strings.Contains(string(gone), `"repo":null`) {
		t.Fatalf("the payload has no null head repo:\n%s", gone)
	}
	// The same pull request with no repo key at all in head.
	var m map[string]any
	if err := json.Unmarshal(gone, &m); err != nil {
		t.Fatal(err)
	}
	delete(m["pull_request"].(map[string]any)["head"].(map[string]any), "repo")
	missing := payload(t, m)
	for name, body := range map[string][]byte{"null": gone, "missing": missing} {
		ev, err := scm.ParseWebhook("pull_request", "d-4", body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !ev.Fork || ev.HeadRepo != "" || ev.SHA != head {
			t.Errorf("%s head repo: Fork %v, HeadRepo %q, SHA %s; want a fork", name, ev.Fork, ev.HeadRepo, ev.SHA)
		}
	}
	same, err := scm.ParseWebhook("pull_request", "d-5", payload(t, githubserver.PullRequestPayload(githubserver.PullRequest{Repo: "acme/hello", HeadSHA: head})))
	if err != nil || same.Fork || same.HeadRepo != "acme/hello" {
		t.Errorf("a branch of the same repository: %+v, %v; want no fork", same, err)
	}
}
