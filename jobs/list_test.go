package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// A filter that few jobs match costs a bounded read per page; the page
// says it stopped short, and the next page goes on from there.
func TestListBoundsWhatOnePageReads(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	start := time.Now().Add(-time.Hour)
	const n = 2300
	for i := range n {
		repo := "busy"
		if i == 0 {
			repo = "quiet" // #1, the oldest
		}
		j := &jobs.Job{Kind: jobs.Build, Repo: repo, Ref: "main", Created: start.Add(time.Duration(i) * time.Millisecond)}
		if err := e.store.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	f := jobs.ListFilter{Repo: "quiet"}
	page, err := e.store.List(ctx, f, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 0 || !page.Cut || page.Scanned != 2000 || page.Next != n-1999 {
		t.Fatalf("first page: %d jobs, cut %v, scanned %d, next #%d; want none, cut after 2000 read, next #%d",
			len(page.Jobs), page.Cut, page.Scanned, page.Next, n-1999)
	}
	page, err = e.store.List(ctx, f, page.Next, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 1 || page.Jobs[0].ID != 1 || page.Cut || page.Next != 0 {
		t.Fatalf("second page: %d jobs, cut %v, next #%d; want #1 and the end", len(page.Jobs), page.Cut, page.Next)
	}
	if _, err := e.store.List(ctx, f, n+5, 50); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("a page after a job that does not exist: %v", err)
	}
}
