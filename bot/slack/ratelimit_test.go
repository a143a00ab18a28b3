package slack

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// roomy limits keep tests of other things than the limits quick.
var roomy = map[string]Limit{"": {PerMinute: 6000, Burst: 100}, MethodUpdate: {PerMinute: 6000, Burst: 100}}

func testScheduler(limits map[string]Limit, onFatal func(error)) *Scheduler {
	return NewScheduler(SchedulerConfig{Limits: limits, Backoff: 10 * time.Millisecond, OnFatal: onFatal, Logger: quiet})
}

func TestSchedulerKeepsPerChannelRate(t *testing.T) {
	s := testScheduler(map[string]Limit{"m": {PerMinute: 6000, Burst: 100, PerChannelPerMinute: 600, ChannelBurst: 1}}, nil)
	defer s.Close()
	var mu sync.Mutex
	at := map[string][]time.Time{}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		for _, ch := range []string{"C1", "C2"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = s.Do(context.Background(), "m", ch, func(context.Context, int) error {
					mu.Lock()
					at[ch] = append(at[ch], time.Now())
					mu.Unlock()
					return nil
				})
			}()
		}
	}
	wg.Wait()
	for ch, times := range at {
		for i := 1; i < len(times); i++ {
			if d := times[i].Sub(times[i-1]); d < 90*time.Millisecond {
				t.Errorf("%s: calls %v apart, want 100ms (10 a second)", ch, d)
			}
		}
	}
	// Channels do not wait for each other.
	if d := at["C2"][0].Sub(at["C1"][0]); d > 50*time.Millisecond || d < -50*time.Millisecond {
		t.Errorf("the first calls into two channels were %v apart", d)
	}
}

func TestSchedulerPausesMethodForRetryAfter(t *testing.T) {
	s := testScheduler(roomy, nil)
	defer s.Close()
	var first atomic.Bool
	var limitedAt time.Time
	var mu sync.Mutex
	var calls []time.Time
	call := func(context.Context, int) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, time.Now())
		if first.CompareAndSwap(false, true) {
			limitedAt = time.Now()
			return &goslack.RateLimitedError{RetryAfter: 300 * time.Millisecond}
		}
		return nil
	}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Do(context.Background(), "chat.update", "", call); err != nil {
				t.Error(err)
			}
		}()
		time.Sleep(20 * time.Millisecond) // the others come while the method is paused
	}
	wg.Wait()
	if len(calls) != 4 {
		t.Fatalf("%d calls, want 4 (one 429 and three that went through)", len(calls))
	}
	for _, c := range calls[1:] {
		if d := c.Sub(limitedAt); d < 290*time.Millisecond {
			t.Errorf("a call came %v after the 429, within its Retry-After", d)
		}
	}
	// Other methods are not paused.
	start := time.Now()
	_ = s.Do(context.Background(), "chat.postMessage", "C1", func(context.Context, int) error { return nil })
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("another method waited %v", d)
	}
}

func TestSchedulerRetriesTransientFailuresOnly(t *testing.T) {
	var fatal []error
	s := testScheduler(roomy, func(err error) { fatal = append(fatal, err) })
	defer s.Close()
	tries := 0
	err := s.Do(context.Background(), "m", "", func(_ context.Context, attempt int) error {
		tries++
		if attempt != tries {
			t.Errorf("attempt %d on try %d", attempt, tries)
		}
		if tries < 3 {
			return goslack.StatusCodeError{Code: 503, Status: "503 Service Unavailable"}
		}
		return nil
	})
	if err != nil || tries != 3 {
		t.Errorf("transient failures: %v after %d tries, want success on the 3rd", err, tries)
	}
	tries = 0
	err = s.Do(context.Background(), "m", "", func(context.Context, int) error {
		tries++
		return goslack.SlackErrorResponse{Err: "channel_not_found"}
	})
	if errorCode(err) != "channel_not_found" || tries != 1 {
		t.Errorf("a permanent failure: %v after %d tries, want channel_not_found after 1", err, tries)
	}
	tries = 0
	err = s.Do(context.Background(), "m", "", func(context.Context, int) error {
		tries++
		return goslack.StatusCodeError{Code: 500}
	})
	if err == nil || tries != 5 {
		t.Errorf("always failing: %v after %d tries, want an error after 5", err, tries)
	}
	for i := 0; i < 2; i++ {
		err = s.Do(context.Background(), "m", "", func(context.Context, int) error { return goslack.SlackErrorResponse{Err: "token_revoked"} })
		if !IsFatalAuth(err) {
			t.Errorf("token_revoked: %v", err)
		}
	}
	if len(fatal) != 1 {
		t.Errorf("OnFatal was called %d times, want once", len(fatal))
	}
}

