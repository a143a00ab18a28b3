package awsserver

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// The JSON shapes of ECS replies, as the SDK's awsJson 1.1 deserializer
// reads them: member names as in the API model, timestamps as epoch seconds.

type wireFailure struct {
	Arn    string `json:"arn,omitempty"`
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
}

type wireProtectedTask struct {
	TaskArn           string   `json:"taskArn"`
	ProtectionEnabled bool     `json:"protectionEnabled"`
	ExpirationDate    *float64 `json:"expirationDate,omitempty"`
}

type wireKeyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type wireAttachment struct {
	ID      string         `json:"id"`
	Type    string         `json:"type"`
	Status  string         `json:"status"`
	Details []wireKeyValue `json:"details"`
}

type wireNetworkInterface struct {
	AttachmentID       string `json:"attachmentId"`
	PrivateIpv4Address string `json:"privateIpv4Address"`
}

type wireContainer struct {
	ContainerArn      string                 `json:"containerArn"`
	TaskArn           string                 `json:"taskArn"`
	Name              string                 `json:"name"`
	Image             string                 `json:"image"`
	RuntimeID         string                 `json:"runtimeId,omitempty"`
	LastStatus        string                 `json:"lastStatus"`
	ExitCode          *int32                 `json:"exitCode,omitempty"`
	Reason            string                 `json:"reason,omitempty"`
	HealthStatus      string                 `json:"healthStatus"`
	Cpu               string                 `json:"cpu"`
	NetworkInterfaces []wireNetworkInterface `json:"networkInterfaces"`
}

type wireTask struct {
	Attachments          []wireAttachment `json:"attachments"`
	AvailabilityZone     string           `json:"availabilityZone"`
	CapacityProviderName string           `json:"capacityProviderName,omitempty"`
	ClusterArn           string           `json:"clusterArn"`
	Connectivity         string           `json:"connectivity,omitempty"`
	ConnectivityAt       *float64         `json:"connectivityAt,omitempty"`
	Containers           []wireContainer  `json:"containers"`
	Cpu                  string           `json:"cpu,omitempty"`
	Memory               string           `json:"memory,omitempty"`
	CreatedAt            float64          `json:"createdAt"`
	DesiredStatus        string           `json:"desiredStatus"`
	EnableExecuteCommand bool             `json:"enableExecuteCommand"`
	Group                string           `json:"group"`
	HealthStatus         string           `json:"healthStatus"`
	LastStatus           string           `json:"lastStatus"`
	LaunchType           string           `json:"launchType,omitempty"`
	Overrides            any              `json:"overrides"`
	PlatformVersion      string           `json:"platformVersion,omitempty"`
	PlatformFamily       string           `json:"platformFamily,omitempty"`
	PullStartedAt        *float64         `json:"pullStartedAt,omitempty"`
	PullStoppedAt        *float64         `json:"pullStoppedAt,omitempty"`
	StartedAt            *float64         `json:"startedAt,omitempty"`
	StartedBy            string           `json:"startedBy,omitempty"`
	StopCode             string           `json:"stopCode,omitempty"`
	StoppedAt            *float64         `json:"stoppedAt,omitempty"`
	StoppedReason        string           `json:"stoppedReason,omitempty"`
	StoppingAt           *float64         `json:"stoppingAt,omitempty"`
	ExecutionStoppedAt   *float64         `json:"executionStoppedAt,omitempty"`
	Tags                 []wireTag        `json:"tags,omitempty"`
	TaskArn              string           `json:"taskArn"`
	TaskDefinitionArn    string           `json:"taskDefinitionArn"`
	Version              int64            `json:"version"`
}

func optTime(t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	v := epochSeconds(t)
	return &v
}

func (s *Server) wireTasks(ts []*task, withTags bool) []wireTask {
	out := make([]wireTask, len(ts))
	for i, t := range ts {
		out[i] = s.wireTask(t, withTags)
	}
	return out
}

