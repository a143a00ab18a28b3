package scm

import (
	"context"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/githubserver"
	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
)

// TestReportOfAProcessThatDiedMidSendIsTakenOver has a process take a
// commit's reports and die before it records what became of the first:
// once its lease ends, another process's Reporter delivers them.
func TestReportOfAProcessThatDiedMidSendIsTakenOver(t *testing.T) {
	ctx := context.Background()
	srv := githubserver.New(t)
	srv.AddRepo("acme/hello", "main")
	sha := srv.AddCommit("acme/hello", "main", map[string]string{"a": "1"})
	gh, err := NewGitHub(GitHubConfig{Token: githubserver.Token, APIURL: srv.URL(), RetryBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	redisSrv := redistest.Start(t)
	store := jobs.NewStore(redisSrv.RDB(), jobs.StoreConfig{})
	const lease = 400 * time.Millisecond
	r := NewReporter(gh, store, rdb.New(redisSrv.Client()), ReporterConfig{Lease: lease, Poll: 50 * time.Millisecond})
	for _, state := range []string{"pending", "success"} {
		if err := r.Status("acme/hello", sha, CommitStatus{State: state}); err != nil {
			t.Fatal(err)
		}
	}
	// The process that dies: it claims the commit's first report, and
	// nothing more is heard of it.
	queue := (&report{Kind: kindStatus, Repo: "acme/hello", SHA: sha}).queue()
	if _, ok, err := r.box.claim(ctx, queue, "dead-process", time.Now(), lease); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	died := time.Now()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	srv.WaitFor(t, 10*time.Second, "both statuses", func(s *githubserver.Server) bool {
		return len(s.Statuses("acme/hello", sha)) == 2
	})
	if took := time.Since(died); took < lease {
		t.Errorf("the reports were taken over after %v, before the dead process's lease of %v ended", took, lease)
	}
	st := srv.Statuses("acme/hello", sha)
	if st[0].State != "pending" || st[1].State != "success" {
		t.Errorf("statuses %s, %s; want pending, success", st[0].State, st[1].State)
	}
	// The dead process's lease is gone: what it would record now is refused.
	if ok, err := r.box.finish(ctx, queue, "dead-process", sent, time.Now(), time.Time{}, nil, ""); err != nil || ok {
		t.Errorf("the dead process's late finish: ok %v, err %v; want refused", ok, err)
	}
	fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
	defer fcancel()
	if err := r.Flush(fctx); err != nil {
		t.Error(err)
	}
}
