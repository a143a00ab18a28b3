package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"
)

// fault is one kind of fault, injected once per run.
type fault struct {
	name     string
	lines    int // each job's step prints this many, one every 100 ms
	at       int // the fault comes once the first job's log has this line
	sentinel bool
	kill     bool // a worker is killed: its lease is the short one
	inject   func(r *run) error
}

// run is one run of one fault: a fresh Redis, two worker processes, some
// jobs, the fault, and what came of it.
type run struct {
	cfg     *config
	fault   *fault
	dir     string
	single  *server
	setup   *sentinelSetup
	rdb     redis.UniversalClient
	store   *jobs.Store
	log     *jobs.Log
	workers map[string]*workerProc
	jobs    []benchJob
	said    logCounts
}

// benchJob is a job of a run and the files its step writes.
type benchJob struct {
	id   int64
	runs string
}

// stepScript is the step of every job: n numbered lines under an
// exclusive lock, with the run's start and end recorded.
const stepScript = `exec 9>>"$FAULTS_LOCK"
if ! flock -n 9; then echo "overlap $$ $(date +%%s.%%N)" >> "$FAULTS_RUNS"; exit 3; fi
echo "start $$ $(date +%%s.%%N)" >> "$FAULTS_RUNS"
for i in $(seq 1 %d); do echo "line $i $$"; sleep 0.1; done
echo "end $$ $(date +%%s.%%N)" >> "$FAULTS_RUNS"`

// do carries out the run and returns its tally.
func (r *run) do() (tally, error) {
	t, err := r.stage()
	r.close()
	r.said = countLogs(r.workers)
	return t, err
}

// stage starts everything, injects the fault mid-job and measures.
func (r *run) stage() (tally, error) {
	if err := r.startRedis(); err != nil {
		return tally{}, err
	}
	for _, name := range []string{"a", "b"} {
		if err := r.startWorker(name); err != nil {
			return tally{}, err
		}
	}
	if err := r.queueJobs(); err != nil {
		return tally{}, err
	}
	mark := fmt.Sprintf("line %d ", r.fault.at)
	if err := waitFor(2*time.Minute, func() error { return r.logHas(r.jobs[0].id, mark) }); err != nil {
		return tally{}, fmt.Errorf("before the fault: %w", err)
	}
	if err := r.fault.inject(r); err != nil {
		return tally{}, fmt.Errorf("inject %s: %w", r.fault.name, err)
	}
	return r.measure(), nil
}

func (r *run) startRedis() error {
	var err error
	if r.fault.sentinel {
		r.setup, err = startSentinelSetup(filepath.Join(r.dir, "redis"))
		if err != nil {
			return err
		}
		r.rdb = redis.NewFailoverClient(&redis.FailoverOptions{MasterName: masterName, SentinelAddrs: r.setup.sentinelAddrs()})
	} else {
		dir := filepath.Join(r.dir, "redis")
		r.single, err = startServer(dir, dataArgs(dir, true, r.cfg.fsync)...)
		if err != nil {
			return err
		}
		r.rdb = redis.NewClient(&redis.Options{Addr: r.single.addr()})
	}
	r.store = jobs.NewStore(rdb.New(r.rdb), jobs.StoreConfig{})
	r.log = jobs.NewLog(r.store, jobs.LogConfig{}, nil)
	return nil
}

// startWorker starts worker process name on the run's Redis.
func (r *run) startWorker(name string) error {
	a := workerArgs{name: name, workDir: filepath.Join(r.dir, "work"), lease: r.cfg.lease}
	if r.fault.kill {
		a.lease = r.cfg.killLease
	}
	if r.setup != nil {
		a.sentinels = strings.Join(r.setup.sentinelAddrs(), ",")
	} else {
		a.redis = r.single.addr()
	}
	if err := os.MkdirAll(a.workDir, 0o755); err != nil {
		return err
	}
	p, err := startWorkerProc(a, filepath.Join(r.dir, "worker-"+name+".log"))
	if err != nil {
		return err
	}
	r.workers[name] = p
	return nil
}

// queueJobs queues the run's jobs, each with its own lock and runs file.
func (r *run) queueJobs() error {
	src := filepath.Join(r.dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	for i := range r.cfg.jobs {
		runs := filepath.Join(r.dir, fmt.Sprintf("job%d.runs", i))
		plan := spec.Plan{
			Name: "branch", Timeout: 30 * time.Minute,
			Env: map[string]string{
				"FAULTS_LOCK": filepath.Join(r.dir, fmt.Sprintf("job%d.lock", i)), "FAULTS_RUNS": runs,
			},
			Steps: []spec.Step{{Name: "numbered lines", Run: fmt.Sprintf(stepScript, r.fault.lines)}},
		}
		j := &jobs.Job{Kind: jobs.Build, Repo: "faults", Source: jobs.SourceDir, Path: src, Plan: plan,
			Requester: "U1", Origin: "chat", Channel: "C1"}
		if err := r.store.Create(context.Background(), j); err != nil {
			return err
		}
		r.jobs = append(r.jobs, benchJob{id: j.ID, runs: runs})
	}
	return nil
}

// logHas reports nil once job id's stored log contains s.
func (r *run) logHas(id int64, s string) error {
	b, err := r.log.All(context.Background(), id)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), s) {
		return fmt.Errorf("the log of job #%d has no %q yet", id, strings.TrimSpace(s))
	}
	return nil
}

