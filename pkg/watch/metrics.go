package watch

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the controller's Prometheus metrics (prefix jobwatch_).
type Metrics struct {
	ObjectsWatched *prometheus.GaugeVec
	EventsHandled  *prometheus.CounterVec
	Alerts         *prometheus.CounterVec
	QueueDepth     prometheus.GaugeFunc
	SyncErrors     prometheus.Counter
	CheckpointSave *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, depth func() float64) *Metrics {
	m := &Metrics{
		ObjectsWatched: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "jobwatch_objects_watched", Help: "Jobs and CronJobs in the informer caches."}, []string{"kind"}),
		EventsHandled:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobwatch_events_handled_total", Help: "Informer events handled, by kind and type (add, update, delete)."}, []string{"kind", "type"}),
		Alerts:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobwatch_alerts_total", Help: "Alerts raised, by event and severity."}, []string{"event", "severity"}),
		QueueDepth:     prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jobwatch_queue_depth", Help: "Keys waiting in the work queue."}, depth),
		SyncErrors:     prometheus.NewCounter(prometheus.CounterOpts{Name: "jobwatch_sync_errors_total", Help: "Failed judgements (retried with backoff)."}),
		CheckpointSave: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobwatch_checkpoint_saves_total", Help: "Checkpoint saves, by result."}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.ObjectsWatched, m.EventsHandled, m.Alerts, m.QueueDepth, m.SyncErrors, m.CheckpointSave)
	}
	return m
}
