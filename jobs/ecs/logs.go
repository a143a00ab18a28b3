package ecs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// LogsAPI is what the runner calls of CloudWatch Logs.
type LogsAPI interface {
	GetLogEvents(context.Context, *cloudwatchlogs.GetLogEventsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetLogEventsOutput, error)
}

// streamName is the awslogs stream of a container of a task.
func (r *Runner) streamName(container, arn string) string {
	return r.cfg.LogStreamPrefix + "/" + container + "/" + taskID(arn)
}

// tail copies what the job container has logged since the cursor into the
// job's log, turning step markers into step events, and records the new
// cursor once the lines are stored. It returns how many events it read. A
// stream that does not exist yet (the task is not RUNNING) reads as empty.
func (f *follower) tail(ctx context.Context) (int, error) {
	total := 0
	for {
		in := &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String(f.r.cfg.LogGroup), LogStreamName: aws.String(f.stream), StartFromHead: aws.Bool(true),
		}
		if f.cur.Token != "" {
			in.NextToken = aws.String(f.cur.Token)
		}
		out, err := f.r.logs.GetLogEvents(ctx, in)
		var nf *cwltypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("read log stream %s: %w", f.stream, err)
		}
		bg := context.WithoutCancel(ctx)
		for _, ev := range out.Events {
			f.event(bg, aws.ToString(ev.Message), aws.ToInt64(ev.Timestamp))
		}
		next := aws.ToString(out.NextForwardToken)
		moved := next != "" && next != f.cur.Token
		if moved {
			f.cur.Token = next
		}
		if len(out.Events) > 0 {
			total += len(out.Events)
			if err := f.save(bg); err != nil {
				return total, err
			}
		}
		if len(out.Events) == 0 || !moved {
			return total, nil
		}
	}
}

// save stores the lines written so far, then the cursor: after a crash
// a line may be copied twice, never lost.
func (f *follower) save(ctx context.Context) error {
	if err := f.x.Log.Flush(); err != nil {
		return fmt.Errorf("write job log: %w", err)
	}
	if err := f.x.Checkpoint(ctx, f.cur.String()); err != nil {
		return fmt.Errorf("record log cursor: %w", err)
	}
	return nil
}

// event handles one log event of the job container.
func (f *follower) event(ctx context.Context, msg string, at int64) {
	if res, ok := f.r.parseResults(f.x.Job, msg, f.marker); ok {
		if f.gotResults {
			return // only the first counts
		}
		f.gotResults = true
		if err := f.x.Results(ctx, res); err != nil {
			f.r.log.Error("record job results", "job", f.x.Job.ID, "err", err)
		}
		return
	}
	m, ok := parseMarker(msg, f.marker)
	if !ok {
		f.x.Log.Write([]byte(strings.TrimRight(msg, "\n") + "\n"))
		return
	}
	if m.preview {
		f.previewUp = true
		return
	}
	if m.start {
		f.cur.Step, f.cur.At = m.step, at
		if err := f.x.StepStarted(ctx, m.step); err != nil {
			f.r.log.Error("record step start", "job", f.x.Job.ID, "step", m.step, "err", err)
		}
		return
	}
	var took time.Duration
	if f.cur.Step == m.step && f.cur.At > 0 {
		took = time.Duration(at-f.cur.At) * time.Millisecond
	}
	f.cur.Step, f.cur.At, f.cur.Done = 0, 0, m.step
	if err := f.x.StepEnded(ctx, m.step, m.code, took); err != nil {
		f.r.log.Error("record step end", "job", f.x.Job.ID, "step", m.step, "err", err)
	}
}

// lastLines returns up to n of the newest lines of a container's stream.
func (f *follower) lastLines(ctx context.Context, container string, n int32) []string {
	out, err := f.r.logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String(f.r.cfg.LogGroup), LogStreamName: aws.String(f.r.streamName(container, f.arn)),
		StartFromHead: aws.Bool(false), Limit: aws.Int32(n),
	})
	if err != nil {
		return nil
	}
	var lines []string
	for _, ev := range out.Events {
		lines = append(lines, strings.TrimRight(aws.ToString(ev.Message), "\r\n"))
	}
	return lines
}
