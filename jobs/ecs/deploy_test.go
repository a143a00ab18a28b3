package ecs_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/gantry-ci/gantry/jobs/ecs"
	"github.com/gantry-ci/gantry/spec"
)

const deployDir = "../../deploy/ecs"

// The task definitions in deploy/ecs are what RegisterTaskDefinition takes.
func TestDeployTaskDefinitionsDecode(t *testing.T) {
	for _, name := range []string{"task-definition-worker.json", "task-definition-bot.json"} {
		b, err := os.ReadFile(filepath.Join(deployDir, name))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var in awsecs.RegisterTaskDefinitionInput
		if err := dec.Decode(&in); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(in.ContainerDefinitions) != 1 || in.ContainerDefinitions[0].Command == nil {
			t.Errorf("%s: want one container with a gantry subcommand", name)
		}
	}
}

// The worker's IAM policy allows every call the runner, the protector and
// the publisher make: the methods of the interfaces they declare.
func TestDeployPolicyCoversEveryCall(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "iam-worker-task-role.json"))
	if err != nil {
		t.Fatal(err)
	}
	var policy struct {
		Statement []struct {
			Effect string
			Action any
		}
	}
	if err := json.Unmarshal(b, &policy); err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{}
	for _, st := range policy.Statement {
		switch a := st.Action.(type) {
		case string:
			allowed[a] = true
		case []any:
			for _, x := range a {
				allowed[x.(string)] = true
			}
		}
		if st.Effect != "Allow" {
			t.Errorf("statement with effect %q", st.Effect)
		}
	}
	for prefix, iface := range map[string]reflect.Type{
		"ecs:":        reflect.TypeFor[ecs.ECSAPI](),
		"logs:":       reflect.TypeFor[ecs.LogsAPI](),
		"cloudwatch:": reflect.TypeFor[ecs.MetricsAPI](),
	} {
		for i := range iface.NumMethod() {
			if action := prefix + iface.Method(i).Name; !allowed[action] {
				t.Errorf("the policy does not allow %s", action)
			}
		}
	}
	prot := reflect.TypeFor[ecs.ProtectionAPI]()
	for i := range prot.NumMethod() {
		if action := "ecs:" + prot.Method(i).Name; !allowed[action] {
			t.Errorf("the policy does not allow %s", action)
		}
	}
	for _, a := range []string{"iam:PassRole", "ecs:TagResource"} {
		if !allowed[a] {
			t.Errorf("the policy does not allow %s", a)
		}
	}
	if strings.Contains(string(b), `"ecs:*"`) || strings.Contains(string(b), `"*:*"`) {
		t.Error("the policy allows every ECS action")
	}
}

// The example server config is valid, and the runner accepts its settings.
func TestDeployExampleConfig(t *testing.T) {
	path := filepath.Join(deployDir, "gantry.example.yml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := spec.ParseServer(path, b)
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Runner.ECS
	if cfg.Runner.Kind != "ecs" {
		t.Fatalf("runner kind %q", cfg.Runner.Kind)
	}
	_, err = ecs.New(nil, nil, ecs.Config{Cluster: e.Cluster, LaunchType: e.LaunchType, CapacityProvider: e.CapacityProvider,
		Subnets: e.Subnets, SecurityGroups: e.SecurityGroups, Region: "us-east-1", LogGroup: e.LogGroup,
		ExecutionRoleARN: e.ExecutionRoleARN, TaskRoleARN: e.TaskRoleARN, FetchImage: e.FetchImage, CPU: e.CPU, Memory: e.Memory})
	if err != nil {
		t.Error(err)
	}
}
