package integration

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/jobwatch/jobwatch/cmd/jobwatch/app"
	"github.com/jobwatch/jobwatch/pkg/analyze"
	"github.com/jobwatch/jobwatch/pkg/notify"
	"github.com/jobwatch/jobwatch/pkg/watch"
	"github.com/jobwatch/jobwatch/test/cluster"
)

// hookServer is a webhook receiver that verifies signatures; while down it
// answers 503.
type hookServer struct {
	mu        sync.Mutex
	secret    string
	down      bool
	requests  map[string]int // delivery ID -> requests
	delivered map[string]int // delivery ID -> accepted
	badSig    int
	srv       *httptest.Server
}

func newHookServer(secret string) *hookServer {
	h := &hookServer{secret: secret, requests: map[string]int{}, delivered: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get(notify.HeaderDelivery)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.requests[id]++
		if !hmac.Equal([]byte(r.Header.Get(notify.HeaderSignature)), []byte(notify.Sign([]byte(h.secret), r.Header.Get(notify.HeaderTimestamp), body))) {
			h.badSig++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if h.down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		h.delivered[id]++
	}))
	return h
}

func (h *hookServer) setDown(d bool) { h.mu.Lock(); h.down = d; h.mu.Unlock() }

func (h *hookServer) counts() (map[string]int, map[string]int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.requests), maps.Clone(h.delivered), h.badSig
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestWebhookSurvivesOutageAndRestart: the receiver is down when the alert
// is raised and while jobwatch restarts; the alert is kept in the
// checkpoint and delivered once, under one delivery ID, after both recover.
func TestWebhookSurvivesOutageAndRestart(t *testing.T) {
	c := cluster.StartT(t, cluster.Options{})
	cs := c.AdminClient(t)
	createNamespace(t, cs, "pay")
	hook := newHookServer("hmac-key")
	defer hook.srv.Close()
	hook.setDown(true)
	store := fileStore(t)
	a, _ := analyze.New(analyze.DefaultOptions())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	start := func() (context.CancelFunc, chan error, *notify.Dispatcher) {
		w, err := notify.NewWebhook(notify.WebhookOptions{URL: hook.srv.URL, Secret: []byte("hmac-key")})
		if err != nil {
			t.Fatal(err)
		}
		d := notify.NewDispatcher([]notify.Route{{Notifier: w, MinSeverity: analyze.SeverityMedium}},
			notify.DispatcherOptions{BaseDelay: 200 * time.Millisecond, MaxDelay: time.Second, MaxRetries: 1000}, log, nil)
		sinkCtx, stopSinks := context.WithCancel(context.Background())
		d.Start(sinkCtx)
		ctrl, err := watch.New(cs, a, d, store, watch.Options{MinSeverity: analyze.SeverityMedium, DrainTimeout: time.Second}, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- ctrl.Run(ctx); stopSinks() }()
		waitUntil(t, "ready", ctrl.Ready)
		return cancel, done, d
	}
	stop, done, _ := start()
	createCronJob(t, cs, "pay", "coin", minerTemplate())
	waitUntil(t, "a failed delivery attempt", func() bool { r, _, _ := hook.counts(); return len(r) == 1 })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st, err := store.Load(context.Background())
	if err != nil || st == nil || len(st.Pending["webhook"]) != 1 {
		t.Fatalf("checkpoint does not hold the undelivered alert: %+v %v", st, err)
	}
	hook.setDown(false)
	stop, done, _ = start()
	waitUntil(t, "delivery after restart", func() bool { _, d, _ := hook.counts(); return len(d) == 1 })
	time.Sleep(time.Second)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("jobwatch run after the restart: %v", err)
	}
	reqs, delivered, bad := hook.counts()
	if len(reqs) != 1 || bad != 0 {
		t.Fatalf("delivery IDs %v (want one, stable across retries and the restart), bad signatures %d", reqs, bad)
	}
	for id, n := range delivered {
		if n != 1 {
			t.Fatalf("%s delivered %d times", id, n)
		}
		t.Logf("outage + restart: alert %s: %d requests, delivered once", id, reqs[id])
	}
	st, _ = store.Load(context.Background())
	if len(st.Pending["webhook"]) != 0 {
		t.Fatalf("delivered alert still pending in the checkpoint")
	}
}

// fakeSlackAPI accepts chat.postMessage for the e2e test.
type fakeSlackAPI struct {
	mu    sync.Mutex
	posts []string
}

