package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/internal/redistest"
)

// TestShort runs the program's short mode on a real Redis: every line the
// step prints must be in the stored log, and the result line printed.
func TestShort(t *testing.T) {
	rdb := redistest.Client(t)
	var out bytes.Buffer
	if err := run(context.Background(), rdb, 20000, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())
	if !strings.Contains(out.String(), "lines: 20000, all in the log") || !strings.Contains(out.String(), "result bench=logpath lines=20000 ") {
		t.Errorf("unexpected report:\n%s", out.String())
	}
	if keys, _ := rdb.Keys(context.Background(), "{gantry-logbench-*").Result(); len(keys) != 0 {
		t.Errorf("keys left behind: %v", keys)
	}
}
