// Command faults runs gantry's real job path against real redis-server
// processes and injects one fault per run while jobs run: a worker killed
// with SIGKILL (another takes the job over), Redis killed and started again
// with its append-only file, Redis unreachable for 20 s (down, or frozen
// with SIGSTOP), and a Sentinel failover (master killed, replica
// promoted). Each run has a fresh Redis, two worker processes (this
// program with -child: gantry's store, queue, job log, local runner and
// worker) and a few jobs whose step prints numbered lines every 100 ms.
// It counts jobs lost (no final state), numbered lines lost or stored
// twice, and jobs run twice at the same time, and prints a table.
//
//	go run ./bench/faults                         # a quick run: a few of each
//	go run ./bench/faults -short                  # a worker killed, Redis restarted: one short job each
//	go run ./bench/faults -kill 20 -restart 10 -unreachable 10 -frozen 10 -failover 5 -out faults.md
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// config is what every run shares.
type config struct {
	jobs        int
	lease       time.Duration // the workers' lease TTL
	killLease   time.Duration // the same when a worker is killed: how soon another takes over
	outage      time.Duration
	restartDown time.Duration
	fsync       string
	keep        bool
	short       bool // each job's step prints a few lines only
}

func main() {
	child, wa := childFlags(flag.CommandLine)
	counts := map[string]*int{
		"kill":        flag.Int("kill", 2, "runs with a worker killed (SIGKILL) mid-job"),
		"restart":     flag.Int("restart", 2, "runs with Redis killed and started again with its append-only file"),
		"unreachable": flag.Int("unreachable", 1, "runs with Redis down for -outage"),
		"frozen":      flag.Int("frozen", 1, "runs with Redis frozen (SIGSTOP) for -outage"),
		"failover":    flag.Int("failover", 1, "runs with a Sentinel failover"),
	}
	cfg := &config{}
	flag.IntVar(&cfg.jobs, "jobs", 2, "jobs per run")
	flag.DurationVar(&cfg.lease, "lease", 15*time.Second, "workers' lease TTL (gantry's default is 15s)")
	flag.DurationVar(&cfg.killLease, "kill-lease", 3*time.Second, "workers' lease TTL in the kill runs")
	flag.DurationVar(&cfg.outage, "outage", 20*time.Second, "how long Redis is unreachable")
	flag.DurationVar(&cfg.restartDown, "restart-down", 3*time.Second, "how long a restarted Redis stays down")
	flag.StringVar(&cfg.fsync, "fsync", "always", "appendfsync of the single Redis: always or everysec")
	flag.BoolVar(&cfg.keep, "keep", false, "keep every run's directory (logs, Redis files), not only those of runs that went wrong")
	out := flag.String("out", "", "also write the result to this file")
	short := flag.Bool("short", false, "a run of a few seconds: one worker killed and one Redis restart, one job of 20 lines each")
	flag.Parse()
	if *child {
		if err := runWorker(*wa); err != nil {
			log.Fatal(err)
		}
		return
	}
	n := map[string]int{}
	for name, c := range counts {
		n[name] = *c
	}
	if *short {
		n = shortConfig(cfg)
	}
	rows, text, err := runFaults(cfg, n)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(text)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(text), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	for _, r := range rows {
		if !r.t.zero() {
			os.Exit(1)
		}
	}
}

// shortConfig makes cfg a run of a few seconds and returns how many runs
// of each fault it makes: a worker killed (its lease 1s) and Redis
// restarted (down 1s), one job of 20 lines each.
func shortConfig(cfg *config) map[string]int {
	cfg.short, cfg.jobs = true, 1
	cfg.killLease, cfg.restartDown = time.Second, time.Second
	return map[string]int{"kill": 1, "restart": 1}
}

// runFaults makes counts[name] runs of each fault and returns their rows
// and the report.
func runFaults(cfg *config, counts map[string]int) ([]row, string, error) {
	for _, bin := range []string{"redis-server", "flock", "bash"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, "", fmt.Errorf("%s is needed: %w", bin, err)
		}
	}
	root, err := os.MkdirTemp("", "gantry-faults-")
	if err != nil {
		return nil, "", err
	}
	began, loadBefore := time.Now(), loadavg()
	var rows []row
	for _, f := range faults(cfg) {
		if n := counts[f.name]; n > 0 {
			rw, err := runAll(cfg, f, n, root)
			if err != nil {
				return nil, "", err
			}
			rows = append(rows, rw)
		}
	}
	if !cfg.keep {
		removeIfEmpty(root)
	}
	return rows, report(rows, cfg, time.Since(began), loadBefore, loadavg()), nil
}

