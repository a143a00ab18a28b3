package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-ci/gantry/internal/awsserver"
	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/internal/slackserver"
	"github.com/gantry-ci/gantry/jobs"
)

// TestBotApartStopsECSPreviews: with the bot and the workers apart (as the
// AWS stack runs them) the preview sweep and `stop #N` run in the bot,
// which had no ECS runner, so an expired preview's task ran on for ever.
func TestBotApartStopsECSPreviews(t *testing.T) {
	rs := redistest.Start(t)
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
	store := jobs.NewStore(rs.RDB(), jobs.StoreConfig{})
	if ok, err := store.Previews().Open(ctx, rdb.Preview{Job: 7, Runner: "ecs", Handle: app, Addr: "10.0.0.7:8080", Repo: "hello", By: "U1",
		Expires: time.Now().Add(-time.Second)}, 10); !ok || err != nil {
		t.Fatalf("open the preview: %v %v", ok, err)
	}

	slack := slackserver.New(t)
	cfg := filepath.Join(t.TempDir(), "gantry.yml")
	// The bot needs no GitHub here: the repo is a local path.
	local := strings.Replace(e2eConfig, "github: acme/hello", "path: "+t.TempDir(), 1)
	if err := os.WriteFile(cfg, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"SLACK_APP_TOKEN": slackserver.AppToken, "SLACK_BOT_TOKEN": slackserver.BotToken, "SLACK_API_URL": slack.APIURL(),
		"REDIS_URL": rs.URL(), "GANTRY_CONFIG": cfg, "GANTRY_HTTP_ADDR": "127.0.0.1:0",
	}
	errOut := &syncBuffer{}
	m := &Main{Args: []string{"bot"}, Getenv: func(k string) string { return env[k] }, Stdout: &syncBuffer{}, Stderr: errOut}
	runCtx, cancel := context.WithCancel(ctx)
	exited := make(chan int, 1)
	go func() { exited <- m.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			t.Error("the bot did not stop")
		}
		_ = m.Close()
		if t.Failed() {
			t.Logf("gantry's log:\n%s", errOut)
		}
	})

	deadline := time.Now().Add(30 * time.Second) // the sweep runs every few seconds
	for {
		task, _ := srv.Task(app)
		if slices.ContainsFunc(task.StopRequests, func(r string) bool { return strings.Contains(r, "the preview of job #7 was stopped") }) {
			break
		}
		select {
		case code := <-exited:
			exited <- code
			t.Fatalf("the bot exited with %d", code)
		default:
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
