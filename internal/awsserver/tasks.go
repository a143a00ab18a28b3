package awsserver

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// container is the state of one container of a task.
type container struct {
	name       string
	image      string
	arn        string
	runtimeID  string
	lastStatus string
	exitCode   *int32
	reason     string
	logGroup   string // awslogs destination; "" when the container does not use awslogs
	logStream  string
}

// task is the state of one task.
type task struct {
	arn     string
	id      string
	cluster string
	def     *taskDef
	in      ecs.RunTaskInput
	raw     map[string]any // the RunTask request as sent
	script  TaskScript
	events  []event // scripted changes not yet due
	version int64

	lastStatus, desiredStatus string
	launchType                string
	capacityProvider          string
	containers                []*container
	stopCode, stoppedReason   string
	stopRequests              []string

	createdAt, pullStartedAt, pullStoppedAt, startedAt time.Time
	stoppingAt, executionStoppedAt, stoppedAt          time.Time

	protected      bool
	protectedUntil time.Time

	attachmentID, eniID, privateIP, subnet string // awsvpc only
}

// Failure is an entry of the failures list RunTask returns instead of tasks.
type Failure struct {
	Arn    string // "" means the cluster's ARN
	Reason string // e.g. "RESOURCE:MEMORY", "AGENT"
	Detail string
}

// FailRunTask makes the next n RunTask calls start nothing and reply these
// failures. A clientToken used by such a call stays unused.
func (s *Server) FailRunTask(n int, failures ...Failure) {
	s.t.Helper()
	if len(failures) == 0 {
		s.t.Errorf("awsserver: FailRunTask(%d) with no failures", n)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.runFailures = append(s.runFailures, failures)
	}
}

func (s *Server) clusterARN(name string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:cluster/%s", s.region, AccountID, name)
}

// clusterName resolves a cluster name or ARN, "" meaning "default".
func (s *Server) clusterName(ref *string) (string, *apiError) {
	name := deref(ref)
	if name == "" {
		name = "default"
	}
	if rest, ok := strings.CutPrefix(name, "arn:"); ok {
		parts := strings.SplitN(rest, ":", 5)
		if len(parts) != 5 || parts[1] != "ecs" || !strings.HasPrefix(parts[4], "cluster/") {
			return "", invalidParameter("Cluster identifier %q is not a valid cluster ARN.", name)
		}
		name = strings.TrimPrefix(parts[4], "cluster/")
	}
	if s.clusters != nil && !s.clusters[name] {
		return "", errorf(http.StatusBadRequest, "ClusterNotFoundException", "Cluster not found.")
	}
	return name, nil
}

// findTask finds a task of the cluster by ID or ARN.
func (s *Server) findTask(cluster, ref string) *task {
	id := ref
	if strings.HasPrefix(ref, "arn:") {
		i := strings.LastIndex(ref, "/")
		if i < 0 || !strings.Contains(ref, ":task/") {
			return nil
		}
		id = ref[i+1:]
	}
	t := s.tasks[id]
	if t == nil || t.cluster != cluster {
		return nil
	}
	return t
}

func (s *Server) taskARNFor(cluster, ref string) string {
	if strings.HasPrefix(ref, "arn:") {
		return ref
	}
	return fmt.Sprintf("arn:aws:ecs:%s:%s:task/%s/%s", s.region, AccountID, cluster, ref)
}

func (s *Server) describeClusters(req request) (any, *apiError) {
	var in ecs.DescribeClustersInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	refs := in.Clusters
	if len(refs) == 0 {
		refs = []string{"default"}
	}
	clusters, failures := []map[string]any{}, []wireFailure{}
	for _, ref := range refs {
		name, e := s.clusterName(&ref)
		if e != nil {
			failures = append(failures, wireFailure{Arn: ref, Reason: "MISSING"})
			continue
		}
		running, pending := 0, 0
		for _, t := range s.taskOrder {
			switch {
			case t.cluster != name || t.lastStatus == StatusStopped:
			case t.lastStatus == StatusRunning:
				running++
			default:
				pending++
			}
		}
		clusters = append(clusters, map[string]any{
			"clusterArn": s.clusterARN(name), "clusterName": name, "status": "ACTIVE",
			"runningTasksCount": running, "pendingTasksCount": pending,
			"activeServicesCount": 0, "registeredContainerInstancesCount": 0,
		})
	}
	return map[string]any{"clusters": clusters, "failures": failures}, nil
}

