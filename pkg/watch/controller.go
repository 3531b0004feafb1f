package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/jobwatch/jobwatch/pkg/analyze"
	"github.com/jobwatch/jobwatch/pkg/notify"
)

// Options configure the controller; cmd/jobwatch builds them from config.
type Options struct {
	// Namespaces to watch; empty means all.
	Namespaces []string
	// ExcludeNamespaces are globs of namespaces to ignore.
	ExcludeNamespaces []string
	// Selector filters Jobs and CronJobs by label (nil or empty: all).
	Selector labels.Selector
	// MinSeverity is the least severity that alerts.
	MinSeverity analyze.Severity
	// AlertOnDelete raises "deleted" for objects that had alerted.
	AlertOnDelete bool
	// ReportExisting alerts existing objects ("existing") on the first run
	// ever, instead of taking them as the baseline.
	ReportExisting bool
	// Workers judging objects in parallel (default 2).
	Workers int
	// Cluster names the cluster in alerts.
	Cluster string
	// SaveInterval bounds how long baseline-only changes wait before the
	// checkpoint is written (alerts are saved at once). Default 2s.
	SaveInterval time.Duration
	// MaxRetries of a failing judgement (notifier errors) before it is
	// dropped and counted. Default 10.
	MaxRetries int
	// Threads, when set, are persisted in the checkpoint (Slack threads).
	Threads *notify.Threads
	// Attributor, when set, adds who made the change (the audit webhook)
	// to created/updated alerts before they are sent.
	Attributor Attributor
	// DrainTimeout bounds how long shutdown waits for sinks to deliver
	// what they accepted (the rest stays in the checkpoint). Default 10s.
	DrainTimeout time.Duration
	// OnSynced, when set, is called once the caches are synced with the
	// number of Jobs and CronJobs they hold (the run command checks the
	// memory limit against it).
	OnSynced func(objects int)
}

// Attributor fills an alert's actor from another source of truth.
type Attributor interface {
	Attribute(ctx context.Context, a *notify.Alert) bool
}

// PendingKeeper is a notifier that accepts alerts and delivers them later
// (notify.Dispatcher): its undelivered alerts are kept in the checkpoint.
type PendingKeeper interface {
	Pending() map[string][]notify.Alert
	PendingVersion() uint64
	Restore(map[string][]notify.Alert)
	Drain(context.Context)
}

// Key identifies an object in the work queue.
type Key struct {
	Kind, Namespace, Name string
}

func (k Key) String() string { return k.Kind + " " + k.Namespace + "/" + k.Name }

// Controller watches Jobs and CronJobs and raises alerts.
type Controller struct {
	opts     Options
	analyzer *analyze.Analyzer
	notifier notify.Notifier
	store    Store
	log      *slog.Logger
	metrics  *Metrics
	now      func() time.Time

	factories []informers.SharedInformerFactory
	jobs      map[string]batchlisters.JobLister // by watched namespace ("" = all)
	cronJobs  map[string]batchlisters.CronJobLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[Key]

	mu        sync.Mutex
	state     *State
	firstRun  bool
	snapshots map[string][]byte // UID -> view JSON of the last judged version (memory only)
	byKey     map[Key]string    // key -> UID
	initial   map[string]bool   // UIDs delivered in the informers' initial lists
	dirty     bool

	saveMu       sync.Mutex
	cachesSynced atomic.Bool
	leading      atomic.Bool
	loaded       atomic.Bool
	// versions of the pending alerts and threads last saved
	savedPending, savedThreads uint64
}

