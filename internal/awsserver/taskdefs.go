package awsserver

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// ecsNamePattern is what ECS allows in a family or container name.
var ecsNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// family holds every revision of one task definition family.
type family struct {
	name      string
	revisions []*taskDef // revisions[i] is revision i+1
}

// taskDef is one registered revision.
type taskDef struct {
	arn            string
	family         string
	revision       int32
	active         bool
	registeredAt   time.Time
	deregisteredAt time.Time
	raw            map[string]any // the members as registered, tags excluded
	tags           []ecstypes.Tag
	compat         []string
	in             ecs.RegisterTaskDefinitionInput
	typed          ecstypes.TaskDefinition
}

func (s *Server) taskDefARN(family string, rev int32) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:task-definition/%s:%d", s.region, AccountID, family, rev)
}

func (s *Server) registerTaskDefinition(req request) (any, *apiError) {
	var in ecs.RegisterTaskDefinitionInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	if e := validateTaskDefinition(&in); e != nil {
		return nil, e
	}
	name := deref(in.Family)
	fam := s.families[name]
	if fam == nil {
		fam = &family{name: name}
		s.families[name] = fam
	}
	rev := int32(len(fam.revisions) + 1)
	raw := map[string]any{}
	for k, v := range req.input {
		if k != "tags" {
			raw[k] = v
		}
	}
	td := &taskDef{
		arn:          s.taskDefARN(name, rev),
		family:       name,
		revision:     rev,
		active:       true,
		registeredAt: s.now(),
		raw:          raw,
		tags:         in.Tags,
		compat:       compatibilities(&in),
		in:           in,
	}
	typed, err := td.sdkValue()
	if err != nil {
		return nil, errorf(500, "ServerException", "awsserver: %v", err)
	}
	td.typed = typed
	fam.revisions = append(fam.revisions, td)
	out := map[string]any{"taskDefinition": td.wire()}
	if len(td.tags) > 0 {
		out["tags"] = wireTags(td.tags)
	}
	return out, nil
}

func validateTaskDefinition(in *ecs.RegisterTaskDefinitionInput) *apiError {
	if !ecsNamePattern.MatchString(deref(in.Family)) {
		return clientError("Family %q is invalid: up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed.", deref(in.Family))
	}
	if len(in.ContainerDefinitions) == 0 {
		return clientError("Container list cannot be empty.")
	}
	fargate := false
	for _, c := range in.RequiresCompatibilities {
		if c == ecstypes.CompatibilityFargate {
			fargate = true
		}
	}
	if fargate {
		if in.NetworkMode != ecstypes.NetworkModeAwsvpc {
			return clientError("Fargate only supports network mode 'awsvpc'.")
		}
		if deref(in.Cpu) == "" || deref(in.Memory) == "" {
			return clientError("Fargate requires that 'cpu' and 'memory' be defined at the task level.")
		}
	}
	seen := map[string]bool{}
	essential := false
	for i, c := range in.ContainerDefinitions {
		name := deref(c.Name)
		if !ecsNamePattern.MatchString(name) {
			return clientError("Container.name %q (container definition %d) is invalid: up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed.", name, i)
		}
		if seen[name] {
			return clientError("Duplicate container name %q in the task definition.", name)
		}
		seen[name] = true
		if deref(c.Image) == "" {
			return clientError("Container.image should not be null or empty (container %q).", name)
		}
		if c.Essential == nil || *c.Essential {
			essential = true
		}
		if e := checkSecrets(in, c); e != nil {
			return e
		}
		if lc := c.LogConfiguration; lc != nil && lc.LogDriver == ecstypes.LogDriverAwslogs {
			if lc.Options["awslogs-group"] == "" {
				return clientError("Log driver awslogs requires option awslogs-group (container %q).", name)
			}
			if fargate && lc.Options["awslogs-stream-prefix"] == "" {
				return clientError("Log driver awslogs requires option awslogs-stream-prefix on Fargate (container %q).", name)
			}
			if fargate && deref(in.ExecutionRoleArn) == "" {
				return clientError("Fargate requires task definition to have execution role ARN to support log driver awslogs.")
			}
		}
	}
	if !essential {
		return clientError("A task definition must have at least one essential container.")
	}
	return nil
}

// checkSecrets applies ECS's rules for a container's secrets: each has a
// name and a valueFrom, and the execution role (which fetches them) is set.
func checkSecrets(in *ecs.RegisterTaskDefinitionInput, c ecstypes.ContainerDefinition) *apiError {
	names := map[string]bool{}
	for _, sec := range c.Secrets {
		name, from := deref(sec.Name), deref(sec.ValueFrom)
		switch {
		case name == "" || from == "":
			return clientError("Secrets must have a name and a valueFrom (container %q).", deref(c.Name))
		case names[name]:
			return clientError("Secret name %q is given more than once (container %q).", name, deref(c.Name))
		}
		names[name] = true
	}
	if len(c.Secrets) > 0 && deref(in.ExecutionRoleArn) == "" {
		return clientError("When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.")
	}
	return nil
}

