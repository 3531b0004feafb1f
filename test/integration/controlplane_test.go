package integration

import (
	"context"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/jobwatch/jobwatch/test/cluster"
)

func TestControlPlaneServesBatchWithRBAC(t *testing.T) {
	c := cluster.StartT(t, cluster.Options{Users: []cluster.User{{Name: "eve", Groups: []string{"developers"}}}})
	ctx := context.Background()
	admin := c.AdminClient(t)

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "batch-test"}}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	priv := true
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36", Command: []string{"true"},
			SecurityContext: &corev1.SecurityContext{Privileged: &priv}}},
	}}
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly"}, Spec: batchv1.CronJobSpec{
		Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}}
	if _, err := admin.BatchV1().CronJobs("batch-test").Create(ctx, cj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create privileged cronjob (needs --allow-privileged): %v", err)
	}
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "once"}, Spec: batchv1.JobSpec{Template: tmpl}}
	if _, err := admin.BatchV1().Jobs("batch-test").Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create job: %v", err)
	}

	gotCJ, err := admin.BatchV1().CronJobs("batch-test").Get(ctx, "nightly", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get cronjob: %v", err)
	}
	if gotCJ.Spec.Schedule != "0 3 * * *" || gotCJ.UID == "" || gotCJ.ResourceVersion == "" {
		t.Fatalf("cronjob read back wrong: schedule=%q uid=%q rv=%q", gotCJ.Spec.Schedule, gotCJ.UID, gotCJ.ResourceVersion)
	}
	jobs, err := admin.BatchV1().Jobs("batch-test").List(ctx, metav1.ListOptions{})
	if err != nil || len(jobs.Items) != 1 || jobs.Items[0].Name != "once" {
		t.Fatalf("list jobs = %v, %v; want the one job", jobs, err)
	}

	// A static-token user with no bindings is denied.
	eveCfg, err := c.UserConfig("eve")
	if err != nil {
		t.Fatal(err)
	}
	eve := kubernetes.NewForConfigOrDie(eveCfg)
	_, err = eve.BatchV1().Jobs("batch-test").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("unbound user listing jobs: err = %v, want Forbidden", err)
	}
	// So is a real service-account token and an impersonated user.
	saCfg, err := c.ServiceAccountConfig(ctx, "batch-test", "runner")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubernetes.NewForConfigOrDie(saCfg).BatchV1().CronJobs("batch-test").Create(ctx, cj, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("service account creating a cronjob: err = %v, want Forbidden", err)
	}
	imp := kubernetes.NewForConfigOrDie(c.ImpersonatingConfig("mallory"))
	if _, err := imp.CoreV1().Secrets("batch-test").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("impersonated user listing secrets: err = %v, want Forbidden", err)
	}
}

func TestControlPlaneAPIServerRestart(t *testing.T) {
	c := cluster.StartT(t, cluster.Options{})
	ctx := context.Background()
	admin := c.AdminClient(t)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "survives"}}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.StopAPIServer()
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "survives", metav1.GetOptions{}); err == nil {
		t.Fatal("API server still answering after StopAPIServer")
	}
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "survives", metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace lost across API server restart: %v", err)
	}
}
