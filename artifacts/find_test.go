package artifacts

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func write(t *testing.T, root, name string, size int) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(strings.Repeat("a", size)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func openRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func paths(fs []File) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Path)
	}
	return out
}

func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		pat, name string
		want      bool
	}{
		{"build/*.xml", "build/a.xml", true},
		{"build/*.xml", "build/x/a.xml", false},
		{"build/**/*.xml", "build/a.xml", true},
		{"build/**/*.xml", "build/x/y/a.xml", true},
		{"**/report.xml", "report.xml", true},
		{"**/report.xml", "a/b/report.xml", true},
		{"**", "a/b/c", true},
		{"dist/app", "dist/app", true},
		{"dist/app", "dist/app2", false},
	} {
		if got := Match(tt.pat, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pat, tt.name, got, tt.want)
		}
	}
}

func TestFindPatterns(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"build/a.log", "build/x/b.log", "build/x/c.txt", "src/main.go", "top.log"} {
		write(t, dir, n, 3)
	}
	got, err := Find(openRoot(t, dir), []string{"build/**/*.log", "top.log"}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"build/a.log", "build/x/b.log", "top.log"}, paths(got.Files)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if len(got.Notes) != 0 || got.LimitHit {
		t.Errorf("notes %q, limit hit %v; want none", got.Notes, got.LimitHit)
	}
}

// A symlink that points out of the workspace is never collected, nor a
// directory entered through one; a link inside the workspace is.
func TestFindSymlinks(t *testing.T) {
	outside := t.TempDir()
	write(t, outside, "secret.txt", 5)
	write(t, outside, "dir/deep.txt", 5)
	dir := t.TempDir()
	write(t, dir, "out/real.txt", 4)
	for _, l := range []struct{ target, name string }{
		{filepath.Join(outside, "secret.txt"), "out/abs.txt"},
		{"../../" + filepath.Base(outside) + "/secret.txt", "out/rel.txt"},
		{filepath.Join(outside, "dir"), "out/linkdir"},
		{"real.txt", "out/inside.txt"},
	} {
		if err := os.Symlink(l.target, filepath.Join(dir, l.name)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Find(openRoot(t, dir), []string{"out/**"}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"out/inside.txt", "out/real.txt"}, paths(got.Files)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	want := []string{
		"out/abs.txt not kept: it is a symlink that points outside the workspace (or nowhere)",
		"out/linkdir not kept: it is a symlink that points outside the workspace (or nowhere)",
		"out/rel.txt not kept: it is a symlink that points outside the workspace (or nowhere)",
	}
	if diff := cmp.Diff(want, got.Notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}

	// Stored, the links are not followed out either.
	store := Dir{Path: t.TempDir()}
	res, err := Gather(context.Background(), 7, dir, Plan{Artifacts: []string{"out/*"}}, Limits{}, store, "", func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"out/inside.txt", "out/real.txt"}, paths(res.Files)); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(store.Path, "7", "out", "abs.txt")); !os.IsNotExist(err) {
		t.Errorf("the outside file was stored: %v", err)
	}
}

func TestFindLimits(t *testing.T) {
	dir := t.TempDir()
	for i := range 5 {
		write(t, dir, "f"+string(rune('a'+i))+".bin", 100)
	}
	got, err := Find(openRoot(t, dir), []string{"*.bin"}, Limits{MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"fa.bin", "fb.bin", "fc.bin"}, paths(got.Files)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	want := []string{"artifact limit max_files (3 files) reached: kept 3 files (300 B), left out 2 more (200 B)"}
	if diff := cmp.Diff(want, got.Notes); diff != "" || !got.LimitHit {
		t.Errorf("notes (-want +got):\n%s", diff)
	}

	got, err = Find(openRoot(t, dir), []string{"*.bin"}, Limits{MaxBytes: 250})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"fa.bin", "fb.bin"}, paths(got.Files)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	want = []string{"artifact limit max_bytes (250 B) reached: kept 2 files (200 B), left out 3 more (300 B)"}
	if diff := cmp.Diff(want, got.Notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
}

func TestGatherDir(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "dist/app", 10)
	if err := os.WriteFile(filepath.Join(dir, "report.xml"), []byte(`<testsuite name="s"><testcase name="a"/><testcase name="b"><failure message="no">out</failure></testcase><testcase name="c"><skipped/></testcase></testsuite>`), 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "bad.xml", 3)
	var lines []string
	store := Dir{Path: t.TempDir()}
	res, err := Gather(context.Background(), 3, dir, Plan{Artifacts: []string{"dist/*"}, JUnit: []string{"*.xml"}}, Limits{}, store, "", func(s string) { lines = append(lines, s) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Tests == nil || res.Tests.Counts() != "1 passed, 1 failed, 1 skipped" || res.Tests.Failures[0].Name != "s.b" {
		t.Errorf("tests = %+v", res.Tests)
	}
	if res.Store != StoreDir || len(res.Files) != 1 {
		t.Errorf("stored %q %v", res.Store, res.Files)
	}
	f, err := store.Open(3, "dist/app")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := store.Open(3, "../3/dist/app"); err == nil {
		t.Error("Open reached out of the job's directory")
	}
	want := []string{
		"test report bad.xml is not JUnit XML that gantry can read: no <testsuites> or <testsuite> element",
		"tests: 1 passed, 1 failed, 1 skipped (from 1 report file)",
		"kept 1 artifact (10 B)",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
}