// compatibilities is what a definition validates against: EC2 always,
// FARGATE when it has what Fargate needs.
func compatibilities(in *ecs.RegisterTaskDefinitionInput) []string {
	out := []string{string(ecstypes.CompatibilityEc2)}
	if in.NetworkMode == ecstypes.NetworkModeAwsvpc && deref(in.Cpu) != "" && deref(in.Memory) != "" {
		out = append(out, string(ecstypes.CompatibilityFargate))
	}
	return out
}

// wire is the definition as ECS returns it: the registered members plus
// what ECS adds.
func (td *taskDef) wire() map[string]any {
	m := make(map[string]any, len(td.raw)+8)
	for k, v := range td.raw {
		m[k] = v
	}
	m["taskDefinitionArn"] = td.arn
	m["family"] = td.family
	m["revision"] = td.revision
	m["compatibilities"] = td.compat
	m["registeredAt"] = epochSeconds(td.registeredAt)
	m["registeredBy"] = "arn:aws:iam::" + AccountID + ":root"
	m["status"] = "ACTIVE"
	if !td.active {
		m["status"] = "INACTIVE"
		m["deregisteredAt"] = epochSeconds(td.deregisteredAt)
	}
	return m
}

// sdkValue converts the definition to the SDK's type for scripts.
func (td *taskDef) sdkValue() (ecstypes.TaskDefinition, error) {
	m := td.wire()
	delete(m, "registeredAt")
	delete(m, "deregisteredAt")
	b, err := json.Marshal(m)
	if err != nil {
		return ecstypes.TaskDefinition{}, fmt.Errorf("encode task definition %s: %w", td.arn, err)
	}
	var out ecstypes.TaskDefinition
	if err := json.Unmarshal(b, &out); err != nil {
		return ecstypes.TaskDefinition{}, fmt.Errorf("convert task definition %s to the SDK type: %w", td.arn, err)
	}
	at := td.registeredAt
	out.RegisteredAt = &at
	if !td.active {
		dat := td.deregisteredAt
		out.DeregisteredAt = &dat
	}
	return out, nil
}

// resolveTaskDef finds a definition by family (its latest active revision),
// family:revision or ARN.
func (s *Server) resolveTaskDef(ref string) *taskDef {
	if rest, ok := strings.CutPrefix(ref, "arn:"); ok {
		parts := strings.SplitN(rest, ":", 5) // partition, service, region, account, resource
		if len(parts) != 5 || parts[1] != "ecs" || parts[2] != s.region || parts[3] != AccountID {
			return nil
		}
		fr, ok := strings.CutPrefix(parts[4], "task-definition/")
		if !ok {
			return nil
		}
		ref = fr
	}
	name, revText, hasRev := strings.Cut(ref, ":")
	fam := s.families[name]
	if fam == nil {
		return nil
	}
	if !hasRev {
		for i := len(fam.revisions) - 1; i >= 0; i-- {
			if fam.revisions[i].active {
				return fam.revisions[i]
			}
		}
		return nil
	}
	rev, err := strconv.Atoi(revText)
	if err != nil || rev < 1 || rev > len(fam.revisions) {
		return nil
	}
	return fam.revisions[rev-1]
}

func (s *Server) describeTaskDefinition(req request) (any, *apiError) {
	var in ecs.DescribeTaskDefinitionInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	if deref(in.TaskDefinition) == "" {
		return nil, invalidParameter("taskDefinition can not be blank.")
	}
	td := s.resolveTaskDef(*in.TaskDefinition)
	if td == nil {
		return nil, clientError("Unable to describe task definition.")
	}
	out := map[string]any{"taskDefinition": td.wire()}
	if includes(in.Include, ecstypes.TaskDefinitionFieldTags) {
		out["tags"] = wireTags(td.tags)
	}
	return out, nil
}

func (s *Server) deregisterTaskDefinition(req request) (any, *apiError) {
	var in ecs.DeregisterTaskDefinitionInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	ref := deref(in.TaskDefinition)
	if !strings.Contains(ref, ":") {
		return nil, clientError("The specified task definition identifier %q is invalid. Specify family:revision or an ARN.", ref)
	}
	td := s.resolveTaskDef(ref)
	if td == nil {
		return nil, clientError("The specified task definition does not exist.")
	}
	if td.active {
		td.active = false
		td.deregisteredAt = s.now()
		if typed, err := td.sdkValue(); err == nil {
			td.typed = typed
		}
	}
	return map[string]any{"taskDefinition": td.wire()}, nil
}

func includes[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

type wireTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func wireTags(tags []ecstypes.Tag) []wireTag {
	out := make([]wireTag, 0, len(tags))
	for _, t := range tags {
		out = append(out, wireTag{Key: deref(t.Key), Value: deref(t.Value)})
	}
	return out
}
