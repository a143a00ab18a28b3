package awsserver_test

import (
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/gantry-ci/gantry/internal/awsserver"
)

// Containers run here in dependsOn order, with the definition's env,
// secrets and overrides and their mount paths rewritten; one whose
// dependency failed never starts.
func TestRunLocally(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	c := newClients(srv)
	srv.RunLocally(awsserver.LocalConfig{
		Programs: map[string]awsserver.LocalProgram{"writer": {Path: "/bin/sh", Env: []string{"EXTRA=yes"}}},
		Secrets:  map[string]string{"arn:secret": "hush"},
	})
	logs := func() *ecstypes.LogConfiguration {
		return &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs,
			Options: map[string]string{"awslogs-group": logGroup, "awslogs-stream-prefix": logPrefix}}
	}
	mount := []ecstypes.MountPoint{{SourceVolume: aws.String("ws"), ContainerPath: aws.String("/ws")}}
	register := func(family, writerScript string) {
		_, err := c.ecs.RegisterTaskDefinition(ctx(t), &ecs.RegisterTaskDefinitionInput{
			Family: aws.String(family), Volumes: []ecstypes.Volume{{Name: aws.String("ws")}},
			ExecutionRoleArn: aws.String("arn:aws:iam::123456789012:role/gantry-exec"), // fetches the secret
			ContainerDefinitions: []ecstypes.ContainerDefinition{
				{Name: aws.String("reader"), Image: aws.String("alpine"), EntryPoint: []string{"sh", "-c"},
					Command: []string{`cat "$FILE"; echo "cwd $(basename "$PWD")"; exit 3`}, WorkingDirectory: aws.String("/ws/sub"),
					MountPoints: mount, LogConfiguration: logs(),
					Environment: []ecstypes.KeyValuePair{{Name: aws.String("FILE"), Value: aws.String("/ws/out")}},
					DependsOn:   []ecstypes.ContainerDependency{{ContainerName: aws.String("writer"), Condition: ecstypes.ContainerConditionSuccess}}},
				{Name: aws.String("writer"), Image: aws.String("tools"), Essential: aws.Bool(false), EntryPoint: []string{"writer", "-c", writerScript},
					MountPoints: mount, LogConfiguration: logs(),
					Environment: []ecstypes.KeyValuePair{{Name: aws.String("OUT"), Value: aws.String("/ws/out")}},
					Secrets:     []ecstypes.Secret{{Name: aws.String("SECRET"), ValueFrom: aws.String("arn:secret")}}},
				{Name: aws.String("idle"), Image: aws.String("redis"), Essential: aws.Bool(false)},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	register("ok", `echo "$SECRET $EXTRA $WHO" > "$OUT"; echo wrote`)
	run := &ecs.RunTaskInput{Cluster: aws.String("ci"), TaskDefinition: aws.String("ok"), LaunchType: ecstypes.LaunchTypeEc2,
		Overrides: &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{Name: aws.String("writer"),
			Environment: []ecstypes.KeyValuePair{{Name: aws.String("WHO"), Value: aws.String("me")}}}}}}
	task := runOne(t, c, run)
	id := taskIDFromARN(aws.ToString(task.TaskArn))
	stopped := waitStopped(t, c, aws.ToString(task.TaskArn))
	codes := map[string]int32{}
	for _, ct := range stopped.Containers {
		codes[aws.ToString(ct.Name)] = aws.ToInt32(ct.ExitCode)
	}
	if diff := cmp.Diff(map[string]int32{"reader": 3, "writer": 0, "idle": 0}, codes); diff != "" {
		t.Errorf("exit codes (-want +got):\n%s", diff)
	}
	var got []string
	for _, ev := range srv.LogEvents(logGroup, logPrefix+"/reader/"+id) {
		got = append(got, ev.Message)
	}
	if diff := cmp.Diff([]string{"hush yes me", "cwd sub"}, got); diff != "" {
		t.Errorf("reader's log (-want +got):\n%s", diff)
	}

	register("broken", `echo "cannot write" >&2; exit 5`)
	task = runOne(t, c, &ecs.RunTaskInput{Cluster: aws.String("ci"), TaskDefinition: aws.String("broken"), LaunchType: ecstypes.LaunchTypeEc2})
	stopped = waitStopped(t, c, aws.ToString(task.TaskArn))
	for _, ct := range stopped.Containers {
		switch aws.ToString(ct.Name) {
		case "reader":
			if ct.ExitCode != nil || aws.ToString(ct.Reason) != "dependency writer exited with code 5, condition SUCCESS not met" {
				t.Errorf("reader: exit %v, reason %q; want no exit code and the dependency's failure", ct.ExitCode, aws.ToString(ct.Reason))
			}
		case "writer":
			if aws.ToInt32(ct.ExitCode) != 5 {
				t.Errorf("writer exit %v, want 5", ct.ExitCode)
			}
		}
	}
	if _, err := os.Stat("/ws"); err == nil {
		t.Error("a container path was used on this machine")
	}
}

func taskIDFromARN(arn string) string { return arn[len(arn)-32:] }

func waitStopped(t *testing.T, c clients, arn string) ecstypes.Task {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		task := describe(t, c, arn)
		if aws.ToString(task.LastStatus) == awsserver.StatusStopped {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s is %s after 10s", arn, aws.ToString(task.LastStatus))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
