package awsdeploy

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gantry-ci/gantry/spec"
)

// The template is read as plain YAML: it writes every intrinsic function
// in its long form (Ref:, Fn::GetAtt:, Fn::Sub:, Fn::If:, ...), which this
// test understands. A short-form tag (!Ref) is refused with that advice.

type template struct {
	AWSTemplateFormatVersion string                    `yaml:"AWSTemplateFormatVersion"`
	Description              string                    `yaml:"Description"`
	Parameters               map[string]map[string]any `yaml:"Parameters"`
	Conditions               map[string]any            `yaml:"Conditions"`
	Resources                map[string]*resource      `yaml:"Resources"`
	Outputs                  map[string]map[string]any `yaml:"Outputs"`
}

type resource struct {
	Type                string         `yaml:"Type"`
	Condition           string         `yaml:"Condition"`
	DependsOn           any            `yaml:"DependsOn"`
	DeletionPolicy      string         `yaml:"DeletionPolicy"`
	UpdateReplacePolicy string         `yaml:"UpdateReplacePolicy"`
	Metadata            map[string]any `yaml:"Metadata"`
	Properties          map[string]any `yaml:"Properties"`
}

func parseTemplate(data []byte) (*template, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	if err := refuseShortForms(&root); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a misspelt section or resource key is an error
	var tpl template
	if err := dec.Decode(&tpl); err != nil {
		return nil, err
	}
	return &tpl, nil
}

// refuseShortForms fails on a !Ref-style tag, which plain YAML decoding
// would silently turn into a string.
func refuseShortForms(n *yaml.Node) error {
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return fmt.Errorf("line %d: short-form %s: write the long form (Ref:, Fn::GetAtt:, Fn::Sub:, ...), which this test reads", n.Line, n.Tag)
	}
	for _, c := range n.Content {
		if err := refuseShortForms(c); err != nil {
			return err
		}
	}
	return nil
}

func readTemplate(t *testing.T) (string, *template) {
	t.Helper()
	data, err := os.ReadFile("gantry.yml")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := parseTemplate(data)
	if err != nil {
		t.Fatalf("gantry.yml: %v", err)
	}
	return string(data), tpl
}

func report(t *testing.T, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Error(p)
	}
}

func TestTemplateReferencesExist(t *testing.T) {
	_, tpl := readTemplate(t)
	report(t, referenceProblems(tpl))
}

func TestTemplateParametersAreUsed(t *testing.T) {
	_, tpl := readTemplate(t)
	report(t, unusedParameters(tpl))
}

func TestTemplateIAMIsLeastPrivilege(t *testing.T) {
	_, tpl := readTemplate(t)
	report(t, iamProblems(tpl))
}

// `aws cloudformation deploy --template-file` sends a template of at most
// 51,200 bytes itself; a larger one needs an S3 bucket, and the one
// command of docs/aws.md would no longer work.
func TestTemplateFitsTheDeployCommand(t *testing.T) {
	text, _ := readTemplate(t)
	if len(text) > 51200 {
		t.Errorf("gantry.yml is %d bytes; aws cloudformation deploy takes at most 51,200 without --s3-bucket", len(text))
	}
}

func readmeAndCommands(t *testing.T) (documented, commands map[string]bool) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if documented, err = documentedSettings(string(readme)); err != nil {
		t.Fatal(err)
	}
	if commands, err = subcommands("../../cmd/gantry"); err != nil {
		t.Fatal(err)
	}
	return documented, commands
}

func TestTemplateTaskDefinitionsMatchREADMEAndGantry(t *testing.T) {
	_, tpl := readTemplate(t)
	documented, commands := readmeAndCommands(t)
	report(t, taskDefinitionProblems(tpl, documented, commands))
}

// The job roles may upload artifacts and the bot may presign them and
// publish events: config keys gantry accepts are not refused by AWS.
func TestTemplateRolesReachArtifactsAndEvents(t *testing.T) {
	_, tpl := readTemplate(t)
	report(t, featureProblems(tpl))
}

func TestTemplateRedisIsPrivateEncryptedAndReplicated(t *testing.T) {
	_, tpl := readTemplate(t)
	report(t, redisProblems(tpl))
}