func (s *Server) wireTask(t *task, withTags bool) wireTask {
	w := wireTask{
		Attachments:          []wireAttachment{},
		AvailabilityZone:     s.region + "a",
		CapacityProviderName: t.capacityProvider,
		ClusterArn:           s.clusterARN(t.cluster),
		Cpu:                  deref(t.def.in.Cpu),
		Memory:               deref(t.def.in.Memory),
		CreatedAt:            epochSeconds(t.createdAt),
		DesiredStatus:        t.desiredStatus,
		EnableExecuteCommand: t.in.EnableExecuteCommand,
		Group:                deref(t.in.Group),
		HealthStatus:         "UNKNOWN",
		LastStatus:           t.lastStatus,
		LaunchType:           t.launchType,
		Overrides:            t.raw["overrides"],
		PullStartedAt:        optTime(t.pullStartedAt),
		PullStoppedAt:        optTime(t.pullStoppedAt),
		StartedAt:            optTime(t.startedAt),
		StartedBy:            deref(t.in.StartedBy),
		StopCode:             t.stopCode,
		StoppedAt:            optTime(t.stoppedAt),
		StoppedReason:        t.stoppedReason,
		StoppingAt:           optTime(t.stoppingAt),
		ExecutionStoppedAt:   optTime(t.executionStoppedAt),
		TaskArn:              t.arn,
		TaskDefinitionArn:    t.def.arn,
		Version:              t.version,
	}
	if w.Group == "" {
		w.Group = "family:" + t.def.family
	}
	if t.in.Overrides != nil {
		if v := deref(t.in.Overrides.Cpu); v != "" {
			w.Cpu = v
		}
		if v := deref(t.in.Overrides.Memory); v != "" {
			w.Memory = v
		}
	}
	if w.Overrides == nil {
		overrides := []map[string]string{}
		for _, c := range t.containers {
			overrides = append(overrides, map[string]string{"name": c.name})
		}
		w.Overrides = map[string]any{"containerOverrides": overrides, "inferenceAcceleratorOverrides": []any{}}
	}
	if t.launchType == string(ecstypes.LaunchTypeFargate) {
		w.PlatformVersion, w.PlatformFamily = "1.4.0", "Linux"
	}
	if !t.startedAt.IsZero() {
		w.Connectivity, w.ConnectivityAt = "CONNECTED", optTime(t.startedAt)
	}
	if withTags {
		w.Tags = wireTags(t.in.Tags)
	}
	var nics []wireNetworkInterface
	if t.eniID != "" {
		status := "PRECREATED"
		switch {
		case t.lastStatus == StatusStopped:
			status = "DELETED"
		case t.lastStatus != StatusProvisioning:
			status = "ATTACHED"
		}
		w.Attachments = append(w.Attachments, wireAttachment{
			ID: t.attachmentID, Type: "ElasticNetworkInterface", Status: status,
			Details: []wireKeyValue{
				{Name: "subnetId", Value: t.subnet},
				{Name: "networkInterfaceId", Value: t.eniID},
				{Name: "privateIPv4Address", Value: t.privateIP},
			},
		})
		nics = []wireNetworkInterface{{AttachmentID: t.attachmentID, PrivateIpv4Address: t.privateIP}}
	}
	for _, c := range t.containers {
		wc := wireContainer{
			ContainerArn:      c.arn,
			TaskArn:           t.arn,
			Name:              c.name,
			Image:             c.image,
			LastStatus:        c.lastStatus,
			ExitCode:          c.exitCode,
			Reason:            c.reason,
			HealthStatus:      "UNKNOWN",
			Cpu:               "0",
			NetworkInterfaces: nics,
		}
		if nics == nil {
			wc.NetworkInterfaces = []wireNetworkInterface{}
		}
		if !t.startedAt.IsZero() {
			wc.RuntimeID = c.runtimeID
		}
		w.Containers = append(w.Containers, wc)
	}
	return w
}

func (t *task) wireProtection(now time.Time) wireProtectedTask {
	w := wireProtectedTask{TaskArn: t.arn, ProtectionEnabled: t.protectedAt(now)}
	if w.ProtectionEnabled {
		w.ExpirationDate = optTime(t.protectedUntil)
	}
	return w
}

