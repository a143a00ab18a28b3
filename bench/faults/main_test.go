package main

import (
	"flag"
	"log"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary be the program's worker process too: the
// runs start it again with -child, as they start the program.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		fs := flag.NewFlagSet("child", flag.ExitOnError)
		_, wa := childFlags(fs)
		_ = fs.Parse(os.Args[1:])
		if err := runWorker(*wa); err != nil {
			log.Fatal(err)
		}
		return
	}
	os.Exit(m.Run())
}

// TestShort runs the program's short mode on real redis-server processes
// and real worker processes: a worker killed mid-job and Redis restarted
// mid-job, and nothing may be lost, doubled or run twice at once.
func TestShort(t *testing.T) {
	cfg := &config{lease: 15 * time.Second, outage: 20 * time.Second, fsync: "always"}
	counts := shortConfig(cfg)
	rows, text, err := runFaults(cfg, counts)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(text)
	if len(rows) != len(counts) {
		t.Fatalf("%d faults ran, want %d", len(rows), len(counts))
	}
	for _, r := range rows {
		if r.t.runs != counts[r.f.name] || r.t.jobs != r.t.runs*cfg.jobs {
			t.Errorf("%s: %d runs of %d jobs, want %d of %d", r.f.name, r.t.runs, r.t.jobs, counts[r.f.name], cfg.jobs)
		}
		if !r.t.zero() {
			t.Errorf("%s: %+v", r.f.name, r.t)
		}
	}
	if !strings.Contains(text, "| worker `kill -9` mid-job") {
		t.Errorf("the report has no row for the kill:\n%s", text)
	}
}
