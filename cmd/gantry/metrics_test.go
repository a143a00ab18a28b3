package main

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/slackserver"
)

// httpBase is the running gantry's HTTP server, http://ADDR, once it
// has said where it listens.
func (s *slackSession) httpBase(t *testing.T) string {
	t.Helper()
	var addr []string
	waitUntil(t, "gantry to say where it listens", func() bool {
		addr = regexp.MustCompile(`HTTP server listening"? addr=(\S+)`).FindStringSubmatch(s.errOut.String())
		return addr != nil
	})
	return "http://" + addr[1]
}

// metric reads one sample of the running gantry's /metrics.
func (s *slackSession) metric(t *testing.T, re string) float64 {
	t.Helper()
	resp, err := http.Get(s.httpBase(t) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(re + ` ([0-9.e+]+)`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func TestSlackAckLatencyAndCallErrorsAreRecorded(t *testing.T) {
	s := startSlack(t)
	s.srv.FailNext("chat.postMessage", 1, "internal_error")
	env := s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "build", UserID: alice, UserName: "alice", ChannelID: chHello})
	s.srv.WaitAck(t, env.ID, 5*time.Second)
	s.card(chHello, 1, "succeeded", time.Minute)
	if n := s.metric(t, `gantry_slack_ack_latency_seconds_count`); n < 1 {
		t.Errorf("ack latency observations = %v, want at least 1", n)
	}
	if n := s.metric(t, `gantry_external_call_errors_total\{call="chat.postMessage",service="slack"\}`); n < 1 {
		t.Errorf("failed chat.postMessage calls counted = %v, want at least 1", n)
	}
}

// TestWorkerAloneServesMetrics: a worker apart from the bot used to serve
// no /metrics, so the jobs it ran were counted nowhere.
func TestWorkerAloneServesMetrics(t *testing.T) {
	s := newSlackSession(t)
	s.start("worker")
	s.start("bot")
	s.srv.WaitConnection(t, 1, 20*time.Second)
	s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "build", UserID: alice, ChannelID: chHello})
	s.card(chHello, 1, "succeeded", 30*time.Second)
	addr := regexp.MustCompile(`worker probes listening"? addr=(\S+)`).FindStringSubmatch(s.errOut.String())
	if addr == nil {
		t.Fatalf("the worker did not say where it listens:\n%s", s.errOut)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get("/metrics")
	if code != http.StatusOK || !strings.Contains(body, `gantry_jobs_finished_total{kind="build",state="succeeded"} 1`) {
		t.Errorf("the worker's /metrics: %d\n%s", code, body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	// Probes only: no job pages, no webhook on a worker.
	if code, _ := get("/jobs/1"); code != http.StatusNotFound {
		t.Errorf("/jobs/1 on a worker: %d, want 404", code)
	}
}
