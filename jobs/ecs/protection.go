package ecs

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
)

// ProtectionAPI is what task scale-in protection calls of ECS.
type ProtectionAPI interface {
	UpdateTaskProtection(context.Context, *awsecs.UpdateTaskProtectionInput, ...func(*awsecs.Options)) (*awsecs.UpdateTaskProtectionOutput, error)
}

// ProtectionConfig configures a Protector. Zero values are the defaults.
type ProtectionConfig struct {
	// MetadataURI is the task metadata endpoint (ECS_CONTAINER_METADATA_URI_V4);
	// its /task document names the worker's own task and cluster.
	MetadataURI string
	HTTPClient  *http.Client  // nil: a client with a 5s timeout
	ExpiresIn   time.Duration // each grant of protection, in whole minutes; 0 is 60m
	RenewEvery  time.Duration // renewal while busy; 0 is half of ExpiresIn
	RetryEvery  time.Duration // after a failed call; 0 is 15s
	Logger      *slog.Logger
}

// Protector turns ECS task scale-in protection on for the worker's own
// task while it holds jobs, and off when it is idle, so that autoscaling
// on the queue depth never stops a worker in the middle of a job. While
// busy it renews the protection before it expires. Busy never blocks:
// Run makes the calls.
type Protector struct {
	api ProtectionAPI
	cfg ProtectionConfig
	log *slog.Logger

	mu   sync.Mutex
	busy bool
	kick chan struct{}

	taskARN, cluster string
	disabled         bool
}

// NewProtector returns a protector for the task that the metadata endpoint
// describes.
func NewProtector(api ProtectionAPI, cfg ProtectionConfig) *Protector {
	cfg.ExpiresIn = max(cmp.Or(cfg.ExpiresIn, time.Hour).Round(time.Minute), time.Minute)
	cfg.RenewEvery = cmp.Or(cfg.RenewEvery, cfg.ExpiresIn/2)
	cfg.RetryEvery = cmp.Or(cfg.RetryEvery, 15*time.Second)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Protector{api: api, cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1)}
}

// Busy is jobs.WorkerConfig.Busy: the worker holds jobs (true) or none.
func (p *Protector) Busy(busy bool) {
	p.mu.Lock()
	p.busy = busy
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *Protector) wanted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.busy
}

// Run keeps the protection as Busy last said until ctx ends, and then
// turns it off.
func (p *Protector) Run(ctx context.Context) {
	applied := false // a task starts unprotected
	var renewAt, retryAt time.Time
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		want, now := p.wanted(), time.Now()
		due := want != applied || (want && !now.Before(renewAt))
		if due && !p.disabled && !now.Before(retryAt) {
			if err := p.apply(ctx, want); err != nil {
				if ctx.Err() != nil {
					break
				}
				p.log.Warn("task scale-in protection", "protect", want, "err", err)
				retryAt = now.Add(p.cfg.RetryEvery)
			} else {
				applied, retryAt = want, time.Time{}
				if want {
					renewAt = now.Add(p.cfg.RenewEvery)
				}
			}
		}
		next := time.Hour
		switch {
		case p.disabled:
		case !retryAt.IsZero():
			next = time.Until(retryAt)
		case applied:
			next = time.Until(renewAt)
		}
		timer.Reset(max(next, time.Millisecond))
		select {
		case <-ctx.Done():
		case <-p.kick:
		case <-timer.C:
		}
		if ctx.Err() != nil {
			break
		}
	}
	if applied && !p.disabled {
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := p.apply(bg, false); err != nil {
			p.log.Warn("turn task scale-in protection off", "err", err)
		}
	}
}

// apply calls UpdateTaskProtection for the worker's task.
func (p *Protector) apply(ctx context.Context, on bool) error {
	if p.taskARN == "" {
		if err := p.readMetadata(ctx); err != nil {
			return err
		}
	}
	in := &awsecs.UpdateTaskProtectionInput{Cluster: aws.String(p.cluster), Tasks: []string{p.taskARN}, ProtectionEnabled: on}
	if on {
		in.ExpiresInMinutes = aws.Int32(int32(p.cfg.ExpiresIn / time.Minute))
	}
	out, err := p.api.UpdateTaskProtection(ctx, in)
	if err != nil {
		return fmt.Errorf("UpdateTaskProtection: %w", err)
	}
	for _, f := range out.Failures {
		if aws.ToString(f.Reason) == "TASK_NOT_VALID" {
			p.disabled = true
			p.log.Warn("ECS refuses scale-in protection for this task (it must be started by an ECS service); going on without it",
				"task", p.taskARN, "detail", aws.ToString(f.Detail))
			return nil
		}
		return fmt.Errorf("UpdateTaskProtection of %s: %s %s", p.taskARN, aws.ToString(f.Reason), aws.ToString(f.Detail))
	}
	p.log.Debug("task scale-in protection", "on", on, "task", p.taskARN)
	return nil
}

// readMetadata learns the task's ARN and cluster from the task metadata
// endpoint.
func (p *Protector) readMetadata(ctx context.Context) error {
	url := strings.TrimSuffix(p.cfg.MetadataURI, "/") + "/task"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("task metadata: %w", err)
	}
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("task metadata: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("task metadata %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("task metadata %s: %s", url, resp.Status)
	}
	var doc struct {
		Cluster string `json:"Cluster"`
		TaskARN string `json:"TaskARN"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("task metadata %s: %w", url, err)
	}
	if doc.TaskARN == "" || doc.Cluster == "" {
		return fmt.Errorf("task metadata %s names no TaskARN and Cluster", url)
	}
	p.taskARN, p.cluster = doc.TaskARN, doc.Cluster
	return nil
}
