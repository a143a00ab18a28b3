package rdb

import (
	"os/exec"
	"strings"
	"testing"
)

// mayImportGoRedis are the packages besides this one that may import
// go-redis: the program that opens the client, the test Redis, and the
// benchmark programs that measure Redis directly.
var mayImportGoRedis = map[string]bool{
	"github.com/gantry-ci/gantry/internal/rdb":       true,
	"github.com/gantry-ci/gantry/cmd/gantry":         true,
	"github.com/gantry-ci/gantry/internal/redistest": true,
	"github.com/gantry-ci/gantry/bench/faults":       true,
	"github.com/gantry-ci/gantry/bench/logpath":      true,
	"github.com/gantry-ci/gantry/bench/pool":         true,
	"github.com/gantry-ci/gantry/bench/queue":        true,
}

// TestOnlyTheRedisLayerImportsGoRedis lists every package of the module with
// its imports (test files aside) and fails for each one outside the layer
// that imports go-redis.
func TestOnlyTheRedisLayerImportsGoRedis(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "github.com/gantry-ci/gantry/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		seen++
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, "github.com/redis/go-redis/") && !mayImportGoRedis[f[0]] {
				t.Errorf("%s imports %s: only the Redis layer (internal/rdb) may; move the Redis code there", f[0], imp)
			}
		}
	}
	if seen < 10 {
		t.Fatalf("go list named %d packages; expected the whole module", seen)
	}
}
