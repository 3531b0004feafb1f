package integration

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	batchv1 "k8s.io/api/batch/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/jobwatch/jobwatch/pkg/analyze"
	"github.com/jobwatch/jobwatch/pkg/audit"
	"github.com/jobwatch/jobwatch/pkg/notify"
	"github.com/jobwatch/jobwatch/pkg/watch"
	"github.com/jobwatch/jobwatch/test/cluster"
)

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: RequestResponse
  resources:
  - group: batch
    resources: ["jobs", "cronjobs"]
  verbs: ["create", "update", "patch", "delete"]
- level: None
`

// TestAuditAttribution: kube-apiserver sends its audit log to jobwatch's
// receiver; alerts name the user, user agent and source IP; deletions by
// users and denied writes are signals; garbage is rejected with 400.
func TestAuditAttribution(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	policy, hook := filepath.Join(dir, "policy.yaml"), filepath.Join(dir, "webhook.kubeconfig")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: jobwatch\n  cluster:\n    server: http://%s/audit\ncontexts:\n- name: default\n  context:\n    cluster: jobwatch\n    user: \"\"\ncurrent-context: default\nusers: []\n", addr)
	if err := os.WriteFile(hook, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}

	rec := newRecorder()
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	recv, err := audit.New(audit.Options{Addr: addr, Wait: 3 * time.Second, AlertDeletes: true, AlertDenied: true}, rec, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := recv.Serve(ctx); err != nil {
		t.Fatal(err)
	}

	c := cluster.StartT(t, cluster.Options{
		Users: []cluster.User{{Name: "mallory", Groups: []string{"contractors"}}},
		APIServerFlags: []string{"--audit-policy-file=" + policy, "--audit-webhook-config-file=" + hook,
			"--audit-webhook-mode=batch", "--audit-webhook-batch-max-wait=200ms"},
	})
	cs := c.AdminClient(t)
	createNamespace(t, cs, "shop")
	createNamespace(t, cs, "vault")
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "batch-writer", Namespace: "shop"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: []string{"get", "list", "create", "update", "patch", "delete"}}}}
	if _, err := cs.RbacV1().Roles("shop").Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "mallory", Namespace: "shop"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "batch-writer"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "mallory"}}}
	if _, err := cs.RbacV1().RoleBindings("shop").Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mcfg, err := c.UserConfig("mallory")
	if err != nil {
		t.Fatal(err)
	}
	mcfg.UserAgent = "kubectl/v1.37.2 (linux/amd64) kubernetes/6c1a2b3"
	mallory := kubernetes.NewForConfigOrDie(mcfg)

	a, _ := analyze.New(analyze.DefaultOptions())
	ctrl, err := watch.New(cs, a, rec, fileStore(t), watch.Options{MinSeverity: analyze.SeverityMedium, Workers: 1, Attributor: recv}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ctrl.Run(ctx) }()
	waitUntil(t, "controller ready", ctrl.Ready)

	// mallory creates a malicious CronJob: the alert names her.
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "cache-warmup", Namespace: "shop"},
		Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: minerTemplate()}}}}
	created := time.Now()
	if _, err := mallory.BatchV1().CronJobs("shop").Create(ctx, cj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	al := rec.waitFor(t, 0, "shop", "cache-warmup")
	latency := time.Since(created)
	if al.Actor == nil || al.Actor.User != "mallory" || !strings.HasPrefix(al.Actor.UserAgent, "kubectl/") ||
		!slices.Contains(al.Actor.SourceIPs, "127.0.0.1") || al.Actor.AuditID == "" || !slices.Contains(al.Actor.Groups, "contractors") {
		t.Fatalf("actor = %+v", al.Actor)
	}
	if al.Actor.Manager == "" {
		t.Errorf("the managedFields manager was lost: %+v", al.Actor)
	}

	// An admin's benign change alerts nothing.
	n := len(rec.all())
	createCronJob(t, cs, "shop", "nightly-report", benignTemplate())
	patch := []byte(`{"metadata":{"labels":{"owner":"platform"}}}`)
	if _, err := cs.BatchV1().CronJobs("shop").Patch(ctx, "nightly-report", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := barrier(t, cs, rec, n, "shop"); len(got) != 0 {
		t.Fatalf("benign admin changes alerted: %v", names(got))
	}

	// mallory deletes a CronJob: the audit-only deletion signal.
	n = len(rec.all())
	if err := mallory.BatchV1().CronJobs("shop").Delete(ctx, "nightly-report", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	del := rec.waitFor(t, n, "shop", "nightly-report")
	if del.Event != notify.EventDeleted || del.Actor == nil || del.Actor.User != "mallory" || del.Findings[0].Rule != "JW-AUDIT-001" {
		t.Fatalf("deletion signal = %+v actor %+v", del, del.Actor)
	}

	// A denied attempt in a namespace she may not touch: the denied signal.
	n = len(rec.all())
	_, err = mallory.BatchV1().Jobs("vault").Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "steal"}, Spec: batchv1.JobSpec{Template: minerTemplate()}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("create in vault: %v, want Forbidden", err)
	}
	den := rec.waitFor(t, n, "vault", "") // refused before the body was read: no name
	if den.Event != notify.EventDenied || den.Severity != analyze.SeverityMedium || den.Actor.User != "mallory" {
		t.Fatalf("denied signal = %+v", den)
	}

	// Garbage is rejected and the receiver keeps working.
	resp, err := http.Post("http://"+addr+"/audit", "application/json", strings.NewReader("{not json"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("garbage: %d, want 400", resp.StatusCode)
	}
	n = len(rec.all())
	if _, err := mallory.BatchV1().CronJobs("shop").Create(ctx, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "after-garbage", Namespace: "shop"},
		Spec: batchv1.CronJobSpec{Schedule: "0 1 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: minerTemplate()}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if al := rec.waitFor(t, n, "shop", "after-garbage"); al.Actor == nil || al.Actor.User != "mallory" {
		t.Fatalf("attribution after garbage: %+v", al.Actor)
	}

	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "jobwatch_audit_wait_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			t.Logf("audit wait added to alerts: %d alerts, mean %s (batch max wait 200ms); create→alert with attribution for the first alert %s",
				h.GetSampleCount(), (time.Duration(h.GetSampleSum() / float64(max(h.GetSampleCount(), 1)) * 1e9)).Round(time.Millisecond), latency.Round(time.Millisecond))
		}
		if mf.GetName() == "jobwatch_audit_requests_rejected_total" && mf.GetMetric()[0].GetCounter().GetValue() < 1 {
			t.Errorf("rejected request not counted")
		}
	}
}
