package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/jobwatch/jobwatch/pkg/analyze"
	"github.com/jobwatch/jobwatch/pkg/notify"
	"github.com/jobwatch/jobwatch/test/cluster"
)

func repoPath(parts ...string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(append([]string{filepath.Dir(file), "..", ".."}, parts...)...)
}

// kustomizeBuild renders a kustomization with the real kustomize.
func kustomizeBuild(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	bin, err := cluster.Kustomize(context.Background(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "build", dir).Output()
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if err == io.EOF {
				return objs
			}
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// applyObjects server-side-applies objects (dry run or for real).
func applyObjects(t *testing.T, c *cluster.Cluster, objs []*unstructured.Unstructured, dryRun bool) {
	t.Helper()
	dyn := dynamic.NewForConfigOrDie(c.AdminConfig())
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(c.AdminConfig())))
	for _, u := range objs {
		m, err := mapper.RESTMapping(u.GroupVersionKind().GroupKind(), u.GroupVersionKind().Version)
		if err != nil {
			t.Fatalf("%s: %v", u.GetKind(), err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if u.GetNamespace() != "" {
			ri = dyn.Resource(m.Resource).Namespace(u.GetNamespace())
		}
		body, _ := json.Marshal(u.Object)
		opts := metav1.PatchOptions{FieldManager: "kubectl", Force: ptrTo(true)}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		if _, err := ri.Patch(context.Background(), u.GetName(), types.ApplyPatchType, body, opts); err != nil {
			t.Fatalf("apply (dry run %v) %s %s/%s: %v", dryRun, u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestManifests: both kustomizations apply with server-side dry run, the
// service account has exactly the access the README promises, and the
// Deployment's pod passes jobwatch's own check and PSS restricted.
func TestManifests(t *testing.T) {
	c := cluster.StartT(t, cluster.Options{})
	cs := c.AdminClient(t)
	for _, ns := range []string{"jobwatch", "team-a", "team-b"} {
		createNamespace(t, cs, ns)
	}
	base := kustomizeBuild(t, repoPath("manifests"))
	overlay := kustomizeBuild(t, repoPath("manifests", "overlays", "namespaced"))
	auditOverlay := kustomizeBuild(t, repoPath("manifests", "overlays", "audit"))
	applyObjects(t, c, base, true)
	applyObjects(t, c, overlay, true)
	applyObjects(t, c, auditOverlay, true)
	for _, u := range overlay {
		if u.GetKind() == "ClusterRole" || u.GetKind() == "ClusterRoleBinding" {
			t.Errorf("namespaced overlay contains %s %s", u.GetKind(), u.GetName())
		}
	}
	applyObjects(t, c, base, false)

	sa := "system:serviceaccount:jobwatch:jobwatch"
	type access struct {
		verb, group, resource, ns, name string
		allowed                         bool
	}
	for _, a := range []access{
		{"list", "batch", "jobs", "", "", true}, {"watch", "batch", "cronjobs", "", "", true}, {"get", "batch", "jobs", "payments", "x", true},
		{"create", "events.k8s.io", "events", "payments", "", true}, {"patch", "", "events", "payments", "", true},
		{"get", "", "configmaps", "jobwatch", "jobwatch-state", true}, {"update", "", "configmaps", "jobwatch", "jobwatch-state", true},
		{"create", "coordination.k8s.io", "leases", "jobwatch", "", true}, {"update", "coordination.k8s.io", "leases", "jobwatch", "jobwatch", true},
		{"get", "", "secrets", "jobwatch", "", false}, {"list", "", "secrets", "", "", false}, {"create", "", "pods", "payments", "", false},
		{"update", "batch", "cronjobs", "payments", "x", false}, {"patch", "batch", "jobs", "payments", "x", false}, {"delete", "batch", "jobs", "payments", "x", false},
		{"create", "batch", "jobs", "payments", "", false}, {"create", "rbac.authorization.k8s.io", "clusterrolebindings", "", "", false},
		{"create", "rbac.authorization.k8s.io", "rolebindings", "jobwatch", "", false}, {"impersonate", "", "users", "", "", false},
		{"impersonate", "", "serviceaccounts", "jobwatch", "", false}, {"get", "", "configmaps", "jobwatch", "jobwatch-config-other", false},
		{"update", "coordination.k8s.io", "leases", "kube-system", "kube-controller-manager", false}, {"list", "", "configmaps", "jobwatch", "", false},
	} {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: sa, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:jobwatch", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: a.verb, Group: a.group, Resource: a.resource, Namespace: a.ns, Name: a.name}}}
		got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Allowed != a.allowed {
			t.Errorf("%s %s.%s %s/%s: allowed=%v, want %v", a.verb, a.resource, a.group, a.ns, a.name, got.Status.Allowed, a.allowed)
		}
	}

	// The Deployment's pod template, judged as a Job by jobwatch itself.
	var dep appsv1.Deployment
	for _, u := range base {
		if u.GetKind() == "Deployment" {
			b, _ := json.Marshal(u.Object)
			if err := json.Unmarshal(b, &dep); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, _ := analyze.New(analyze.DefaultOptions())
	r := a.Analyze(analyze.FromJob(&batchv1.Job{ObjectMeta: dep.ObjectMeta, Spec: batchv1.JobSpec{Template: dep.Spec.Template}}))
	if r.Severity >= analyze.SeverityMedium {
		t.Errorf("jobwatch's own pod scores %s: %v", r.Severity, r.RuleIDs())
	}
	for _, f := range r.Findings {
		if f.Rule == "JW-PSS-001" || f.Rule == "JW-PSS-002" {
			t.Errorf("jobwatch's own pod fails Pod Security: %s", f.Evidence)
		}
	}
}

// proc is a jobwatch subprocess.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	alerts []notify.Alert
	stderr bytes.Buffer
	done   chan struct{}
}

func (p *proc) count(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, a := range p.alerts {
		if a.Object.Name == name {
			n++
		}
	}
	return n
}

var buildOnce sync.Once
var builtBinary string
var buildErr error

// jobwatchBinary builds bin/jobwatch once per test binary, as `make build` does.
func jobwatchBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jobwatch-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBinary = filepath.Join(dir, "jobwatch")
		cmd := exec.Command("go", "build", "-trimpath", "-o", builtBinary, "./cmd/jobwatch") // as `make build`, sharing its cache
		cmd.Dir = repoPath()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBinary
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &lockedWriter{w: &p.stderr, mu: &p.mu}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var a notify.Alert
			if json.Unmarshal(sc.Bytes(), &a) == nil {
				p.mu.Lock()
				p.alerts = append(p.alerts, a)
				p.mu.Unlock()
			}
		}
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) logs() string { p.mu.Lock(); defer p.mu.Unlock(); return p.stderr.String() }

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// TestLeaderElectionWithServiceAccount runs two jobwatch processes as the
// manifests' service account with a shared ConfigMap checkpoint and a
// Lease: one alert per object, and after the leader is killed the standby
// takes over within the lease duration without repeating anything.
func TestLeaderElectionWithServiceAccount(t *testing.T) {
	c := cluster.StartT(t, cluster.Options{})
	cs := c.AdminClient(t)
	for _, ns := range []string{"jobwatch", "shop"} {
		createNamespace(t, cs, ns)
	}
	applyObjects(t, c, kustomizeBuild(t, repoPath("manifests")), false)
	saCfg, err := c.ServiceAccountConfig(context.Background(), "jobwatch", "jobwatch")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kc := filepath.Join(dir, "sa.kubeconfig")
	if err := c.WriteKubeconfigFor(kc, "sa", saCfg); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	bin := jobwatchBinary(t)
	t.Logf("binary built in %s", time.Since(begin).Round(time.Millisecond))
	const lease = 6 * time.Second
	args := func() []string {
		return []string{"run", "--kubeconfig", kc, "--state", "configmap://jobwatch/jobwatch-state", "--events",
			"--leader-elect", "--leader-election-namespace", "jobwatch", "--leader-election-lease-duration", lease.String(),
			"--leader-election-renew-deadline", "4s", "--leader-election-retry-period", "1s",
			"--health-addr", "", "--metrics-addr", "", "--stdout-format", "json", "--log-format", "json"}
	}
	a := startProc(t, bin, args()...)
	waitUntil(t, "first replica leading", func() bool { return strings.Contains(a.logs(), `"msg":"leading"`) })
	b := startProc(t, bin, args()...)
	waitUntil(t, "second replica standing by", func() bool { return strings.Contains(b.logs(), `"msg":"standing by"`) })

	t.Logf("leader and standby up at %s", time.Since(begin).Round(time.Millisecond))
	createCronJob(t, cs, "shop", "first", minerTemplate())
	waitUntil(t, "the first alert", func() bool { return a.count("first")+b.count("first") == 1 })
	time.Sleep(2 * time.Second)
	if n := a.count("first") + b.count("first"); n != 1 || a.count("first") != 1 {
		t.Fatalf("first: leader %d + standby %d alerts, want exactly one from the leader", a.count("first"), b.count("first"))
	}
	// The Event was recorded with the service account's rights.
	waitUntil(t, "the Event", func() bool {
		l, err := cs.EventsV1().Events("shop").List(context.Background(), metav1.ListOptions{})
		return err == nil && len(l.Items) == 1 && l.Items[0].Regarding.Name == "first"
	})
	if _, err := cs.CoreV1().ConfigMaps("jobwatch").Get(context.Background(), "jobwatch-state", metav1.GetOptions{}); err != nil {
		t.Fatalf("checkpoint ConfigMap: %v", err)
	}

	_ = a.cmd.Process.Signal(syscall.SIGKILL) // no graceful release: the Lease must expire
	killed := time.Now()
	<-a.done
	createCronJob(t, cs, "shop", "second", minerTemplate())
	waitUntil(t, "the standby's alert", func() bool { return b.count("second") == 1 })
	failover := time.Since(killed)
	time.Sleep(2 * time.Second)
	if b.count("first") != 0 || b.count("second") != 1 {
		t.Fatalf("after failover the standby alerted first %d times, second %d times", b.count("first"), b.count("second"))
	}
	if failover > lease+5*time.Second {
		t.Errorf("failover took %s, lease duration %s", failover, lease)
	}
	t.Logf("failover: leader killed, standby alerted the next object %s later (lease duration %s, retry period 1s)", failover.Round(10*time.Millisecond), lease)

	// SIGTERM: the new leader stops cleanly, releasing the Lease.
	stopAt := time.Now()
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		t.Fatal("leader did not stop on SIGTERM")
	}
	t.Logf("SIGTERM to exit: %s", time.Since(stopAt).Round(time.Millisecond))
	if code := b.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, b.logs())
	}
	l, err := cs.CoordinationV1().Leases("jobwatch").Get(context.Background(), "jobwatch", metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
		t.Fatalf("lease not released on SIGTERM: %+v %v", l.Spec, err)
	}
	for _, p := range []*proc{a, b} {
		if strings.Contains(p.logs(), "SuperSecretValue-8d1f") {
			t.Fatal("env value in logs")
		}
	}
}

// TestLostLeadershipExits: when another holder takes the Lease, the leader
// stops judging and exits with code 3 so that Kubernetes restarts it.
func TestLostLeadershipExits(t *testing.T) {
	c := cluster.StartT(t, cluster.Options{})
	cs := c.AdminClient(t)
	createNamespace(t, cs, "jobwatch")
	dir, kc := adminKubeconfig(t, c, "admin")
	p := startProc(t, jobwatchBinary(t), "run", "--kubeconfig", kc, "--state", filepath.Join(dir, "state"), "--leader-elect",
		"--leader-election-namespace", "jobwatch", "--leader-election-lease-duration", "6s", "--leader-election-renew-deadline", "4s",
		"--leader-election-retry-period", "1s", "--health-addr", "", "--metrics-addr", "", "--log-format", "json")
	waitUntil(t, "leading", func() bool { return strings.Contains(p.logs(), `"msg":"leading"`) })
	l, err := cs.CoordinationV1().Leases("jobwatch").Get(context.Background(), "jobwatch", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	thief, dur := "thief", int32(600)
	now := metav1.NewMicroTime(time.Now())
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime, l.Spec.AcquireTime = &thief, &dur, &now, &now
	if _, err := cs.CoordinationV1().Leases("jobwatch").Update(context.Background(), l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("leader still running after losing its Lease:\n%s", p.logs())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("exit code %d, want 3:\n%s", code, p.logs())
	}
}