// New builds a controller. reg receives its metrics (nil for none).
func New(client kubernetes.Interface, a *analyze.Analyzer, n notify.Notifier, store Store, opts Options, log *slog.Logger, reg prometheus.Registerer) (*Controller, error) {
	if a == nil || n == nil || store == nil || client == nil {
		return nil, errors.New("watch: client, analyzer, notifier and store are required")
	}
	for _, g := range opts.ExcludeNamespaces {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("watch: bad exclude-namespace glob %q: %w", g, err)
		}
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.SaveInterval <= 0 {
		opts.SaveInterval = 2 * time.Second
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 10
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 10 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Controller{opts: opts, analyzer: a, notifier: n, store: store, log: log, now: time.Now,
		jobs: map[string]batchlisters.JobLister{}, cronJobs: map[string]batchlisters.CronJobLister{},
		snapshots: map[string][]byte{}, byKey: map[Key]string{}, initial: map[string]bool{}}
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedMaxOfRateLimiter(
			workqueue.NewTypedItemExponentialFailureRateLimiter[Key](100*time.Millisecond, 2*time.Minute),
			&workqueue.TypedBucketRateLimiter[Key]{Limiter: rate.NewLimiter(rate.Limit(50), 300)},
		),
		workqueue.TypedRateLimitingQueueConfig[Key]{Name: "jobwatch"})
	c.metrics = newMetrics(reg, func() float64 { return float64(c.queue.Len()) })

	scopes := opts.Namespaces
	if len(scopes) == 0 {
		scopes = []string{metav1.NamespaceAll}
	}
	selector := ""
	if opts.Selector != nil {
		selector = opts.Selector.String()
	}
	for _, ns := range scopes {
		f := informers.NewSharedInformerFactoryWithOptions(client, 0,
			informers.WithNamespace(ns),
			informers.WithTransform(transform),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
		ji, ci := f.Batch().V1().Jobs(), f.Batch().V1().CronJobs()
		for kind, inf := range map[string]cache.SharedIndexInformer{analyze.KindJob: ji.Informer(), analyze.KindCronJob: ci.Informer()} {
			if _, err := inf.AddEventHandler(c.handler(kind)); err != nil {
				return nil, fmt.Errorf("watch: %s handler: %w", kind, err)
			}
			c.synced = append(c.synced, inf.HasSynced)
		}
		c.jobs[ns], c.cronJobs[ns] = ji.Lister(), ci.Lister()
		c.factories = append(c.factories, f)
	}
	return c, nil
}

// Ready reports whether the caches are synced and, on the leader, the
// checkpoint is loaded. A warm standby is ready.
func (c *Controller) Ready() bool {
	return c.cachesSynced.Load() && (!c.leading.Load() || c.loaded.Load())
}

// Leading reports whether this replica judges and notifies.
func (c *Controller) Leading() bool { return c.leading.Load() }

// handler is the one event handler for both kinds: it filters and
// enqueues keys, nothing else.
func (c *Controller) handler(kind string) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			c.metrics.EventsHandled.WithLabelValues(kind, "add").Inc()
			if m, err := meta(obj); err == nil && initial {
				c.mu.Lock()
				c.initial[string(m.GetUID())] = true
				c.mu.Unlock()
			}
			c.enqueue(kind, obj)
		},
		UpdateFunc: func(oldObj, newObj any) {
			c.metrics.EventsHandled.WithLabelValues(kind, "update").Inc()
			o, err1 := meta(oldObj)
			n, err2 := meta(newObj)
			if err1 == nil && err2 == nil && o.GetResourceVersion() == n.GetResourceVersion() {
				return // a resync or re-list with nothing new
			}
			c.enqueue(kind, newObj)
		},
		DeleteFunc: func(obj any) {
			c.metrics.EventsHandled.WithLabelValues(kind, "delete").Inc()
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			c.enqueue(kind, obj)
		},
	}
}

func meta(obj any) (metav1.Object, error) {
	switch o := obj.(type) {
	case *batchv1.Job:
		return o, nil
	case *batchv1.CronJob:
		return o, nil
	}
	return nil, fmt.Errorf("unexpected object %T", obj)
}

func (c *Controller) excluded(ns string) bool {
	for _, g := range c.opts.ExcludeNamespaces {
		if ok, _ := path.Match(g, ns); ok {
			return true
		}
	}
	return false
}

