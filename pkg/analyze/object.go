package analyze

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Kinds jobwatch analyzes.
const (
	KindJob     = "Job"
	KindCronJob = "CronJob"
)

// Object is what the analyzer judges: the owning object's metadata and
// batch fields plus the pod template. Build it with FromJob or FromCronJob.
type Object struct {
	Kind string
	Meta metav1.ObjectMeta
	// TemplatePath is the field path of the pod template:
	// "spec.template" for a Job, "spec.jobTemplate.spec.template" for a CronJob.
	TemplatePath string
	Template     *corev1.PodTemplateSpec

	// Batch fields that matter for stealth.
	Schedule                   string
	SuccessfulJobsHistoryLimit *int32
	FailedJobsHistoryLimit     *int32
	TTLSecondsAfterFinished    *int32
}

// FromJob adapts a Job. The Job is not copied and must not be mutated while
// the Object is in use.
func FromJob(j *batchv1.Job) Object {
	return Object{
		Kind:                    KindJob,
		Meta:                    j.ObjectMeta,
		TemplatePath:            "spec.template",
		Template:                &j.Spec.Template,
		TTLSecondsAfterFinished: j.Spec.TTLSecondsAfterFinished,
	}
}

// FromCronJob adapts a CronJob.
func FromCronJob(c *batchv1.CronJob) Object {
	return Object{
		Kind:                       KindCronJob,
		Meta:                       c.ObjectMeta,
		TemplatePath:               "spec.jobTemplate.spec.template",
		Template:                   &c.Spec.JobTemplate.Spec.Template,
		Schedule:                   c.Spec.Schedule,
		SuccessfulJobsHistoryLimit: c.Spec.SuccessfulJobsHistoryLimit,
		FailedJobsHistoryLimit:     c.Spec.FailedJobsHistoryLimit,
		TTLSecondsAfterFinished:    c.Spec.JobTemplate.Spec.TTLSecondsAfterFinished,
	}
}

// Finding is one rule hit.
type Finding struct {
	Rule      string   `json:"rule"`
	Title     string   `json:"title"`
	Severity  Severity `json:"severity"`
	Container string   `json:"container,omitempty"`
	Path      string   `json:"path"`
	Evidence  string   `json:"evidence"`
	Attack    []string `json:"attack"`
}

// Report is the analyzer's verdict on one object.
type Report struct {
	Score    int       `json:"score"`
	Severity Severity  `json:"severity"`
	Findings []Finding `json:"findings"`
}

// RuleIDs returns the distinct rule IDs of the report's findings, in order.
func (r Report) RuleIDs() []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range r.Findings {
		if !seen[f.Rule] {
			seen[f.Rule] = true
			out = append(out, f.Rule)
		}
	}
	return out
}

// container is one container of the template with its field path.
type container struct {
	c    *corev1.Container
	path string // e.g. spec.template.spec.initContainers[0]
}

func imagesOf(cs []corev1.Container) []string {
	out := make([]string, len(cs))
	for i := range cs {
		out[i] = cs[i].Image
	}
	return out
}
