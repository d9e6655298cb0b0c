package server

import (
	"context"
	"net/http"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/banli/banli/cmd/banli/build"
	"github.com/banli/banli/service"
	"github.com/banli/banli/store"
)

// metrics are what /metrics exports: gRPC server metrics (REST calls
// included, since the gateway is a gRPC client), the commit loop, the data
// file, and the cases by state and overdue, read from the counters and
// the due index when scraped.
type metrics struct {
	registry      *prometheus.Registry
	grpc          *grpcprom.ServerMetrics
	commitBatch   prometheus.Histogram
	commitSeconds prometheus.Histogram
	commitErrors  prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		grpc: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramBuckets([]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}))),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "banli_commit_batch_size", Help: "Decisions committed together in one transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "banli_commit_seconds", Help: "Time to run and fsync one commit.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5},
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "banli_commit_errors_total", Help: "Commits that failed (each decision is then retried alone).",
		}),
	}
	m.registry.MustRegister(m.grpc, m.commitBatch, m.commitSeconds, m.commitErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveCommit implements store.Observer.
func (m *metrics) ObserveCommit(batch int, took time.Duration, err error) {
	m.commitBatch.Observe(float64(batch))
	m.commitSeconds.Observe(took.Seconds())
	if err != nil {
		m.commitErrors.Inc()
	}
}

// watch adds the gauges read from the store at scrape time.
// The backend's gauges are those its abilities allow (store.FileBacked,
// store.ReadTransactions).
func (m *metrics) watch(db store.Backend, srv *service.Server) {
	if file, ok := db.(store.FileBacked); ok {
		m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "banli_database_bytes", Help: "Size of the data file."}, func() float64 {
			n, _ := file.Size()
			return float64(n)
		}))
	}
	if txs, ok := db.(store.ReadTransactions); ok {
		m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "banli_open_read_transactions", Help: "Read transactions open now; none outlives its call."}, func() float64 {
			return float64(txs.OpenReadTransactions())
		}))
	}
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "banli_overdue_parts", Help: "Assignments whose current deadline has passed."}, func() float64 {
			n, _ := srv.OverdueParts()
			return float64(n)
		}),
		&casesCollector{srv: srv, desc: prometheus.NewDesc("banli_cases", "Cases by their current state.", []string{"state"}, nil)},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "banli_standby_lag_events", Help: "Events of the primary a standby has not applied (0 on a primary)."}, func() float64 {
			st, _ := srv.GetReplicationStatus(context.Background(), nil)
			return float64(st.GetLagEvents())
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "banli_webhook_pending_deliveries", Help: "Webhook deliveries not yet made: posting, waiting for a retry, or behind an earlier event of their case."}, func() float64 {
			pending, _ := srv.WebhookBacklog()
			return float64(pending)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "banli_webhook_dead_letters", Help: "Webhook deliveries given up after their last attempt, kept for redelivery."}, func() float64 {
			_, dead := srv.WebhookBacklog()
			return float64(dead)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "banli_standby_lag_seconds", Help: "How far behind the primary a standby is in time (0 when caught up)."}, func() float64 {
			st, _ := srv.GetReplicationStatus(context.Background(), nil)
			return st.GetLagSeconds()
		}),
	)
}

// build reports the binary's build as banli_build_info, always 1, with
// the version, commit and Go version as labels (the convention of
// Prometheus' own build_info).
func (m *metrics) build(b build.Info) {
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "banli_build_info", Help: "The running build: its version, commit and Go version, as labels; always 1.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.ShortCommit(), "goversion": b.GoVersion},
	})
	info.Set(1)
	m.registry.MustRegister(info)
}

// casesCollector reports cases by state from the statistics counters.
type casesCollector struct {
	srv  *service.Server
	desc *prometheus.Desc
}

func (c *casesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *casesCollector) Collect(ch chan<- prometheus.Metric) {
	states, err := c.srv.CasesByState()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for state, n := range states {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), state)
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
