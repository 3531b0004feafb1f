package watch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/jobwatch/jobwatch/pkg/analyze"
	"github.com/jobwatch/jobwatch/pkg/notify"
)

// The security-relevant view of an object: the pod template (without
// labels, which controllers churn) and the batch fields that change what
// runs, when, and what evidence is kept. Status, object labels and
// annotations, resourceVersion and managedFields are not part of it, so
// changes to them never alert.

type templateView struct {
	Annotations map[string]string `json:"annotations,omitempty"`
	Spec        corev1.PodSpec    `json:"spec"`
}

type jobView struct {
	Parallelism             *int32       `json:"parallelism,omitempty"`
	Completions             *int32       `json:"completions,omitempty"`
	ActiveDeadlineSeconds   *int64       `json:"activeDeadlineSeconds,omitempty"`
	BackoffLimit            *int32       `json:"backoffLimit,omitempty"`
	TTLSecondsAfterFinished *int32       `json:"ttlSecondsAfterFinished,omitempty"`
	Suspend                 *bool        `json:"suspend,omitempty"`
	CompletionMode          *string      `json:"completionMode,omitempty"`
	Template                templateView `json:"template"`
}

type cronJobView struct {
	Schedule                   string  `json:"schedule"`
	TimeZone                   *string `json:"timeZone,omitempty"`
	Suspend                    *bool   `json:"suspend,omitempty"`
	ConcurrencyPolicy          string  `json:"concurrencyPolicy,omitempty"`
	StartingDeadlineSeconds    *int64  `json:"startingDeadlineSeconds,omitempty"`
	SuccessfulJobsHistoryLimit *int32  `json:"successfulJobsHistoryLimit,omitempty"`
	FailedJobsHistoryLimit     *int32  `json:"failedJobsHistoryLimit,omitempty"`
	JobTemplate                jobView `json:"jobTemplate"`
}

func viewOfTemplate(t *corev1.PodTemplateSpec) templateView {
	return templateView{Annotations: t.Annotations, Spec: t.Spec}
}

func viewOfJobSpec(s *batchv1.JobSpec) jobView {
	var mode *string
	if s.CompletionMode != nil {
		m := string(*s.CompletionMode)
		mode = &m
	}
	return jobView{Parallelism: s.Parallelism, Completions: s.Completions, ActiveDeadlineSeconds: s.ActiveDeadlineSeconds,
		BackoffLimit: s.BackoffLimit, TTLSecondsAfterFinished: s.TTLSecondsAfterFinished, Suspend: s.Suspend,
		CompletionMode: mode, Template: viewOfTemplate(&s.Template)}
}

// snapshot is the relevant view as canonical JSON plus its fingerprints.
type snapshot struct {
	json        []byte
	fingerprint string // of the whole view
	template    string // of the pod template view only (lineage)
}

func fingerprint(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// The views hold only API types, which always marshal.
		return []byte(fmt.Sprintf("%q", err.Error()))
	}
	return b
}

func snapshotJob(j *batchv1.Job) snapshot {
	v := viewOfJobSpec(&j.Spec)
	b := mustJSON(v)
	return snapshot{json: b, fingerprint: fingerprint(b), template: fingerprint(mustJSON(v.Template))}
}

func snapshotCronJob(c *batchv1.CronJob) snapshot {
	v := cronJobView{Schedule: c.Spec.Schedule, TimeZone: c.Spec.TimeZone, Suspend: c.Spec.Suspend,
		ConcurrencyPolicy: string(c.Spec.ConcurrencyPolicy), StartingDeadlineSeconds: c.Spec.StartingDeadlineSeconds,
		SuccessfulJobsHistoryLimit: c.Spec.SuccessfulJobsHistoryLimit, FailedJobsHistoryLimit: c.Spec.FailedJobsHistoryLimit,
		JobTemplate: viewOfJobSpec(&c.Spec.JobTemplate.Spec)}
	b := mustJSON(v)
	return snapshot{json: b, fingerprint: fingerprint(b), template: fingerprint(mustJSON(v.JobTemplate.Template))}
}

// Diff compares two views (canonical JSON from snapshots) and returns the
// changed leaves with field paths rooted like the object's own
// (spec.jobTemplate.spec.template.spec.containers[0].image). Env values are
// masked and every value is redacted.
func Diff(kind string, oldJSON, newJSON []byte) []notify.Change {
	var o, n any
	if json.Unmarshal(oldJSON, &o) != nil || json.Unmarshal(newJSON, &n) != nil {
		return nil
	}
	leavesOld, leavesNew := map[string]string{}, map[string]string{}
	root := "spec"
	flatten(root, o, leavesOld)
	flatten(root, n, leavesNew)
	keys := map[string]bool{}
	for k := range leavesOld {
		keys[k] = true
	}
	for k := range leavesNew {
		keys[k] = true
	}
	var out []notify.Change
	for k := range keys {
		ov, nv := leavesOld[k], leavesNew[k]
		if ov == nv {
			continue
		}
		path := apiPath(kind, k)
		if isEnvValue(path) {
			if ov != "" {
				ov = "<redacted>"
			}
			if nv != "" {
				nv = "<redacted>"
			}
		} else {
			ov, nv = clipValue(analyze.Redact(ov)), clipValue(analyze.Redact(nv))
		}
		out = append(out, notify.Change{Path: path, Old: ov, New: nv})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// apiPath maps a view path to the object's API field path.
func apiPath(kind, p string) string {
	if kind == analyze.KindCronJob {
		p = strings.Replace(p, "spec.jobTemplate.", "spec.jobTemplate.spec.", 1)
	}
	// templateView keeps annotations beside spec; in the API they sit in metadata.
	return strings.Replace(p, "template.annotations", "template.metadata.annotations", 1)
}

func isEnvValue(p string) bool {
	i := strings.LastIndex(p, ".env[")
	return i >= 0 && !strings.Contains(p[i:], ".valueFrom") && strings.Contains(p[i:], "value")
}

func clipValue(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func flatten(prefix string, v any, out map[string]string) {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			key := prefix + "." + k
			if strings.ContainsAny(k, "./") {
				key = prefix + "[" + k + "]"
			}
			flatten(key, val, out)
		}
	case []any:
		for i, val := range t {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), val, out)
		}
	case nil:
	default:
		b, _ := json.Marshal(t)
		s := string(b)
		if str, ok := t.(string); ok {
			s = str
		}
		out[prefix] = s
	}
}
