package notify

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestBuildRoutes(t *testing.T) {
	deps := Deps{Ctx: context.Background(), Out: &bytes.Buffer{}}
	if _, err := BuildRoutes([]SinkSpec{{Type: "pagerduty"}}, deps); err == nil || !strings.Contains(err.Error(), `unknown sink type "pagerduty"`) {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := BuildRoutes(nil, deps); err == nil {
		t.Fatal("no sinks accepted")
	}
	if _, err := BuildRoutes([]SinkSpec{{Type: "events"}}, deps); err == nil {
		t.Fatal("events without a client accepted")
	}
	if _, err := BuildRoutes([]SinkSpec{{Type: "webhook", Webhook: WebhookOptions{URL: "https://h.example:80x/SECRET"}}}, deps); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("bad webhook URL: %v", err)
	}
	routes, err := BuildRoutes([]SinkSpec{{Type: "stdout", StdoutFormat: "json"}, {Type: "webhook", Webhook: WebhookOptions{URL: "https://h.example/x"}}}, deps)
	if err != nil || len(routes) != 2 || routes[1].Notifier.Name() != "webhook" {
		t.Fatalf("routes %v, %v", routes, err)
	}
}