func (s *Server) runTask(req request) (any, *apiError) {
	var in ecs.RunTaskInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	cluster, e := s.clusterName(in.Cluster)
	if e != nil {
		return nil, e
	}
	td, e := s.checkRunTask(&in)
	if e != nil {
		return nil, e
	}
	token := deref(in.ClientToken)
	if prev, ok := s.tokens[token]; ok && token != "" {
		return map[string]any{"tasks": s.wireTasks(prev, true), "failures": []wireFailure{}}, nil
	}
	if len(s.runFailures) > 0 {
		fs := s.runFailures[0]
		s.runFailures = s.runFailures[1:]
		out := make([]wireFailure, len(fs))
		for i, f := range fs {
			out[i] = wireFailure{Arn: f.Arn, Reason: f.Reason, Detail: f.Detail}
			if out[i].Arn == "" {
				out[i].Arn = s.clusterARN(cluster)
			}
		}
		return map[string]any{"tasks": []wireTask{}, "failures": out}, nil
	}
	count := 1
	if in.Count != nil {
		count = int(*in.Count)
	}
	var names []string
	for _, c := range td.in.ContainerDefinitions {
		names = append(names, deref(c.Name))
	}
	started := make([]*task, 0, count)
	for range count {
		sc := s.pickScript(td, in)
		if err := sc.validate(names); err != nil {
			s.t.Errorf("awsserver: RunTask of %s: bad task script: %v", td.arn, err)
			return nil, errorf(http.StatusInternalServerError, "ServerException", "awsserver: bad task script: %v", err)
		}
		started = append(started, s.startTask(cluster, td, in, req.input, sc))
	}
	if token != "" {
		s.tokens[token] = started
	}
	return map[string]any{"tasks": s.wireTasks(started, true), "failures": []wireFailure{}}, nil
}