// Task is what the server knows of a task, for a test to inspect.
type Task struct {
	ARN               string
	ID                string
	Cluster           string // name
	TaskDefinitionARN string
	LastStatus        string
	DesiredStatus     string
	LaunchType        string
	CapacityProvider  string // first of the strategy, if one was given
	StartedBy         string
	StopCode          string
	StoppedReason     string
	StopRequests      []string // the reason of every StopTask call, in order
	Containers        []Container
	Tags              map[string]string
	Input             ecs.RunTaskInput // the RunTask request that started it
	// TaskRoleARN is the role the task's containers get credentials of:
	// the RunTask override if there is one, else the definition's.
	TaskRoleARN      string
	ExecutionRoleARN string    // the definition's, which fetches its secrets
	Protected        bool      // task protection on (and not expired)
	ProtectedUntil   time.Time // when protection lapses
	CreatedAt        time.Time
	StartedAt        time.Time // zero until RUNNING
	StoppedAt        time.Time // zero until STOPPED
	Version          int64
}

// Container is a container of a Task.
type Container struct {
	Name       string
	Image      string
	LastStatus string
	ExitCode   *int32 // nil until it exits; stays nil if it never ran
	Reason     string
	LogGroup   string // awslogs group, "" without awslogs
	LogStream  string // PREFIX/CONTAINER/TASK_ID
	// Secrets are the container's secrets in its definition: name ->
	// valueFrom (an ARN; ECS resolves it, never the caller).
	Secrets map[string]string
}

// Task returns a task by ARN or ID.
func (s *Server) Task(ref string) (Task, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	for _, t := range s.taskOrder {
		if t.arn == ref || t.id == ref {
			return s.inspectTask(t), true
		}
	}
	return Task{}, false
}

// Tasks returns every task in the order RunTask started them.
func (s *Server) Tasks() []Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	out := make([]Task, len(s.taskOrder))
	for i, t := range s.taskOrder {
		out[i] = s.inspectTask(t)
	}
	return out
}

func (s *Server) inspectTask(t *task) Task {
	out := Task{
		ARN:               t.arn,
		ID:                t.id,
		Cluster:           t.cluster,
		TaskDefinitionARN: t.def.arn,
		LastStatus:        t.lastStatus,
		DesiredStatus:     t.desiredStatus,
		LaunchType:        t.launchType,
		CapacityProvider:  t.capacityProvider,
		StartedBy:         deref(t.in.StartedBy),
		StopCode:          t.stopCode,
		StoppedReason:     t.stoppedReason,
		StopRequests:      append([]string(nil), t.stopRequests...),
		Tags:              map[string]string{},
		Input:             t.in,
		TaskRoleARN:       deref(t.def.in.TaskRoleArn),
		ExecutionRoleARN:  deref(t.def.in.ExecutionRoleArn),
		Protected:         t.protectedAt(s.now()),
		ProtectedUntil:    t.protectedUntil,
		CreatedAt:         t.createdAt,
		StartedAt:         t.startedAt,
		StoppedAt:         t.stoppedAt,
		Version:           t.version,
	}
	if o := t.in.Overrides; o != nil && deref(o.TaskRoleArn) != "" {
		out.TaskRoleARN = *o.TaskRoleArn
	}
	for _, tag := range t.in.Tags {
		out.Tags[deref(tag.Key)] = deref(tag.Value)
	}
	for i, c := range t.containers {
		oc := Container{Name: c.name, Image: c.image, LastStatus: c.lastStatus, Reason: c.reason, LogGroup: c.logGroup, LogStream: c.logStream,
			Secrets: map[string]string{}}
		for _, sec := range t.def.in.ContainerDefinitions[i].Secrets {
			oc.Secrets[deref(sec.Name)] = deref(sec.ValueFrom)
		}
		if c.exitCode != nil {
			v := *c.exitCode
			oc.ExitCode = &v
		}
		out.Containers = append(out.Containers, oc)
	}
	return out
}

// TaskDefinition returns a registered definition by family (latest active
// revision), family:revision or ARN.
func (s *Server) TaskDefinition(ref string) (ecstypes.TaskDefinition, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	td := s.resolveTaskDef(ref)
	if td == nil {
		return ecstypes.TaskDefinition{}, false
	}
	return td.typed, true
}
