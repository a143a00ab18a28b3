package web_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/web"
)

// shortLimits are timeouts a test can wait out.
var shortLimits = web.Limits{
	ReadHeaderTimeout: 300 * time.Millisecond,
	ReadTimeout:       600 * time.Millisecond,
	WriteTimeout:      400 * time.Millisecond,
	IdleTimeout:       400 * time.Millisecond,
}

// served is a web.Server serving on a real listener, as gantry serves it,
// with its timeouts.
type served struct {
	*fixture
	addr string
}

func serve(t *testing.T, lim web.Limits, webhooks int) *served {
	t.Helper()
	f := &fixture{now: time.Now()}
	f.redis = redistest.Client(t)
	f.store = jobs.NewStore(rdb.New(f.redis), jobs.StoreConfig{})
	f.log = jobs.NewLog(f.store, jobs.LogConfig{FlushEvery: 10 * time.Millisecond}, nil)
	f.links = web.NewLinks("http://gantry.test", []byte("0123456789abcdef0123"), time.Hour, func() time.Time { return f.now })
	quiet := slog.New(slog.DiscardHandler)
	inbox := web.NewInbox(rdb.New(f.redis), web.InboxConfig{Handle: func(context.Context, *scm.WebhookEvent) error { return nil }})
	hook := web.GitHubWebhook(web.WebhookConfig{
		Secret: []byte(hookSecret), Inbox: inbox, MaxBodies: webhooks, SpoolDir: t.TempDir(), Logger: quiet,
	})
	s := web.New(web.Deps{Store: f.store, Log: f.log, Links: f.links, Webhook: hook, Logger: quiet, Poll: 20 * time.Millisecond, Limits: lim})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &served{fixture: f, addr: l.Addr().String()}
}

// closedWithin reads conn until the server closes it and reports how long
// that took; it fails the test when the server keeps it open for limit.
func closedWithin(t *testing.T, conn net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, conn)
	took := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %v", limit)
	}
	return took
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestSlowClientsAndIdleConnectionsAreClosed(t *testing.T) {
	s := serve(t, shortLimits, 0)

	t.Run("a body dribbled a byte at a time", func(t *testing.T) {
		conn := dial(t, s.addr)
		fmt.Fprintf(conn, "POST /webhooks/github HTTP/1.1\r\nHost: gantry\r\nContent-Type: application/json\r\n"+
			"X-GitHub-Event: push\r\nX-GitHub-Delivery: slow-1\r\nX-Hub-Signature-256: sha256=%s\r\nContent-Length: 100000\r\n\r\n", strings.Repeat("0", 64))
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
					if _, err := conn.Write([]byte("{")); err != nil {
						return
					}
				}
			}
		}()
		took := closedWithin(t, conn, 5*time.Second)
		t.Logf("dribbled body closed after %v (read timeout %v)", took, shortLimits.ReadTimeout)
		if took > shortLimits.ReadTimeout+time.Second {
			t.Errorf("closed after %v, want within the read timeout %v", took, shortLimits.ReadTimeout)
		}
	})

	t.Run("headers that never end", func(t *testing.T) {
		conn := dial(t, s.addr)
		fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: gantry\r\n")
		go func() {
			for range 100 {
				time.Sleep(50 * time.Millisecond)
				if _, err := conn.Write([]byte("X-A: b\r\n")); err != nil {
					return
				}
			}
		}()
		if took := closedWithin(t, conn, 5*time.Second); took > shortLimits.ReadHeaderTimeout+time.Second {
			t.Errorf("closed after %v, want within the header timeout %v", took, shortLimits.ReadHeaderTimeout)
		}
	})

	t.Run("an idle keep-alive connection", func(t *testing.T) {
		conn := dial(t, s.addr)
		br := bufio.NewReader(conn)
		for range 2 { // the connection is reused, then left idle
			fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: gantry\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Close {
				t.Fatalf("healthz answered %d, close %v", resp.StatusCode, resp.Close)
			}
		}
		took := closedWithin(t, conn, 5*time.Second)
		t.Logf("idle connection closed after %v (idle timeout %v)", took, shortLimits.IdleTimeout)
		if took > shortLimits.IdleTimeout+time.Second {
			t.Errorf("closed after %v, want within the idle timeout %v", took, shortLimits.IdleTimeout)
		}
	})

	t.Run("a live page outlives the write timeout", func(t *testing.T) {
		j := s.job(t, "first")
		ctx := context.Background()
		if _, err := s.store.Transition(ctx, j.ID, jobs.Change{From: []jobs.State{jobs.Queued}, To: jobs.Running}); err != nil {
			t.Fatal(err)
		}
		link := strings.Replace(s.links.Job(j.ID), "http://gantry.test/jobs/"+strconv.FormatInt(j.ID, 10)+"?",
			"http://"+s.addr+"/jobs/"+strconv.FormatInt(j.ID, 10)+"/events?", 1)
		resp, err := http.Get(link + "&from=6")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		w := s.log.Writer(ctx, j.ID)
		for i := range 3 {
			time.Sleep(shortLimits.WriteTimeout)
			w.Line(fmt.Sprintf("line %d after %v", i, time.Duration(i+1)*shortLimits.WriteTimeout))
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		if _, err := s.store.Transition(ctx, j.ID, jobs.Change{To: jobs.Succeeded}); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("the stream broke after %q: %v", b, err)
		}
		if !strings.Contains(string(b), "line 2 after") || !strings.Contains(string(b), "event: end") {
			t.Errorf("stream:\n%s", b)
		}
	})
}

