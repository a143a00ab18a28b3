package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-ci/gantry/internal/awsserver"
	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
)

// TestBotApartStopsECSPreviews: with the bot and the workers apart (as the
// AWS stack runs them) the preview sweep and `stop #N` run in the bot,
// which had no ECS runner, so an expired preview's task ran on for ever.
func TestBotApartStopsECSPreviews(t *testing.T) {
	s := newSlackSession(t)
	srv := awsserver.New(t)
	srv.SetEnv()
	ctx := context.Background()

	// The preview's app: a task in the job cluster that runs until stopped.
	c := awsecs.NewFromConfig(srv.AWSConfig())
	td, err := c.RegisterTaskDefinition(ctx, &awsecs.RegisterTaskDefinitionInput{Family: aws.String("gantry-hello"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("job"), Image: aws.String("app:1")}}})
	if err != nil {
		t.Fatal(err)
	}
	srv.QueueScripts(awsserver.RunUntilStopped())
	out, err := c.RunTask(ctx, &awsecs.RunTaskInput{Cluster: aws.String("ci"), TaskDefinition: td.TaskDefinition.TaskDefinitionArn, LaunchType: ecstypes.LaunchTypeEc2})
	if err != nil {
		t.Fatal(err)
	}
	app := aws.ToString(out.Tasks[0].TaskArn)
	store := jobs.NewStore(s.rdb.RDB(), jobs.StoreConfig{})
	if ok, err := store.Previews().Open(ctx, rdb.Preview{Job: 7, Runner: "ecs", Handle: app, Addr: "10.0.0.7:8080", Repo: "hello", By: "U1",
		Expires: time.Now().Add(-time.Second)}, 10); !ok || err != nil {
		t.Fatalf("open the preview: %v %v", ok, err)
	}

	// The ECS runner's config; the bot needs no GitHub here, as the repo
	// is a local path.
	s.env["GANTRY_CONFIG"] = writeConfig(t, strings.Replace(e2eConfig, "github: acme/hello", "path: "+t.TempDir(), 1))
	bot := s.start("bot")
	deadline := time.Now().Add(30 * time.Second) // the sweep runs every few seconds
	for {
		task, _ := srv.Task(app)
		if slices.ContainsFunc(task.StopRequests, func(r string) bool { return strings.Contains(r, "the preview of job #7 was stopped") }) {
			break
		}
		if code, exited := bot.wait(0); exited {
			t.Fatalf("the bot exited with %d", code)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the expired preview's task was not stopped: %+v", task)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := srv.Count("RunTask"); n != 1 { // the app's own, by this test
		t.Errorf("the bot ran %d tasks", n-1)
	}
}
