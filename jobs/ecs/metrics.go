package ecs

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/gantry-ci/gantry/jobs"
)

// MetricsAPI is what the queue-depth publisher calls of CloudWatch.
type MetricsAPI interface {
	PutMetricData(context.Context, *cloudwatch.PutMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

// DepthFunc reports the queue depth.
type DepthFunc func(ctx context.Context) (int64, error)

// QueueDepth is the depth that worker autoscaling follows: the jobs that
// wait for a worker plus those workers hold (running, or waiting for a
// resource). The /metrics gauge uses the same function.
func QueueDepth(q *jobs.Queue) DepthFunc {
	return func(ctx context.Context) (int64, error) {
		waiting, held, err := q.Depth(ctx)
		if err != nil {
			return 0, err
		}
		return waiting + held, nil
	}
}

// Metric names and defaults.
const (
	DefaultNamespace = "Gantry"
	MetricQueueDepth = "QueueDepth"
)

// MetricsConfig configures a DepthPublisher. Zero values are the defaults.
type MetricsConfig struct {
	Namespace  string            // "" is "Gantry"
	Dimensions map[string]string // of the datum; the scaling policy names the same
	Every      time.Duration     // 0 is 60s
	Logger     *slog.Logger
	Now        func() time.Time // nil is time.Now
}

// DepthPublisher puts the queue depth into CloudWatch for autoscaling.
type DepthPublisher struct {
	api   MetricsAPI
	depth DepthFunc
	cfg   MetricsConfig
}

// NewDepthPublisher returns a publisher of depth through api.
func NewDepthPublisher(api MetricsAPI, depth DepthFunc, cfg MetricsConfig) *DepthPublisher {
	cfg.Namespace = cmp.Or(cfg.Namespace, DefaultNamespace)
	cfg.Every = cmp.Or(cfg.Every, time.Minute)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &DepthPublisher{api: api, depth: depth, cfg: cfg}
}

// Run publishes at once and then every period until ctx ends. Failures
// are logged, once until the next success.
func (p *DepthPublisher) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.Every)
	defer t.Stop()
	failing := false
	for {
		err := p.Publish(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			p.cfg.Logger.Warn("publish queue depth", "err", err)
			failing = true
		case err == nil && failing:
			p.cfg.Logger.Info("publishing queue depth again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Publish puts one datum of the queue depth.
func (p *DepthPublisher) Publish(ctx context.Context) error {
	n, err := p.depth(ctx)
	if err != nil {
		return fmt.Errorf("read queue depth: %w", err)
	}
	datum := cwtypes.MetricDatum{
		MetricName: aws.String(MetricQueueDepth), Value: aws.Float64(float64(n)),
		Unit: cwtypes.StandardUnitCount, Timestamp: aws.Time(p.cfg.Now()),
	}
	for _, k := range slices.Sorted(maps.Keys(p.cfg.Dimensions)) {
		datum.Dimensions = append(datum.Dimensions, cwtypes.Dimension{Name: aws.String(k), Value: aws.String(p.cfg.Dimensions[k])})
	}
	_, err = p.api.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String(p.cfg.Namespace), MetricData: []cwtypes.MetricDatum{datum}})
	if err != nil {
		return fmt.Errorf("PutMetricData %s/%s: %w", p.cfg.Namespace, MetricQueueDepth, err)
	}
	return nil
}
