package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/internal/slackserver"
	"github.com/gantry-ci/gantry/jobs"
)

// runOnce runs gantry with args and env until it stops by itself, and
// returns its exit code and stderr.
func runOnce(t *testing.T, args []string, env map[string]string) (int, string) {
	t.Helper()
	errOut := &syncBuffer{}
	m := &Main{Args: args, Getenv: func(k string) string { return env[k] }, Stdin: strings.NewReader(""), Stdout: &syncBuffer{}, Stderr: errOut}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := m.Run(ctx)
	if ctx.Err() != nil {
		t.Fatalf("gantry %v did not stop by itself; stderr: %s", args, errOut)
	}
	return code, errOut.String()
}

func slackEnv(t *testing.T, extra map[string]string) map[string]string {
	srv := slackserver.New(t)
	env := map[string]string{
		"SLACK_APP_TOKEN": slackserver.AppToken, "SLACK_BOT_TOKEN": slackserver.BotToken, "SLACK_API_URL": srv.APIURL(),
		"REDIS_URL": redistest.Start(t).URL(), "GANTRY_CONFIG": writeConfig(t, "runner: {local: {trusted: true}}\n"),
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// TestServeRefusesWithoutPublicURL: serve on every interface with no
// GANTRY_PUBLIC_URL used to post links to http://[::]:8080 in Slack.
func TestServeRefusesWithoutPublicURL(t *testing.T) {
	for _, sub := range []string{"serve", "bot"} {
		t.Run(sub, func(t *testing.T) {
			code, stderr := runOnce(t, []string{sub}, slackEnv(t, map[string]string{"GANTRY_HTTP_ADDR": ":0"}))
			if code != 1 || !strings.Contains(stderr, "gantry: GANTRY_PUBLIC_URL: is not set: gantry listens on") ||
				!strings.Contains(stderr, "such as https://gantry.example.com") {
				t.Fatalf("%s without GANTRY_PUBLIC_URL exited %d; stderr:\n%s", sub, code, stderr)
			}
		})
	}
}

// TestPublicURLMustBeAURL: GANTRY_PUBLIC_URL=notaurl used to be accepted and
// made every job link broken.
func TestPublicURLMustBeAURL(t *testing.T) {
	for _, bad := range []string{"notaurl", "gantry.example.com", "ftp://gantry.example.com", "https://", "https://gantry.example.com/?a=b", "https://u:p@gantry.example.com"} {
		t.Run(bad, func(t *testing.T) {
			env := slackEnv(t, map[string]string{"GANTRY_HTTP_ADDR": "127.0.0.1:0", "GANTRY_PUBLIC_URL": bad})
			code, stderr := runOnce(t, []string{"serve"}, env)
			if code != 1 || !strings.Contains(stderr, "gantry: GANTRY_PUBLIC_URL: \""+bad+"\"") {
				t.Fatalf("serve with GANTRY_PUBLIC_URL=%s exited %d; stderr:\n%s", bad, code, stderr)
			}
			// The console refuses it too, rather than turning job pages off.
			code, stderr = runOnce(t, []string{"console"}, map[string]string{"GANTRY_HTTP_ADDR": "127.0.0.1:0", "GANTRY_PUBLIC_URL": bad})
			if code != 1 || !strings.Contains(stderr, "gantry: GANTRY_PUBLIC_URL: \""+bad+"\"") {
				t.Fatalf("console with GANTRY_PUBLIC_URL=%s exited %d; stderr:\n%s", bad, code, stderr)
			}
		})
	}
}

// TestPublicURLIsDerivedOnlyWhereItWorks: unset, the links use a loopback
// listener's address, and the console's own machine; a good URL is used as
// given.
func TestPublicURLIsDerivedOnlyWhereItWorks(t *testing.T) {
	m := &Main{Getenv: func(string) string { return "" }}
	loop := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8080}
	if got, err := m.publicURL(loop, false); err != nil || got != "http://127.0.0.1:8080" {
		t.Errorf("loopback: %q, %v", got, err)
	}
	any := &net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}
	if got, err := m.publicURL(any, true); err != nil || got != "http://127.0.0.1:8080" {
		t.Errorf("console on every interface: %q, %v", got, err)
	}
	if got, err := m.publicURL(any, false); err == nil {
		t.Errorf("serve on every interface derived %q", got)
	}
	m.Getenv = func(k string) string {
		if k == "GANTRY_PUBLIC_URL" {
			return "https://gantry.example.com/"
		}
		return ""
	}
	if got, err := m.publicURL(any, false); err != nil || got != "https://gantry.example.com" {
		t.Errorf("set: %q, %v", got, err)
	}
}

