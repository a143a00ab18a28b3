package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// A lease held by one worker can be neither taken, renewed nor released by
// another; its holder renews it; once it lapses, another may take it.
func TestLeaseHeldByAnotherWorkerIsRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	q := jobs.NewQueue(e.store)
	const ttl = 300 * time.Millisecond

	lease := func(owner string) bool {
		t.Helper()
		ok, err := q.Lease(ctx, 7, owner, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	holder := func() string {
		t.Helper()
		h, err := q.LeaseHolder(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	if !lease("worker-a") {
		t.Fatal("a free lease was refused")
	}
	if lease("worker-b") {
		t.Fatal("worker-b took the lease worker-a holds")
	}
	if h := holder(); h != "worker-a" {
		t.Fatalf("holder = %q after worker-b's attempt, want worker-a", h)
	}
	if !lease("worker-a") {
		t.Fatal("worker-a could not renew its own lease")
	}
	if err := q.Unlease(ctx, 7, "worker-b"); err != nil {
		t.Fatal(err)
	}
	if h := holder(); h != "worker-a" {
		t.Fatalf("holder = %q after worker-b released it, want worker-a", h)
	}

	// Unrenewed, the lease lapses, and then it is anyone's.
	deadline := time.Now().Add(10 * time.Second)
	for holder() != "" {
		if time.Now().After(deadline) {
			t.Fatal("the lease did not lapse")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !lease("worker-b") {
		t.Fatal("worker-b could not take a lapsed lease")
	}
	if lease("worker-a") {
		t.Fatal("worker-a renewed a lease worker-b has taken since")
	}
}
