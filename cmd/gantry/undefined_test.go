package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/redistest"
)

// writeConfig writes a server config gantry.yml and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gantry.yml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A .gantry.yml naming a pool the server config does not define is a user
// error: refused when asked for, and a job queued under another config
// (here: a deploy that awaited approval while gantry.yml changed) ends
// errored at once, saying what is missing in its thread, never retried,
// dead-lettered or run with an empty GANTRY_RESOURCE_MYSQL.
func TestUnknownPoolIsAUserErrorNeverRetried(t *testing.T) {
	repo := t.TempDir()
	spec := "deploy:\n  qa:\n    resources: [mysql]\n    steps: [\"echo res=$GANTRY_RESOURCE_MYSQL.\"]\n"
	if err := os.WriteFile(filepath.Join(repo, ".gantry.yml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	before := writeConfig(t, "pools: {mysql: [mysql-1]}\nenvironments:\n  qa: {deployers: [\"*\"], approval: true, approvers: [alice]}\n")
	for _, tt := range []struct{ name, config, defined string }{
		{"other pools", "pools: {pg: [pg-1], redis: [redis-1]}\n", ` in gantry.yml (pools: pg, redis)`},
		{"no gantry.yml", "", `: no gantry.yml is loaded (GANTRY_CONFIG names it), and gantry's built-in defaults have no pools`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := redistest.Start(t)
			old, stopOld := startConsoleOn(t, map[string]string{"GANTRY_CONFIG": before, "GANTRY_HTTP_ADDR": "127.0.0.1:0"}, srv.URL())
			old.typeLine("deploy " + repo + " qa")
			old.waitFor(`gantry > #1: deploy \S+ to qa is awaiting approval`, 10*time.Second)
			stopOld()

			env := map[string]string{"GANTRY_HTTP_ADDR": "127.0.0.1:0"}
			if tt.config != "" {
				env["GANTRY_CONFIG"] = writeConfig(t, tt.config)
			}
			s, _ := startConsoleOn(t, env, srv.URL())
			missing := `pool "mysql" is not defined` + tt.defined
			s.typeLine("approve #1")
			s.waitFor(`#1 +┃ .*errored.*`+regexp.QuoteMeta(`nothing ran: `+missing+`, and this job's .gantry.yml leases from it`), 15*time.Second)
			s.typeLine("deploy " + repo + " qa")
			s.waitFor(`gantry > `+regexp.QuoteMeta(`nothing was queued: `+repo+`/.gantry.yml:3: resources in deploy stage "qa": `+missing), 10*time.Second)
			s.typeLine("status #1")
			s.waitFor(`gantry > .*#1.*errored`, 5*time.Second)
			out := s.out.String()
			for _, never := range []string{"retrying", "dead-letter", "internal error", "res="} {
				if strings.Contains(out, never) {
					t.Errorf("the console says %q:\n%s", never, out)
				}
			}
			// A person's mistake is a warning in gantry's own log, not an
			// error an operator is paged for.
			if log := s.errOut.String(); !strings.Contains(log, `level=WARN msg="job errored"`) || strings.Contains(log, `level=ERROR msg="job errored"`) {
				t.Errorf("gantry's log of the user error:\n%s", log)
			}
		})
	}
}

// What gantry says about a .gantry.yml names its path once: not
// "examples/hello/.gantry.yml: examples/hello/.gantry.yml: no deploy stage…".
func TestMessagesDoNotDoubleThePath(t *testing.T) {
	s := startConsole(t, map[string]string{"GANTRY_HTTP_ADDR": "127.0.0.1:0"})
	hello := examples("hello")
	file := hello + "/.gantry.yml"
	for line, want := range map[string]string{
		"deploy " + hello + " qa":      file + `: no deploy stage for environment "qa" (environments: production, staging)`,
		"run nope " + hello:            file + `: no pipeline "nope" (pipelines: branch, pr)`,
		"deploy staging " + hello:      "the environment comes last: `deploy " + hello + " staging`",
		"run soak " + examples("slow"): examples("slow") + `/.gantry.yml: no pipeline "soak"`,
	} {
		s.typeLine(line)
		got := s.waitFor(`gantry > .*`+regexp.QuoteMeta(want)+`.*`, 10*time.Second)
		if n := strings.Count(got, ".gantry.yml"); n > 1 {
			t.Errorf("%q: the reply names the file %d times: %s", line, n, got)
		}
	}
}

// In the console, `deploy staging` with no repo suggests a deploy to
// staging of a repo that has a stage for it, not a build.
func TestConsoleDeployWithoutARepoSuggestsADeploy(t *testing.T) {
	hello, err := filepath.Abs(examples("hello"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "repos:\n  failing: {path: "+filepath.Dir(hello)+"/failing}\n  hello: {path: "+hello+"}\n")
	s := startConsole(t, map[string]string{"GANTRY_CONFIG": cfg, "GANTRY_HTTP_ADDR": "127.0.0.1:0"})
	s.typeLine("deploy staging")
	s.waitFor(regexp.QuoteMeta("gantry > which repo? name one, e.g. `deploy hello staging` (a configured repo or a local path)"), 10*time.Second)
	s.typeLine("build")
	s.waitFor(regexp.QuoteMeta("gantry > which repo? name one, e.g. `build failing`"), 10*time.Second)
}