// Each check, given the template broken on purpose in one place, finds
// that place: so the checks above cannot pass by checking nothing.
func TestTemplateChecksCatchMistakes(t *testing.T) {
	text, _ := readTemplate(t)
	documented, commands := readmeAndCommands(t)
	all := func(tpl *template) []string {
		return slices.Concat(referenceProblems(tpl), unusedParameters(tpl), iamProblems(tpl),
			taskDefinitionProblems(tpl, documented, commands), redisProblems(tpl), featureProblems(tpl))
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"Ref to a missing resource", "Ref: RedisSubnetGroup", "Ref: RedisSubnets", `Ref "RedisSubnets": no such resource`},
		{"GetAtt of a missing attribute", "${Redis.PrimaryEndPoint.Address}:", "${Redis.PrimaryEndpoint.Address}:", "has no attribute PrimaryEndpoint.Address"},
		{"GetAtt of a missing resource", "Fn::GetAtt: [LoadBalancer, DNSName]", "Fn::GetAtt: [Balancer, DNSName]", "GetAtt Balancer.DNSName: no such resource"},
		{"Sub of a missing name", "https://${DomainName}/webhooks/github", "https://${Domain}/webhooks/github", `Sub "Domain": no such resource`},
		{"DependsOn a missing resource", "DependsOn: [WebhookRule, PagesRule]", "DependsOn: [WebhookRule, PageRule]", `DependsOn "PageRule"`},
		{"a missing condition", "Condition: HasAlarmEmail\n", "Condition: HasAlertEmail\n", `condition "HasAlertEmail" is not defined`},
		{"a parameter never used", "CacheNodeType:\n        Ref: RedisNodeType", "CacheNodeType: cache.t4g.small", "Parameters.RedisNodeType is never used"},
		{"* on *", "Action: cloudwatch:PutMetricData", `Action: "*"`, "allows every action (*)"},
		{"service:* on *", "Action: ecr:GetAuthorizationToken", "Action: ecr:*", "allows ecr:* on every resource"},
		{"a scopable action on *", "Fn::Sub: arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/${JobCluster}/*", `"*"`, "allows ecs:StopTask on every resource"},
		{"an undocumented setting", "Name: GANTRY_PUBLIC_URL", "Name: GANTRY_BASE_URL", "GANTRY_BASE_URL is not a setting README.md's env var table documents"},
		{"the bot without its public URL", "Name: GANTRY_PUBLIC_URL", "Name: GANTRY_LOG_LEVEL", "gantry bot needs GANTRY_PUBLIC_URL"},
		{"a public URL without TLS", "Fn::Sub: https://${DomainName}\n          Secrets", "Fn::Sub: http://${DomainName}\n          Secrets", "want https://"},
		{"a config baked into the image", "Fn::Sub: ssm:${ConfigParameterName}\n            - Name: GANTRY_HTTP_ADDR", "/etc/gantry/gantry.yml\n            - Name: GANTRY_HTTP_ADDR", "want ssm:NAME or s3://BUCKET/KEY"},
		{"an undocumented secret", "Name: SLACK_BOT_TOKEN", "Name: SLACK_TOKEN", "SLACK_TOKEN is not a setting"},
		{"a task role that is not a role", "TaskRoleArn:\n        Fn::GetAtt: [BotTaskRole, Arn]", "TaskRoleArn:\n        Ref: SlackBotTokenSecretArn", "TaskRoleArn is not Fn::GetAtt [ROLE, Arn]"},
		{"a secret the execution role may not read", "                  - Ref: LinkSecret\n", "", "secret GANTRY_LINK_SECRET comes from"},
		{"a command gantry does not have", "Command: [worker]", "Command: [workers]", "Command [workers] is not a gantry subcommand"},
		{"Redis reachable from job tasks", "Fn::GetAtt: [ServiceSecurityGroup, GroupId]\n          Description: gantry bot and worker tasks", "Fn::GetAtt: [JobSecurityGroup, GroupId]\n          Description: gantry bot and worker tasks", "Redis is reachable from something other than gantry's own services"},
		{"Redis without TLS", "TransitEncryptionEnabled: true", "TransitEncryptionEnabled: false", "TransitEncryptionEnabled is false"},
		{"Redis without a replica", "NumCacheClusters: 2", "NumCacheClusters: 1", "NumCacheClusters is 1"},
		{"a build that cannot upload its artifacts", "Sid: UploadArtifacts\n                Effect: Allow\n                Action: s3:PutObject", "Sid: UploadArtifacts\n                Effect: Allow\n                Action: s3:GetObject", "Resources.BuildRole: no Allow of s3:PutObject"},
		{"a bot that cannot presign artifact links", "Action: s3:GetObject", "Action: s3:GetObjectAcl", "no Allow of s3:GetObject"},
		{"a bot that cannot publish events", "Action: events:PutEvents", "Action: events:PutRule", "no Allow of events:PutEvents"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(text, tc.old) {
				t.Fatalf("gantry.yml no longer contains %q: update this case", tc.old)
			}
			tpl, err := parseTemplate([]byte(strings.Replace(text, tc.old, tc.new, 1)))
			if err != nil {
				t.Fatal(err)
			}
			problems := all(tpl)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("the checks did not report %q; they reported:\n%s", tc.want, strings.Join(problems, "\n"))
			}
		})
	}
	t.Run("a short-form tag", func(t *testing.T) {
		_, err := parseTemplate([]byte(strings.Replace(text, "Ref: RedisSubnetGroup", "!Ref RedisSubnetGroup", 1)))
		if err == nil || !strings.Contains(err.Error(), "short-form !Ref") {
			t.Errorf("err = %v, want the short form refused", err)
		}
	})
}

