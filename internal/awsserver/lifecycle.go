package awsserver

import "time"

// advance applies every scripted change that is due, task by task.
func (s *Server) advance() {
	now := s.now()
	for _, t := range s.taskOrder {
		s.advanceTask(t, now)
	}
}

func (s *Server) advanceTask(t *task, now time.Time) {
	for len(t.events) > 0 && !t.events[0].at.After(now) {
		ev := t.events[0]
		t.events = t.events[1:]
		s.apply(t, ev)
	}
}

func (s *Server) apply(t *task, ev event) {
	t.version++
	switch ev.kind {
	case evStatus:
		t.enter(ev.status, ev.at)
		if ev.status == StatusRunning {
			for _, c := range t.containers {
				if contains(t.script.NotStarted, c.name) {
					c.reason = t.script.ContainerReasons[c.name]
					continue
				}
				c.lastStatus = StatusRunning
				if c.logGroup != "" {
					s.ensureStream(c.logGroup, c.logStream, ev.at)
				}
			}
		}
	case evLog:
		c := t.containers[0]
		if ev.line.Container != "" {
			c = t.container(ev.line.Container)
		}
		if c != nil && c.lastStatus == StatusRunning && c.logGroup != "" {
			s.appendLog(s.ensureStream(c.logGroup, c.logStream, ev.at), ev.line.Message, ev.at)
		}
	case evExit:
		t.desiredStatus = StatusStopped
		t.markStopping(ev.at)
		for _, c := range t.containers {
			if c.lastStatus == StatusRunning {
				code := t.script.ExitCode
				if v, ok := t.script.ExitCodes[c.name]; ok {
					code = v
				}
				c.exitCode = &code
				c.lastStatus = StatusStopped
				c.reason = t.script.ContainerReasons[c.name]
			}
		}
	case evStop:
		code, reason := t.script.StopCode, t.script.StoppedReason
		switch {
		case t.script.StartFailure != "":
			code, reason = StopCodeTaskFailedToStart, t.script.StartFailure
			for _, c := range t.containers {
				c.reason = t.script.StartFailure
			}
		default:
			if code == "" {
				code = StopCodeEssentialContainerExited
			}
			if reason == "" {
				reason = ReasonEssentialContainerExited
			}
		}
		t.finish(ev.at, code, reason)
	case evUserStop:
		for _, c := range t.containers {
			if c.lastStatus == StatusRunning {
				code := int32(ExitCodeKilled)
				if v, ok := t.script.StopExitCodes[c.name]; ok {
					code = v
				}
				c.exitCode = &code
				c.reason = t.script.ContainerReasons[c.name]
			}
		}
		t.finish(ev.at, StopCodeUserInitiated, t.stoppedReason)
	}
}

func (t *task) container(name string) *container {
	for _, c := range t.containers {
		if c.name == name {
			return c
		}
	}
	return nil
}

// enter moves the task to a status before STOPPED.
func (t *task) enter(status string, at time.Time) {
	t.lastStatus = status
	switch status {
	case StatusPending:
		t.pullStartedAt = at
	case StatusActivating, StatusRunning:
		if !t.pullStartedAt.IsZero() && t.pullStoppedAt.IsZero() {
			t.pullStoppedAt = at
		}
		if status == StatusRunning {
			t.startedAt = at
		}
	case StatusDeactivating, StatusStopping, StatusDeprovisioning:
		t.desiredStatus = StatusStopped
		t.markStopping(at)
	}
}

func (t *task) markStopping(at time.Time) {
	if t.stoppingAt.IsZero() {
		t.stoppingAt = at
	}
	if t.executionStoppedAt.IsZero() {
		t.executionStoppedAt = at
	}
}

// finish moves the task to STOPPED.
func (t *task) finish(at time.Time, code, reason string) {
	t.markStopping(at)
	t.lastStatus, t.desiredStatus = StatusStopped, StatusStopped
	t.stoppedAt = at
	t.stopCode, t.stoppedReason = code, reason
	t.events = nil
	for _, c := range t.containers {
		c.lastStatus = StatusStopped
	}
}
