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
	CallErrors   *prometheus.CounterVec   // by service (slack, github, aws) and call
	AckLatency   prometheus.Histogram     // Slack envelope received to ack written
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
			Name: "gantry_external_call_errors_total", Help: "Failed calls to Slack, GitHub and AWS.",
		}, []string{"service", "call"}),
		AckLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gantry_slack_ack_latency_seconds", Help: "Time from a Socket Mode envelope's arrival to its ack.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .1, 1},
		}),
	}
	m.Registry.MustRegister(m.JobsFinished, m.JobDuration, m.CallErrors, m.AckLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if store != nil {
		m.Registry.MustRegister(&queueCollector{store: store, queue: jobs.NewQueue(store)})
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
