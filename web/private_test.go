package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/jobs"
)

// web.public opens pages without a signed link, but never the page of a
// job from a private channel.
func TestPrivateChannelPageNeedsLinkEvenWhenPublic(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	j := &jobs.Job{Kind: jobs.Deploy, Env: "production", Repo: "hello", Ref: "main", Requester: "U1", Channel: "G0SECRET", Private: true}
	if err := f.store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	w := f.log.Writer(ctx, j.ID)
	w.Line("deploying the secret sauce")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/jobs/1", "/jobs/1/log"} {
		if code, body := get(t, f.srv.URL+p); code != 403 || strings.Contains(body, "secret sauce") {
			t.Errorf("%s of a private channel's job without a link: %d %q", p, code, body)
		}
	}
	if code, body := get(t, f.path(f.links.Job(j.ID))); code != 200 || !strings.Contains(body, "secret sauce") {
		t.Errorf("with its signed link: %d", code)
	}
}
