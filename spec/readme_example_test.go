package spec

import (
	"os"
	"strings"
	"testing"
)

// The server config example in the README parses as it is written.
func TestREADMEServerConfigParses(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "### The server config, `gantry.yml`")
	if i < 0 {
		t.Fatal("README has no server config section")
	}
	start := strings.Index(s[i:], "```yaml\n") + i + len("```yaml\n")
	end := strings.Index(s[start:], "```") + start
	cfg, err := ParseServer("README.md", []byte(s[start:end]))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Environments["production"].Branch != "production" || len(cfg.Repos["hello"].Secrets) != 1 {
		t.Errorf("the example's trust settings were not read: %+v", cfg.Environments["production"])
	}
}
