package audit

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/jobwatch/jobwatch/pkg/analyze"
	"github.com/jobwatch/jobwatch/pkg/notify"
)

// Options configure the receiver.
type Options struct {
	// Addr to listen on, e.g. ":9443" or "127.0.0.1:9443".
	Addr string
	// CertFile and KeyFile serve TLS; without them Addr must be loopback.
	CertFile, KeyFile string
	// ClientCAFile, when set, requires client certificates signed by it.
	ClientCAFile string
	// Token, when set, is the bearer token the API server must send.
	Token string
	// MaxBodyBytes bounds one request (default 8 MiB).
	MaxBodyBytes int64
	// MaxEvents bounds the events kept for correlation (default 20000).
	MaxEvents int
	// Retention bounds how long events are kept (default 15 minutes).
	Retention time.Duration
	// Wait bounds how long an alert waits for its audit event (default 2s).
	Wait time.Duration
	// AlertDeletes raises a low alert when a user who is not a controller
	// deletes a Job or CronJob; AlertDenied a medium alert for a denied
	// (403) create/update/patch.
	AlertDeletes, AlertDenied bool
	// Cluster names the cluster in signal alerts.
	Cluster string
	// Accepting, when set and false, answers 503 so the API server retries
	// (through the Service, towards the leader). Leader election sets it.
	Accepting func() bool
}

// record is the part of one audit event jobwatch keeps.
type record struct {
	at                 time.Time
	auditID            string
	verb, kind         string // kind: Job or CronJob
	namespace, name    string
	uid, rv            string
	user, impersonated string
	groups, sourceIPs  []string
	userAgent          string
	code               int32
}

// Receiver is the audit webhook endpoint and the correlation window.
type Receiver struct {
	opts    Options
	log     *slog.Logger
	signals notify.Notifier // nil: no audit-only alerts
	now     func() time.Time

	mu      sync.Mutex
	events  []record
	changed chan struct{} // closed and replaced on every new event

	received, rejected *prometheus.CounterVec
	matched            *prometheus.CounterVec
	waited             prometheus.Histogram
}

