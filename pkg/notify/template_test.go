package notify

import (
	"encoding/json"
	"os"
	"testing"
	"text/template"
)

// The documented templates render valid JSON for a real alert.
func TestDocumentedTemplates(t *testing.T) {
	for _, f := range []string{"../../docs/examples/teams.tmpl", "../../docs/examples/pagerduty.tmpl"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := template.New(f).Funcs(TemplateFuncs()).Parse(string(raw))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		w, _ := NewWebhook(WebhookOptions{URL: "http://x", Template: tmpl})
		body, err := w.Body(sampleAlert())
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("%s renders invalid JSON: %v\n%s", f, err, body)
		}
	}
}