// faults are the kinds of fault, in the order they run.
func faults(cfg *config) []*fault {
	fs := []*fault{
		{name: "kill", lines: 60, at: 20, kill: true, inject: killWorker},
		{name: "restart", lines: 60, at: 15, inject: restartRedis(cfg.restartDown)},
		{name: "unreachable", lines: 300, at: 30, inject: restartRedis(cfg.outage)},
		{name: "frozen", lines: 300, at: 30, inject: freezeRedis(cfg.outage)},
		{name: "failover", lines: 100, at: 15, sentinel: true, inject: failOver},
	}
	if cfg.short {
		for _, f := range fs {
			f.lines, f.at = 20, 5
		}
	}
	return fs
}

// row is what the runs of one fault came to.
type row struct {
	f     *fault
	t     tally
	said  logCounts
	times []time.Duration
}

// runAll runs fault f n times, one after the other. An error says a run
// could not be staged.
func runAll(cfg *config, f *fault, n int, root string) (row, error) {
	rw := row{f: f}
	for i := 1; i <= n; i++ {
		dir := filepath.Join(root, fmt.Sprintf("%s-%02d", f.name, i))
		r := &run{cfg: cfg, fault: f, dir: dir, workers: map[string]*workerProc{}}
		began := time.Now()
		t, err := r.do()
		took := time.Since(began)
		if err != nil {
			// The run could not be staged: that is the bench's trouble,
			// not a fault gantry survived or not. Say so, and stop.
			return rw, fmt.Errorf("%s run %d: %w (see %s)", f.name, i, err, dir)
		}
		rw.t.add(t)
		rw.said.add(r.said)
		rw.times = append(rw.times, took)
		fmt.Fprintf(os.Stderr, "%-11s %2d/%d: %d jobs, lost %d, lines lost %d, twice %d, run twice at once %d, reruns %d, fenced %d, took %s\n",
			f.name, i, n, t.jobs, t.lost, t.linesLost, t.linesTwice, t.together, t.reruns, r.said.fenced, took.Round(100*time.Millisecond))
		for _, note := range t.notes {
			fmt.Fprintf(os.Stderr, "    %s\n", note)
		}
		if t.zero() && !cfg.keep {
			_ = os.RemoveAll(dir)
		} else if !t.zero() {
			fmt.Fprintf(os.Stderr, "    kept %s\n", dir)
		}
	}
	return rw, nil
}

// titles say what each fault does, for the table.
var titles = map[string]string{
	"kill":        "worker `kill -9` mid-job, another worker takes over",
	"restart":     "Redis killed, down %s, started again with its AOF",
	"unreachable": "Redis unreachable %s (down: connections refused)",
	"frozen":      "Redis unreachable %s (frozen with SIGSTOP: commands hang)",
	"failover":    "Sentinel failover (master killed, replica promoted)",
}

func (rw row) title(cfg *config) string {
	t := titles[rw.f.name]
	switch rw.f.name {
	case "restart":
		return fmt.Sprintf(t, cfg.restartDown)
	case "unreachable", "frozen":
		return fmt.Sprintf(t, cfg.outage)
	}
	return t
}

// report is the tables and the machine they were measured on.
func report(rows []row, cfg *config, took time.Duration, loadBefore, loadAfter string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n| fault | runs | jobs | jobs lost | lines lost | lines duplicated | jobs run twice at once |\n|---|---|---|---|---|---|---|\n")
	for _, rw := range rows {
		t := rw.t
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d |\n", rw.title(cfg), t.runs, t.jobs, t.lost, t.linesLost, t.linesTwice, t.together)
	}
	fmt.Fprintf(&b, "\n| fault | jobs not succeeded | lines out of order or unknown | reruns of a step | lines of a stopped run stored after the next run began | log writers that buffered | steps fenced | log tails put back | run took (median, max) |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, rw := range rows {
		t, s := rw.t, rw.said
		med, most := spread(rw.times)
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %s, %s |\n", rw.f.name, t.notSucceeded, t.outOfOrder+t.strange,
			t.reruns, t.interleaved, s.buffered, s.fenced, s.repaired, med, most)
	}
	redisVersion, _ := exec.Command("redis-server", "--version").Output()
	fmt.Fprintf(&b, "\n%d jobs per run, 2 worker processes (2 jobs each at most); lease %s (%s in the kill runs); single Redis with appendfsync %s.\n",
		cfg.jobs, cfg.lease, cfg.killLease, cfg.fsync)
	fmt.Fprintf(&b, "Machine: %d CPUs, %s, %s; cgroup v2: %v. Load average before %s, after %s. Took %s.\n",
		runtime.NumCPU(), runtime.Version(), strings.TrimSpace(firstWords(string(redisVersion), 3)), cgroupV2(),
		loadBefore, loadAfter, took.Round(time.Second))
	return b.String()
}

func spread(ds []time.Duration) (median, most time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(100 * time.Millisecond), s[len(s)-1].Round(100 * time.Millisecond)
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return firstWords(string(b), 3)
}

func firstWords(s string, n int) string {
	f := strings.Fields(s)
	return strings.Join(f[:min(n, len(f))], " ")
}

func cgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// removeIfEmpty removes dir if no run left anything in it.
func removeIfEmpty(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); err == io.EOF {
		_ = os.Remove(dir)
	}
}
