package web

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gantry-ci/gantry/jobs"
)

// Metrics are what /metrics exposes: the queue and jobs as Redis has them
// (read at scrape time, so every process reports the same), and this
// process's own counters.
type Metrics struct {
	Registry     *prometheus.Registry
	JobsFinished *prometheus.CounterVec   // by kind and state
	JobDuration  *prometheus.HistogramVec // by kind
	CallErrors   *prometheus.CounterVec   // by service (slack, github, aws, events) and call
	AckLatency   prometheus.Histogram     // Slack envelope received to ack written
	LogDropped   prometheus.Counter       // job log bytes a writer had to drop
}

// NewMetrics registers gantry's metrics; store may be nil in processes
// that do not report the queue.
func NewMetrics(store *jobs.Store) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		JobsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_jobs_finished_total", Help: "Jobs this process saw end, by kind and final state.",
		}, []string{"kind", "state"}),
		JobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gantry_job_duration_seconds", Help: "How long jobs ran, from start to end.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600},
		}, []string{"kind"}),
		CallErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_external_call_errors_total", Help: "Failed calls to Slack, GitHub, AWS and event endpoints, by service and call.",
		}, []string{"service", "call"}),
		AckLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gantry_slack_ack_latency_seconds", Help: "Time from a Socket Mode envelope's arrival to its ack.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .1, 1},
		}),
		LogDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_log_bytes_dropped_total", Help: "Bytes of job output this process could not keep (its buffer overflowed while Redis was away).",
		}),
	}
	m.Registry.MustRegister(m.JobsFinished, m.JobDuration, m.CallErrors, m.AckLatency, m.LogDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if store != nil {
		m.Registry.MustRegister(&queueCollector{store: store, queue: jobs.NewQueue(store)})
		m.Registry.MustRegister(&funcGauge{desc: prometheus.NewDesc("gantry_dead_lettered_total",
			"Jobs ever given up on after their last retry (dead-lettered).", nil, nil), read: store.DeadLettered, counter: true})
	}
	return m
}

// JobEnded records a job that ended.
func (m *Metrics) JobEnded(j *jobs.Job, now time.Time) {
	m.JobsFinished.WithLabelValues(string(j.Kind), string(j.State)).Inc()
	if d := j.Duration(now); d > 0 {
		m.JobDuration.WithLabelValues(string(j.Kind)).Observe(d.Seconds())
	}
}

// CallError counts a failed call to an outside service: service is
// "slack", "github", "aws" or "events", call what was called.
func (m *Metrics) CallError(service, call string) {
	if m == nil {
		return
	}
	m.CallErrors.WithLabelValues(service, call).Inc()
}

// LogBytesDropped counts n bytes of job output that could not be kept.
func (m *Metrics) LogBytesDropped(n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.LogDropped.Add(float64(n))
}

// OutboxDepth exports depth, read at each scrape, as
// gantry_github_outbox_depth: the reports waiting to reach GitHub.
func (m *Metrics) OutboxDepth(depth func(context.Context) (int64, error)) {
	m.gauge("gantry_github_outbox_depth", "Commit and deployment statuses waiting in the outbox to reach GitHub.", depth)
}

// WebhookBacklog exports backlog, read at each scrape, as
// gantry_github_webhook_backlog: webhooks accepted and not yet acted on.
func (m *Metrics) WebhookBacklog(backlog func(context.Context) (int64, error)) {
	m.gauge("gantry_github_webhook_backlog", "GitHub webhooks accepted and not yet acted on.", backlog)
}

func (m *Metrics) gauge(name, help string, read func(context.Context) (int64, error)) {
	if m == nil || read == nil {
		return
	}
	m.Registry.MustRegister(&funcGauge{desc: prometheus.NewDesc(name, help, nil, nil), read: read})
}

// funcGauge is a gauge read from Redis when Prometheus scrapes, so every
// process reports the same; it is left out of a scrape when the read fails.
type funcGauge struct {
	desc    *prometheus.Desc
	read    func(context.Context) (int64, error)
	counter bool // a count that only grows, kept in Redis
}

func (g *funcGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *funcGauge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	kind := prometheus.GaugeValue
	if g.counter {
		kind = prometheus.CounterValue
	}
	if n, err := g.read(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(g.desc, kind, float64(n))
	}
}

// queueCollector reads the queue from Redis when Prometheus scrapes.
type queueCollector struct {
	store *jobs.Store
	queue *jobs.Queue
}

var (
	jobsDesc  = prometheus.NewDesc("gantry_jobs", "Jobs not yet ended, by state.", []string{"state"}, nil)
	queueDesc = prometheus.NewDesc("gantry_queue_depth", "Queue deliveries: waiting for a worker, or held by one.", []string{"kind"}, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- queueDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts := map[jobs.State]int{jobs.Queued: 0, jobs.AwaitingApproval: 0, jobs.Waiting: 0, jobs.Running: 0}
	if active, err := c.store.Active(ctx); err == nil {
		for _, j := range active {
			counts[j.State]++
		}
		for st, n := range counts {
			ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(n), string(st))
		}
	}
	if waiting, held, err := c.queue.Depth(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(waiting), "waiting")
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(held), "held")
	}
}
