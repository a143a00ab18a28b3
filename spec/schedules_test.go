package spec

import (
	"strings"
	"testing"
	"time"
)

const scheduleRepos = `
repos:
  hello: {path: examples/hello, channel: C0HELLO}
  quiet: {path: examples/quiet}
environments:
  staging: {deployers: ["*"]}
`

func TestSchedulesReadTheirTimesInTheirTimeZone(t *testing.T) {
	s, err := ParseServer("gantry.yml", []byte(scheduleRepos+`
schedules:
  nightly: {cron: "0 3 * * *", time_zone: Europe/Berlin, repo: hello, pipeline: nightly}
  refresh: {cron: "@hourly", repo: quiet, deploy: staging, ref: main, channel: C0OPS}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Schedules) != 2 {
		t.Fatalf("%d schedules, want 2", len(s.Schedules))
	}
	n, r := s.Schedules[0], s.Schedules[1]
	if n.Name != "nightly" || n.Channel != "C0HELLO" || n.What() != "run nightly hello" {
		t.Errorf("nightly = %+v (%s): want the repo's channel and run nightly hello", n, n.What())
	}
	// 03:00 in Berlin in winter is 02:00 UTC.
	after := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	if got, want := n.Next(after), time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("nightly after %s: %s, want %s", after, got, want)
	}
	if r.What() != "deploy quiet@main to staging" || r.Channel != "C0OPS" {
		t.Errorf("refresh = %+v (%s)", r, r.What())
	}
	if got, want := r.Next(after), after.Add(time.Hour); !got.Equal(want) {
		t.Errorf("refresh after %s: %s, want %s", after, got, want)
	}
}

func TestScheduleMistakesSayWhereAndWhat(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"bad cron", `  a: {cron: "0 3 * *", repo: hello, pipeline: nightly}`, `gantry.yml:8: cron in schedule "a": "0 3 * *": expected exactly 5 fields`},
		{"no cron", `  a: {repo: hello, pipeline: nightly}`, `gantry.yml:8: schedule "a" has no cron:`},
		{"bad zone", `  a: {cron: "@daily", time_zone: Mars/Olympus, repo: hello, pipeline: nightly}`, `gantry.yml:8: time_zone in schedule "a": "Mars/Olympus" is not a time zone name`},
		{"unknown repo", `  a: {cron: "@daily", repo: nope, pipeline: nightly}`, `gantry.yml:8: schedule "a": repo "nope" is not one of repos: (hello, quiet)`},
		{"both", `  a: {cron: "@daily", repo: hello, pipeline: nightly, deploy: staging}`, `schedule "a": needs exactly one of pipeline:`},
		{"neither", `  a: {cron: "@daily", repo: hello}`, `schedule "a": needs exactly one of pipeline:`},
		{"unknown env", `  a: {cron: "@daily", repo: hello, deploy: prod}`, `schedule "a": deploy: "prod" is not one of environments: (staging)`},
		{"no channel", `  a: {cron: "@daily", repo: quiet, pipeline: nightly}`, `schedule "a": has no channel: and repo "quiet" has none`},
		{"unknown key", `  a: {cron: "@daily", repo: hello, pipeline: nightly, every: 5m}`, `unknown key "every" in schedule "a"`},
		{"tz in cron", `  a: {cron: "CRON_TZ=UTC 0 3 * * *", repo: hello, pipeline: nightly}`, `give the time zone as time_zone:`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseServer("gantry.yml", []byte(scheduleRepos+"schedules:\n"+tc.yaml+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestGantryFileSchedulesRunItsOwnPipelines(t *testing.T) {
	f, err := Parse(".gantry.yml", []byte(`pipelines:
  branch: {steps: [make]}
  nightly: {steps: [make soak]}
deploy:
  staging: {steps: [./deploy]}
schedules:
  soak: {cron: "0 2 * * *", time_zone: UTC, pipeline: nightly}
  refresh: {cron: "@weekly", deploy: staging, ref: main}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Schedules) != 2 || f.Schedules[0].Name != "soak" || f.Schedules[1].Deploy != "staging" || f.Schedules[0].Repo != "" {
		t.Errorf("schedules = %+v", f.Schedules)
	}
	for _, tc := range []struct{ yaml, want string }{
		{`  a: {cron: "@daily", pipeline: nightyl}`, `.gantry.yml:7: schedule "a": pipeline "nightyl" is not one of pipelines: (branch, nightly)`},
		{`  a: {cron: "@daily", deploy: prod}`, `schedule "a": deploy "prod" is not one of deploy: (staging)`},
		{`  a: {cron: "@daily", pipeline: nightly, repo: other}`, `unknown key "repo" in schedule "a" (a .gantry.yml's schedules run its own repo)`},
		{`  a: {cron: "@daily", pipeline: nightly, channel: C0X}`, `unknown key "channel" in schedule "a"`},
	} {
		_, err := Parse(".gantry.yml", []byte("pipelines:\n  branch: {steps: [make]}\n  nightly: {steps: [make soak]}\ndeploy:\n  staging: {steps: [./deploy]}\nschedules:\n"+tc.yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v; want %q", tc.yaml, err, tc.want)
		}
	}
}
