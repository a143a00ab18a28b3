package rdb_test

import (
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// takeScript: with every class waiting, 15 takes of one delivery give the
// classes their weights (8, 4, 2, 1), in an order that starts with a
// deploy; a class that starts waiting competes from zero; each delivery
// names its stream.
func TestTakeWeighsTheClasses(t *testing.T) {
	f := newFixture(t)
	q := newQueue(t, f)
	id := int64(0)
	for _, class := range rdb.Classes {
		for range 30 {
			id++
			f.raw.XAdd(ctx, redisXAdd(f.k.QueueOf(class), id))
		}
	}
	count := map[string]int{}
	for i := range 15 {
		ds, err := q.Take(ctx, "w1", 1, 0)
		if err != nil || len(ds) != 1 {
			t.Fatalf("take %d: %v, %v", i, ds, err)
		}
		class := ""
		for _, c := range rdb.Classes {
			if ds[0].Stream == f.k.QueueOf(c) {
				class = c
			}
		}
		if i == 0 && class != "deploy" {
			t.Errorf("the first take is a %s job, want a deploy", class)
		}
		count[class]++
	}
	if count["deploy"] != 8 || count["typed"] != 4 || count["webhook"] != 2 || count["schedule"] != 1 {
		t.Errorf("15 takes gave %v; want deploy 8, typed 4, webhook 2, schedule 1", count)
	}

	// A batch of several from one class alone comes in one read.
	g := newFixture(t)
	q2 := newQueue(t, g)
	for i := range int64(50) {
		g.raw.XAdd(ctx, redisXAdd(g.k.QueueOf("webhook"), i+1))
	}
	ds, err := q2.Take(ctx, "w1", 40, 0)
	if err != nil || len(ds) != 40 || ds[0].Job != 1 || ds[39].Job != 40 {
		t.Fatalf("take of 40 from one class: %d, %v", len(ds), err)
	}
	// A deploy that comes after them is the next taken.
	g.raw.XAdd(ctx, redisXAdd(g.k.QueueOf("deploy"), 99))
	ds, err = q2.Take(ctx, "w1", 1, 0)
	if err != nil || len(ds) != 1 || ds[0].Job != 99 {
		t.Fatalf("take after a deploy came: %v, %v; want the deploy, #99", ds, err)
	}
}

// An empty queue makes Take wait for new work, which it takes as soon as
// it comes; a stream without its group is created again.
func TestTakeWaitsForWork(t *testing.T) {
	f := newFixture(t)
	q := newQueue(t, f)
	got := make(chan []rdb.Delivery, 1)
	go func() {
		ds, _ := q.Take(ctx, "w1", 5, 10*time.Second)
		got <- ds
	}()
	// Most likely the taker is blocked by now; either way it must take the
	// job well within its 10 s wait.
	time.Sleep(100 * time.Millisecond)
	f.raw.XAdd(ctx, redisXAdd(f.k.QueueOf("schedule"), 7))
	select {
	case ds := <-got:
		if len(ds) != 1 || ds[0].Job != 7 || ds[0].Stream != f.k.QueueOf("schedule") {
			t.Fatalf("took %+v, want job 7 from the schedule stream", ds)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("Take did not wake for new work")
	}

	f.raw.Del(ctx, f.k.QueueOf("webhook"))
	f.raw.XAdd(ctx, redisXAdd(f.k.QueueOf("webhook"), 8)) // a stream with no group
	if ds, err := q.Take(ctx, "w1", 1, 0); err != nil || len(ds) != 0 {
		t.Fatalf("take with a group missing: %v, %v; want nothing, no error (the group is made)", ds, err)
	}
	if ds, err := q.Take(ctx, "w1", 1, 0); err != nil || len(ds) != 1 || ds[0].Job != 8 {
		t.Fatalf("take after the group was made: %v, %v; want job 8", ds, err)
	}
}

// Depth counts what waits and what is held on every class's stream.
func TestDepthCountsEveryClass(t *testing.T) {
	f := newFixture(t)
	q := newQueue(t, f)
	for i, class := range rdb.Classes {
		f.raw.XAdd(ctx, redisXAdd(f.k.QueueOf(class), int64(i+1)))
	}
	if _, err := q.Take(ctx, "w1", 1, 0); err != nil {
		t.Fatal(err)
	}
	waiting, held, err := q.Depth(ctx)
	if err != nil || waiting != 3 || held != 1 {
		t.Fatalf("depth = %d waiting, %d held, %v; want 3 and 1", waiting, held, err)
	}
}
