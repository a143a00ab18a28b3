package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/gantry-ci/gantry/bot/slack"
	"github.com/gantry-ci/gantry/spec"
)

// checkUsage is what `gantry check` says when its arguments are wrong.
const checkUsage = `usage: gantry check FILE                      (a .gantry.yml or a server gantry.yml, told apart by what it holds)
       gantry check --server GANTRY_YML FILE   (also: does the server config define every pool and environment FILE needs?)
A server config may also be read where GANTRY_CONFIG keeps it: s3://BUCKET/KEY or ssm:NAME.`

// check validates a .gantry.yml or a server gantry.yml and prints what it
// would run; with --server, it checks a .gantry.yml against a server
// config too. It exits 1 on any problem, and when ctx ends first.
func (m *Main) check(ctx context.Context, args []string) int {
	serverPath, given := "", false
	if len(args) > 0 {
		if v, ok := strings.CutPrefix(args[0], "--server="); ok {
			serverPath, args, given = v, args[1:], true
		} else if args[0] == "--server" && len(args) > 1 {
			serverPath, args, given = args[1], args[2:], true
		}
	}
	if len(args) != 1 || strings.HasPrefix(args[0], "--") || (given && serverPath == "") {
		fmt.Fprintln(m.Stderr, checkUsage)
		return 2
	}
	path := args[0]
	var server *spec.Server
	if given {
		var code int
		if server, code = m.checkServerFile(ctx, serverPath); server == nil {
			return code
		}
	}
	data, err := readCheckInput(ctx, path)
	if err != nil {
		fmt.Fprintf(m.Stderr, "gantry check: %v\n", err)
		return 1
	}
	switch {
	case spec.IsServerConfig(data) && server != nil:
		fmt.Fprintf(m.Stderr, "gantry check: %s is a server config, not a .gantry.yml: --server %s checks a repository's .gantry.yml against it\n", path, serverPath)
		return 2
	case spec.IsServerConfig(data):
		cfg, err := spec.ParseServer(path, data)
		if err != nil {
			return m.checkFailed(err)
		}
		// What start-up refuses of a valid file, check refuses too.
		if cfg.Runner.Kind == "ecs" {
			if err := checkECSSecrets(cfg); err != nil {
				fmt.Fprintf(m.Stderr, "gantry check: %s: %v\n", path, err)
				return 1
			}
		}
		names, code := m.checkNames(ctx, cfg)
		if code != 0 {
			return code
		}
		m.printServer(path, cfg)
		if names != "" {
			fmt.Fprintf(m.Stdout, "  names: %s\n", names)
		}
		return 0
	}
	f, err := spec.Parse(path, data)
	if err != nil {
		return m.checkFailed(err)
	}
	if server != nil {
		if err := f.CheckServer(server, spec.CrossCheck{ServerFile: serverPath}); err != nil {
			return m.checkFailed(err)
		}
	}
	fmt.Fprintf(m.Stdout, "%s: valid\n", path)
	if server != nil {
		fmt.Fprintf(m.Stdout, "%s defines every pool and environment it needs\n", serverPath)
	}
	return m.printPlans(f)
}

// checkNames resolves the @names and #channels of cfg against the Slack
// workspace, as gantry does when it starts, when SLACK_APP_TOKEN and
// SLACK_BOT_TOKEN are set; without them it says where the names will be
// resolved. It returns what to print about the names ("" when cfg has
// none), or a non-zero exit code once it has said what is wrong.
func (m *Main) checkNames(ctx context.Context, cfg *spec.Server) (string, int) {
	people, channels := cfg.NeedsWorkspace()
	if !people && !channels {
		return "", 0
	}
	if m.Getenv("SLACK_APP_TOKEN") == "" && m.Getenv("SLACK_BOT_TOKEN") == "" {
		return "not checked: gantry resolves @names and #channels against Slack when it starts (set SLACK_APP_TOKEN and SLACK_BOT_TOKEN to check them here)", 0
	}
	api, err := m.slackClient()
	if err == nil {
		_, err = m.slackIdentity(ctx, api)
	}
	if err != nil {
		fmt.Fprintln(m.Stderr, "gantry check:", err)
		return "", 1
	}
	sched := slack.NewScheduler(slack.SchedulerConfig{Logger: m.logger})
	defer sched.Close()
	if _, err := slackNames(api, sched, m.logger)(ctx, cfg); err != nil {
		return "", m.checkFailed(err)
	}
	return "every @name and #channel is in the Slack workspace", 0
}

