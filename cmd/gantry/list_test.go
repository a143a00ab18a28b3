package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// `queue` hands out the signed link to the list of recent jobs, and the
// link opens it.
func TestQueueHandsOutTheJobListLink(t *testing.T) {
	s := startConsole(t, map[string]string{"GANTRY_HTTP_ADDR": "127.0.0.1:0"})
	s.typeLine("build " + examples("hello"))
	s.waitFor(`#1 +┃ ✅ #1 succeeded`, 30*time.Second)
	s.typeLine("queue")
	link := regexp.MustCompile(`Recent jobs: (\S+)`).FindStringSubmatch(s.waitFor(`Recent jobs: \S+`, 5*time.Second))[1]
	page := fetch(t, link)
	if !strings.Contains(page, "/jobs/1?") {
		t.Errorf("the list does not link job #1:\n%.500s", page)
	}
}
