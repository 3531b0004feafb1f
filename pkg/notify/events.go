package notify

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"

	"github.com/jobwatch/jobwatch/pkg/analyze"
)

// Event reasons jobwatch records.
const (
	ReasonSuspiciousSpec   = "SuspiciousJobSpec"   // created / existing
	ReasonSuspiciousChange = "SuspiciousJobChange" // updated
	ReasonFlaggedDeleted   = "FlaggedJobDeleted"   // deleted
	// ReportingController names jobwatch in events.k8s.io/v1 Events.
	ReportingController = "jobwatch"
)

// Events records a Warning Event on the Job or CronJob itself through
// client-go's events library, so `kubectl describe` shows it. The library
// sends asynchronously, retries, and aggregates repeats into series.
type Events struct {
	broadcaster events.EventBroadcaster
	recorder    events.EventRecorderLogger
}

var _ Notifier = (*Events)(nil)

// NewEvents starts an event broadcaster writing through client until ctx ends.
func NewEvents(ctx context.Context, client kubernetes.Interface) *Events {
	b := events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()})
	b.StartRecordingToSink(ctx.Done())
	return &Events{broadcaster: b, recorder: b.NewRecorder(scheme.Scheme, ReportingController)}
}

// Name implements Notifier.
func (e *Events) Name() string { return "events" }

// Shutdown flushes and stops the broadcaster.
func (e *Events) Shutdown() { e.broadcaster.Shutdown() }

// Notify implements Notifier.
func (e *Events) Notify(_ context.Context, a Alert) error {
	ref := &corev1.ObjectReference{APIVersion: "batch/v1", Kind: a.Object.Kind, Namespace: a.Object.Namespace,
		Name: a.Object.Name, UID: typesUID(a.Object.UID), ResourceVersion: a.Object.ResourceVersion}
	reason, action := ReasonSuspiciousSpec, "Scored"
	switch a.Event {
	case EventUpdated:
		reason, action = ReasonSuspiciousChange, "Rescored"
	case EventDeleted:
		reason, action = ReasonFlaggedDeleted, "Deleted"
	}
	e.recorder.Eventf(ref, nil, corev1.EventTypeWarning, reason, action, "%s", EventNote(a))
	return nil
}

// EventNote is the Event's note (at most 1 kB): severity, score and the
// top findings.
func EventNote(a Alert) string {
	var b strings.Builder
	fmt.Fprintf(&b, "jobwatch: %s %s, score %d", a.Severity, a.Event, a.Score)
	if a.PreviousScore != nil {
		fmt.Fprintf(&b, " (was %d)", *a.PreviousScore)
	}
	n := 0
	for _, f := range a.Findings {
		if f.Severity < analyze.SeverityMedium || n == 3 {
			continue
		}
		fmt.Fprintf(&b, "; %s %s: %s", f.Rule, f.Severity, f.Evidence)
		n++
	}
	return truncate(b.String(), 1000, "…")
}