// printServer writes what a valid server config sets up.
func (m *Main) printServer(path string, cfg *spec.Server) {
	fmt.Fprintf(m.Stdout, "%s: valid server config\n", path)
	fmt.Fprintf(m.Stdout, "  runner: %s, workers: %d\n", orDefault(cfg.Runner.Kind, "local"), cfg.Workers)
	if untrustedLocal(cfg) {
		fmt.Fprintf(m.Stdout, "  note: the local runner is not trusted, so `gantry serve` and `gantry worker` refuse to start with this file (the console runs it); %s\n", trustAdvice)
	}
	fmt.Fprintf(m.Stdout, "  repos: %s\n", keys(cfg.Repos))
	fmt.Fprintf(m.Stdout, "  pools: %s\n", keys(cfg.Pools))
	fmt.Fprintf(m.Stdout, "  environments: %s\n", keys(cfg.Environments))
	printTrust(m.Stdout, cfg)
}

// printPlans writes each pipeline and deploy stage of f as it would run,
// each under its one header.
func (m *Main) printPlans(f *spec.File) int {
	for _, name := range f.PipelineNames() {
		p, err := f.Pipeline(name)
		if err != nil {
			return m.checkFailed(err)
		}
		fmt.Fprintf(m.Stdout, "\n%s", p.Describe())
	}
	for _, env := range f.Environments() {
		p, err := f.Deploy(env)
		if err != nil {
			return m.checkFailed(err)
		}
		fmt.Fprintf(m.Stdout, "\n%s", p.Describe())
	}
	return 0
}

// checkServerFile reads the server config of --server. It returns nil
// and the exit code when it cannot be read or is not valid.
func (m *Main) checkServerFile(ctx context.Context, path string) (*spec.Server, int) {
	data, err := readCheckInput(ctx, path)
	if err != nil {
		fmt.Fprintf(m.Stderr, "gantry check: --server: %v\n", err)
		return nil, 1
	}
	if !spec.IsServerConfig(data) {
		fmt.Fprintf(m.Stderr, "gantry check: --server %s holds a .gantry.yml, not a server config (whose keys are %s)\n", path, strings.Join(spec.ServerKeys(), ", "))
		return nil, 2
	}
	cfg, err := spec.ParseServer(path, data)
	if err != nil {
		return nil, m.checkFailed(err)
	}
	return cfg, 0
}

// readCheckInput reads the file to check, at most spec.MaxFileSize bytes
// of it (the most Parse takes), so an endless input such as /dev/zero ends
// with a message instead of filling memory. It returns when ctx ends even
// if the read is stuck, as on a FIFO nobody writes to.
func readCheckInput(ctx context.Context, path string) ([]byte, error) {
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var data []byte
		var err error
		if isRemoteConfig(path) {
			// What GANTRY_CONFIG may name, read as gantry reads it.
			data, err = readRemoteConfig(path)
		} else {
			data, err = readAtMost(path, spec.MaxFileSize)
		}
		done <- result{data, err}
	}()
	select {
	case r := <-done:
		return r.data, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("stopped before %s was read: %w", path, context.Cause(ctx))
	}
}

// readAtMost reads path, refusing it once it is known to hold more than
// limit bytes: by its size where it has one, else after limit+1 bytes.
func readAtMost(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes; gantry reads files of at most %d bytes (%d MiB)", path, fi.Size(), limit, limit>>20)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s holds more than %d bytes (%d MiB), the most gantry reads of a file: stopped reading there", path, limit, limit>>20)
	}
	return data, nil
}

func (m *Main) checkFailed(err error) int {
	var se *spec.Error
	if errors.As(err, &se) {
		for _, p := range se.Problems {
			fmt.Fprintln(m.Stderr, p.String())
		}
		return 1
	}
	fmt.Fprintln(m.Stderr, "gantry check:", err)
	return 1
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func keys[V any](m map[string]V) string {
	if len(m) == 0 {
		return "(none)"
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	out := ks[0]
	for _, k := range ks[1:] {
		out += ", " + k
	}
	return out
}
