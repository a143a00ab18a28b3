package bot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"

	"github.com/gantry-ci/gantry/say"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// recorder is a Surface that keeps what it was asked to show.
type recorder struct {
	mu      sync.Mutex
	name    string
	posts   []string // "thread|text"
	updates int
	n       int
}

func (r *recorder) Post(ctx context.Context, channel, threadTS string, m Message) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	r.posts = append(r.posts, threadTS+"|"+m.Text.Slack())
	return fmt.Sprintf("%s.%d", r.name, r.n), nil
}

func (r *recorder) Update(ctx context.Context, channel, ts string, m Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates++
	return nil
}

func (r *recorder) Upload(ctx context.Context, channel, threadTS string, f commands.File, comment string) error {
	return nil
}

func (r *recorder) LiveLog(ctx context.Context, j *jobs.Job) (LogSink, error) { return nopSink{}, nil }

type nopSink struct{}

func (nopSink) Write(context.Context, []byte) error { return nil }
func (nopSink) Close(context.Context, bool) error   { return nil }

// TestTwoProcessesShareEventsAndPostEachJobOnce runs two consumers of the
// slack group, as two bot processes: each event is shown once, and each
// job has one message however its events are split between them.
func TestTwoProcessesShareEventsAndPostEachJobOnce(t *testing.T) {
	rdb := redistest.Start(t)
	store := jobs.NewStore(rdb.RDB(), jobs.StoreConfig{})
	log := jobs.NewLog(store, jobs.LogConfig{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := &recorder{name: "a"}, &recorder{name: "b"}
	var wg sync.WaitGroup
	for i, r := range []*recorder{a, b} {
		th := NewThreads(store, log, r, ThreadsConfig{Logger: quiet, Claim: store.FirstSeen})
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = th.ConsumeGroup(ctx, GroupConfig{Consumer: fmt.Sprintf("host/%d", i)})
		}()
	}
	// The group must exist before the events it is to see.
	if err := store.CreateEventGroup(ctx, "slack"); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := 0; i < n; i++ {
		j := &jobs.Job{Kind: jobs.Build, Repo: "hello", Channel: "C0BUILDS", Requester: "U0ALICE",
			Plan: spec.Plan{Steps: []spec.Step{{Name: "make"}}}}
		if err := store.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 3; k++ {
			if err := store.Announce(ctx, j.ID, jobs.EventNote, say.F("note %d of job %d", k, j.ID)); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		a.mu.Lock()
		b.mu.Lock()
		total := len(a.posts) + len(b.posts)
		a.mu.Unlock()
		b.mu.Unlock()
		if total >= n*4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // anything posted twice shows up now
	cancel()
	wg.Wait()

	count := map[string]int{}
	jobMessages := 0
	for _, r := range []*recorder{a, b} {
		for _, p := range r.posts {
			count[p]++
			if p[0] == '|' {
				jobMessages++
			}
		}
	}
	if jobMessages != n {
		t.Errorf("%d job messages for %d jobs", jobMessages, n)
	}
	notes := 0
	for p, c := range count {
		if c > 1 {
			t.Errorf("shown %d times: %s", c, p)
		}
		if p[0] != '|' {
			notes++
		}
	}
	if notes != 3*n {
		t.Errorf("%d notes shown, want %d", notes, 3*n)
	}
	if len(a.posts) == 0 || len(b.posts) == 0 {
		t.Logf("one process did all the work (a %d, b %d)", len(a.posts), len(b.posts))
	}
	// Every job's thread is recorded for reactions and buttons.
	for id := int64(1); id <= n; id++ {
		j, err := store.Get(context.Background(), id)
		if err != nil || j.ThreadTS == "" {
			t.Errorf("job #%d has no thread: %v", id, err)
		}
	}
}
