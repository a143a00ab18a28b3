package ecs_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
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
		"ecs:":            reflect.TypeFor[ecs.ECSAPI](),
		"logs:":           reflect.TypeFor[ecs.LogsAPI](),
		"cloudwatch:":     reflect.TypeFor[ecs.MetricsAPI](),
		"secretsmanager:": reflect.TypeFor[ecs.SecretsManagerAPI](),
		"ssm:":            reflect.TypeFor[ecs.SSMAPI](),
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
		ExecutionRoleARN: e.ExecutionRoleARN, BuildRoleARN: e.BuildRoleARN, Environments: e.Environments,
		FetchImage: e.FetchImage, CPU: e.CPU, Memory: e.Memory})
	if err != nil {
		t.Error(err)
	}
}

// statement is one statement of an IAM policy document.
type statement struct {
	Sid       string
	Effect    string
	Action    any
	Resource  any
	Condition map[string]map[string]any
}

// readPolicy reads a policy of deploy/ecs with its placeholders filled as
// the example config fills them.
func readPolicy(t *testing.T, name string) []statement {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, name))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("REGION", "us-east-1", "ACCOUNT_ID", "123456789012").Replace(string(b))
	var doc struct{ Statement []statement }
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc.Statement
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, e.(string))
		}
		return out
	}
	return nil
}

// iamMatch matches an ARN against an IAM pattern: * is any run of
// characters, ? one character.
func iamMatch(pattern, arn string) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MustCompile(re).MatchString(arn)
}

// allows reports whether an Allow statement grants action on resource.
func allows(policy []statement, action, resource string) bool {
	for _, st := range policy {
		if st.Effect != "Allow" || !slices.Contains(strs(st.Action), action) {
			continue
		}
		for _, r := range strs(st.Resource) {
			if iamMatch(r, resource) {
				return true
			}
		}
	}
	return false
}

// The IAM documents fit the example config: the execution role may fetch
// exactly the secrets it names, gantry's worker may read them (to redact
// them) and pass only the execution, build and deploy roles; each deploy
// role has its own document; the build role is granted nothing and
// denied what builds must never reach.
func TestDeployRolesMatchExampleConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "gantry.example.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := spec.ParseServer("gantry.example.yml", b)
	if err != nil {
		t.Fatal(err)
	}
	exec, worker := readPolicy(t, "iam-job-execution-role.json"), readPolicy(t, "iam-worker-task-role.json")
	secrets := cfg.AllSecrets()
	if len(secrets) == 0 {
		t.Fatal("the example grants no secrets")
	}
	for _, s := range secrets {
		execAction, workerAction := "secretsmanager:GetSecretValue", "secretsmanager:GetSecretValue"
		if strings.Contains(s.Source, ":ssm:") {
			execAction, workerAction = "ssm:GetParameters", "ssm:GetParameter"
		}
		if !allows(exec, execAction, s.Source) {
			t.Errorf("the execution role may not %s %s (secret %s)", execAction, s.Source, s.Name)
		}
		if !allows(worker, workerAction, s.Source) {
			t.Errorf("the worker may not %s %s (secret %s): it cannot redact it", workerAction, s.Source, s.Name)
		}
	}
	other := "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-password-AbCdEf"
	if allows(exec, "secretsmanager:GetSecretValue", other) || allows(worker, "secretsmanager:GetSecretValue", other) {
		t.Errorf("a secret the config does not name is readable: %s", other)
	}

	e := cfg.Runner.ECS
	passable := []string{e.ExecutionRoleARN, e.BuildRoleARN}
	for _, name := range slices.Sorted(maps.Keys(e.Environments)) {
		passable = append(passable, e.Environments[name].TaskRoleARN)
		if _, err := os.Stat(filepath.Join(deployDir, "iam-deploy-role-"+name+".json")); err != nil {
			t.Errorf("no deploy role document for %s: %v", name, err)
		}
	}
	var passes []string
	for _, st := range worker {
		if slices.Contains(strs(st.Action), "iam:PassRole") {
			passes = append(passes, strs(st.Resource)...)
		}
	}
	slices.Sort(passes)
	slices.Sort(passable)
	if !slices.Equal(passes, passable) {
		t.Errorf("the worker may pass %q; want exactly the execution, build and deploy roles %q", passes, passable)
	}

	for _, st := range readPolicy(t, "iam-build-role.json") {
		if st.Effect == "Allow" {
			t.Errorf("the build role allows %v", st.Action)
		}
	}
	for _, a := range []string{"secretsmanager:GetSecretValue", "ssm:GetParameter", "iam:PassRole", "sts:AssumeRole"} {
		denied := false
		for _, st := range readPolicy(t, "iam-build-role.json") {
			for _, pat := range strs(st.Action) {
				denied = denied || (st.Effect == "Deny" && iamMatch(pat, a))
			}
		}
		if !denied {
			t.Errorf("the build role does not deny %s", a)
		}
	}
}