// The task definitions and job tasks all run one image, built by the root
// Dockerfile: Debian slim with what `gantry fetch` and the local runner
// need, a user that is not root, gantry as the entry point with a real
// subcommand as its default, and no config inside.
func TestTemplateImageIsTheOneDockerfile(t *testing.T) {
	_, commands := readmeAndCommands(t)
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	report(t, dockerfileProblems(string(data), commands))
	var others []string
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), "Dockerfile") && path != "../../Dockerfile" {
			others = append(others, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(others) > 0 {
		t.Errorf("Dockerfiles besides the root one: %v; gantry has one image for every role", others)
	}
}

func TestTemplateImageChecksCatchMistakes(t *testing.T) {
	_, commands := readmeAndCommands(t)
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, tc := range []struct{ name, old, new, want string }{
		{"alpine", "FROM debian:bookworm-slim", "FROM alpine:3.20", "not Debian slim"},
		{"no ssh client", "ca-certificates openssh-client", "ca-certificates", "openssh-client is not installed"},
		{"root", "USER 10001:10001", "USER root", "runs as root"},
		{"a config baked in", "COPY --from=build /out/gantry /usr/local/bin/gantry\n", "COPY --from=build /out/gantry /usr/local/bin/gantry\nCOPY deploy/ecs/gantry.example.yml /etc/gantry/gantry.yml\n", "copies a config into the image"},
		{"a default command gantry lacks", `CMD ["serve"]`, `CMD ["server"]`, `CMD "server" is not a gantry subcommand`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(text, tc.old) {
				t.Fatalf("Dockerfile no longer contains %q: update this case", tc.old)
			}
			problems := dockerfileProblems(strings.Replace(text, tc.old, tc.new, 1), commands)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("the checks did not report %q; they reported:\n%s", tc.want, strings.Join(problems, "\n"))
			}
		})
	}
}

// The RunnerConfig output, as the stack would fill it in, is a runner
// section gantry accepts (in a config that has the two environments): the job cluster, the private subnets, the job
// tasks' security group, the log group, the job roles and the image.
func TestTemplateRunnerConfigOutputIsAValidRunner(t *testing.T) {
	_, tpl := readTemplate(t)
	text := runnerConfigText(tpl)
	if text == "" {
		t.Fatal("Outputs.RunnerConfig.Value is not Fn::Sub [TEXT, VARIABLES]")
	}
	filled := map[string]string{
		"JobCluster": "gantry-jobs", "Subnets": "subnet-0aaa, subnet-0bbb", "JobSecurityGroup.GroupId": "sg-0123456789abcdef0",
		"JobLogGroup": "/gantry/jobs", "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/gantry:abc1234",
	}
	var unknown []string
	value := subVar.ReplaceAllStringFunc(text, func(v string) string {
		name := strings.TrimSuffix(strings.TrimPrefix(v, "${"), "}")
		if role, ok := strings.CutSuffix(name, ".Arn"); ok {
			return "arn:aws:iam::123456789012:role/" + role
		}
		if f, ok := filled[name]; ok {
			return f
		}
		unknown = append(unknown, name)
		return v
	})
	if len(unknown) > 0 {
		t.Fatalf("RunnerConfig uses %v, which this test does not fill in; add them", unknown)
	}
	cfg, err := spec.ParseServer("RunnerConfig", []byte("runner: "+value+"\nenvironments: {staging: {deployers: [\"*\"]}, production: {deployers: [\"*\"]}}\n"))
	if err != nil {
		t.Fatalf("gantry refuses the RunnerConfig output: %v\n%s", err, value)
	}
	e := cfg.Runner.ECS
	if cfg.Runner.Kind != "ecs" || e.Cluster != "gantry-jobs" || e.LogGroup != "/gantry/jobs" || !slices.Equal(e.Subnets, []string{"subnet-0aaa", "subnet-0bbb"}) ||
		!slices.Equal(e.SecurityGroups, []string{"sg-0123456789abcdef0"}) || e.FetchImage == "" || e.AssignPublicIP {
		t.Errorf("runner from RunnerConfig = %+v", cfg.Runner)
	}
	if e.ExecutionRoleARN != "arn:aws:iam::123456789012:role/JobExecutionRole" || e.BuildRoleARN != "arn:aws:iam::123456789012:role/BuildRole" {
		t.Errorf("roles: execution %q, build %q", e.ExecutionRoleARN, e.BuildRoleARN)
	}
	for env, role := range map[string]string{"staging": "DeployRoleStaging", "production": "DeployRoleProduction"} {
		if got := e.Environments[env].TaskRoleARN; got != "arn:aws:iam::123456789012:role/"+role {
			t.Errorf("environments.%s.task_role_arn = %q, want the %s role", env, got, role)
		}
	}
}
