package audit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobwatch/jobwatch/pkg/notify"
)

type sink struct {
	mu sync.Mutex
	as []notify.Alert
}

func (s *sink) Name() string { return "sink" }
func (s *sink) Notify(_ context.Context, a notify.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.as = append(s.as, a)
	return nil
}

func eventList(items ...string) string {
	return `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + strings.Join(items, ",") + `]}`
}

func event(id, verb, resource, ns, name, user string, code int, rv string) string {
	resp := ""
	if rv != "" {
		resp = `,"responseObject":{"kind":"CronJob","apiVersion":"batch/v1","metadata":{"name":"` + name + `","uid":"u-` + name + `","resourceVersion":"` + rv + `"}}`
	}
	return `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"` + id + `","stage":"ResponseComplete",` +
		`"requestURI":"/apis/batch/v1/namespaces/` + ns + `/` + resource + `","verb":"` + verb + `",` +
		`"user":{"username":"` + user + `","groups":["system:authenticated"]},"sourceIPs":["10.1.2.3"],"userAgent":"kubectl/v1.37.2",` +
		`"objectRef":{"resource":"` + resource + `","namespace":"` + ns + `","name":"` + name + `","apiGroup":"batch","apiVersion":"v1"},` +
		`"responseStatus":{"code":` + itoa(code) + `},"stageTimestamp":"` + time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00") + `"` + resp + `}`
}

func itoa(n int) string { return strconv.Itoa(n) }

func post(t *testing.T, h http.Handler, body string, hdr map[string]string) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/audit", strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code
}

func TestReceiverRejectsBadInput(t *testing.T) {
	r, err := New(Options{Addr: "127.0.0.1:0", Token: "t0ken", MaxBodyBytes: 1024}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := r.Handler()
	auth := map[string]string{"Authorization": "Bearer t0ken"}
	for name, tc := range map[string]struct {
		body string
		hdr  map[string]string
		want int
	}{
		"no token":    {eventList(), nil, http.StatusUnauthorized},
		"wrong token": {eventList(), map[string]string{"Authorization": "Bearer nope"}, http.StatusUnauthorized},
		"garbage":     {"{not json", auth, http.StatusBadRequest},
		"not a list":  {`{"kind":"Pod"}`, auth, http.StatusBadRequest},
		"too large":   {eventList(strings.Repeat(" ", 2048)), auth, http.StatusRequestEntityTooLarge},
		"valid":       {eventList(event("a1", "create", "cronjobs", "shop", "x", "mallory", 201, "")), auth, http.StatusOK},
	} {
		if got := post(t, h, tc.body, tc.hdr); got != tc.want {
			t.Errorf("%s: %d, want %d", name, got, tc.want)
		}
	}
	if _, err := New(Options{Addr: ":9443"}, nil, nil, nil); err == nil {
		t.Error("plain HTTP on a non-loopback address was accepted")
	}
}

func TestAttributeAndSignals(t *testing.T) {
	s := &sink{}
	r, _ := New(Options{Wait: 2 * time.Second, AlertDeletes: true, AlertDenied: true, MaxEvents: 3}, s, nil, nil)
	h := r.Handler()
	now := time.Now()
	alert := notify.Alert{Object: notify.ObjectRef{Kind: "CronJob", Namespace: "shop", Name: "x", ResourceVersion: "42"}, Actor: &notify.Actor{Manager: "kubectl-create", Time: &now}}
	// The audit event trails the watch event: Attribute waits for it.
	go func() {
		time.Sleep(100 * time.Millisecond)
		post(t, h, eventList(event("old", "update", "cronjobs", "shop", "x", "alice", 200, "41"), event("new", "update", "cronjobs", "shop", "x", "mallory", 200, "42")), nil)
	}()
	start := time.Now()
	if !r.Attribute(context.Background(), &alert) {
		t.Fatal("not attributed")
	}
	if alert.Actor.User != "mallory" || alert.Actor.AuditID != "new" || alert.Actor.Manager != "kubectl-create" || time.Since(start) > time.Second {
		t.Fatalf("actor %+v after %s", alert.Actor, time.Since(start))
	}
	// An old write (no recent managedFields time) is not waited for.
	old := now.Add(-time.Hour)
	stale := notify.Alert{Object: notify.ObjectRef{Kind: "Job", Namespace: "shop", Name: "gone"}, Actor: &notify.Actor{Time: &old}}
	start = time.Now()
	if r.Attribute(context.Background(), &stale) || time.Since(start) > 100*time.Millisecond {
		t.Fatal("waited for an old change")
	}
	post(t, h, eventList(
		event("d1", "delete", "cronjobs", "shop", "x", "mallory", 200, ""),
		event("d2", "delete", "jobs", "shop", "x-1", "system:serviceaccount:kube-system:ttl-after-finished-controller", 200, ""),
		event("f1", "patch", "cronjobs", "prod", "y", "mallory", 403, ""),
	), nil)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.as) != 2 || s.as[0].Event != notify.EventDeleted || s.as[1].Event != notify.EventDenied || s.as[1].Actor.User != "mallory" {
		t.Fatalf("signals = %+v", s.as)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) > 3 {
		t.Fatalf("window holds %d events, bound 3", len(r.events))
	}
}
