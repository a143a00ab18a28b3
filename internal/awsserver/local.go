package awsserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// LocalConfig says how RunLocally runs the containers of a task on this
// machine.
type LocalConfig struct {
	// Programs stands local programs in for the first word of a container's
	// command line (entryPoint, then command): "gantry" -> the test binary.
	// Other first words are looked up in PATH ("sh").
	Programs map[string]LocalProgram
	// Secrets resolves the valueFrom of container secrets, before the
	// secrets and parameters stored with PutSecret and PutParameter.
	Secrets map[string]string
	// LineEvery spaces the replayed log lines; 0 is 2ms.
	LineEvery time.Duration
	// Timeout bounds each container's run; 0 is one minute.
	Timeout time.Duration
}

// LocalProgram is a local program that stands in for a container's command.
type LocalProgram struct {
	Path string   // the program run instead of the first word
	Env  []string // KEY=VALUE added to the container's environment
}

// RunLocally makes each task RunTask starts (unless a queued script comes
// first) run its containers as local processes, at once and under the
// server's lock, and then replay what they printed as the task's awslogs
// lines and their exit codes as the task's outcome.
//
// Containers run in dependsOn order; one whose dependency condition fails
// (SUCCESS with a non-zero exit, say) never starts (TaskScript.NotStarted).
// A container with neither entryPoint nor command (a service using its
// image's default) runs nothing and exits 0. Each task gets a fresh
// directory per volume; container paths under a mount point, in the
// working directory and in environment values, are rewritten to it. The
// environment holds PATH and HOME of this process, the definition's
// environment and resolved secrets, the RunTask overrides and the
// program's Env. Images are not pulled: they are only names here.
func (s *Server) RunLocally(cfg LocalConfig) {
	if cfg.LineEvery <= 0 {
		cfg.LineEvery = 2 * time.Millisecond
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	root := s.t.TempDir()
	s.Script(func(td ecstypes.TaskDefinition, in ecs.RunTaskInput) TaskScript {
		dir, err := os.MkdirTemp(root, "task-")
		if err != nil {
			s.t.Errorf("awsserver: RunLocally: %v", err)
			return TaskScript{}
		}
		return runLocal(s.withStoredSecrets(cfg), dir, td, in)
	})
}

// withStoredSecrets is cfg with every secret and parameter the server
// stores added to its Secrets, as the execution role would fetch them.
// It runs under the server's lock.
func (s *Server) withStoredSecrets(cfg LocalConfig) LocalConfig {
	all := map[string]string{}
	for _, e := range s.secrets {
		all[e.arn], _ = s.secretValue(e.arn)
	}
	for _, e := range s.params {
		all[e.arn], all[e.name] = e.value, e.value
	}
	for k, v := range cfg.Secrets {
		all[k] = v
	}
	cfg.Secrets = all
	return cfg
}

// localRun is what one container did.
type localRun struct {
	lines   []string
	code    int32
	started bool
	reason  string
}

func runLocal(cfg LocalConfig, dir string, td ecstypes.TaskDefinition, in ecs.RunTaskInput) TaskScript {
	overrides := map[string]ecstypes.ContainerOverride{}
	if in.Overrides != nil {
		for _, o := range in.Overrides.ContainerOverrides {
			overrides[deref(o.Name)] = o
		}
	}
	runs := map[string]*localRun{}
	var order []string
	for len(order) < len(td.ContainerDefinitions) {
		progressed := false
		for _, cd := range td.ContainerDefinitions {
			name := deref(cd.Name)
			if runs[name] != nil || !depsDone(cd, runs) {
				continue
			}
			progressed = true
			order = append(order, name)
			if why := unmetDependency(cd, runs); why != "" {
				runs[name] = &localRun{reason: why}
				continue
			}
			runs[name] = runContainer(cfg, dir, cd, overrides[name])
		}
		if !progressed {
			break // a dependency cycle or a missing container: the rest never start
		}
	}
	sc := TaskScript{ExitCodes: map[string]int32{}, ContainerReasons: map[string]string{}}
	at := time.Duration(0)
	for _, cd := range td.ContainerDefinitions {
		name := deref(cd.Name)
		r := runs[name]
		if r == nil {
			r = &localRun{reason: "dependency cycle"}
		}
		if !r.started {
			sc.NotStarted = append(sc.NotStarted, name)
			sc.ContainerReasons[name] = r.reason
			continue
		}
		sc.ExitCodes[name] = r.code
		for _, l := range r.lines {
			sc.Logs = append(sc.Logs, LogLine{Container: name, Message: l, At: at})
			at += cfg.LineEvery
		}
	}
	sc.Phases = []Phase{
		{Status: StatusProvisioning, For: 5 * time.Millisecond},
		{Status: StatusPending, For: 5 * time.Millisecond},
		{Status: StatusRunning, For: at + 10*time.Millisecond},
	}
	return sc
}

func depsDone(cd ecstypes.ContainerDefinition, runs map[string]*localRun) bool {
	for _, d := range cd.DependsOn {
		if runs[deref(d.ContainerName)] == nil {
			return false
		}
	}
	return true
}

// unmetDependency says why a container cannot start, or "".
func unmetDependency(cd ecstypes.ContainerDefinition, runs map[string]*localRun) string {
	for _, d := range cd.DependsOn {
		dep := runs[deref(d.ContainerName)]
		switch {
		case !dep.started:
			return fmt.Sprintf("dependency %s never started", deref(d.ContainerName))
		case d.Condition == ecstypes.ContainerConditionSuccess && dep.code != 0:
			return fmt.Sprintf("dependency %s exited with code %d, condition SUCCESS not met", deref(d.ContainerName), dep.code)
		}
	}
	return ""
}

func runContainer(cfg LocalConfig, dir string, cd ecstypes.ContainerDefinition, o ecstypes.ContainerOverride) *localRun {
	mounts := map[string]string{}
	for _, mp := range cd.MountPoints {
		local := filepath.Join(dir, deref(mp.SourceVolume))
		_ = os.MkdirAll(local, 0o755)
		mounts[deref(mp.ContainerPath)] = local
	}
	remap := func(v string) string {
		for cpath, local := range mounts {
			if v == cpath || strings.HasPrefix(v, strings.TrimSuffix(cpath, "/")+"/") {
				return local + v[len(cpath):]
			}
		}
		return v
	}
	command := cd.Command
	if o.Command != nil {
		command = o.Command
	}
	argv := append(append([]string{}, cd.EntryPoint...), command...)
	if len(argv) == 0 {
		return &localRun{started: true}
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, kv := range cd.Environment {
		env = append(env, deref(kv.Name)+"="+remap(deref(kv.Value)))
	}
	for _, sec := range cd.Secrets {
		env = append(env, deref(sec.Name)+"="+cfg.Secrets[deref(sec.ValueFrom)])
	}
	for _, kv := range o.Environment {
		env = append(env, deref(kv.Name)+"="+remap(deref(kv.Value)))
	}
	path := argv[0]
	if p, ok := cfg.Programs[argv[0]]; ok {
		path = p.Path
		env = append(env, p.Env...)
	}
	workdir := dir
	if wd := deref(cd.WorkingDirectory); wd != "" {
		workdir = remap(wd)
		_ = os.MkdirAll(workdir, 0o755)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Dir = workdir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	r := &localRun{started: true}
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		r.lines = append(r.lines, sc.Text())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = int32(ee.ExitCode())
		if r.code < 0 {
			r.code = 137 // killed (the timeout)
		}
	default:
		r.code = 127
		r.lines = append(r.lines, fmt.Sprintf("awsserver: cannot run %s: %v", argv[0], err))
	}
	return r
}
