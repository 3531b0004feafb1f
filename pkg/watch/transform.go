package watch

import (
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// transform drops what jobwatch never reads before an object enters the
// informer cache: status, the last-applied annotation, and every
// managedFields entry except the latest writer of spec (kept without its
// field set, for the alert's actor).
func transform(obj any) (any, error) {
	switch o := obj.(type) {
	case *batchv1.Job:
		o.Status = batchv1.JobStatus{}
		trimMeta(&o.ObjectMeta)
	case *batchv1.CronJob:
		o.Status = batchv1.CronJobStatus{}
		trimMeta(&o.ObjectMeta)
	}
	return obj, nil
}

func trimMeta(m *metav1.ObjectMeta) {
	if _, ok := m.Annotations[lastApplied]; ok {
		a := make(map[string]string, len(m.Annotations)-1)
		for k, v := range m.Annotations {
			if k != lastApplied {
				a[k] = v
			}
		}
		m.Annotations = a
	}
	if len(m.ManagedFields) == 0 {
		return
	}
	var best *metav1.ManagedFieldsEntry
	for i := range m.ManagedFields {
		e := &m.ManagedFields[i]
		if e.Subresource != "" || e.FieldsV1 == nil || !strings.Contains(e.FieldsV1.GetRawString(), `"f:spec"`) {
			continue
		}
		if best == nil || e.Time != nil && (best.Time == nil || !e.Time.Before(best.Time)) {
			best = e
		}
	}
	if best == nil {
		m.ManagedFields = nil
		return
	}
	keep := *best
	keep.FieldsV1 = nil
	m.ManagedFields = []metav1.ManagedFieldsEntry{keep}
}