func (c *Controller) enqueue(kind string, obj any) {
	m, err := meta(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	if c.excluded(m.GetNamespace()) {
		return
	}
	c.queue.Add(Key{Kind: kind, Namespace: m.GetNamespace(), Name: m.GetName()})
}

// Run syncs the caches, then leads: Start followed by Lead, for a single
// replica without leader election.
func (c *Controller) Run(ctx context.Context) error {
	defer c.shutdownInformers()
	if err := c.Start(ctx); err != nil {
		return err
	}
	return c.Lead(ctx)
}

// shutdownInformers waits for the informers (started with Start's context)
// to stop; call it only after that context ended.
func (c *Controller) shutdownInformers() {
	for _, f := range c.factories {
		f.Shutdown()
	}
}

// ErrLeadershipLost, as the cause of Lead's context, makes Lead stop at once:
// no queue drain, no sink drain, no checkpoint save — the successor owns them.
var ErrLeadershipLost = errors.New("leadership lost")

// Start starts the informers and waits until their caches are synced. A
// standby replica calls only Start and keeps its caches warm (its handlers
// queue keys that Lead will judge); it is ready once synced.
func (c *Controller) Start(ctx context.Context) error {
	for _, f := range c.factories {
		f.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("watch: caches for Jobs and CronJobs did not sync: %w", context.Cause(ctx))
	}
	c.cachesSynced.Store(true)
	objects := c.Objects()
	c.log.Info("caches synced", "namespaces", c.opts.Namespaces, "queued", c.queue.Len(), "objects", objects)
	if c.opts.OnSynced != nil {
		c.opts.OnSynced(objects)
	}
	return nil
}

// Objects is the number of Jobs and CronJobs in the informer caches.
func (c *Controller) Objects() int {
	n := 0
	for _, l := range c.jobs {
		jobs, _ := l.List(labels.Everything())
		n += len(jobs)
	}
	for _, l := range c.cronJobs {
		cjs, _ := l.List(labels.Everything())
		n += len(cjs)
	}
	return n
}

// Lead loads the checkpoint and judges until ctx ends; then it drains the
// work queue and the sinks and saves the checkpoint. Only the leader calls
// it, once.
func (c *Controller) Lead(ctx context.Context) error {
	defer utilruntime.HandleCrash()
	c.leading.Store(true)
	st, err := c.store.Load(ctx)
	if err != nil {
		c.queue.ShutDown()
		return err
	}
	c.mu.Lock()
	if st == nil {
		c.firstRun, c.state = true, newState()
	} else {
		c.state = st
		for uid, e := range st.Objects {
			c.byKey[Key{e.Kind, e.Namespace, e.Name}] = uid
		}
	}
	pending := c.state.Pending
	c.mu.Unlock()
	if c.opts.Threads != nil {
		c.opts.Threads.Load(c.state.Threads)
	}
	if pk, ok := c.notifier.(PendingKeeper); ok && len(pending) > 0 {
		n := 0
		for _, as := range pending {
			n += len(as)
		}
		c.log.Info("re-sending alerts left undelivered by the previous run", "alerts", n)
		pk.Restore(pending)
	}
	c.log.Info("checkpoint loaded", "store", c.store.String(), "objects", len(c.state.Objects), "firstRun", c.firstRun)
	c.pruneGone()
	c.loaded.Store(true)

	var wg sync.WaitGroup
	for i := 0; i < c.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		wait.UntilWithContext(ctx, func(ctx context.Context) {
			c.observeCaches()
			_ = c.saveIfDirty(ctx)
		}, c.opts.SaveInterval)
	}()
	<-ctx.Done()
	c.cachesSynced.Store(false)
	if errors.Is(context.Cause(ctx), ErrLeadershipLost) {
		c.queue.ShutDown()
		wg.Wait()
		c.log.Warn("leadership lost: stopped judging without saving; the new leader continues from the shared checkpoint")
		return ErrLeadershipLost
	}
	c.queue.ShutDownWithDrain()
	wg.Wait()
	if pk, ok := c.notifier.(PendingKeeper); ok {
		drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.DrainTimeout)
		pk.Drain(drainCtx)
		cancel()
	}
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	c.mu.Lock()
	c.dirty = true
	c.mu.Unlock()
	return c.saveIfDirty(saveCtx)
}

// pruneGone drops checkpoint entries for objects deleted while jobwatch
// was down (and alerts their deletion when configured).
func (c *Controller) pruneGone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for uid, e := range c.state.Objects {
		k := Key{e.Kind, e.Namespace, e.Name}
		if cur, ok := c.currentUID(k); ok && cur == uid {
			continue
		}
		if c.opts.AlertOnDelete && e.Alerted {
			// Keep the entry; the worker raises "deleted" and drops it.
			c.queue.Add(k)
			continue
		}
		delete(c.state.Objects, uid)
		if c.byKey[k] == uid {
			delete(c.byKey, k)
		}
		c.dirty = true
	}
}