func (f *fakeSlackAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	if r.URL.Path != "/api/chat.postMessage" || r.Form.Get("token") != "xoxb-e2e" && r.Header.Get("Authorization") != "Bearer xoxb-e2e" {
		fmt.Fprint(w, `{"ok":false,"error":"invalid_auth"}`)
		return
	}
	f.mu.Lock()
	f.posts = append(f.posts, r.Form.Get("blocks"))
	n := len(f.posts)
	f.mu.Unlock()
	fmt.Fprintf(w, `{"ok":true,"channel":"C1","ts":"1700000000.%06d"}`, n)
}

func (f *fakeSlackAPI) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.posts) }

// TestRunAllSinksEndToEnd: `jobwatch run` with stdout, a signed webhook,
// Slack (bot token against a local Slack API) and Events: one malicious
// CronJob gives one Slack message, one webhook delivery and one Event.
func TestRunAllSinksEndToEnd(t *testing.T) {
	c := cluster.StartT(t, cluster.Options{})
	cs := c.AdminClient(t)
	dir, kubeconfig := adminKubeconfig(t, c, "e2e")
	createNamespace(t, cs, "shop")
	hook := newHookServer("e2e-hmac")
	defer hook.srv.Close()
	slackAPI := &fakeSlackAPI{}
	slackSrv := httptest.NewServer(slackAPI)
	defer slackSrv.Close()
	tokenFile := filepath.Join(dir, "slack-token")
	if err := os.WriteFile(tokenFile, []byte("xoxb-e2e\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOBWATCH_NOTIFY_WEBHOOK_SECRET", "e2e-hmac")
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	health := freeAddr(t)
	go func() {
		done <- app.MainContext(ctx, []string{"run", "--kubeconfig", kubeconfig, "--state", filepath.Join(dir, "state"),
			"--health-addr", health, "--metrics-addr", "", "--stdout-format", "json", "--log-level", "debug",
			"--webhook-url", hook.srv.URL, "--slack-token-file", tokenFile, "--slack-channel", "#sec", "--slack-api-url", slackSrv.URL + "/api/",
			"--events"}, strings.NewReader(""), &stdout, &stderr)
	}()
	waitUntil(t, "readiness", func() bool { code, _ := httpGet("http://" + health + "/readyz"); return code == http.StatusOK })
	cj := createCronJob(t, cs, "shop", "coin", minerTemplate())
	waitUntil(t, "webhook and Slack deliveries", func() bool { _, d, _ := hook.counts(); return len(d) == 1 && slackAPI.count() == 1 })
	var ev []eventsv1.Event
	waitUntil(t, "the Event", func() bool {
		l, err := cs.EventsV1().Events("shop").List(context.Background(), metav1.ListOptions{})
		ev = nil
		for _, e := range l.Items {
			if e.Regarding.UID == cj.UID {
				ev = append(ev, e)
			}
		}
		return err == nil && len(ev) > 0
	})
	time.Sleep(time.Second) // anything duplicated would show up now
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("run exited %d:\n%s", code, stderr.String())
	}
	_, delivered, bad := hook.counts()
	if len(delivered) != 1 || bad != 0 || slackAPI.count() != 1 || len(ev) != 1 {
		t.Fatalf("webhook %v (bad sig %d), slack %d, events %d; want one each", delivered, bad, slackAPI.count(), len(ev))
	}
	e := ev[0]
	if e.Type != "Warning" || e.Reason != notify.ReasonSuspiciousSpec || e.ReportingController != "jobwatch" || e.Regarding.Kind != "CronJob" || e.Regarding.Name != "coin" || !strings.Contains(e.Note, "score") {
		t.Fatalf("event: type %s reason %s controller %s regarding %+v note %q", e.Type, e.Reason, e.ReportingController, e.Regarding, e.Note)
	}
	var lines int
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var a notify.Alert
		if json.Unmarshal([]byte(l), &a) == nil && a.Object.Name == "coin" {
			lines++
		}
	}
	if lines != 1 {
		t.Fatalf("stdout alerts for coin = %d", lines)
	}
	all := stdout.String() + stderr.String() + strings.Join(slackAPI.posts, "") + e.Note
	for _, secret := range []string{"SuperSecretValue-8d1f", "xoxb-e2e", "e2e-hmac"} {
		if strings.Contains(all, secret) {
			t.Fatalf("%q leaked into output, logs, Slack or the Event", secret)
		}
	}
}
