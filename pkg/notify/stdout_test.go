package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jobwatch/jobwatch/pkg/analyze"
)

func sampleAlert() Alert {
	prev := 15
	return Alert{APIVersion: APIVersion, Kind: AlertKind, ID: "abc", Time: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC),
		Cluster: "prod", Event: EventUpdated, Object: ObjectRef{Kind: "CronJob", Namespace: "ops", Name: "backup", UID: "u"},
		Score: 74, PreviousScore: &prev, Severity: analyze.SeverityHigh,
		Findings: []analyze.Finding{{Rule: "JW-EXEC-001", Title: "Download and execute", Severity: analyze.SeverityHigh, Path: "p", Evidence: "curl | sh", Attack: []string{"T1053.007"}}},
		Diff:     []Change{{Path: "spec.jobTemplate.spec.template.spec.containers[0].image", Old: "busybox", New: "alpine"}},
		Actor:    &Actor{Manager: "kubectl-edit", Operation: "Update"}}
}

func TestStdoutJSONIsTheAlertSchema(t *testing.T) {
	var b bytes.Buffer
	s, err := NewStdout(&b, "json", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Notify(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil || !strings.HasSuffix(b.String(), "}\n") {
		t.Fatalf("not one JSON line: %q", b.String())
	}
	for _, k := range []string{"apiVersion", "kind", "id", "time", "cluster", "event", "object", "score", "previousScore", "severity", "findings", "diff", "actor"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b.String())
		}
	}
	if m["apiVersion"] != "jobwatch/v1" || m["severity"] != "high" || m["event"] != "updated" {
		t.Errorf("fields: %v", m)
	}
}

func TestStdoutText(t *testing.T) {
	var b bytes.Buffer
	s, _ := NewStdout(&b, "text", false)
	_ = s.Notify(context.Background(), sampleAlert())
	for _, w := range []string{"HIGH updated CronJob ops/backup score 74 (was 15) by kubectl-edit", `~ spec.jobTemplate.spec.template.spec.containers[0].image: "busybox" -> "alpine"`, "JW-EXEC-001"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("text lacks %q:\n%s", w, b.String())
		}
	}
	if _, err := NewStdout(&b, "xml", false); Retryable(err) || err == nil {
		t.Errorf("bad format: %v", err)
	}
}

func TestAlertIDStable(t *testing.T) {
	f := sampleAlert().Findings
	again := append([]analyze.Finding(nil), f...) // same findings, another slice
	if a, b := AlertID("u", "fp", EventCreated, f), AlertID("u", "fp", EventCreated, again); a != b {
		t.Fatalf("same object, template and findings, different IDs %q and %q", a, b)
	}
	if AlertID("u", "fp", EventCreated, f) == AlertID("u", "fp2", EventCreated, f) || AlertID("u", "fp", EventCreated, f) == AlertID("u", "fp", EventUpdated, f) {
		t.Fatal("different template or event, same ID")
	}
}