func TestSchedulerCoalescesEditsOfOneMessage(t *testing.T) {
	s := testScheduler(nil, nil)
	defer s.Close()
	var mu sync.Mutex
	var sent []int
	var at []time.Time
	edit := func(n int) Call {
		return func(context.Context, int) error {
			mu.Lock()
			defer mu.Unlock()
			sent = append(sent, n)
			at = append(at, time.Now())
			return nil
		}
	}
	var wg sync.WaitGroup
	for i := 1; i <= 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Edit(context.Background(), Normal, "chat.update", "C1", "C1/1", 150*time.Millisecond, edit(i)); err != nil {
				t.Error(err)
			}
		}()
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	mu.Lock()
	if len(sent) > 3 || sent[len(sent)-1] != 20 {
		t.Errorf("sent edits %v; want at most 3, the newest (20) last", sent)
	}
	for i := 1; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d < 140*time.Millisecond {
			t.Errorf("edits %v apart, want at least 150ms", d)
		}
	}
	mu.Unlock()
	// A closed scheduler fails what waits.
	s.Close()
	err := s.Edit(context.Background(), Normal, "chat.update", "C1", "C1/2", 0, edit(0))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("edit after Close: %v", err)
	}
}

// An urgent call (a job's final state) goes at once, ahead of background
// calls (live-log edits) that wait for the same limit, which leave part of
// the burst for it.
func TestSchedulerLetsUrgentCallsGoFirst(t *testing.T) {
	s := testScheduler(map[string]Limit{"m": {PerMinute: 600, Burst: 4}}, nil)
	defer s.Close()
	start := time.Now()
	var mu sync.Mutex
	var order []string
	var urgentAt time.Duration
	call := func(name string) Call {
		return func(context.Context, int) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, name)
			if name == "urgent" {
				urgentAt = time.Since(start)
			}
			return nil
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.DoPriority(context.Background(), Background, "m", "", call("background"))
		}()
	}
	time.Sleep(30 * time.Millisecond)
	if err := s.DoPriority(context.Background(), Urgent, "m", "", call("urgent")); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if urgentAt > 80*time.Millisecond {
		t.Errorf("the urgent call went after %v", urgentAt)
	}
	// Background calls keep three of the burst of 4: one went at once,
	// the urgent one second.
	if order[1] != "urgent" {
		t.Errorf("calls went in the order %v; want the urgent one second", order)
	}
}

// While an edit waits for its turn, a newer edit of the same message takes
// its place and lifts its priority: the newest content goes, ahead of
// another message's edit that waited longer.
func TestSchedulerEditTakesNewestAndHighestPriority(t *testing.T) {
	s := testScheduler(map[string]Limit{MethodUpdate: {PerMinute: 600, Burst: 1}}, nil)
	defer s.Close()
	var mu sync.Mutex
	var sent []string
	edit := func(name string) Call {
		return func(context.Context, int) error {
			mu.Lock()
			defer mu.Unlock()
			sent = append(sent, name)
			return nil
		}
	}
	// Take the one token, so that what follows waits.
	_ = s.DoPriority(context.Background(), Urgent, MethodUpdate, "", edit("first"))
	a := s.QueueEdit(Background, MethodUpdate, "C1", "live", 0, edit("live 1"))
	time.Sleep(5 * time.Millisecond)
	b := s.QueueEdit(Normal, MethodUpdate, "C1", "card", 0, edit("card running"))
	time.Sleep(5 * time.Millisecond)
	c := s.QueueEdit(Background, MethodUpdate, "C1", "live", 0, edit("live 2"))
	d := s.QueueEdit(Urgent, MethodUpdate, "C1", "live", 0, edit("live ended"))
	for _, ch := range []<-chan error{a, b, c, d} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	want := "first,live ended,card running"
	if got := strings.Join(sent, ","); got != want {
		t.Errorf("sent %s, want %s", got, want)
	}
}
