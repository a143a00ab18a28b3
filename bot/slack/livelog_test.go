package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/bot"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/internal/slackserver"
	"github.com/gantry-ci/gantry/jobs"
)

func TestLiveLogEditsAtMostOnceAnIntervalAndShowsTheEnd(t *testing.T) {
	srv := slackserver.New(t)
	rdb := redistest.Start(t)
	store := jobs.NewStore(rdb.RDB(), jobs.StoreConfig{})
	every := 400 * time.Millisecond
	s := newTestSurface(t, srv, SurfaceConfig{LiveLogEvery: every, Leases: store.Claims("host-a/1", 0)})
	ctx := context.Background()
	parent, err := s.Post(ctx, "C0BUILDS", "", bot.Message{Text: "#7"})
	if err != nil {
		t.Fatal(err)
	}
	j := &jobs.Job{ID: 7, Channel: "C0BUILDS", ThreadTS: parent}
	sink, err := s.LiveLog(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	// Another process may not show the same live log while this one does.
	other := newTestSurface(t, srv, SurfaceConfig{Leases: store.Claims("host-b/2", 0)})
	if _, err := other.LiveLog(ctx, j); !errors.Is(err, bot.ErrLiveLogElsewhere) {
		t.Errorf("a second process's live log: %v, want ErrLiveLogElsewhere", err)
	}

	start := time.Now()
	n := 0
	for time.Since(start) < 2*time.Second {
		var b strings.Builder
		for i := 0; i < 500; i++ {
			n++
			fmt.Fprintf(&b, "line %d <%d>\n", n, n)
		}
		if err := sink.Write(ctx, []byte(b.String())); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := sink.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	thread := srv.Thread("C0BUILDS", parent)
	if len(thread) != 2 {
		t.Fatalf("thread has %d messages, want the parent and the live log", len(thread))
	}
	live := thread[1]
	text := live.VisibleText()
	if !strings.Contains(text, fmt.Sprintf("line %d &lt;%d&gt;\n```", n, n)) || !strings.Contains(text, fmt.Sprintf("of %d lines · the job has ended", n)) {
		t.Errorf("the live log does not end with line %d:\n%s", n, text)
	}
	calls := len(live.Revisions) // the post and each edit
	if max := int(time.Since(start)/every) + 2; calls > max {
		t.Errorf("%d calls for %d lines in %v; want at most %d", calls, n, time.Since(start), max)
	}
	// The server stamps a call when it has read it: allow for its jitter.
	if d, ok := srv.MinInterval("chat.update", nil); ok && d < every-100*time.Millisecond {
		t.Errorf("edits %v apart, want at least %v", d, every)
	}
	// It shows the end: no process takes it up again.
	if _, err := other.LiveLog(ctx, j); !errors.Is(err, bot.ErrLiveLogEnded) {
		t.Errorf("after Close: %v, want ErrLiveLogEnded", err)
	}
}

func TestLiveLogOfAJobWithoutOutputPostsNothing(t *testing.T) {
	srv := slackserver.New(t)
	s := newTestSurface(t, srv, SurfaceConfig{LiveLogEvery: 10 * time.Millisecond})
	sink, err := s.LiveLog(context.Background(), &jobs.Job{ID: 1, Channel: "C0BUILDS"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if n := srv.CallCount(MethodPostMessage) + srv.CallCount(MethodUpdate); n != 0 {
		t.Errorf("%d calls for a job that printed nothing", n)
	}
}

// A live log stopped with its process (Close without the end) is taken up
// by the next one in the same message, from the point it had shown: its
// count of lines goes on, and its last edit ends with the job's last line.
func TestLiveLogResumesInTheSameMessageWhereItStopped(t *testing.T) {
	srv := slackserver.New(t)
	rdb := redistest.Start(t)
	store := jobs.NewStore(rdb.RDB(), jobs.StoreConfig{})
	every := 300 * time.Millisecond
	first := newTestSurface(t, srv, SurfaceConfig{LiveLogEvery: every, Leases: store.Claims("host-a/1", 0)})
	ctx := context.Background()
	parent, err := first.Post(ctx, "C0BUILDS", "", bot.Message{Text: "#9"})
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	for i := 1; i <= 6000; i++ {
		fmt.Fprintf(&log, "line %d of the build\n", i)
	}
	all := log.String()
	cut := strings.Index(all, "line 3001 ")
	j := &jobs.Job{ID: 9, Channel: "C0BUILDS", ThreadTS: parent}
	sink, err := first.LiveLog(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Write(ctx, []byte(all[:cut])); err != nil {
		t.Fatal(err)
	}
	srv.WaitFor(t, 5*time.Second, "the live log showing line 3000", func(s *slackserver.Server) bool {
		th := s.Thread("C0BUILDS", parent)
		return len(th) == 2 && strings.Contains(th[1].VisibleText(), "line 3000 of the build\n```")
	})
	if err := sink.Close(ctx, false); err != nil {
		t.Fatal(err)
	}

	second := newTestSurface(t, srv, SurfaceConfig{LiveLogEvery: every, Leases: store.Claims("host-b/2", 0)})
	again, err := second.LiveLog(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	from := again.(interface{ From() int64 }).From()
	if from <= 0 || from > int64(cut) {
		t.Fatalf("resumes from %d; want a little before %d", from, cut)
	}
	if err := again.Write(ctx, []byte(all[from:])); err != nil {
		t.Fatal(err)
	}
	if err := again.Close(ctx, true); err != nil {
		t.Fatal(err)
	}
	th := srv.Thread("C0BUILDS", parent)
	if len(th) != 2 {
		t.Fatalf("thread has %d messages, want the parent and one live log", len(th))
	}
	text := th[1].VisibleText()
	if !strings.Contains(text, "line 6000 of the build\n```") || !strings.Contains(text, "of 6000 lines · the job has ended") {
		t.Errorf("the resumed live log does not end with line 6000 of 6000:\n%s", text)
	}
}
