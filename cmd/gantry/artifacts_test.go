package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const consoleJUnit = `<testsuite name="shop">
<testcase classname="shop.Cart" name="TestAdd"/>
<testcase classname="shop.Cart" name="TestRemove"><failure message="want 0 items">cart_test.go:9: want 0 items, got 1 &lt;oops&gt;</failure></testcase>
<testcase classname="shop.Cart" name="TestLater"><skipped/></testcase>
</testsuite>`

// End to end on the local runner: a failing build's reports give the
// counts and the failing test in its end notice, the page lists the
// failing test with its output, and the artifacts are downloaded from the
// links in the thread; the limit that left a file out is named.
func TestConsoleArtifactsAndReports(t *testing.T) {
	repo := t.TempDir()
	os.WriteFile(filepath.Join(repo, "report.xml.in"), []byte(consoleJUnit), 0o644)
	os.WriteFile(filepath.Join(repo, ".gantry.yml"), []byte(`artifacts: ["dist/**"]
reports: {junit: ["build/*.xml"]}
pipelines:
  branch:
    steps:
      - mkdir -p build dist/sub && cp report.xml.in build/junit.xml
      - echo alpha > dist/a.txt && echo beta > dist/sub/b.txt && echo gamma > dist/sub/c.txt && exit 1
`), 0o644)
	cfg := filepath.Join(t.TempDir(), "gantry.yml")
	store := t.TempDir()
	os.WriteFile(cfg, []byte("artifacts: {dir: "+store+", max_files: 2}\n"), 0o644)
	s := startConsole(t, map[string]string{"GANTRY_CONFIG": cfg, "GANTRY_HTTP_ADDR": "127.0.0.1:0"})
	s.typeLine("build " + repo)
	s.waitFor(`❌ #1 failed in \S+ \(exit code 1\): step 2 \(.*\) failed; tests: 1 passed, 1 failed, 1 skipped \(failing: shop\.Cart\.TestRemove\)`, 20*time.Second)
	s.waitFor(`artifact limit max_files \(2 files\) reached: kept 2 files \(11 B\), left out 1 more \(6 B\)`, 5*time.Second)
	links := regexp.MustCompile(`Artifacts \(2\): (\S+) (\S+)`).FindStringSubmatch(s.waitFor(`Artifacts \(2\): \S+ \S+`, 5*time.Second))
	for i, want := range []string{"alpha\n", "beta\n"} {
		if code, body := httpGet(t, links[i+1]); code != 200 || body != want {
			t.Errorf("GET %s = %d %q, want %q", links[i+1], code, body, want)
		}
	}
	page := regexp.MustCompile(`Whole log: (\S+)`).FindStringSubmatch(s.waitFor(`Whole log: \S+`, 5*time.Second))[1]
	code, body := httpGet(t, page)
	if code != 200 {
		t.Fatalf("page: %d", code)
	}
	for _, want := range []string{
		`<p id="test-counts">1 passed, 1 failed, 1 skipped</p>`,
		`<code class="test-name">shop.Cart.TestRemove</code> — want 0 items`,
		`cart_test.go:9: want 0 items, got 1 &lt;oops&gt;`,
		`>dist/a.txt</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// Links keep their signature: one altered is refused.
	if code, _ := httpGet(t, strings.Replace(links[1], "sig=", "sig=f", 1)); code != http.StatusForbidden {
		t.Errorf("altered artifact link: %d, want 403", code)
	}
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
