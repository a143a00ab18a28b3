package spec

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseServerDesignExample(t *testing.T) {
	s, err := ParseServer("gantry.yml", readTestdata(t, "design/gantry.yml"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Server{
		Repos: map[string]Repo{
			"hello": {Path: "examples/hello", GitHub: "acme/hello", Channel: "C0123456789", DefaultBranch: "main"},
		},
		Runner: RunnerConfig{Kind: "local", ECS: ECSConfig{
			Cluster:          "ci",
			LaunchType:       "FARGATE",
			Subnets:          []string{"subnet-1"},
			SecurityGroups:   []string{"sg-1"},
			LogGroup:         "/gantry/jobs",
			LogStreamPrefix:  "gantry",
			ExecutionRoleARN: "arn:aws:iam::123456789012:role/gantry-exec",
			BuildRoleARN:     "arn:aws:iam::123456789012:role/gantry-job",
			FetchImage:       "gantry:latest",
			CPU:              "1024",
			Memory:           "2048",
		}},
		Pools: map[string][]string{"mysql": {"mysql-1", "mysql-2"}},
		Environments: map[string]Environment{
			"staging": {Deployers: []string{"*"}, ApprovalTTL: time.Hour, LockTTL: DefaultLockTTL},
			"production": {
				Deployers:   []string{"U01", "S-releasers"},
				Approvers:   []string{"U02", "U03"},
				Approval:    true,
				ApprovalTTL: time.Hour,
				LockTTL:     DefaultLockTTL,
			},
		},
		Admins:  []string{"U09"},
		Workers: 4,
		Retry:   Retry{MaxAttempts: 3, Backoff: 5 * time.Second},
	}
	want.Runner.Local.User = "nobody" // the defaults
	want.Limits.QueuedPerPerson = DefaultQueuedPerPerson
	want.Retention = Retention{Jobs: DefaultJobRetention, Logs: DefaultLogRetention}
	want.Artifacts = DefaultServer().Artifacts
	if diff := cmp.Diff(want, s, cmpopts.IgnoreUnexported(Server{})); diff != "" {
		t.Errorf("Server (-want +got):\n%s", diff)
	}
}

func TestParseServerExample(t *testing.T) {
	s, err := ParseServer("gantry.yml", readTestdata(t, "gantry.yml"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Server{
		Repos: map[string]Repo{
			"api":   {GitHub: "acme/api", Channel: "C0123456789"},
			"web":   {GitHub: "acme/web", Path: "../web", Channel: "C0987654321", DefaultBranch: "trunk"},
			"tools": {Path: "/srv/tools"},
		},
		Runner: RunnerConfig{Kind: "ecs", ECS: ECSConfig{
			Cluster:          "ci",
			LaunchType:       "FARGATE",
			Subnets:          []string{"subnet-0a1b2c3d", "subnet-4e5f6a7b"},
			SecurityGroups:   []string{"sg-0123456789abcdef0"},
			AssignPublicIP:   true,
			LogGroup:         "/gantry/jobs",
			LogStreamPrefix:  "jobs",
			ExecutionRoleARN: "arn:aws:iam::123456789012:role/gantry-exec",
			BuildRoleARN:     "arn:aws:iam::123456789012:role/gantry-job",
			FetchImage:       "123456789012.dkr.ecr.eu-west-1.amazonaws.com/gantry:1.4.0",
			CPU:              "2048",
			Memory:           "4096",
		}},
		Pools: map[string][]string{
			"mysql":     {"mysql-1.ci.internal", "mysql-2.ci.internal"},
			"s3-bucket": {"ci-bucket-a", "ci-bucket-b", "ci-bucket-c"},
		},
		Environments: map[string]Environment{
			"staging": {Deployers: []string{"*"}, ApprovalTTL: time.Hour, LockTTL: DefaultLockTTL},
			"production": {
				Deployers:   []string{"S0123REL", "U0123ALICE"},
				Approvers:   []string{"U0456BOB", "U0789CAROL"},
				Approval:    true,
				ApprovalTTL: 2 * time.Hour,
				LockTTL:     4 * time.Hour,
			},
		},
		Admins:  []string{"U0999ADMIN"},
		Workers: 8,
		Retry:   Retry{MaxAttempts: 5, Backoff: 10 * time.Second},
	}
	want.Runner.Local.User = "nobody" // the defaults
	want.Limits.QueuedPerPerson = DefaultQueuedPerPerson
	want.Retention = Retention{Jobs: DefaultJobRetention, Logs: DefaultLogRetention}
	want.Artifacts = DefaultServer().Artifacts
	if diff := cmp.Diff(want, s, cmpopts.IgnoreUnexported(Server{})); diff != "" {
		t.Errorf("Server (-want +got):\n%s", diff)
	}
}

func TestParseServerDefaults(t *testing.T) {
	for _, src := range []string{"", "# nothing here\n", "{}\n", "repos: {}\nrunner: {}\nweb:\n"} {
		s, err := ParseServer("gantry.yml", []byte(src))
		if err != nil {
			t.Fatalf("ParseServer(%q): %v", src, err)
		}
		if diff := cmp.Diff(DefaultServer(), s, cmpopts.IgnoreUnexported(Server{})); diff != "" {
			t.Errorf("ParseServer(%q) (-defaults +got):\n%s", src, diff)
		}
	}
	d := DefaultServer()
	if d.Runner.Kind != "local" || d.Workers != 4 || d.Retry != (Retry{3, 5 * time.Second}) ||
		d.Runner.ECS.LogStreamPrefix != "gantry" || d.Runner.ECS.CPU != "1024" || d.Runner.ECS.Memory != "2048" ||
		d.Web.Public || len(d.Repos)+len(d.Pools)+len(d.Environments)+len(d.Admins) != 0 {
		t.Errorf("DefaultServer() = %+v", d)
	}
}

func TestParseServerAcceptedForms(t *testing.T) {
	s, err := ParseServer("gantry.yml", []byte(`
repos:
  my.repo_1: {github: Acme-Corp/my.repo_1, channel: G0ABC}
runner:
  kind: ecs
  ecs: {cluster: c, capacity_provider: spot, subnets: [s], log_group: g, fetch_image: f, cpu: 0.5 vCPU, memory: 1 GB}
environments:
  prod:
    deployers: [alice, W0ABC, S-release-team, "*"]
    approvers: [bob]
    approval: true
    approval_ttl: 90m
    self_approval: true
    lock_ttl: 2d
  dev:
admins: [alice]
web: {public: true}
workers: 256
retry: {max_attempts: 1, backoff: 1h}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Repos["my.repo_1"]; !cmp.Equal(got, Repo{GitHub: "Acme-Corp/my.repo_1", Channel: "G0ABC"}) {
		t.Errorf("repo = %+v", got)
	}
	if e := s.Runner.ECS; e.CapacityProvider != "spot" || e.LaunchType != "" || e.CPU != "0.5 vCPU" || e.Memory != "1 GB" {
		t.Errorf("ecs = %+v", e)
	}
	wantProd := Environment{
		Deployers: []string{"alice", "W0ABC", "S-release-team", "*"}, Approvers: []string{"bob"},
		Approval: true, ApprovalTTL: 90 * time.Minute, SelfApproval: true, LockTTL: 48 * time.Hour,
	}
	if diff := cmp.Diff(wantProd, s.Environments["prod"]); diff != "" {
		t.Errorf("prod (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Environment{ApprovalTTL: time.Hour, LockTTL: 8 * time.Hour}, s.Environments["dev"]); diff != "" {
		t.Errorf("dev (-want +got):\n%s", diff)
	}
	if !s.Web.Public || s.Workers != 256 || s.Retry != (Retry{1, time.Hour}) {
		t.Errorf("web %+v, workers %d, retry %+v", s.Web, s.Workers, s.Retry)
	}
}

func TestParseServerErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"not a mapping", "[repos]\n", []string{"gantry.yml:1: the file must be a mapping of keys such as repos, runner and environments, not a list"}},
		{"syntax", "repos:\n  hello: {path: x\n", []string{"gantry.yml:2: invalid YAML: did not find expected ',' or '}'"}},
		{"unknown key", "workrs: 4\n", []string{`gantry.yml:1: unknown key "workrs" (did you mean "workers"?)`}},
		{"duplicate key", "workers: 4\nworkers: 5\n", []string{`gantry.yml:2: key "workers" is defined twice (first on line 1)`}},

		// Repos.
		{"bad repo name", "repos:\n  Hello: {path: x}\n",
			[]string{`gantry.yml:2: repos: "Hello" is not a valid repo name (lower-case letters, digits, ., - and _, starting with a letter or digit, at most 63 characters)`}},
		{"repo without a source", "repos:\n  hello: {channel: C0123}\n",
			[]string{`gantry.yml:2: repo "hello" needs path (a local directory) or github (owner/name)`}},
		{"empty repo", "repos:\n  hello:\n",
			[]string{`gantry.yml:2: repo "hello" needs path (a local directory) or github (owner/name)`}},
		{"repo not a mapping", "repos:\n  hello: acme/hello\n",
			[]string{`gantry.yml:2: repo "hello": must be a mapping, not the string "acme/hello"`}},
		{"unknown repo key", "repos:\n  hello: {path: x, defaultbranch: main}\n",
			[]string{`gantry.yml:2: unknown key "defaultbranch" in repo "hello" (did you mean "default_branch"?)`}},
		{"bad github", "repos:\n  hello:\n    github: https://github.example/acme/hello\n",
			[]string{`gantry.yml:3: github in repo "hello": "https://github.example/acme/hello" is not owner/name (e.g. acme/hello)`}},
		{"empty path", "repos:\n  hello: {path: ''}\n", []string{`gantry.yml:2: path in repo "hello": is empty`}},
		{"bad channel", "repos:\n  hello: {path: x, channel: 'builds'}\n",
			[]string{`gantry.yml:2: channel in repo "hello": "builds" is not a Slack channel ID (C…, G…) or #name (e.g. C0123456789 or #deploys)`}},
		{"channel name with capitals", "repos:\n  hello: {path: x, channel: '#Builds'}\n",
			[]string{`gantry.yml:2: channel in repo "hello": "#Builds" is not a Slack channel ID (C…, G…) or #name (e.g. C0123456789 or #deploys)`}},
		{"channel bound twice", "repos:\n  a: {path: x, channel: C0123}\n  b: {path: y, channel: C0123}\n",
			[]string{`gantry.yml:3: channel in repo "b": C0123 is already bound to repo "a" (a channel has one default repo)`}},
		{"bad default branch", "repos:\n  hello: {path: x, default_branch: 'a b'}\n",
			[]string{`gantry.yml:2: default_branch in repo "hello": "a b" is not a valid branch name`}},

		// Runner.
		{"bad kind", "runner: {kind: k8s}\n", []string{`gantry.yml:1: kind in runner: "k8s" is not a runner kind (local or ecs)`}},
		{"ecs with nothing", "runner:\n  kind: ecs\n", []string{
			"gantry.yml:2: runner.ecs needs cluster (the runner kind is ecs)",
			"gantry.yml:2: runner.ecs needs log_group (the runner kind is ecs)",
			"gantry.yml:2: runner.ecs needs fetch_image (the runner kind is ecs)",
			"gantry.yml:2: runner.ecs needs subnets (the runner kind is ecs)",
			"gantry.yml:2: runner.ecs needs launch_type (FARGATE, EC2 or EXTERNAL) or capacity_provider (the runner kind is ecs)",
		}},
		{"ecs missing some", "runner:\n  kind: ecs\n  ecs:\n    cluster: ci\n    launch_type: EC2\n    subnets: []\n    log_group: g\n", []string{
			"gantry.yml:3: runner.ecs needs fetch_image (the runner kind is ecs)",
			"gantry.yml:3: runner.ecs needs subnets (the runner kind is ecs)",
		}},
		{"ecs requirements apply to kind ecs only", "runner:\n  kind: local\n  ecs: {cluster: ci}\n", nil},
		{"launch type and capacity provider", "runner:\n  ecs:\n    launch_type: FARGATE\n    capacity_provider: spot\n",
			[]string{"gantry.yml:4: runner.ecs sets both launch_type (line 3) and capacity_provider: choose one"}},
		{"bad launch type", "runner: {ecs: {launch_type: fargate}}\n",
			[]string{`gantry.yml:1: launch_type in runner.ecs: "fargate" is not FARGATE, EC2 or EXTERNAL`}},
		{"unknown ecs key", "runner:\n  ecs:\n    clster: ci\n", []string{`gantry.yml:3: unknown key "clster" in runner.ecs (did you mean "cluster"?)`}},
		{"unknown runner key", "runner: {knd: ecs}\n", []string{`gantry.yml:1: unknown key "knd" in runner (did you mean "kind"?)`}},
		{"subnets a string", "runner: {ecs: {subnets: subnet-1}}\n",
			[]string{`gantry.yml:1: subnets in runner.ecs: must be a list, not the string "subnet-1" (write [subnet-1])`}},
		{"empty subnet", "runner: {ecs: {subnets: ['']}}\n", []string{"gantry.yml:1: subnets in runner.ecs: item 1 is empty"}},
		{"assign_public_ip not a boolean", "runner: {ecs: {assign_public_ip: ENABLED}}\n",
			[]string{`gantry.yml:1: assign_public_ip in runner.ecs: must be true or false, not the string "ENABLED"`}},
		{"empty cluster", "runner: {ecs: {cluster: ''}}\n", []string{"gantry.yml:1: cluster in runner.ecs: is empty"}},
		{"bad cpu", "runner: {ecs: {cpu: lots}}\n",
			[]string{`gantry.yml:1: cpu in runner.ecs: "lots" is not a size ECS accepts (e.g. 1024, or 1 vCPU / 2 GB)`}},
		{"bad fetch image", "runner: {ecs: {fetch_image: 'gantry latest'}}\n",
			[]string{`gantry.yml:1: fetch_image in runner.ecs: "gantry latest" is not a valid image name`}},

		// Pools.
		{"bad pool name", "pools:\n  My Pool: [a]\n",
			[]string{`gantry.yml:2: pools: "My Pool" is not a valid pool name (lower-case letters, digits, - and _, starting with a letter or digit, at most 63 characters)`}},
		{"empty pool", "pools:\n  mysql: []\n", []string{`gantry.yml:2: pool "mysql" has no members`}},
		{"null pool", "pools:\n  mysql:\n", []string{`gantry.yml:2: pool "mysql" has no members`}},
		{"pool a string", "pools:\n  mysql: mysql-1\n", []string{`gantry.yml:2: pool "mysql": must be a list, not the string "mysql-1" (write [mysql-1])`}},
		{"member twice in a pool", "pools:\n  mysql: [a, b, a]\n", []string{`gantry.yml:2: pool "mysql": "a" is listed twice`}},
		{"member in two pools", "pools:\n  mysql: [a]\n  pg:\n    - a\n",
			[]string{`gantry.yml:4: pool "pg": "a" is already a member of pool "mysql" (a resource belongs to one pool)`}},
		{"bad member", "pools:\n  mysql: ['db 1', '']\n", []string{
			`gantry.yml:2: pool "mysql": "db 1" is not a valid resource name (letters, digits and . _ : / @ -, starting with a letter or digit, at most 128 characters)`,
			`gantry.yml:2: pool "mysql": "" is not a valid resource name (letters, digits and . _ : / @ -, starting with a letter or digit, at most 128 characters)`,
		}},
		{"member a number", "pools:\n  ports: [3306]\n", []string{`gantry.yml:2: pool "ports": member 1: must be a string, not the number 3306 (put it in quotes: "3306")`}},

		// Environments and people.
		{"bad environment name", "environments:\n  Prod: {}\n",
			[]string{`gantry.yml:2: environments: "Prod" is not a valid environment name (lower-case letters, digits, - and _, starting with a letter or digit, at most 63 characters)`}},
		{"unknown environment key", "environments:\n  prod: {deployer: [U012]}\n",
			[]string{`gantry.yml:2: unknown key "deployer" in environment "prod" (did you mean "deployers"?)`}},
		{"bad person", "environments:\n  prod:\n    deployers: [U012, '@', '@<alice>', Bob]\n", []string{
			`gantry.yml:3: deployers in environment "prod": "@" is not a Slack user ID (U… or W…) or @name, a user group ID (S…) or @handle (or S-handle), "*" for everyone, or a console user name`,
			`gantry.yml:3: deployers in environment "prod": "@<alice>" is not a Slack user ID (U… or W…) or @name, a user group ID (S…) or @handle (or S-handle), "*" for everyone, or a console user name`,
			`gantry.yml:3: deployers in environment "prod": "Bob" is not a Slack user ID (U… or W…) or @name, a user group ID (S…) or @handle (or S-handle), "*" for everyone, or a console user name`,
		}},
		{"short ID", "admins: [U1]\n",
			[]string{`gantry.yml:1: admins: "U1" is not a Slack user ID (U… or W…) or @name, a user group ID (S…) or @handle (or S-handle), "*" for everyone, or a console user name`}},
		{"approval without approvers", "environments:\n  prod: {approval: true, approvers: []}\n",
			[]string{`gantry.yml:2: environment "prod" requires approval but names no approvers`}},
		{"approval not a boolean", "environments:\n  prod: {approval: required}\n",
			[]string{`gantry.yml:2: approval in environment "prod": must be true or false, not the string "required"`}},
		{"approval ttl", "environments:\n  a: {approval_ttl: soon}\n  b: {approval_ttl: 0s}\n  c: {approval_ttl: 200h}\n", []string{
			`gantry.yml:2: approval_ttl in environment "a": "soon" is not a duration (e.g. 30m, 1h, 7d)`,
			`gantry.yml:3: approval_ttl in environment "b": "0s" must be more than zero`,
			`gantry.yml:4: approval_ttl in environment "c": "200h" is more than the limit of 168h`,
		}},
		{"lock ttl", "environments:\n  a: {lock_ttl: all day}\n  b: {lock_ttl: 0m}\n  c: {lock_ttl: 8d}\n", []string{
			`gantry.yml:2: lock_ttl in environment "a": "all day" is not a duration (e.g. 30m, 1h, 7d)`,
			`gantry.yml:3: lock_ttl in environment "b": "0m" must be more than zero`,
			`gantry.yml:4: lock_ttl in environment "c": "8d" is more than the limit of 168h`,
		}},
		{"self approval", "environments:\n  prod: {self_approval: no}\n",
			[]string{`gantry.yml:2: self_approval in environment "prod": must be true or false, not the string "no"`}},
		{"admins a string", "admins: U012\n", []string{`gantry.yml:1: admins: must be a list, not the string "U012" (write [U012])`}},

		// Web, workers, retry.
		{"unknown web key", "web: {publik: true}\n", []string{`gantry.yml:1: unknown key "publik" in web (did you mean "public"?)`}},
		{"public not a boolean", "web: {public: 1}\n", []string{"gantry.yml:1: public in web: must be true or false, not the number 1"}},
		{"workers zero", "workers: 0\n", []string{"gantry.yml:1: workers: must be a whole number from 1 to 256, not the number 0"}},
		{"workers too many", "workers: 1000\n", []string{"gantry.yml:1: workers: must be a whole number from 1 to 256, not the number 1000"}},
		{"workers a string", "workers: four\n", []string{`gantry.yml:1: workers: must be a whole number from 1 to 256, not the string "four"`}},
		{"retry", "retry:\n  max_attempts: 0\n  backoff: 2h\n  jitter: 1s\n", []string{
			"gantry.yml:2: max_attempts in retry: must be a whole number from 1 to 100, not the number 0",
			`gantry.yml:3: backoff in retry: "2h" is more than the limit of 1h`,
			`gantry.yml:4: unknown key "jitter" in retry (known keys: max_attempts, backoff)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseServer("gantry.yml", []byte(tt.src))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ParseServer: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseServer succeeded (%+v), want %q", s, tt.want)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not an *Error: %v", err, err)
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRepoForChannel(t *testing.T) {
	s, err := ParseServer("gantry.yml", readTestdata(t, "gantry.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for channel, want := range map[string]string{"C0123456789": "api", "C0987654321": "web", "C0000000000": "", "": ""} {
		got, ok := s.RepoForChannel(channel)
		if got != want || ok != (want != "") {
			t.Errorf("RepoForChannel(%q) = %q, %v; want %q", channel, got, ok, want)
		}
	}
}

func TestIsAdmin(t *testing.T) {
	s := DefaultServer()
	s.Admins = []string{"U0999ADMIN", "alice"}
	for user, want := range map[string]bool{"U0999ADMIN": true, "alice": true, "U0123": false, "": false, "*": false} {
		if got := s.IsAdmin(user); got != want {
			t.Errorf("IsAdmin(%q) = %v, want %v", user, got, want)
		}
	}
	s.Admins = []string{"*"}
	if !s.IsAdmin("U0123") {
		t.Error(`admins ["*"]: IsAdmin("U0123") = false`)
	}
	if DefaultServer().IsAdmin("U0123") {
		t.Error("no admins: IsAdmin = true")
	}
}

func TestRetention(t *testing.T) {
	s, err := ParseServer("gantry.yml", []byte("retention: {jobs: 14d, logs: 36h}\n"))
	if err != nil || s.Retention != (Retention{Jobs: 14 * 24 * time.Hour, Logs: 36 * time.Hour}) {
		t.Errorf("retention = %+v, %v", s.Retention, err)
	}
	// A shorter job retention takes the default logs' with it.
	if s, err := ParseServer("gantry.yml", []byte("retention: {jobs: 7d}\n")); err != nil || s.Retention.Logs != 7*24*time.Hour {
		t.Errorf("retention = %+v, %v", s.Retention, err)
	}
	for in, want := range map[string]string{
		"retention: {jobs: 7d, logs: 30d}\n": `gantry.yml:1: logs in retention: 30d is longer than jobs (7d): a log is shown on its job's page, which goes with the job's record`,
		"retention: {jobs: forever}\n":       `gantry.yml:1: jobs in retention: "forever" is not a duration (e.g. 30m, 1h, 7d)`,
		"retention: {job: 7d}\n":             `gantry.yml:1: unknown key "job" in retention (did you mean "jobs"?)`,
		"retention: {jobs: 4000d}\n":         `gantry.yml:1: jobs in retention: "4000d" is more than the limit of 87600h`,
	} {
		_, err := ParseServer("gantry.yml", []byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestRequiredChecksAndUsers(t *testing.T) {
	cfg, err := ParseServer("gantry.yml", []byte(`
environments:
  production: {required_checks: [ci/build, lint, lint], allow_check_override: true}
  canary: {branch: main, required_checks: protected}
users: {octocat: U0123, Hubot: W0456}
`))
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Environments["production"]; !slices.Equal(p.RequiredChecks, []string{"ci/build", "lint"}) || !p.AllowCheckOverride {
		t.Errorf("production = %+v", p)
	}
	if !cfg.Environments["canary"].RequiredProtected {
		t.Errorf("canary does not take its checks from the protection")
	}
	if cfg.Users["octocat"] != "U0123" || cfg.Users["hubot"] != "W0456" {
		t.Errorf("users = %v", cfg.Users)
	}
	for _, bad := range []string{
		"environments: {p: {required_checks: everything}}",
		"environments: {p: {required_checks: protected}}",
		"users: {octocat: bob}",
		"users: {-x-: U0123}",
		"environments: {p: {allow_check_override: maybe}}",
	} {
		if _, err := ParseServer("gantry.yml", []byte(bad)); err == nil || !strings.Contains(err.Error(), "gantry.yml:") {
			t.Errorf("%s: err = %v, want a file:line error", bad, err)
		}
	}
}
