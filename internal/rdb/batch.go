package rdb

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// A worker running many jobs makes many small calls to Redis at once:
// each job's creation, transitions and updates, its finish (Records). Sent one by one, each is a round
// trip, and Redis spends more on reading and answering them than on the
// work. So scripts that many goroutines run go through a group commit:
// calls that arrive while earlier ones are on their way wait, and go
// together in one pipeline. A call that finds the line empty goes at
// once, so a lone call costs what it did; under load a pipeline carries
// as many calls as arrived during the last one's round trip.

// maxPipelines is how many pipelines may be on their way at once; the
// calls that arrive meanwhile wait for the next.
const maxPipelines = 4

// maxPipelined is the most calls one pipeline carries.
const maxPipelined = 256

// scriptCall is one script run waiting for its pipeline.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd
	done   chan struct{}
}

// groupCommit sends script runs in pipelines; see above. It starts no
// goroutine that outlives its calls.
type groupCommit struct {
	r redis.UniversalClient

	mu       sync.Mutex
	waiting  []*scriptCall
	flushing int // pipelines on their way, or about to be
}

// run runs script as Script.Run does, in a pipeline with whatever other
// calls are waiting, and returns its reply once it is in. A call whose
// ctx has ended is not sent; once sent, it is not taken back.
func (g *groupCommit) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	if err := ctx.Err(); err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	c := &scriptCall{script: script, keys: keys, args: args, done: make(chan struct{})}
	g.mu.Lock()
	g.waiting = append(g.waiting, c)
	lead := g.flushing < maxPipelines
	if lead {
		g.flushing++
	}
	g.mu.Unlock()
	if lead {
		if g.flushOnce() {
			go g.flushAll() // this call's own reply is in: let another goroutine carry on
		}
	}
	<-c.done
	return c.cmd
}

// flushOnce sends one pipeline of waiting calls. It reports whether more
// are waiting, in which case the caller must go on flushing; otherwise it
// has given up its pipeline slot.
func (g *groupCommit) flushOnce() (more bool) {
	g.mu.Lock()
	n := min(len(g.waiting), maxPipelined)
	batch := g.waiting[:n:n]
	g.waiting = g.waiting[n:]
	if len(g.waiting) == 0 {
		g.waiting = nil
	}
	g.mu.Unlock()
	g.exec(batch)
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.waiting) == 0 {
		g.flushing--
		return false
	}
	return true
}

func (g *groupCommit) flushAll() {
	for g.flushOnce() {
	}
}

// exec sends batch in one pipeline. A script Redis does not have (it
// restarted, or its scripts were flushed) did not run: it is sent again
// on its own, which loads it.
func (g *groupCommit) exec(batch []*scriptCall) {
	ctx := context.Background() // the calls' own: a caller that gives up does not fail the others
	if len(batch) == 1 {
		c := batch[0]
		c.cmd = c.script.Run(ctx, g.r, c.keys, c.args...)
		close(c.done)
		return
	}
	pipe := g.r.Pipeline()
	for _, c := range batch {
		c.cmd = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each call's error is in its cmd
	for _, c := range batch {
		if noScript(c.cmd.Err()) {
			c.cmd = c.script.Run(ctx, g.r, c.keys, c.args...)
		}
		close(c.done)
	}
}