// measure waits for each job to end and counts what its log lost.
func (r *run) measure() tally {
	t := tally{runs: 1}
	// Long enough for a rerun after the slowest recovery: a lapsed
	// lease, a failover, then the whole step again.
	deadline := time.Now().Add(5*time.Minute + time.Duration(r.fault.lines)*100*time.Millisecond)
	for _, bj := range r.jobs {
		t.jobs++
		j, err := r.waitFinal(bj.id, deadline)
		if err != nil {
			t.lost++
			t.notes = append(t.notes, fmt.Sprintf("job #%d: %v", bj.id, err))
			continue
		}
		if j.State != jobs.Succeeded {
			t.notSucceeded++
			t.notes = append(t.notes, fmt.Sprintf("job #%d ended %s: %s", bj.id, j.State, j.Reason))
		}
		log, err := r.readLog(bj.id)
		if err != nil {
			t.notes = append(t.notes, fmt.Sprintf("job #%d: %v", bj.id, err))
		}
		runsFile, _ := os.ReadFile(bj.runs)
		m := measureJob(string(log), string(runsFile), r.fault.lines)
		for i := range m.notes {
			m.notes[i] = fmt.Sprintf("job #%d: %s", bj.id, m.notes[i])
		}
		m.runs, m.jobs = 0, 0
		t.add(m)
	}
	return t
}

// waitFinal polls job id until its state is final, riding out Redis
// errors, until deadline.
func (r *run) waitFinal(id int64, deadline time.Time) (*jobs.Job, error) {
	var j *jobs.Job
	err := waitFor(time.Until(deadline), func() error {
		var err error
		if j, err = r.store.Get(context.Background(), id); err != nil {
			return err
		}
		if !j.State.Final() {
			return fmt.Errorf("still %s", j.State)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("never reached a final state: %w", err)
	}
	return j, nil
}

func (r *run) readLog(id int64) ([]byte, error) {
	var b []byte
	err := waitFor(time.Minute, func() error {
		var err error
		b, err = r.log.All(context.Background(), id)
		return err
	})
	return b, err
}

// close stops the workers and the Redis processes.
func (r *run) close() {
	for _, p := range r.workers {
		p.stop(15 * time.Second)
	}
	if r.rdb != nil {
		_ = r.rdb.Close()
	}
	if r.single != nil {
		r.single.kill()
	}
	if r.setup != nil {
		r.setup.kill()
	}
}

// The faults.

// killWorker kills the worker that holds the first job with SIGKILL, and
// starts another in its place, as a supervisor would; it sweeps what the
// dead one left. The job goes to a live worker once its lease lapses.
func killWorker(r *run) error {
	var holder string
	err := waitFor(time.Minute, func() error {
		var err error
		holder, err = jobs.NewQueue(r.store).LeaseHolder(context.Background(), r.jobs[0].id)
		if err == nil && holder == "" {
			err = errors.New("no worker holds the job")
		}
		return err
	})
	if err != nil {
		return err
	}
	p := r.workers[holder]
	if p == nil {
		return fmt.Errorf("the job is held by %q, not one of the run's workers", holder)
	}
	p.kill9()
	return r.startWorker("c")
}

// restartRedis kills Redis (SIGKILL) and starts it again with its
// append-only file after down.
func restartRedis(down time.Duration) func(r *run) error {
	return func(r *run) error {
		r.single.kill()
		time.Sleep(down)
		return r.single.startAgain()
	}
}

// freezeRedis stops Redis (SIGSTOP) for a while: connections stay open and
// every command hangs, as behind a network partition; then wakes it.
func freezeRedis(d time.Duration) func(r *run) error {
	return func(r *run) error {
		if err := r.single.signal(syscall.SIGSTOP); err != nil {
			return err
		}
		time.Sleep(d)
		return r.single.signal(syscall.SIGCONT)
	}
}

// failOver kills the master; the sentinels promote the replica.
func failOver(r *run) error {
	old, err := r.setup.killMaster()
	if err != nil {
		return err
	}
	_, err = r.setup.waitForFailover(old, 2*time.Minute)
	return err
}

// logCounts is what the workers of a run logged about the faults.
type logCounts struct {
	buffered, fenced, repaired, conflicts int
}

func (c *logCounts) add(o logCounts) {
	c.buffered += o.buffered
	c.fenced += o.fenced
	c.repaired += o.repaired
	c.conflicts += o.conflicts
}

// countLogs counts, in the workers' logs, the messages that say what the
// log path and the lease did under the fault.
func countLogs(workers map[string]*workerProc) logCounts {
	var c logCounts
	for _, p := range workers {
		b, _ := os.ReadFile(p.logf)
		s := string(b)
		c.buffered += strings.Count(s, `"msg":"cannot write job log to Redis; keeping output until it is back"`)
		c.fenced += strings.Count(s, `"msg":"could not renew the lease of a running job; stopping it before the lease lapses"`)
		c.repaired += strings.Count(s, `"msg":"job log in Redis is shorter than what was written; putting the tail back"`)
		c.conflicts += strings.Count(s, `"msg":"job log has bytes this writer did not write; appending after them"`)
	}
	return c
}
