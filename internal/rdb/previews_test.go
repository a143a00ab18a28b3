package rdb_test

import (
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

func TestPreviewsCapCloseExpire(t *testing.T) {
	f := newFixture(t)
	s := rdb.NewPreviews(f.c, f.k)
	now := time.UnixMilli(time.Now().UnixMilli()) // the hashes expire a day after the previews, in real time
	open := func(job int64, exp time.Time) bool {
		t.Helper()
		ok, err := s.Open(ctx, rdb.Preview{Job: job, Runner: "local", Addr: "127.0.0.1:1", PR: 7, Expires: exp}, 2)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !open(1, now.Add(time.Hour)) || !open(2, now.Add(2*time.Hour)) {
		t.Fatal("the first two previews were refused")
	}
	if open(3, now.Add(time.Hour)) {
		t.Fatal("a third preview was recorded past the cap of 2")
	}
	if !open(2, now.Add(3*time.Hour)) {
		t.Fatal("a job's own preview, replaced, was counted against the cap")
	}
	if ok, _ := s.Extend(ctx, 9, now); ok {
		t.Fatal("extended a preview that does not run")
	}
	exp, err := s.Expired(ctx, now.Add(90*time.Minute))
	if err != nil || len(exp) != 1 || exp[0].Job != 1 || exp[0].PR != 7 {
		t.Fatalf("expired = %+v, %v; want job 1", exp, err)
	}
	if again, _ := s.Expired(ctx, now.Add(90*time.Minute)); len(again) != 0 {
		t.Fatalf("an expired preview was returned twice: %+v", again)
	}
	if ok, err := s.Extend(ctx, 2, now.Add(10*time.Hour)); !ok || err != nil {
		t.Fatal("extend", ok, err)
	}
	if exp, _ := s.Expired(ctx, now.Add(5*time.Hour)); len(exp) != 0 {
		t.Fatalf("an extended preview expired: %+v", exp)
	}
	p, ok, err := s.Close(ctx, 2)
	if !ok || err != nil || p.Addr != "127.0.0.1:1" || !p.Expires.Equal(now.Add(10*time.Hour)) {
		t.Fatalf("close = %+v %v %v", p, ok, err)
	}
	if _, ok, _ := s.Close(ctx, 2); ok {
		t.Fatal("closed twice")
	}
	if l, _ := s.List(ctx); len(l) != 0 {
		t.Fatalf("left %+v", l)
	}
	if f.raw.Exists(ctx, f.k.Preview(2), f.k.Previews()).Val() != 0 {
		t.Fatal("keys left behind")
	}
}