// New builds a receiver. signals receives audit-only alerts.
func New(opts Options, signals notify.Notifier, log *slog.Logger, reg prometheus.Registerer) (*Receiver, error) {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 8 << 20
	}
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = 20000
	}
	if opts.Retention <= 0 {
		opts.Retention = 15 * time.Minute
	}
	if opts.Wait < 0 {
		opts.Wait = 0
	}
	if (opts.CertFile == "") != (opts.KeyFile == "") {
		return nil, errors.New("audit webhook: set both the certificate and the key file, or neither")
	}
	if opts.CertFile == "" && opts.Addr != "" && !loopback(opts.Addr) {
		return nil, fmt.Errorf("audit webhook: %s is not a loopback address; plain HTTP is only allowed on loopback (set a certificate and key)", opts.Addr)
	}
	if opts.Addr != "" && !loopback(opts.Addr) && opts.Token == "" && opts.ClientCAFile == "" {
		return nil, fmt.Errorf("audit webhook: %s is reachable from the network: require a bearer token or client certificates", opts.Addr)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{opts: opts, log: log, signals: signals, now: time.Now, changed: make(chan struct{}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobwatch_audit_events_total", Help: "Audit events received, by whether they concern Jobs/CronJobs."}, []string{"batch"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobwatch_audit_requests_rejected_total", Help: "Audit webhook requests rejected, by reason."}, []string{"reason"}),
		matched:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jobwatch_audit_attributions_total", Help: "Alerts attributed from audit events, by result (matched, timeout)."}, []string{"result"}),
		waited:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: "jobwatch_audit_wait_seconds", Help: "Time alerts waited for their audit event.", Buckets: []float64{0, .005, .01, .05, .1, .25, .5, 1, 2, 5}}),
	}
	if reg != nil {
		reg.MustRegister(r.received, r.rejected, r.matched, r.waited)
	}
	return r, nil
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// Serve listens on Options.Addr until ctx ends.
func (r *Receiver) Serve(ctx context.Context) (net.Addr, error) {
	ln, err := net.Listen("tcp", r.opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("audit webhook: %w", err)
	}
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}
	if r.opts.CertFile != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if r.opts.ClientCAFile != "" {
			pem, err := os.ReadFile(r.opts.ClientCAFile)
			if err != nil {
				ln.Close()
				return nil, fmt.Errorf("audit webhook: client CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				ln.Close()
				return nil, errors.New("audit webhook: client CA file holds no certificates")
			}
			cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
		srv.TLSConfig = cfg
	}
	go func() {
		var err error
		if r.opts.CertFile != "" {
			err = srv.ServeTLS(ln, r.opts.CertFile, r.opts.KeyFile)
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error("audit webhook server stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	r.log.Info("audit webhook listening", "addr", ln.Addr().String(), "tls", r.opts.CertFile != "")
	return ln.Addr(), nil
}

// Handler serves POST /audit.
func (r *Receiver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/audit", r.serveAudit)
	return mux
}

func (r *Receiver) reject(w http.ResponseWriter, code int, reason, msg string) {
	r.rejected.WithLabelValues(reason).Inc()
	http.Error(w, msg, code)
}

func (r *Receiver) serveAudit(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		r.reject(w, http.StatusMethodNotAllowed, "method", "POST only")
		return
	}
	if r.opts.Accepting != nil && !r.opts.Accepting() {
		r.reject(w, http.StatusServiceUnavailable, "standby", "standby replica: retry against the leader")
		return
	}
	if r.opts.Token != "" {
		got := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(r.opts.Token)) != 1 {
			r.reject(w, http.StatusUnauthorized, "unauthorized", "unauthorized")
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.opts.MaxBodyBytes))
	if err != nil {
		r.reject(w, http.StatusRequestEntityTooLarge, "too_large", "body too large")
		return
	}
	var list auditv1.EventList
	if err := json.Unmarshal(body, &list); err != nil || list.Kind != "EventList" {
		r.reject(w, http.StatusBadRequest, "malformed", "want an audit.k8s.io/v1 EventList")
		return
	}
	for i := range list.Items {
		r.ingest(&list.Items[i])
	}
	w.WriteHeader(http.StatusOK)
}

var kinds = map[string]string{"jobs": analyze.KindJob, "cronjobs": analyze.KindCronJob}

func (r *Receiver) ingest(e *auditv1.Event) {
	ref := e.ObjectRef
	if ref == nil || ref.APIGroup != "batch" || ref.Subresource != "" || kinds[ref.Resource] == "" ||
		e.Stage != auditv1.StageResponseComplete && e.Stage != auditv1.StagePanic {
		r.received.WithLabelValues("false").Inc()
		return
	}
	r.received.WithLabelValues("true").Inc()
	rec := record{at: e.StageTimestamp.Time, auditID: string(e.AuditID), verb: e.Verb, kind: kinds[ref.Resource],
		namespace: ref.Namespace, name: ref.Name, uid: string(ref.UID), rv: ref.ResourceVersion,
		user: e.User.Username, groups: e.User.Groups, sourceIPs: e.SourceIPs, userAgent: e.UserAgent}
	if rec.at.IsZero() {
		rec.at = r.now()
	}
	if e.ImpersonatedUser != nil {
		rec.impersonated = e.ImpersonatedUser.Username
	}
	if e.ResponseStatus != nil {
		rec.code = e.ResponseStatus.Code
	}
	var m struct {
		Kind     string
		Metadata struct{ Name, UID, ResourceVersion string }
	}
	if e.ResponseObject != nil && json.Unmarshal(e.ResponseObject.Raw, &m) == nil && m.Kind == rec.kind {
		if rec.name == "" {
			rec.name = m.Metadata.Name
		}
		rec.uid, rec.rv = m.Metadata.UID, m.Metadata.ResourceVersion
	}
	// A refused create has no response object; its request carries the name.
	if rec.name == "" && e.RequestObject != nil && json.Unmarshal(e.RequestObject.Raw, &m) == nil {
		rec.name = m.Metadata.Name
	}
	r.mu.Lock()
	cutoff := r.now().Add(-r.opts.Retention)
	drop := 0
	for drop < len(r.events) && (r.events[drop].at.Before(cutoff) || len(r.events)-drop >= r.opts.MaxEvents) {
		drop++
	}
	r.events = append(r.events[drop:], rec)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	r.signal(rec)
}

// controller reports whether the user is a Kubernetes controller (whose
// deletions are routine: TTL, history limits, garbage collection).
func controller(user string) bool {
	return strings.HasPrefix(user, "system:serviceaccount:kube-system:") || user == "system:kube-controller-manager" ||
		strings.HasPrefix(user, "system:node:")
}

func (r *Receiver) signal(rec record) {
	if r.signals == nil {
		return
	}
	var a *notify.Alert
	switch {
	case r.opts.AlertDenied && rec.code == http.StatusForbidden && (rec.verb == "create" || rec.verb == "update" || rec.verb == "patch"):
		target := rec.namespace + "/" + rec.name
		if rec.name == "" {
			// A create refused by authorization is logged before its body
			// is read, so only the namespace is known.
			target = "in namespace " + rec.namespace
		}
		a = r.signalAlert(rec, notify.EventDenied, analyze.SeverityMedium, "JW-AUDIT-002", "Denied batch write",
			fmt.Sprintf("%s was denied %s of a %s %s", rec.user, rec.verb, rec.kind, target))
	case r.opts.AlertDeletes && rec.verb == "delete" && rec.code < 300 && !controller(rec.user):
		a = r.signalAlert(rec, notify.EventDeleted, analyze.SeverityLow, "JW-AUDIT-001", "Deleted by a user",
			fmt.Sprintf("%s deleted %s %s/%s", rec.user, rec.kind, rec.namespace, rec.name))
	}
	if a == nil {
		return
	}
	if err := r.signals.Notify(context.Background(), *a); err != nil {
		r.log.Error("audit signal not accepted", "err", err)
	}
}

func (r *Receiver) signalAlert(rec record, ev notify.Event, sev analyze.Severity, rule, title, evidence string) *notify.Alert {
	score := 15
	if sev == analyze.SeverityMedium {
		score = 45
	}
	f := analyze.Finding{Rule: rule, Title: title, Severity: sev, Path: "metadata.name", Evidence: evidence, Attack: []string{"T1053.007", "T1070"}}
	if rule == "JW-AUDIT-002" {
		f.Attack = []string{"T1053.007"}
	}
	a := &notify.Alert{APIVersion: notify.APIVersion, Kind: notify.AlertKind, ID: "audit-" + rec.auditID, Time: rec.at.UTC(), Cluster: r.opts.Cluster,
		Event: ev, Object: notify.ObjectRef{Kind: rec.kind, Namespace: rec.namespace, Name: rec.name, UID: rec.uid},
		Score: score, Severity: sev, Findings: []analyze.Finding{f}, Actor: actorOf(rec)}
	return a
}

func actorOf(rec record) *notify.Actor {
	t := rec.at.UTC()
	return &notify.Actor{User: rec.user, Groups: rec.groups, UserAgent: rec.userAgent, SourceIPs: rec.sourceIPs,
		ImpersonatedUser: rec.impersonated, AuditID: rec.auditID, Operation: rec.verb, Time: &t}
}

// Attribute fills the audit fields of an alert's actor from the audit
// event that produced this version of the object, waiting at most
// Options.Wait for it. It reports whether it found one.
func (r *Receiver) Attribute(ctx context.Context, a *notify.Alert) bool {
	start := r.now()
	wait := r.opts.Wait
	// Only a recent write is worth waiting for: an object changed while
	// jobwatch was down has no audit event on its way.
	if a.Actor == nil || a.Actor.Time == nil || start.Sub(*a.Actor.Time) > time.Minute {
		wait = 0
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		rec, ok := r.match(a)
		changed := r.changed
		r.mu.Unlock()
		if ok {
			r.matched.WithLabelValues("matched").Inc()
			r.waited.Observe(r.now().Sub(start).Seconds())
			act := actorOf(rec)
			if a.Actor != nil {
				act.Manager = a.Actor.Manager
			}
			a.Actor = act
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			r.matched.WithLabelValues("timeout").Inc()
			r.waited.Observe(r.now().Sub(start).Seconds())
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// match finds the audit event for the alert's object version: the same
// resourceVersion when the audit level recorded it, else the latest
// successful write of that object.
func (r *Receiver) match(a *notify.Alert) (record, bool) {
	var best *record
	for i := len(r.events) - 1; i >= 0; i-- {
		e := &r.events[i]
		if e.kind != a.Object.Kind || e.namespace != a.Object.Namespace || e.name != a.Object.Name || e.code >= 300 {
			continue
		}
		if e.verb != "create" && e.verb != "update" && e.verb != "patch" {
			continue
		}
		if e.rv != "" && a.Object.ResourceVersion != "" {
			if e.rv == a.Object.ResourceVersion {
				return *e, true
			}
			continue
		}
		if best == nil {
			best = e
		}
	}
	if best != nil {
		return *best, true
	}
	return record{}, false
}
