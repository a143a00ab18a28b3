package awsserver_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/gantry-ci/gantry/internal/awsserver"
)

func TestGetSecretValue(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig())
	arn := srv.PutSecret("gantry/api-token", "v1-value")
	if !regexp.MustCompile(`^arn:aws:secretsmanager:us-east-1:123456789012:secret:gantry/api-token-[A-Za-z]{6}$`).MatchString(arn) {
		t.Errorf("ARN %q", arn)
	}
	if again := srv.PutSecret("gantry/api-token", "v2-value"); again != arn {
		t.Errorf("a new version changed the ARN: %q, %q", arn, again)
	}
	for _, id := range []string{arn, arn[:len(arn)-7], "gantry/api-token"} {
		out, err := sm.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatalf("GetSecretValue(%s): %v", id, err)
		}
		if aws.ToString(out.SecretString) != "v2-value" || aws.ToString(out.ARN) != arn || aws.ToString(out.Name) != "gantry/api-token" ||
			len(out.VersionStages) != 1 || out.VersionStages[0] != "AWSCURRENT" || out.CreatedDate == nil || aws.ToString(out.VersionId) == "" {
			t.Errorf("GetSecretValue(%s) = %+v", id, out)
		}
	}
	bin := srv.PutBinarySecret("gantry/key", []byte{0, 1, 2, 'k'})
	out, err := sm.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String(bin)})
	if err != nil || string(out.SecretBinary) != "\x00\x01\x02k" || out.SecretString != nil {
		t.Errorf("binary secret: %+v, %v", out, err)
	}
	_, err = sm.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")})
	wantAPIError(t, err, "ResourceNotFoundException")
}

func TestGetParameter(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	ps := ssm.NewFromConfig(srv.AWSConfig())
	arn := srv.PutParameter("/gantry/npm-token", "npm-secret-value", true)
	if arn != "arn:aws:ssm:us-east-1:123456789012:parameter/gantry/npm-token" {
		t.Errorf("ARN %q", arn)
	}
	for _, name := range []string{arn, "/gantry/npm-token"} {
		out, err := ps.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
		if err != nil {
			t.Fatalf("GetParameter(%s): %v", name, err)
		}
		p := out.Parameter
		if aws.ToString(p.Value) != "npm-secret-value" || string(p.Type) != "SecureString" || aws.ToString(p.ARN) != arn || p.Version != 1 {
			t.Errorf("GetParameter(%s) = %+v", name, p)
		}
	}
	out, err := ps.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String(arn)})
	if err != nil || strings.Contains(aws.ToString(out.Parameter.Value), "npm-secret-value") || aws.ToString(out.Parameter.Value) == "" {
		t.Errorf("without decryption: %+v, %v; want an opaque ciphertext", out, err)
	}
	_, err = ps.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/nope")})
	wantAPIError(t, err, "ParameterNotFound")
}

// The default chain, configured by SetEnv, reaches Secrets Manager and SSM.
func TestSetEnvReachesSecretStores(t *testing.T) {
	srv := awsserver.New(t)
	srv.SetEnv()
	cfg, err := config.LoadDefaultConfig(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	srv.PutSecret("s", "secret-value")
	srv.PutParameter("p", "parameter-value", false)
	if _, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}); err != nil {
		t.Error(err)
	}
	if _, err := ssm.NewFromConfig(cfg).GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("p")}); err != nil {
		t.Error(err)
	}
	if got := srv.Counts(); got["GetSecretValue"] != 1 || got["GetParameter"] != 1 {
		t.Errorf("counts %v", got)
	}
}

// A task keeps its definition's task role and container secrets (as
// ARNs) for inspection; a RunTask override of the role wins.
func TestTaskKeepsRoleAndSecrets(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	c := newClients(srv)
	arn := srv.PutSecret("gantry/api-token", "value")
	def := func(exec string) *ecs.RegisterTaskDefinitionInput {
		in := &ecs.RegisterTaskDefinitionInput{
			Family: aws.String("with-secrets"), NetworkMode: ecstypes.NetworkModeAwsvpc,
			TaskRoleArn: aws.String("arn:aws:iam::123456789012:role/gantry-build"),
			ContainerDefinitions: []ecstypes.ContainerDefinition{{
				Name: aws.String("job"), Image: aws.String("golang:1.26"),
				Secrets: []ecstypes.Secret{{Name: aws.String("API_TOKEN"), ValueFrom: aws.String(arn)}},
			}},
		}
		if exec != "" {
			in.ExecutionRoleArn = aws.String(exec)
		}
		return in
	}
	_, err := c.ecs.RegisterTaskDefinition(ctx(t), def(""))
	if ae := wantAPIError(t, err, "ClientException"); !strings.Contains(ae.ErrorMessage(), "executionRoleArn") {
		t.Errorf("secrets without an execution role: %v", err)
	}
	out, err := c.ecs.RegisterTaskDefinition(ctx(t), def("arn:aws:iam::123456789012:role/gantry-exec"))
	if err != nil {
		t.Fatal(err)
	}
	run := &ecs.RunTaskInput{Cluster: aws.String("ci"), TaskDefinition: out.TaskDefinition.TaskDefinitionArn, LaunchType: ecstypes.LaunchTypeEc2,
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}}
	first := runOne(t, c, run)
	run.Overrides = &ecstypes.TaskOverride{TaskRoleArn: aws.String("arn:aws:iam::123456789012:role/other")}
	run.ClientToken = nil // the SDK filled it in: the same token would return the first task
	second := runOne(t, c, run)

	got, _ := srv.Task(aws.ToString(first.TaskArn))
	if got.TaskRoleARN != "arn:aws:iam::123456789012:role/gantry-build" || got.ExecutionRoleARN != "arn:aws:iam::123456789012:role/gantry-exec" {
		t.Errorf("roles %q, %q", got.TaskRoleARN, got.ExecutionRoleARN)
	}
	if s := got.Containers[0].Secrets; len(s) != 1 || s["API_TOKEN"] != arn {
		t.Errorf("secrets %v", s)
	}
	if got, _ := srv.Task(aws.ToString(second.TaskArn)); got.TaskRoleARN != "arn:aws:iam::123456789012:role/other" {
		t.Errorf("overridden role %q", got.TaskRoleARN)
	}
}
