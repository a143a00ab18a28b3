// Package browser drives a real headless Chromium for tests, through the
// Chrome DevTools Protocol over its WebSocket: navigate to a page, evaluate
// JavaScript in it, wait for what a person would see.
package browser

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Browser is one headless Chromium with one page open.
type Browser struct {
	t    testing.TB
	cmd  *exec.Cmd
	conn *websocket.Conn
	mu   sync.Mutex
	id   int
	dir  string
}

// binary finds Chromium. Tests that need a browser fail without one: CI
// installs Debian's chromium package.
func binary() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium on PATH: install Debian's chromium package (apt-get install chromium)")
}

// Start runs a headless Chromium for the test and connects to its page.
func Start(t testing.TB) *Browser {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: Chromium's helper processes may still be writing their
	// profile for a moment after the browser is gone.
	dir, err := os.MkdirTemp("", "gantry-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+dir, "--remote-debugging-port=0", "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so close reaches its helpers too
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	b := &Browser{t: t, cmd: cmd, dir: dir}
	t.Cleanup(b.close)
	port := ""
	deadline := time.Now().Add(30 * time.Second)
	for port == "" {
		if time.Now().After(deadline) {
			t.Fatal("Chromium did not open its DevTools port within 30s")
		}
		if data, err := os.ReadFile(filepath.Join(dir, "DevToolsActivePort")); err == nil {
			port = strings.SplitN(string(data), "\n", 2)[0]
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	var targets []struct {
		Type string `json:"type"`
		WS   string `json:"webSocketDebuggerUrl"`
	}
	for len(targets) == 0 || !hasPage(targets) {
		if time.Now().After(deadline) {
			t.Fatal("Chromium opened no page")
		}
		resp, err := http.Get("http://127.0.0.1:" + port + "/json/list")
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
		}
		if !hasPage(targets) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, tg := range targets {
		if tg.Type == "page" {
			conn, _, err := websocket.DefaultDialer.Dial(tg.WS, nil)
			if err != nil {
				t.Fatalf("connect to the page: %v", err)
			}
			b.conn = conn
			break
		}
	}
	b.screenshotOnFailure()
	return b
}

func hasPage(ts []struct {
	Type string `json:"type"`
	WS   string `json:"webSocketDebuggerUrl"`
}) bool {
	for _, t := range ts {
		if t.Type == "page" {
			return true
		}
	}
	return false
}

func (b *Browser) close() {
	if b.conn != nil {
		b.conn.Close()
	}
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	_ = b.cmd.Wait()
	for i := 0; i < 50; i++ {
		if os.RemoveAll(b.dir) == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// call sends one DevTools command and waits for its answer, skipping the
// events that come in between.
func (b *Browser) call(method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.id++
	id := b.id
	if err := b.conn.WriteJSON(map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return nil, err
	}
	_ = b.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var msg struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := b.conn.ReadJSON(&msg); err != nil {
			return nil, err
		}
		if msg.ID != id {
			continue
		}
		if msg.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, msg.Error.Message)
		}
		return msg.Result, nil
	}
}

// Navigate opens url in the page.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	if _, err := b.call("Page.navigate", map[string]any{"url": url}); err != nil {
		b.t.Fatal(err)
	}
}

// Eval evaluates a JavaScript expression in the page and returns its value
// as JSON text.
func (b *Browser) Eval(expr string) (string, error) {
	res, err := b.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
	if err != nil {
		return "", err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return "", err
	}
	if r.Exception != nil {
		return "", fmt.Errorf("javascript: %s", r.Exception.Text)
	}
	return string(r.Result.Value), nil
}

// Text is the page's visible text.
func (b *Browser) Text() string {
	v, err := b.Eval("document.body ? document.body.innerText : ''")
	if err != nil {
		return ""
	}
	var s string
	_ = json.Unmarshal([]byte(v), &s)
	return s
}

// WaitText waits until the page's visible text contains want.
func (b *Browser) WaitText(want string, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if strings.Contains(b.Text(), want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("the page never showed %q; it shows:\n%s", want, b.Text())
}
