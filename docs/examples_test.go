package docs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/spec"
)

// yamlBlock is a fenced YAML block of a Markdown file and its first line.
var yamlBlock = regexp.MustCompile("(?ms)^( *)```ya?ml\n(.*?)^ *```")

// startGuides are the guides whose configs a reader starts gantry with.
var startGuides = map[string]bool{"slack.md": true, "aws.md": true}

// TestYAMLExamplesAreValid: every YAML example in the README and the
// guides is a server config or a .gantry.yml that gantry accepts as it
// stands, so a reader who copies one starts from a file that works (the
// Slack guide's first config once passed check and then stopped serve).
func TestYAMLExamplesAreValid(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(root, "README.md")}
	more, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, more...)
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, m := range yamlBlock.FindAllStringSubmatchIndex(text, -1) {
			indent := text[m[2]:m[3]]
			var lines []string
			for _, l := range strings.SplitAfter(text[m[4]:m[5]], "\n") {
				lines = append(lines, strings.TrimPrefix(l, indent))
			}
			body := []byte(strings.Join(lines, ""))
			where := fmt.Sprintf("%s:%d", filepath.Base(f), strings.Count(text[:m[0]], "\n")+1)
			n++
			if spec.IsServerConfig(body) {
				cfg, err := spec.ParseServer(where, body)
				if err != nil {
					t.Errorf("%s: a server config gantry refuses:\n%v", where, err)
					continue
				}
				// The guides' configs are for serve, which refuses an
				// untrusted local runner (the README's lists every key).
				if r := cfg.Runner; startGuides[filepath.Base(f)] && (r.Kind == "" || r.Kind == "local") && !r.Local.Trusted {
					t.Errorf("%s: a server config serve refuses: the local runner is not trusted (runner.local.trusted)", where)
				}
				continue
			}
			if _, err := spec.Parse(where, body); err != nil {
				t.Errorf("%s: a .gantry.yml gantry refuses:\n%v", where, err)
			}
		}
	}
	if n < 5 {
		t.Errorf("found %d YAML examples; the pattern no longer matches the docs' fences", n)
	}
}
