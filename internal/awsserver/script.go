package awsserver

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Task statuses (lastStatus), in lifecycle order.
const (
	StatusProvisioning   = "PROVISIONING"
	StatusPending        = "PENDING"
	StatusActivating     = "ACTIVATING"
	StatusRunning        = "RUNNING"
	StatusDeactivating   = "DEACTIVATING"
	StatusStopping       = "STOPPING"
	StatusDeprovisioning = "DEPROVISIONING"
	StatusStopped        = "STOPPED"
)

var lifecycle = []string{
	StatusProvisioning, StatusPending, StatusActivating, StatusRunning,
	StatusDeactivating, StatusStopping, StatusDeprovisioning,
}

// Stop codes and reasons the server writes.
const (
	StopCodeEssentialContainerExited = "EssentialContainerExited"
	StopCodeTaskFailedToStart        = "TaskFailedToStart"
	StopCodeUserInitiated            = "UserInitiated"

	ReasonEssentialContainerExited = "Essential container in task exited"
	ReasonStoppedByUser            = "Task stopped by user"

	// ExitCodeKilled is a container's exit code after StopTask (SIGKILL).
	ExitCodeKilled = 137
)

// Phase is one status a scripted task holds for a while.
type Phase struct {
	Status string        // one of the Status constants except StatusStopped
	For    time.Duration // how long the task stays in it
}

// LogLine is a line a container writes to its awslogs stream while the task
// is RUNNING.
type LogLine struct {
	Container string        // container name; "" is the definition's first container
	Message   string        // one log event
	At        time.Duration // when, counted from the task reaching RUNNING
}

// TaskScript says what happens to a task that RunTask starts. The task
// passes through Phases, writes Logs while RUNNING, and then stops by itself
// (containers exit with ExitCode/ExitCodes), fails to start (StartFailure),
// or, with UntilStopped, holds its last phase until StopTask.
type TaskScript struct {
	// Phases before STOPPED, in lifecycle order; empty means DefaultPhases.
	// The first phase is the lastStatus RunTask returns.
	Phases []Phase
	// Logs are written while RUNNING. A line whose At falls after the end of
	// the RUNNING phase is written as it ends; with UntilStopped it waits for
	// its time, and lines still due when the task is stopped are lost.
	Logs []LogLine
	// ExitCode is the exit code of every container that ExitCodes does not
	// name, when the task stops by itself.
	ExitCode  int32
	ExitCodes map[string]int32
	// ContainerReasons sets a container's reason when it stops, e.g.
	// "OutOfMemoryError: Container killed due to memory usage".
	ContainerReasons map[string]string
	// StopCode and StoppedReason override EssentialContainerExited and
	// "Essential container in task exited" for a task that stops by itself.
	StopCode      string
	StoppedReason string
	// StartFailure makes the task stop after its phases without running:
	// stopCode TaskFailedToStart, stoppedReason and every container's reason
	// this text (e.g. "CannotPullContainerError: ..."), and no exit codes.
	// Its Phases must not include RUNNING.
	StartFailure string
	// UntilStopped holds the last phase until StopTask.
	UntilStopped bool
	// StopDelay is how long a task takes to reach STOPPED after StopTask; in
	// between it keeps its status with desiredStatus STOPPED.
	StopDelay time.Duration
	// StopExitCodes are the exit codes of running containers stopped by
	// StopTask; containers not named get ExitCodeKilled (137).
	StopExitCodes map[string]int32
	// NotStarted names containers that never start, as a container whose
	// dependsOn condition is not met: they write no logs, get no exit code
	// and keep their ContainerReasons reason.
	NotStarted []string
}

// DefaultPhases is the life of a task whose script names no phases:
// PROVISIONING 20ms, PENDING 20ms, RUNNING 50ms.
func DefaultPhases() []Phase {
	return []Phase{
		{Status: StatusProvisioning, For: 20 * time.Millisecond},
		{Status: StatusPending, For: 20 * time.Millisecond},
		{Status: StatusRunning, For: 50 * time.Millisecond},
	}
}

// Lines spaces messages of one container every interval, from the moment
// the task reaches RUNNING.
func Lines(container string, every time.Duration, messages ...string) []LogLine {
	out := make([]LogLine, len(messages))
	for i, m := range messages {
		out[i] = LogLine{Container: container, Message: m, At: time.Duration(i) * every}
	}
	return out
}

// Exit is a script whose task runs through DefaultPhases, writes logs and
// exits with code.
func Exit(code int32, logs ...LogLine) TaskScript {
	return TaskScript{Logs: logs, ExitCode: code}
}

// FailToStart is a script whose task is provisioned and pending for 20ms each
// and then stops with stopCode TaskFailedToStart and reason.
func FailToStart(reason string) TaskScript {
	return TaskScript{
		Phases: []Phase{
			{Status: StatusProvisioning, For: 20 * time.Millisecond},
			{Status: StatusPending, For: 20 * time.Millisecond},
		},
		StartFailure: reason,
	}
}

// RunUntilStopped is a script whose task reaches RUNNING as in DefaultPhases,
// writes logs and runs until StopTask.
func RunUntilStopped(logs ...LogLine) TaskScript {
	return TaskScript{Logs: logs, UntilStopped: true}
}

