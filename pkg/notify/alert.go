package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/jobwatch/jobwatch/pkg/analyze"
)

// APIVersion and Kind of the serialized Alert.
const (
	APIVersion = "jobwatch/v1"
	AlertKind  = "Alert"
)

// Event says why an alert was raised.
type Event string

// Events.
const (
	EventCreated  Event = "created"  // a new object reached the threshold
	EventUpdated  Event = "updated"  // a change made an object riskier
	EventDeleted  Event = "deleted"  // an object that had alerted is gone
	EventExisting Event = "existing" // reported on first start with --report-existing
	EventDenied   Event = "denied"   // the audit log shows a refused create/update/patch
)

// Alert is what every sink receives. Its JSON form is jobwatch's public
// contract (docs/alert.md).
type Alert struct {
	APIVersion    string            `json:"apiVersion"`
	Kind          string            `json:"kind"`
	ID            string            `json:"id"`
	Time          time.Time         `json:"time"`
	Cluster       string            `json:"cluster,omitempty"`
	Event         Event             `json:"event"`
	Object        ObjectRef         `json:"object"`
	Score         int               `json:"score"`
	PreviousScore *int              `json:"previousScore,omitempty"`
	Severity      analyze.Severity  `json:"severity"`
	Findings      []analyze.Finding `json:"findings"`
	Diff          []Change          `json:"diff,omitempty"`
	Actor         *Actor            `json:"actor,omitempty"`
}

// ObjectRef names the Job or CronJob.
type ObjectRef struct {
	Kind            string    `json:"kind"`
	Namespace       string    `json:"namespace"`
	Name            string    `json:"name"`
	UID             string    `json:"uid"`
	ResourceVersion string    `json:"resourceVersion,omitempty"`
	Owner           *OwnerRef `json:"owner,omitempty"`
	// Images are the container images of the pod template.
	Images []string `json:"images,omitempty"`
}

// OwnerRef is the controlling owner (a Job's CronJob).
type OwnerRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Change is one field that differs between the last version jobwatch
// judged and this one. Values of env vars are always masked.
type Change struct {
	Path string `json:"path"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
}

// Actor is who last wrote the spec: the field manager from managedFields
// always, and with the audit webhook the user behind the request.
type Actor struct {
	Manager          string     `json:"manager,omitempty"`
	Operation        string     `json:"operation,omitempty"`
	Time             *time.Time `json:"time,omitempty"`
	User             string     `json:"user,omitempty"`
	Groups           []string   `json:"groups,omitempty"`
	UserAgent        string     `json:"userAgent,omitempty"`
	SourceIPs        []string   `json:"sourceIPs,omitempty"`
	ImpersonatedUser string     `json:"impersonatedUser,omitempty"`
	AuditID          string     `json:"auditID,omitempty"`
}

// AlertID is stable for the same object, template fingerprint, event and
// findings, so a redelivery or a replayed judgement carries the same ID.
func AlertID(uid, fingerprint string, event Event, findings []analyze.Finding) string {
	keys := make([]string, 0, len(findings))
	for _, f := range findings {
		keys = append(keys, f.Rule+"|"+f.Path+"|"+f.Severity.String())
	}
	sort.Strings(keys)
	h := sha256.New()
	h.Write([]byte(uid + "\x00" + fingerprint + "\x00" + string(event) + "\x00" + strings.Join(keys, "\x00")))
	return hex.EncodeToString(h.Sum(nil))[:20]
}

func typesUID(s string) types.UID { return types.UID(s) }
