package bot

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBotDoesNotImportSlack keeps this package surface-neutral: Slack lives
// in bot/slack, which imports bot, never the other way round.
func TestBotDoesNotImportSlack(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			if forbidden(path) {
				t.Errorf("%s imports %s: package bot must not depend on Slack (that is bot/slack's)", name, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no Go files found to check")
	}
}

// forbidden reports whether package bot may not import path: slack-go (and
// its subpackages) or gantry's Slack adapter.
func forbidden(path string) bool {
	for _, p := range []string{"github.com/slack-go/slack", "github.com/gantry-ci/gantry/bot/slack"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}
