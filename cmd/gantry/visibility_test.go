package main

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/githubserver"
	"github.com/gantry-ci/gantry/internal/slackserver"
	"github.com/gantry-ci/gantry/jobs"
)

// TestWebhookJobsOfAPrivateChannelArePrivate: builds that pushes queued
// for a repo bound to a private channel were stored as public, so with
// web.public their pages and logs opened without a signed link.
func TestWebhookJobsOfAPrivateChannelArePrivate(t *testing.T) {
	const secret = "a-webhook-secret-of-this-test"
	s := newSlackSession(t)
	s.srv.AddChannel(slackserver.Channel{ID: "G0SECRET", Name: "secret-builds", IsPrivate: true, Members: []string{alice}})
	repo := gitRepo(t, filepath.Join(t.TempDir(), "secret"), map[string]string{
		".gantry.yml": "pipelines:\n  branch:\n    steps: [echo the secret build]\n",
	})
	out, err := exec.Command("git", "-C", repo, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	sha := strings.TrimSpace(string(out))
	s.addToConfig("secret: {path: "+repo+", github: acme/secret, channel: G0SECRET}", "web: {public: true}\n")
	s.env["GITHUB_WEBHOOK_SECRET"] = secret
	s.start("serve")
	s.srv.WaitConnection(t, 1, 20*time.Second)

	base := s.httpBase(t)
	push := githubserver.PushPayload(githubserver.Push{Repo: "acme/secret", Branch: "main", After: sha})
	resp, err := http.DefaultClient.Do(githubserver.SignedRequest(base+"/webhooks/github", secret, "push", "delivery-private-1", push))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the push answered %d, want 202", resp.StatusCode)
	}
	s.card("G0SECRET", 1, "succeeded", 30*time.Second)

	j, err := jobs.NewStore(s.rdb.RDB(), jobs.StoreConfig{}).Get(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if j.Origin != "github" || !j.Private {
		t.Errorf("job #1 from %s of private channel %s: Private = %v, want true", j.Origin, j.Channel, j.Private)
	}
	// With web.public, an unsigned link opens public channels' jobs only.
	page, err := http.Get(base + "/jobs/1")
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode == http.StatusOK {
		t.Errorf("the page of a private channel's job opened without a signed link")
	}
}
