package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jobwatch/jobwatch/pkg/analyze"
)

// Route sends alerts to one sink, filtered by severity and namespace.
type Route struct {
	Notifier    Notifier
	MinSeverity analyze.Severity
	// Namespaces are globs; empty means every namespace.
	Namespaces []string
}

// DispatcherOptions tune delivery.
type DispatcherOptions struct {
	QueueSize  int           // per sink; a full queue drops (counted)
	MaxRetries int           // attempts after the first, per alert
	BaseDelay  time.Duration // first retry delay, doubled each time
	MaxDelay   time.Duration
	// Throttle is the least time between two alerts for the same object
	// on one sink; zero disables. Deleted events are never throttled.
	Throttle time.Duration
}

// Dispatcher fans alerts out to sinks: one bounded queue and one worker per
// sink, so a slow Slack never delays Events; retries with exponential
// backoff honouring Retry-After; deduplication by alert ID; a per-object
// throttle. Alerts accepted but not yet delivered are Pending, which the
// checkpoint keeps across restarts.
type Dispatcher struct {
	opts   DispatcherOptions
	log    *slog.Logger
	sinks  []*sinkQueue
	closed atomic.Bool
	// version changes whenever the pending set changes.
	version atomic.Uint64
	wg      sync.WaitGroup
	m       *dispatchMetrics
	stop    context.CancelFunc
}

type sinkQueue struct {
	route Route
	q     chan Alert

	mu        sync.Mutex
	pending   map[string]Alert // by alert ID, accepted and not yet delivered
	delivered *idSet
	lastSent  map[string]sent // object UID -> last accepted alert
}

type sent struct {
	at       time.Time
	severity analyze.Severity
}

// NewDispatcher builds a dispatcher; call Start to run its workers.
func NewDispatcher(routes []Route, opts DispatcherOptions, log *slog.Logger, reg prometheus.Registerer) *Dispatcher {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1000
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 10
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = time.Second
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 5 * time.Minute
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{opts: opts, log: log}
	for _, r := range routes {
		d.sinks = append(d.sinks, &sinkQueue{route: r, q: make(chan Alert, opts.QueueSize), pending: map[string]Alert{},
			delivered: newIDSet(10000), lastSent: map[string]sent{}})
	}
	d.m = newDispatchMetrics(reg, d)
	return d
}

// Name implements Notifier.
func (d *Dispatcher) Name() string { return "dispatcher" }

// Notify implements Notifier: it accepts a for every matching sink and
// returns at once; delivery happens on the sinks' workers. When a sink's
// queue is full it returns a RateLimitError so the caller retries (the
// sinks that did accept drop the repeat by alert ID).
func (d *Dispatcher) Notify(_ context.Context, a Alert) error {
	if d.closed.Load() {
		return errors.New("dispatcher: shutting down")
	}
	var full []string
	for _, s := range d.sinks {
		if !s.route.matches(a) {
			continue
		}
		if !d.enqueue(s, a, true) {
			full = append(full, s.route.Notifier.Name())
		}
	}
	if len(full) > 0 {
		return &RateLimitError{RetryAfter: time.Second, Err: fmt.Errorf("dispatcher: queue full for %v", full)}
	}
	return nil
}

func (r Route) matches(a Alert) bool {
	if a.Event != EventDeleted && a.Severity < r.MinSeverity {
		return false
	}
	if len(r.Namespaces) == 0 {
		return true
	}
	for _, g := range r.Namespaces {
		if ok, _ := path.Match(g, a.Object.Namespace); ok {
			return true
		}
	}
	return false
}

// enqueue accepts a on sink s; it reports false only when the queue is full.
// The throttle never holds back an alert more severe than the last one
// sent for the object.
func (d *Dispatcher) enqueue(s *sinkQueue, a Alert, throttle bool) bool {
	name := s.route.Notifier.Name()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.pending[a.ID]; dup || s.delivered.has(a.ID) {
		d.m.deduplicated.WithLabelValues(name).Inc()
		return true
	}
	if throttle && d.opts.Throttle > 0 && a.Event != EventDeleted {
		if last, ok := s.lastSent[a.Object.UID]; ok && time.Since(last.at) < d.opts.Throttle && a.Severity <= last.severity {
			d.m.throttled.WithLabelValues(name).Inc()
			d.log.Info("alert throttled", "sink", name, "object", a.Object.Namespace+"/"+a.Object.Name, "id", a.ID)
			return true
		}
	}
	select {
	case s.q <- a:
		s.pending[a.ID] = a
		s.lastSent[a.Object.UID] = sent{at: time.Now(), severity: a.Severity}
		d.version.Add(1)
		return true
	default:
		d.m.dropped.WithLabelValues(name, "queue_full").Inc()
		d.log.Error("sink queue full; the alert will be offered again", "sink", name, "id", a.ID)
		return false
	}
}

// Start runs one worker per sink until ctx ends or Drain returns.
func (d *Dispatcher) Start(ctx context.Context) {
	ctx, d.stop = context.WithCancel(ctx)
	for _, s := range d.sinks {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.work(ctx, s)
		}()
	}
}

func (d *Dispatcher) work(ctx context.Context, s *sinkQueue) {
	for {
		select {
		case <-ctx.Done():
			return
		case a, ok := <-s.q:
			if !ok {
				return
			}
			d.deliver(ctx, s, a)
		}
	}
}