// Script sets the function that picks the script of each task RunTask starts,
// from the definition and the request. Scripts queued with QueueScripts are
// used first. With neither, a task runs DefaultPhases and exits 0.
func (s *Server) Script(fn func(td ecstypes.TaskDefinition, in ecs.RunTaskInput) TaskScript) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripter = fn
}

// QueueScripts queues scripts for the next tasks started, one per task.
// Scripts are checked here only for their own consistency; container names
// are checked against the task definition when RunTask uses them.
func (s *Server) QueueScripts(scripts ...TaskScript) {
	s.t.Helper()
	for i, sc := range scripts {
		if err := sc.validate(nil); err != nil {
			s.t.Errorf("awsserver: QueueScripts: script %d: %v", i, err)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts = append(s.scripts, scripts...)
}

// phases returns the script's phases, or the defaults.
func (sc *TaskScript) phases() []Phase {
	if len(sc.Phases) == 0 {
		return DefaultPhases()
	}
	return sc.Phases
}

// validate checks the script; with containers it also checks the names the
// script uses against the task's containers.
func (sc *TaskScript) validate(containers []string) error {
	next := 0
	running := false
	for i, ph := range sc.phases() {
		idx := -1
		for j := next; j < len(lifecycle); j++ {
			if lifecycle[j] == ph.Status {
				idx = j
				break
			}
		}
		if idx < 0 {
			return fmt.Errorf("phase %d: status %q is unknown or out of lifecycle order (want a subsequence of %v; STOPPED is the outcome, not a phase)", i, ph.Status, lifecycle)
		}
		if ph.For < 0 {
			return fmt.Errorf("phase %d (%s): negative duration %v", i, ph.Status, ph.For)
		}
		next = idx + 1
		running = running || ph.Status == StatusRunning
	}
	switch {
	case sc.StartFailure != "" && running:
		return errors.New("StartFailure is set but the phases include RUNNING")
	case sc.StartFailure != "" && (len(sc.Logs) > 0 || len(sc.ExitCodes) > 0 || sc.ExitCode != 0):
		return errors.New("StartFailure is set: a task that never runs writes no logs and has no exit codes")
	case sc.StartFailure == "" && !running && !sc.UntilStopped:
		return errors.New("the phases have no RUNNING: set StartFailure, or UntilStopped to hold the last phase")
	case len(sc.Logs) > 0 && !running:
		return errors.New("logs are written while RUNNING, but the phases have no RUNNING")
	case sc.StopDelay < 0:
		return fmt.Errorf("negative StopDelay %v", sc.StopDelay)
	}
	for i, l := range sc.Logs {
		if l.At < 0 {
			return fmt.Errorf("log line %d: negative At %v", i, l.At)
		}
	}
	if containers == nil {
		return nil
	}
	known := func(what, name string) error {
		if !contains(containers, name) {
			return fmt.Errorf("%s names container %q; the task definition has %v", what, name, containers)
		}
		return nil
	}
	for i, l := range sc.Logs {
		if l.Container != "" {
			if err := known(fmt.Sprintf("log line %d", i), l.Container); err != nil {
				return err
			}
		}
	}
	for what, m := range map[string]map[string]int32{"ExitCodes": sc.ExitCodes, "StopExitCodes": sc.StopExitCodes} {
		for _, name := range sortedKeys(m) {
			if err := known(what, name); err != nil {
				return err
			}
		}
	}
	for _, name := range sortedKeys(sc.ContainerReasons) {
		if err := known("ContainerReasons", name); err != nil {
			return err
		}
	}
	for _, name := range sc.NotStarted {
		if err := known("NotStarted", name); err != nil {
			return err
		}
	}
	return nil
}

type eventKind int

const (
	evStatus   eventKind = iota // the task enters a status
	evLog                       // a container writes a line
	evExit                      // the containers exit at the end of RUNNING
	evStop                      // the task reaches STOPPED by itself
	evUserStop                  // the task reaches STOPPED after StopTask
)

// event is one scripted change of a task, due at a time.
type event struct {
	at     time.Time
	kind   eventKind
	status string
	line   LogLine
}

// timeline turns the script into events for a task started at t0.
func (sc *TaskScript) timeline(t0 time.Time) []event {
	phases := sc.phases()
	var evs []event
	var off time.Duration
	last := len(phases) - 1
	for i, ph := range phases {
		evs = append(evs, event{at: t0.Add(off), kind: evStatus, status: ph.Status})
		held := sc.UntilStopped && i == last
		if ph.Status == StatusRunning {
			for _, l := range sc.Logs {
				at := l.At
				if !held && at > ph.For {
					at = ph.For
				}
				evs = append(evs, event{at: t0.Add(off + at), kind: evLog, line: l})
			}
		}
		if held {
			break
		}
		off += ph.For
		if ph.Status == StatusRunning {
			evs = append(evs, event{at: t0.Add(off), kind: evExit})
		}
	}
	if !sc.UntilStopped {
		evs = append(evs, event{at: t0.Add(off), kind: evStop})
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	return evs
}

// pickScript chooses the script of a new task: queued, then the scripter,
// then the default.
func (s *Server) pickScript(td *taskDef, in ecs.RunTaskInput) TaskScript {
	if len(s.scripts) > 0 {
		sc := s.scripts[0]
		s.scripts = s.scripts[1:]
		return sc
	}
	if s.scripter != nil {
		return s.scripter(td.typed, in)
	}
	return TaskScript{}
}
