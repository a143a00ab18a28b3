package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A run that lost its job keeps nothing more: output it held while Redis
// was away does not land among the next run's when Redis is back.
func TestAbandonedWriterLeavesTheLogToTheNextRun(t *testing.T) {
	e := newEnv(t)
	if !e.srv.Real {
		t.Fatal("this test needs a real redis-server to stop: install redis-server")
	}
	ctx := context.Background()
	first := e.log.Writer(ctx, 7)
	first.Line("run 1 before the outage")
	if err := first.Flush(); err != nil {
		t.Fatal(err)
	}
	e.srv.Stop()
	for i := 0; i < 50; i++ {
		first.Line("run 1 while Redis is away")
	}
	done := make(chan struct{})
	go func() { first.Abandon(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Abandon waited for Redis")
	}
	e.srv.StartAgain()
	second := e.log.Writer(ctx, 7)
	second.Line("run 2")
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	all, err := e.log.All(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(all), "while Redis is away") || !strings.HasSuffix(string(all), "run 2\n") {
		t.Errorf("log after the abandoned run:\n%s", all)
	}
	if first.Dropped() == 0 {
		t.Error("the abandoned output is not counted as dropped")
	}
}
