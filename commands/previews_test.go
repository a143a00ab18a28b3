package commands_test

import (
	"context"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/scm"
)

// A newer push to a pull request closes the preview of its older build
// (the new build keeps one of its own when pr has preview:); another pull
// request's preview stays.
func TestNewerPushToAPullRequestStopsItsPreview(t *testing.T) {
	f := newHookFixture(t, scm.GitHubConfig{})
	ctx := context.Background()
	recs := f.store.Previews()
	for _, p := range []rdb.Preview{{Job: 100, Runner: "local", Repo: "hello", PR: 7}, {Job: 101, Runner: "local", Repo: "hello", PR: 8}} {
		p.Expires = time.Now().Add(time.Hour)
		if ok, err := recs.Open(ctx, p, 5); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	second := f.srv.AddCommit("acme/hello", "feature", map[string]string{"a": "2"})
	f.handle(t, pullRequest("synchronize", 7, "feature", second))
	if _, ok, _ := recs.Get(ctx, 100); ok {
		t.Error("the older build's preview runs on after a newer push")
	}
	if _, ok, _ := recs.Get(ctx, 101); !ok {
		t.Error("another pull request's preview was stopped")
	}
}
