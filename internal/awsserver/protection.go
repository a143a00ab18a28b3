package awsserver

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

// RejectProtection makes UpdateTaskProtection answer every task with a
// TASK_NOT_VALID failure, as real ECS does for tasks that no service
// started (every task RunTask starts). By default protection is recorded.
func (s *Server) RejectProtection(reject bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectProt = reject
}

func (s *Server) updateTaskProtection(req request) (any, *apiError) {
	var in ecs.UpdateTaskProtectionInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	cluster, e := s.clusterName(in.Cluster)
	if e != nil {
		return nil, e
	}
	if len(in.Tasks) == 0 || len(in.Tasks) > 10 {
		return nil, invalidParameter("tasks must list 1 to 10 tasks, got %d.", len(in.Tasks))
	}
	minutes := int32(120)
	if in.ExpiresInMinutes != nil {
		minutes = *in.ExpiresInMinutes
		if minutes < 1 || minutes > 2880 {
			return nil, invalidParameter("expiresInMinutes must be between 1 and 2880, got %d.", minutes)
		}
	}
	now := s.now()
	protected, failures := []wireProtectedTask{}, []wireFailure{}
	for _, ref := range in.Tasks {
		t := s.findTask(cluster, ref)
		switch {
		case t == nil:
			failures = append(failures, wireFailure{Arn: s.taskARNFor(cluster, ref), Reason: "MISSING"})
		case s.rejectProt:
			failures = append(failures, wireFailure{Arn: t.arn, Reason: "TASK_NOT_VALID", Detail: "The task is not part of a service."})
		case t.lastStatus == StatusStopped:
			failures = append(failures, wireFailure{Arn: t.arn, Reason: "TASK_NOT_VALID", Detail: "The task is stopped."})
		default:
			t.protected = in.ProtectionEnabled
			t.protectedUntil = time.Time{}
			if in.ProtectionEnabled {
				t.protectedUntil = now.Add(time.Duration(minutes) * time.Minute)
			}
			protected = append(protected, t.wireProtection(now))
		}
	}
	return map[string]any{"protectedTasks": protected, "failures": failures}, nil
}

func (s *Server) getTaskProtection(req request) (any, *apiError) {
	var in ecs.GetTaskProtectionInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	cluster, e := s.clusterName(in.Cluster)
	if e != nil {
		return nil, e
	}
	if len(in.Tasks) == 0 || len(in.Tasks) > 100 {
		return nil, invalidParameter("tasks must list 1 to 100 tasks, got %d.", len(in.Tasks))
	}
	now := s.now()
	protected, failures := []wireProtectedTask{}, []wireFailure{}
	for _, ref := range in.Tasks {
		if t := s.findTask(cluster, ref); t != nil {
			protected = append(protected, t.wireProtection(now))
		} else {
			failures = append(failures, wireFailure{Arn: s.taskARNFor(cluster, ref), Reason: "MISSING"})
		}
	}
	return map[string]any{"protectedTasks": protected, "failures": failures}, nil
}

// protectedAt says whether protection is on at now; it lapses at its
// expiry.
func (t *task) protectedAt(now time.Time) bool {
	return t.protected && now.Before(t.protectedUntil)
}