// deliver tries a until it is delivered, permanently rejected, out of
// retries, or ctx ends (then it stays pending for the checkpoint).
func (d *Dispatcher) deliver(ctx context.Context, s *sinkQueue, a Alert) {
	name := s.route.Notifier.Name()
	delay := d.opts.BaseDelay
	for attempt := 0; ; attempt++ {
		start := time.Now()
		err := s.route.Notifier.Notify(ctx, a)
		d.m.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
		if err == nil {
			d.m.sent.WithLabelValues(name).Inc()
			d.done(s, a, true)
			return
		}
		if ctx.Err() != nil {
			return // shutting down: stays pending
		}
		d.m.failed.WithLabelValues(name).Inc()
		if !Retryable(err) {
			d.log.Error("alert rejected by sink (not retried)", "sink", name, "id", a.ID, "err", err)
			d.m.dropped.WithLabelValues(name, "permanent").Inc()
			d.done(s, a, false)
			return
		}
		if attempt >= d.opts.MaxRetries {
			d.log.Error("alert dropped after retries", "sink", name, "id", a.ID, "attempts", attempt+1, "err", err)
			d.m.dropped.WithLabelValues(name, "retries").Inc()
			d.done(s, a, false)
			return
		}
		wait := delay
		var rl *RateLimitError
		if errors.As(err, &rl) && rl.RetryAfter > 0 {
			wait = rl.RetryAfter
		}
		d.m.retried.WithLabelValues(name).Inc()
		d.log.Warn("delivery failed, will retry", "sink", name, "id", a.ID, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		delay = min(delay*2, d.opts.MaxDelay)
	}
}

func (d *Dispatcher) done(s *sinkQueue, a Alert, delivered bool) {
	s.mu.Lock()
	delete(s.pending, a.ID)
	if delivered {
		s.delivered.add(a.ID)
	}
	s.mu.Unlock()
	d.version.Add(1)
}

// Drain stops accepting alerts and waits until every queue is empty or ctx
// ends, then stops the workers: what is left stays Pending, and no worker
// delivers it behind the checkpoint's back.
func (d *Dispatcher) Drain(ctx context.Context) {
	d.closed.Store(true)
	defer func() {
		if d.stop != nil {
			d.stop()
		}
		d.wg.Wait()
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if d.pendingCount() == 0 {
			return
		}
		select {
		case <-ctx.Done():
			d.log.Warn("drain timed out; undelivered alerts stay in the checkpoint", "pending", d.pendingCount())
			return
		case <-tick.C:
		}
	}
}

func (d *Dispatcher) pendingCount() int {
	n := 0
	for _, s := range d.sinks {
		s.mu.Lock()
		n += len(s.pending)
		s.mu.Unlock()
	}
	return n
}

// Pending returns the undelivered alerts per sink name.
func (d *Dispatcher) Pending() map[string][]Alert {
	out := map[string][]Alert{}
	for _, s := range d.sinks {
		s.mu.Lock()
		for _, a := range s.pending {
			out[s.route.Notifier.Name()] = append(out[s.route.Notifier.Name()], a)
		}
		s.mu.Unlock()
	}
	return out
}

// PendingVersion changes whenever Pending does.
func (d *Dispatcher) PendingVersion() uint64 { return d.version.Load() }

// Restore re-queues alerts left pending by a previous run (before new ones).
func (d *Dispatcher) Restore(p map[string][]Alert) {
	for _, s := range d.sinks {
		for _, a := range p[s.route.Notifier.Name()] {
			d.enqueue(s, a, false)
		}
	}
}

// idSet is a bounded set of recent IDs (FIFO eviction).
type idSet struct {
	max   int
	order []string
	set   map[string]bool
}

func newIDSet(max int) *idSet { return &idSet{max: max, set: map[string]bool{}} }

func (s *idSet) has(id string) bool { return s.set[id] }

func (s *idSet) add(id string) {
	if s.set[id] {
		return
	}
	s.set[id] = true
	s.order = append(s.order, id)
	if len(s.order) > s.max {
		delete(s.set, s.order[0])
		s.order = s.order[1:]
	}
}

type dispatchMetrics struct {
	sent, failed, retried, deduplicated, throttled *prometheus.CounterVec
	dropped                                        *prometheus.CounterVec
	latency                                        *prometheus.HistogramVec
}

func newDispatchMetrics(reg prometheus.Registerer, d *Dispatcher) *dispatchMetrics {
	m := &dispatchMetrics{
		sent:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobwatch_notify_sent_total", Help: "Alerts delivered, by sink."}, []string{"sink"}),
		failed:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobwatch_notify_failed_total", Help: "Failed delivery attempts, by sink."}, []string{"sink"}),
		retried:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobwatch_notify_retried_total", Help: "Delivery retries, by sink."}, []string{"sink"}),
		deduplicated: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobwatch_notify_deduplicated_total", Help: "Alerts skipped as already pending or delivered (same ID)."}, []string{"sink"}),
		throttled:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobwatch_notify_throttled_total", Help: "Alerts skipped by the per-object throttle."}, []string{"sink"}),
		dropped:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobwatch_notify_dropped_total", Help: "Alerts given up on, by sink and reason (queue_full, permanent, retries)."}, []string{"sink", "reason"}),
		latency:      prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "jobwatch_notify_latency_seconds", Help: "Duration of one delivery attempt.", Buckets: prometheus.DefBuckets}, []string{"sink"}),
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.failed, m.retried, m.deduplicated, m.throttled, m.dropped, m.latency)
		for _, s := range d.sinks {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "jobwatch_notify_queue_depth",
				Help: "Alerts accepted and not yet delivered, by sink.", ConstLabels: prometheus.Labels{"sink": s.route.Notifier.Name()}},
				func() float64 { s.mu.Lock(); defer s.mu.Unlock(); return float64(len(s.pending)) }))
		}
	}
	return m
}