// checkRunTask validates a RunTask request the way ECS does and returns the
// definition it names.
func (s *Server) checkRunTask(in *ecs.RunTaskInput) (*taskDef, *apiError) {
	if deref(in.TaskDefinition) == "" {
		return nil, invalidParameter("TaskDefinition can not be blank.")
	}
	td := s.resolveTaskDef(*in.TaskDefinition)
	switch {
	case td == nil:
		return nil, clientError("TaskDefinition not found.")
	case !td.active:
		return nil, clientError("TaskDefinition is inactive")
	case in.Count != nil && (*in.Count < 1 || *in.Count > 10):
		return nil, invalidParameter("Count must be between 1 and 10, got %d.", *in.Count)
	case in.StartedBy != nil && !startedByPattern.MatchString(*in.StartedBy):
		return nil, invalidParameter("startedBy %q is invalid: up to 128 letters (uppercase and lowercase), numbers, hyphens (-), forward slash (/), and underscores (_) are allowed.", *in.StartedBy)
	case in.ClientToken != nil && !validClientToken(*in.ClientToken):
		return nil, invalidParameter("clientToken %q is invalid: 1 to 64 characters in the range 33-126.", *in.ClientToken)
	case len(in.Tags) > 50:
		return nil, invalidParameter("A task can have at most 50 tags, got %d.", len(in.Tags))
	case in.LaunchType != "" && len(in.CapacityProviderStrategy) > 0:
		return nil, invalidParameter("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
	case in.LaunchType == "" && len(in.CapacityProviderStrategy) == 0:
		return nil, invalidParameter("awsserver: RunTask needs launchType or capacityProviderStrategy (the cluster's default capacity provider strategy is not modelled).")
	}
	if e := checkTags(in.Tags); e != nil {
		return nil, e
	}
	fargate := in.LaunchType == ecstypes.LaunchTypeFargate
	switch in.LaunchType {
	case "", ecstypes.LaunchTypeEc2, ecstypes.LaunchTypeFargate, ecstypes.LaunchTypeExternal, ecstypes.LaunchTypeManagedInstances:
	default:
		return nil, invalidParameter("launchType %q is not one of EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES.", in.LaunchType)
	}
	for _, cp := range in.CapacityProviderStrategy {
		name := deref(cp.CapacityProvider)
		if name == "" {
			return nil, invalidParameter("capacityProviderStrategy entries need a capacityProvider.")
		}
		fargate = fargate || name == "FARGATE" || name == "FARGATE_SPOT"
	}
	if fargate && !contains(td.compat, string(ecstypes.CompatibilityFargate)) {
		return nil, clientError("Task definition does not support launch_type FARGATE.")
	}
	awsvpc := td.in.NetworkMode == ecstypes.NetworkModeAwsvpc
	var vpc *ecstypes.AwsVpcConfiguration
	if in.NetworkConfiguration != nil {
		vpc = in.NetworkConfiguration.AwsvpcConfiguration
	}
	switch {
	case (awsvpc || fargate) && vpc == nil:
		return nil, invalidParameter("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	case (awsvpc || fargate) && len(vpc.Subnets) == 0:
		return nil, invalidParameter("subnets can not be empty.")
	case !awsvpc && !fargate && vpc != nil:
		return nil, invalidParameter("Network Configuration is not valid for the given networkMode of this task definition.")
	}
	if in.Overrides != nil {
		for _, o := range in.Overrides.ContainerOverrides {
			if !td.hasContainer(deref(o.Name)) {
				return nil, invalidParameter("Override for container named %s is not a container in the TaskDefinition.", deref(o.Name))
			}
		}
	}
	return td, nil
}

var startedByPattern = regexp.MustCompile(`^[A-Za-z0-9/_-]{1,128}$`)

func validClientToken(tok string) bool {
	if tok == "" || len(tok) > 64 {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < 33 || tok[i] > 126 {
			return false
		}
	}
	return true
}

// checkTags applies ECS's tag rules.
func checkTags(tags []ecstypes.Tag) *apiError {
	seen := map[string]bool{}
	for _, tag := range tags {
		k, v := deref(tag.Key), deref(tag.Value)
		switch {
		case k == "" || utf8.RuneCountInString(k) > 128:
			return invalidParameter("Tag key %q must be 1 to 128 characters long.", k)
		case utf8.RuneCountInString(v) > 256:
			return invalidParameter("Tag value of %q must be at most 256 characters long.", k)
		case strings.HasPrefix(strings.ToLower(k), "aws:") || strings.HasPrefix(strings.ToLower(v), "aws:"):
			return invalidParameter("Tag %q uses the reserved prefix aws:.", k)
		case seen[k]:
			return invalidParameter("Tag key %q is given more than once.", k)
		}
		seen[k] = true
	}
	return nil
}

func (td *taskDef) hasContainer(name string) bool {
	for _, c := range td.in.ContainerDefinitions {
		if deref(c.Name) == name {
			return true
		}
	}
	return false
}

// startTask creates a task and applies the first step of its script.
func (s *Server) startTask(cluster string, td *taskDef, in ecs.RunTaskInput, raw map[string]any, sc TaskScript) *task {
	now := s.now()
	id := newHexID(16)
	t := &task{
		arn:           fmt.Sprintf("arn:aws:ecs:%s:%s:task/%s/%s", s.region, AccountID, cluster, id),
		id:            id,
		cluster:       cluster,
		def:           td,
		in:            in,
		raw:           raw,
		script:        sc,
		desiredStatus: StatusRunning,
		launchType:    string(in.LaunchType),
		createdAt:     now,
	}
	if len(in.CapacityProviderStrategy) > 0 {
		t.capacityProvider = deref(in.CapacityProviderStrategy[0].CapacityProvider)
		t.launchType = string(ecstypes.LaunchTypeEc2)
		if t.capacityProvider == "FARGATE" || t.capacityProvider == "FARGATE_SPOT" {
			t.launchType = string(ecstypes.LaunchTypeFargate)
		}
	}
	if in.NetworkConfiguration != nil && in.NetworkConfiguration.AwsvpcConfiguration != nil {
		b := newHexID(9)
		t.attachmentID = newUUID()
		t.eniID = "eni-" + b[:17]
		t.subnet = in.NetworkConfiguration.AwsvpcConfiguration.Subnets[0]
		t.privateIP = fmt.Sprintf("10.0.%d.%d", b[0]%250+1, b[1]%250+1)
	}
	for _, cd := range td.in.ContainerDefinitions {
		name := deref(cd.Name)
		c := &container{
			name:       name,
			image:      deref(cd.Image),
			arn:        fmt.Sprintf("arn:aws:ecs:%s:%s:container/%s/%s/%s", s.region, AccountID, cluster, id, newUUID()),
			runtimeID:  id + "-" + newHexID(5),
			lastStatus: StatusPending,
		}
		if lc := cd.LogConfiguration; lc != nil && lc.LogDriver == ecstypes.LogDriverAwslogs {
			c.logGroup = lc.Options["awslogs-group"]
			// In AWS the group exists before any task logs to it.
			s.ensureGroup(c.logGroup, now)
			c.logStream = c.runtimeID
			if p := lc.Options["awslogs-stream-prefix"]; p != "" {
				c.logStream = p + "/" + name + "/" + id
			}
		}
		t.containers = append(t.containers, c)
	}
	t.events = sc.timeline(now)
	s.tasks[id] = t
	s.taskOrder = append(s.taskOrder, t)
	s.advanceTask(t, now)
	return t
}

func (s *Server) stopTask(req request) (any, *apiError) {
	var in ecs.StopTaskInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	cluster, e := s.clusterName(in.Cluster)
	if e != nil {
		return nil, e
	}
	if deref(in.Task) == "" {
		return nil, invalidParameter("Task can not be blank.")
	}
	if len(deref(in.Reason)) > 255 {
		return nil, invalidParameter("Reason can be at most 255 characters long.")
	}
	t := s.findTask(cluster, *in.Task)
	if t == nil {
		return nil, invalidParameter("The referenced task was not found.")
	}
	reason := deref(in.Reason)
	t.stopRequests = append(t.stopRequests, reason)
	if t.desiredStatus == StatusStopped || t.lastStatus == StatusStopped {
		return map[string]any{"task": s.wireTask(t, true)}, nil
	}
	if reason == "" {
		reason = ReasonStoppedByUser
	}
	now := s.now()
	t.version++
	t.desiredStatus = StatusStopped
	t.stoppedReason = reason
	t.markStopping(now)
	t.events = []event{{at: now.Add(t.script.StopDelay), kind: evUserStop}}
	s.advanceTask(t, now)
	return map[string]any{"task": s.wireTask(t, true)}, nil
}

func (s *Server) describeTasks(req request) (any, *apiError) {
	var in ecs.DescribeTasksInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	cluster, e := s.clusterName(in.Cluster)
	if e != nil {
		return nil, e
	}
	switch {
	case len(in.Tasks) == 0:
		return nil, invalidParameter("Tasks cannot be empty.")
	case len(in.Tasks) > 100:
		return nil, invalidParameter("Tasks can have at most 100 items, got %d.", len(in.Tasks))
	}
	withTags := includes(in.Include, ecstypes.TaskFieldTags)
	tasks, failures := []wireTask{}, []wireFailure{}
	for _, ref := range in.Tasks {
		t := s.findTask(cluster, ref)
		if t == nil {
			failures = append(failures, wireFailure{Arn: s.taskARNFor(cluster, ref), Reason: "MISSING"})
			continue
		}
		tasks = append(tasks, s.wireTask(t, withTags))
	}
	return map[string]any{"tasks": tasks, "failures": failures}, nil
}

func (s *Server) listTasks(req request) (any, *apiError) {
	var in ecs.ListTasksInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	cluster, e := s.clusterName(in.Cluster)
	if e != nil {
		return nil, e
	}
	desired := string(in.DesiredStatus)
	switch desired {
	case "":
		desired = StatusRunning
	case StatusRunning, StatusPending, StatusStopped:
	default:
		return nil, invalidParameter("desiredStatus %q is not one of RUNNING, PENDING, STOPPED.", desired)
	}
	limit := 100
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, invalidParameter("maxResults must be between 1 and 100, got %d.", *in.MaxResults)
		}
		limit = int(*in.MaxResults)
	}
	start, e := decodePageToken(in.NextToken)
	if e != nil {
		return nil, e
	}
	if in.StartedBy != nil && (in.Family != nil || in.ServiceName != nil || in.ContainerInstance != nil || in.DaemonName != nil || in.LaunchType != "") {
		return nil, invalidParameter("When you specify startedBy as the filter, it must be the only filter that you use (besides desiredStatus).")
	}
	var arns []string
	for _, t := range s.taskOrder {
		switch {
		case t.cluster != cluster, t.desiredStatus != desired:
		case in.StartedBy != nil && deref(t.in.StartedBy) != *in.StartedBy:
		case in.Family != nil && t.def.family != *in.Family:
		case in.LaunchType != "" && t.launchType != string(in.LaunchType):
		case in.ServiceName != nil, in.ContainerInstance != nil, in.DaemonName != nil:
		default:
			arns = append(arns, t.arn)
		}
	}
	if start > len(arns) {
		start = len(arns)
	}
	end := min(start+limit, len(arns))
	out := map[string]any{"taskArns": append([]string{}, arns[start:end]...)}
	if end < len(arns) {
		out["nextToken"] = encodePageToken(end)
	}
	return out, nil
}

func encodePageToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("awsserver:" + strconv.Itoa(offset)))
}

func decodePageToken(token *string) (int, *apiError) {
	if token == nil || *token == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*token)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(b), "awsserver:"); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= 0 {
				return n, nil
			}
		}
	}
	return 0, invalidParameter("Invalid nextToken %q.", *token)
}