func (c *Controller) currentUID(k Key) (string, bool) {
	m, err := c.get(k)
	if err != nil || m == nil {
		return "", false
	}
	return string(m.GetUID()), true
}

func (c *Controller) scope(ns string) string {
	if len(c.opts.Namespaces) == 0 {
		return metav1.NamespaceAll
	}
	return ns
}

// get reads the current object from the cache (nil when gone).
func (c *Controller) get(k Key) (metav1.Object, error) {
	var obj metav1.Object
	var err error
	switch k.Kind {
	case analyze.KindJob:
		l, ok := c.jobs[c.scope(k.Namespace)]
		if !ok {
			return nil, nil
		}
		var j *batchv1.Job
		if j, err = l.Jobs(k.Namespace).Get(k.Name); err == nil {
			obj = j
		}
	case analyze.KindCronJob:
		l, ok := c.cronJobs[c.scope(k.Namespace)]
		if !ok {
			return nil, nil
		}
		var cj *batchv1.CronJob
		if cj, err = l.CronJobs(k.Namespace).Get(k.Name); err == nil {
			obj = cj
		}
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return obj, err
}

func (c *Controller) processNext(ctx context.Context) bool {
	k, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(k)
	err := c.sync(ctx, k)
	switch {
	case err == nil:
		c.queue.Forget(k)
	case c.queue.NumRequeues(k) < c.opts.MaxRetries:
		c.metrics.SyncErrors.Inc()
		c.log.Warn("judgement failed, retrying", "object", k.String(), "err", err)
		var rl *notify.RateLimitError
		if errors.As(err, &rl) && rl.RetryAfter > 0 {
			c.queue.AddAfter(k, rl.RetryAfter)
		} else {
			c.queue.AddRateLimited(k)
		}
	default:
		c.metrics.SyncErrors.Inc()
		c.log.Error("judgement dropped after retries", "object", k.String(), "err", err)
		c.queue.Forget(k)
	}
	return true
}

// sync judges the current version of k against jobwatch's own record of
// the last version it judged.
func (c *Controller) sync(ctx context.Context, k Key) error {
	cur, err := c.get(k)
	if err != nil {
		return err
	}
	if cur == nil {
		return c.gone(ctx, k, "")
	}
	uid := string(cur.GetUID())
	c.mu.Lock()
	if old := c.byKey[k]; old != "" && old != uid {
		c.mu.Unlock()
		if err := c.gone(ctx, k, old); err != nil { // deleted and re-created under the same name
			return err
		}
		c.mu.Lock()
	}
	entry := c.state.Objects[uid]
	prev := c.snapshots[uid]
	fromInitialList := c.initial[uid]
	firstRun := c.firstRun
	c.mu.Unlock()

	var obj analyze.Object
	var snap snapshot
	var owner *notify.OwnerRef
	routine := false
	switch o := cur.(type) {
	case *batchv1.Job:
		obj, snap = analyze.FromJob(o), snapshotJob(o)
		owner, routine = c.lineage(o, snap)
	case *batchv1.CronJob:
		obj, snap = analyze.FromCronJob(o), snapshotCronJob(o)
	}
	if entry != nil && entry.Fingerprint == snap.fingerprint {
		// Status, labels, annotations or a re-list: nothing to judge.
		c.remember(k, uid, entry, snap, false)
		return nil
	}
	report := c.analyzer.Analyze(obj)
	next := &Entry{Kind: k.Kind, Namespace: k.Namespace, Name: k.Name, Fingerprint: snap.fingerprint, Score: report.Score, Findings: findingKeys(report)}
	if entry != nil {
		next.Alerted = entry.Alerted
	}
	var event notify.Event
	switch {
	case routine:
		// A CronJob's run with the CronJob's own template: judged already.
	case entry == nil && firstRun && fromInitialList && !c.opts.ReportExisting:
		// First run ever: existing objects are the baseline.
	case entry == nil:
		event = notify.EventCreated
		if firstRun && fromInitialList {
			event = notify.EventExisting
		}
	default:
		if report.Score > entry.Score || hasNew(next.Findings, entry.Findings) {
			event = notify.EventUpdated
		}
	}
	if event != "" && report.Severity >= c.opts.MinSeverity && report.Severity > analyze.SeverityNone {
		a := c.alert(cur, obj, snap, report, event, owner)
		if event == notify.EventUpdated {
			ps := entry.Score
			a.PreviousScore = &ps
			if prev != nil {
				a.Diff = Diff(k.Kind, prev, snap.json)
			} else {
				a.Diff = []notify.Change{{Path: obj.TemplatePath, Old: "(changed while jobwatch was not running; previous version not retained)"}}
			}
		}
		if c.opts.Attributor != nil {
			c.opts.Attributor.Attribute(ctx, &a)
		}
		if err := c.notifier.Notify(ctx, a); err != nil {
			if notify.Retryable(err) {
				return fmt.Errorf("notify %s: %w", c.notifier.Name(), err)
			}
			c.log.Error("alert could not be delivered (permanent)", "object", k.String(), "sink", c.notifier.Name(), "err", err)
		}
		c.metrics.Alerts.WithLabelValues(string(event), report.Severity.String()).Inc()
		next.Alerted = true
		c.remember(k, uid, next, snap, true)
		// Save at once so a restart right after an alert does not repeat it;
		// a failed save is logged and retried by the periodic saver.
		_ = c.saveIfDirty(ctx)
		return nil
	}
	c.remember(k, uid, next, snap, true)
	return nil
}

func (c *Controller) remember(k Key, uid string, e *Entry, snap snapshot, changed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state.Objects[uid] = e
	c.snapshots[uid] = snap.json
	c.byKey[k] = uid
	if changed {
		c.dirty = true
	}
}

// gone handles an object that left the cache: drop its record and, for
// one that had alerted, raise "deleted" when configured.
func (c *Controller) gone(ctx context.Context, k Key, uid string) error {
	c.mu.Lock()
	if uid == "" {
		uid = c.byKey[k]
	}
	e := c.state.Objects[uid]
	c.mu.Unlock()
	if e == nil {
		return nil
	}
	if e.Alerted && c.opts.AlertOnDelete {
		a := notify.Alert{APIVersion: notify.APIVersion, Kind: notify.AlertKind, Time: c.now().UTC(), Cluster: c.opts.Cluster,
			Event: notify.EventDeleted, Object: notify.ObjectRef{Kind: k.Kind, Namespace: k.Namespace, Name: k.Name, UID: uid},
			Score: e.Score, Findings: []analyze.Finding{}}
		a.ID = notify.AlertID(uid, e.Fingerprint, notify.EventDeleted, nil)
		if err := c.notifier.Notify(ctx, a); err != nil && notify.Retryable(err) {
			return fmt.Errorf("notify %s: %w", c.notifier.Name(), err)
		}
		c.metrics.Alerts.WithLabelValues(string(notify.EventDeleted), "none").Inc()
	}
	if c.opts.Threads != nil {
		c.opts.Threads.Forget(uid)
	}
	c.mu.Lock()
	delete(c.state.Objects, uid)
	delete(c.snapshots, uid)
	delete(c.initial, uid)
	if c.byKey[k] == uid {
		delete(c.byKey, k)
	}
	c.dirty = true
	c.mu.Unlock()
	return nil
}

// lineage returns a Job's controlling CronJob and whether the Job is a
// routine run: created by that CronJob with its current template and not
// started by hand.
func (c *Controller) lineage(j *batchv1.Job, snap snapshot) (*notify.OwnerRef, bool) {
	ref := metav1.GetControllerOf(j)
	if ref == nil || ref.Kind != analyze.KindCronJob {
		return nil, false
	}
	owner := &notify.OwnerRef{Kind: ref.Kind, Name: ref.Name, UID: string(ref.UID)}
	if j.Annotations["cronjob.kubernetes.io/instantiate"] == "manual" {
		return owner, false
	}
	l, ok := c.cronJobs[c.scope(j.Namespace)]
	if !ok {
		return owner, false
	}
	cj, err := l.CronJobs(j.Namespace).Get(ref.Name)
	if err != nil {
		return owner, false
	}
	return owner, routineRun(j, snap, cj)
}

// routineRun reports whether Job j (with snapshot snap) is a routine run
// of CronJob cj: controlled by it, not started by hand, and running exactly
// the CronJob's current pod template (labels aside, which the Job
// controller adds).
func routineRun(j *batchv1.Job, snap snapshot, cj *batchv1.CronJob) bool {
	ref := metav1.GetControllerOf(j)
	if ref == nil || ref.Kind != analyze.KindCronJob || ref.UID != cj.UID || ref.Name != cj.Name {
		return false
	}
	if j.Annotations["cronjob.kubernetes.io/instantiate"] == "manual" {
		return false
	}
	return snapshotCronJob(cj).template == snap.template
}

func (c *Controller) alert(cur metav1.Object, obj analyze.Object, snap snapshot, r analyze.Report, event notify.Event, owner *notify.OwnerRef) notify.Alert {
	a := notify.Alert{
		APIVersion: notify.APIVersion, Kind: notify.AlertKind,
		ID:      notify.AlertID(string(cur.GetUID()), snap.fingerprint, event, r.Findings),
		Time:    c.now().UTC(),
		Cluster: c.opts.Cluster,
		Event:   event,
		Object: notify.ObjectRef{Kind: obj.Kind, Namespace: cur.GetNamespace(), Name: cur.GetName(), UID: string(cur.GetUID()),
			ResourceVersion: cur.GetResourceVersion(), Owner: owner},
		Score: r.Score, Severity: r.Severity, Findings: r.Findings,
	}
	for _, cs := range [][]corev1.Container{obj.Template.Spec.InitContainers, obj.Template.Spec.Containers} {
		for _, ct := range cs {
			if !slices.Contains(a.Object.Images, ct.Image) {
				a.Object.Images = append(a.Object.Images, ct.Image)
			}
		}
	}
	if mf := cur.GetManagedFields(); len(mf) > 0 {
		act := &notify.Actor{Manager: mf[0].Manager, Operation: string(mf[0].Operation)}
		if mf[0].Time != nil {
			t := mf[0].Time.UTC()
			act.Time = &t
		}
		a.Actor = act
	}
	return a
}

func findingKeys(r analyze.Report) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Severity > analyze.SeverityNone {
			out = append(out, f.Rule+"|"+f.Path)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func hasNew(now, before []string) bool {
	for _, k := range now {
		if _, found := slices.BinarySearch(before, k); !found {
			return true
		}
	}
	return false
}

func (c *Controller) observeCaches() {
	var jobs, cjs int
	for _, l := range c.jobs {
		if items, err := l.List(labels.Everything()); err == nil {
			jobs += len(items)
		}
	}
	for _, l := range c.cronJobs {
		if items, err := l.List(labels.Everything()); err == nil {
			cjs += len(items)
		}
	}
	c.metrics.ObjectsWatched.WithLabelValues(analyze.KindJob).Set(float64(jobs))
	c.metrics.ObjectsWatched.WithLabelValues(analyze.KindCronJob).Set(float64(cjs))
}

// saveIfDirty writes the checkpoint when something changed since the last save.
func (c *Controller) saveIfDirty(ctx context.Context) error {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	pk, _ := c.notifier.(PendingKeeper)
	var pendingV, threadsV uint64
	if pk != nil {
		pendingV = pk.PendingVersion()
	}
	if c.opts.Threads != nil {
		threadsV = c.opts.Threads.Version()
	}
	c.mu.Lock()
	if c.state == nil || !c.dirty && pendingV == c.savedPending && threadsV == c.savedThreads {
		c.mu.Unlock()
		return nil
	}
	snap := &State{Version: stateVersion, SavedAt: c.now().UTC(), Objects: make(map[string]*Entry, len(c.state.Objects))}
	for k, v := range c.state.Objects {
		e := *v
		snap.Objects[k] = &e
	}
	c.dirty = false
	c.mu.Unlock()
	if pk != nil {
		snap.Pending = pk.Pending()
	}
	if c.opts.Threads != nil {
		snap.Threads = c.opts.Threads.Snapshot()
	}
	if err := c.store.Save(ctx, snap); err != nil {
		c.mu.Lock()
		c.dirty = true
		c.mu.Unlock()
		c.metrics.CheckpointSave.WithLabelValues("error").Inc()
		c.log.Error("checkpoint save failed", "store", c.store.String(), "err", err)
		return err
	}
	c.metrics.CheckpointSave.WithLabelValues("ok").Inc()
	c.mu.Lock()
	c.savedPending, c.savedThreads = pendingV, threadsV
	c.mu.Unlock()
	return nil
}
