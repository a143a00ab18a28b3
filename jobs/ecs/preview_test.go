package ecs_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/internal/awsserver"
	"github.com/gantry-ci/gantry/jobs/ecs"
	"github.com/gantry-ci/gantry/spec"
)

// A build with preview: leaves its task running as the preview's app,
// recorded with the task's private address; stop #N stops the task.
func TestPreviewKeepsTheTaskUntilStop(t *testing.T) {
	f := newFixture(t)
	f.scripted(func(m string) awsserver.TaskScript {
		return awsserver.TaskScript{Logs: awsserver.Lines("job", time.Millisecond, startMark(m, 1), "built", endMark(m, 1, 0),
			fmt.Sprintf("##gantry:%s:preview", m), "serving"), UntilStopped: true, StopDelay: 20 * time.Millisecond}
	})
	r := f.runner(func(c *ecs.Config) { c.Previews = &ecs.PreviewConfig{Max: 2} })
	j := f.job("make")
	j.Plan.Preview = &spec.Preview{Run: "./serve", Port: 8080}
	code, err, log := f.run(context.Background(), r, j)
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v\n%s", code, err, log)
	}
	task := f.aws.Tasks()[0]
	if task.LastStatus != "RUNNING" || len(task.StopRequests) != 0 {
		t.Fatalf("after the steps the task is %s, stop requests %q; want it kept running", task.LastStatus, task.StopRequests)
	}
	env := map[string]string{}
	for _, o := range task.Input.Overrides.ContainerOverrides {
		for _, kv := range o.Environment {
			env[*kv.Name] = *kv.Value
		}
	}
	if env["GANTRY_PREVIEW"] != "./serve" || env["GANTRY_PREVIEW_PORT"] != "8080" {
		t.Errorf("the task was not told the preview: %v", env)
	}
	rec, ok, err := f.store.Previews().Get(context.Background(), j.ID)
	if !ok || err != nil || rec.Runner != "ecs" || rec.Handle != task.ARN || !strings.HasSuffix(rec.Addr, ":8080") || strings.HasPrefix(rec.Addr, ":") {
		t.Fatalf("preview record %+v, %v, %v", rec, ok, err)
	}

	cfg, err := spec.ParseServer("gantry.yml", []byte("repos:\n  hello: {github: acme/hello}\n"))
	if err != nil {
		t.Fatal(err)
	}
	svc := commands.NewService(commands.Deps{Config: cfg, Store: f.store, PreviewStopper: r, Logger: slog.New(slog.DiscardHandler)})
	reply := svc.Handle(context.Background(), &commands.Request{User: "U1", Channel: "C1", Text: fmt.Sprintf("stop #%d", j.ID)})
	if !strings.Contains(reply.Text.Slack(), "Stopped the preview") {
		t.Fatalf("stop: %q", reply.Text.Slack())
	}
	waitFor(t, "the task to stop", 10*time.Second, func() bool { return f.aws.Tasks()[0].LastStatus == "STOPPED" })
	if task := f.aws.Tasks()[0]; len(task.StopRequests) != 1 || !strings.Contains(task.StopRequests[0], "preview") {
		t.Errorf("stop requests %q", task.StopRequests)
	}
	if _, ok, _ := f.store.Previews().Get(context.Background(), j.ID); ok {
		t.Error("the preview is still recorded after stop")
	}
}
