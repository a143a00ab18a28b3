package awsserver_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/gantry-ci/gantry/internal/awsserver"
)

// TestSetEnvReachesDefaultConfig checks the path production code takes: the
// SDK's default chain, configured only by the environment. Not parallel:
// it sets environment variables.
func TestSetEnvReachesDefaultConfig(t *testing.T) {
	srv := awsserver.New(t)
	srv.SetEnv()
	cfg, err := config.LoadDefaultConfig(ctx(t))
	if err != nil {
		t.Fatalf("LoadDefaultConfig: %v", err)
	}
	if cfg.Region != awsserver.DefaultRegion {
		t.Errorf("region %q", cfg.Region)
	}
	if _, err := ecs.NewFromConfig(cfg).ListTasks(ctx(t), &ecs.ListTasksInput{Cluster: aws.String("ci")}); err != nil {
		t.Fatalf("ListTasks through the default chain: %v", err)
	}
	srv.AppendLog("/g", "s", "hello")
	out, err := cloudwatchlogs.NewFromConfig(cfg).GetLogEvents(ctx(t), &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/g"), LogStreamName: aws.String("s")})
	if err != nil || len(out.Events) != 1 {
		t.Fatalf("GetLogEvents through the default chain: %v, %+v", err, out)
	}
	if got := srv.Counts(); got["ListTasks"] != 1 || got["GetLogEvents"] != 1 {
		t.Errorf("counts %v", got)
	}
}

func TestUnsignedAndUnknownRequests(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	req, _ := http.NewRequest(http.MethodPost, srv.URL(), strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListTasks")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned request: status %d, want 403", resp.StatusCode)
	}

	ft := &fakeTB{TB: t}
	quiet := awsserver.New(ft)
	_, err = ecs.NewFromConfig(quiet.AWSConfig()).DeleteCluster(ctx(t), &ecs.DeleteClusterInput{Cluster: aws.String("ci")})
	if err == nil || len(ft.errors) != 1 || !strings.Contains(ft.errors[0], "DeleteCluster is not implemented") {
		t.Errorf("unimplemented operation: error %v, reported %q", err, ft.errors)
	}
}