// memPeak samples this process's Go heap and resident memory while a test
// loads the server, and reports the growth over what it was at the start.
type memPeak struct {
	baseHeap, baseRSS uint64
	peakHeap, peakRSS uint64
	stop              chan struct{}
	done              chan struct{}
}

func watchMemory() *memPeak {
	runtime.GC()
	p := &memPeak{stop: make(chan struct{}), done: make(chan struct{})}
	p.baseHeap, p.baseRSS = heapInUse(), rss()
	p.peakHeap, p.peakRSS = p.baseHeap, p.baseRSS
	go func() {
		defer close(p.done)
		t := time.NewTicker(25 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.peakHeap, p.peakRSS = max(p.peakHeap, heapInUse()), max(p.peakRSS, rss())
			}
		}
	}()
	return p
}

// growth stops the sampling and returns the peak growth in MB.
func (p *memPeak) growth() (heapMB, rssMB float64) {
	close(p.stop)
	<-p.done
	return float64(p.peakHeap-p.baseHeap) / 1e6, float64(p.peakRSS-p.baseRSS) / 1e6
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// rss is the resident set size from /proc/self/statm, 0 where there is none.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// pattern is an endless body that costs its sender no memory.
type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return len(p), nil
}

// throttled sends r at about rate bytes a second.
type throttled struct {
	r     io.Reader
	rate  int
	start time.Time
	sent  int
}

func (t *throttled) Read(p []byte) (int, error) {
	if t.start.IsZero() {
		t.start = time.Now()
	}
	if ahead := time.Duration(float64(t.sent)/float64(t.rate)*float64(time.Second)) - time.Since(t.start); ahead > 0 {
		time.Sleep(ahead)
	}
	n, err := t.r.Read(p[:min(len(p), 64<<10)])
	t.sent += n
	return n, err
}

func TestManyLargeUnsignedBodiesKeepMemoryBounded(t *testing.T) {
	s := serve(t, web.Limits{}, 8)
	const (
		clients = 20
		size    = 24 << 20
	)
	mem := watchMemory()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[string]int{}
	)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := &throttled{r: io.LimitReader(pattern{}, size), rate: 16 << 20}
			req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/webhooks/github", body)
			req.ContentLength = size
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("big-%d", i))
			req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("ab", 32))
			got := "error"
			if resp, err := http.DefaultClient.Do(req); err == nil {
				got = strconv.Itoa(resp.StatusCode)
				resp.Body.Close()
			}
			mu.Lock()
			codes[got]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	heapMB, rssMB := mem.growth()
	t.Logf("%d concurrent unsigned %d MiB bodies: answers %v; peak growth: Go heap %.1f MB, RSS %.1f MB", clients, size>>20, codes, heapMB, rssMB)
	if codes["401"] == 0 {
		t.Errorf("no body was read to the end and refused: %v", codes)
	}
	for code := range codes {
		if code != "401" && code != "503" && code != "error" {
			t.Errorf("answers %v: only 401 (bad signature) and 503 (too many at once) are right", codes)
		}
	}
	if heapMB > 200 || rssMB > 200 {
		t.Errorf("memory grew by %.1f MB of heap, %.1f MB resident; want under 200 MB", heapMB, rssMB)
	}
}