// TestLogLevelMustBeKnown: GANTRY_LOG_LEVEL=verbose used to be read as info
// without a word.
func TestLogLevelMustBeKnown(t *testing.T) {
	code, stderr := runOnce(t, []string{"version"}, map[string]string{"GANTRY_LOG_LEVEL": "verbose"})
	if code != 1 || !strings.Contains(stderr, `gantry: GANTRY_LOG_LEVEL: "verbose" is not a log level: use debug, info, warn or error`) {
		t.Fatalf("exited %d; stderr:\n%s", code, stderr)
	}
	for _, good := range []string{"debug", "INFO", "warn", "error", ""} {
		if code, stderr := runOnce(t, []string{"version"}, map[string]string{"GANTRY_LOG_LEVEL": good}); code != 0 {
			t.Errorf("GANTRY_LOG_LEVEL=%q refused: %s", good, stderr)
		}
	}
}

// TestOneSlackTokenIsRefused: with one of the two Slack tokens set gantry
// used to start the console silently.
func TestOneSlackTokenIsRefused(t *testing.T) {
	code, stderr := runOnce(t, nil, map[string]string{"SLACK_APP_TOKEN": "xapp-1"})
	if code != 1 || !strings.Contains(stderr, "gantry: SLACK_BOT_TOKEN: is not set, but SLACK_APP_TOKEN is") {
		t.Errorf("app token alone: exited %d; stderr:\n%s", code, stderr)
	}
	code, stderr = runOnce(t, nil, map[string]string{"SLACK_BOT_TOKEN": "xoxb-1"})
	if code != 1 || !strings.Contains(stderr, "gantry: SLACK_APP_TOKEN: is not set, but SLACK_BOT_TOKEN is") {
		t.Errorf("bot token alone: exited %d; stderr:\n%s", code, stderr)
	}
}

// TestConsoleSaysWhatItWaitsForWhenInputEnds: Ctrl-D while a deploy awaited
// approval used to leave the console hanging without a word.
func TestConsoleSaysWhatItWaitsForWhenInputEnds(t *testing.T) {
	dir := t.TempDir()
	hello := gitRepo(t, filepath.Join(dir, "hello"), map[string]string{
		".gantry.yml": "deploy:\n  production:\n    approval: true\n    steps: [echo deploying]\n",
	})
	s := startConsole(t, map[string]string{"GANTRY_CONFIG": writeConfig(t, "repos:\n  hello: {path: "+hello+"}\n")})
	s.typeLine("deploy hello to production")
	s.waitFor(`#1: deploy hello@main \(\w+\) to production is awaiting approval`, 20*time.Second)
	s.in.Close() // Ctrl-D
	s.waitFor(`gantry > input ended; waiting for #1 deploy to production hello \(awaiting approval\)\. Ctrl-C quits\. `+
		`A deploy awaiting approval cannot be approved here any more: approve it from a gantry bot or console on the same Redis`, 10*time.Second)
}

// TestInputEndedNamesNoStateThatGoesStale: the message named each job's
// state once, and kept saying "queued" of a job that ran; and it sent
// people to another console on an embedded Redis nothing else can reach.
func TestInputEndedNamesNoStateThatGoesStale(t *testing.T) {
	active := []*jobs.Job{
		{ID: 1, Kind: jobs.Deploy, Env: "production", Repo: "hello", State: jobs.AwaitingApproval},
		{ID: 2, Kind: jobs.Build, Repo: "hello", State: jobs.Queued},
	}
	var shared, embedded strings.Builder
	inputEnded(&shared, active, true)
	inputEnded(&embedded, active, false)
	if want := "gantry > input ended; waiting for #1 deploy to production hello (awaiting approval), #2 build hello. Ctrl-C quits."; !strings.HasPrefix(shared.String(), want) {
		t.Errorf("got  %q\nwant %q…", shared.String(), want)
	}
	if !strings.Contains(shared.String(), "approve it from a gantry bot or console on the same Redis") {
		t.Errorf("with a REDIS_URL: %q", shared.String())
	}
	if s := embedded.String(); strings.Contains(s, "same Redis") || !strings.Contains(s, "nothing else reaches this console's embedded Redis: Ctrl-C and run it again") {
		t.Errorf("with the embedded Redis: %q", s)
	}
}
