package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/store"
)

// Metrics are Conveyor's Prometheus metrics on a registry of their own. Metrics implements
// pipeline.Observer, so the engine reports through it.
type Metrics struct {
	Registry          *prometheus.Registry
	executionsStarted *prometheus.CounterVec
	executionsDone    *prometheus.CounterVec
	actionDuration    *prometheus.HistogramVec
	stageTransitions  *prometheus.CounterVec
	httpDuration      *prometheus.HistogramVec
}

// NewMetrics registers every metric; db provides the SQLite counters.
func NewMetrics(db *store.DB) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		executionsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conveyor_executions_started_total", Help: "Pipeline executions started, by pipeline.",
		}, []string{"pipeline"}),
		executionsDone: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conveyor_executions_finished_total", Help: "Pipeline executions finished, by pipeline and final status.",
		}, []string{"pipeline", "status"}),
		actionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "conveyor_action_duration_seconds", Help: "Duration of finished action executions, by provider and status.",
			Buckets: []float64{0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400},
		}, []string{"provider", "status"}),
		stageTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "conveyor_stage_transitions_total", Help: "Executions entering a stage, by pipeline and stage.",
		}, []string{"pipeline", "stage"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "conveyor_http_request_duration_seconds", Help: "HTTP request durations, by route, method and status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method", "code"}),
	}
	m.Registry.MustRegister(m.executionsStarted, m.executionsDone, m.actionDuration, m.stageTransitions, m.httpDuration,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "conveyor_sqlite_busy_total", Help: "SQLITE_BUSY errors met by write transactions.",
		}, func() float64 { return float64(db.Stats().BusyErrors) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "conveyor_sqlite_retries_total", Help: "Write transactions retried after SQLITE_BUSY.",
		}, func() float64 { return float64(db.Stats().Retries) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "conveyor_sqlite_write_transactions_total", Help: "Committed write transactions.",
		}, func() float64 { return float64(db.Stats().Writes) }),
		prometheus.NewGoCollector(),
		prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}),
	)
	return m
}

// ExecutionStarted implements pipeline.Observer.
func (m *Metrics) ExecutionStarted(p string) { m.executionsStarted.WithLabelValues(p).Inc() }

// ExecutionFinished implements pipeline.Observer.
func (m *Metrics) ExecutionFinished(p, status string) {
	m.executionsDone.WithLabelValues(p, status).Inc()
}

// StageEntered implements pipeline.Observer.
func (m *Metrics) StageEntered(p, stage string) { m.stageTransitions.WithLabelValues(p, stage).Inc() }

// ActionFinished implements pipeline.Observer.
func (m *Metrics) ActionFinished(t executor.ActionType, status string, d time.Duration) {
	m.actionDuration.WithLabelValues(t.String(), status).Observe(d.Seconds())
}

// Changed implements pipeline.Observer.
func (m *Metrics) Changed(string) {}