func TestBusyWebhookAnswers503WithRetryAfter(t *testing.T) {
	s := serve(t, web.Limits{}, 1)
	// One body that is still being sent holds the only slot.
	pr, pw := io.Pipe()
	defer pw.Close()
	slow, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/webhooks/github", pr)
	slow.ContentLength = 1 << 20
	slow.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("ab", 32))
	go func() {
		if resp, err := http.DefaultClient.Do(slow); err == nil {
			resp.Body.Close()
		}
	}()
	if _, err := pw.Write([]byte("{")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/webhooks/github", strings.NewReader("{}"))
	req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("ab", 32))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a second body answered %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// bigLog writes a log of about size bytes for a new finished job straight
// into Redis: numbered lines, with the step markers of its one step.
func bigLog(t *testing.T, f *fixture, size int) *jobs.Job {
	t.Helper()
	j := f.job(t)
	ctx := context.Background()
	key := rdb.NewKeys("").Log(j.ID)
	if err := f.redis.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("── step 1/1: make test\n")
	n := 0
	for written := 0; written < size; {
		for b.Len() < 1<<20 {
			n++
			fmt.Fprintf(&b, "line %08d %s\n", n, strings.Repeat("x", 100))
		}
		if err := f.redis.Append(ctx, key, b.String()).Err(); err != nil {
			t.Fatal(err)
		}
		written += b.Len()
		b.Reset()
	}
	fmt.Fprintf(&b, "last line %08d\n── step 1/1 succeeded in 42s: make test\n", n)
	if err := f.redis.Append(ctx, key, b.String()).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Transition(ctx, j.ID, jobs.Change{To: jobs.Succeeded}); err != nil {
		t.Fatal(err)
	}
	return j
}

func TestLargeLogPageAndRawLogForManyReadersKeepMemoryBounded(t *testing.T) {
	s := serve(t, web.Limits{}, 0)
	j := bigLog(t, s.fixture, 64<<20)
	size, err := s.log.Size(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	page := strings.Replace(s.links.Job(j.ID), "http://gantry.test", "http://"+s.addr, 1)
	raw := strings.Replace(page, "?", "/log?", 1)
	const readers = 16
	mem := watchMemory()
	var wg sync.WaitGroup
	errs := make(chan error, 2*readers)
	for range readers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			code, body := get(t, page)
			switch {
			case code != http.StatusOK:
				errs <- fmt.Errorf("page answered %d", code)
			case len(body) > 1<<20:
				errs <- fmt.Errorf("the page is %d bytes: it carries more than the log's end", len(body))
			case !strings.Contains(body, "last line") || !strings.Contains(body, "earlier lines") || strings.Contains(body, "line 00000001 "):
				errs <- fmt.Errorf("the page does not show the log's end and a way to earlier lines")
			case !strings.Contains(body, "<td>succeeded</td><td>42s</td>"):
				errs <- fmt.Errorf("the step table lacks the step's result")
			}
		}()
		go func() {
			defer wg.Done()
			resp, err := http.Get(raw)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			n, err := io.Copy(io.Discard, resp.Body)
			if err != nil || n != size {
				errs <- fmt.Errorf("raw log: %d of %d bytes (%v)", n, size, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	heapMB, rssMB := mem.growth()
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d readers of the page and the raw log of a %d MiB log: peak growth: Go heap %.1f MB, RSS %.1f MB", readers, size>>20, heapMB, rssMB)
	if heapMB > 200 || rssMB > 200 {
		t.Errorf("memory grew by %.1f MB of heap, %.1f MB resident; want under 200 MB", heapMB, rssMB)
	}
}
