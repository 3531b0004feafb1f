package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobwatch/jobwatch/cmd/jobwatch/app"
	"github.com/jobwatch/jobwatch/pkg/notify"
	"github.com/jobwatch/jobwatch/test/cluster"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRunCommandEndToEnd runs `jobwatch run` as a user would (kubeconfig,
// flags, stdout JSON lines, health and metrics endpoints) against the real
// API server.
func TestRunCommandEndToEnd(t *testing.T) {
	c := cluster.StartT(t, cluster.Options{})
	cs := c.AdminClient(t)
	dir, kubeconfig := adminKubeconfig(t, c, "e2e")
	createNamespace(t, cs, "shop")
	health, metrics := freeAddr(t), freeAddr(t)
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- app.MainContext(ctx, []string{"run", "--kubeconfig", kubeconfig, "--state", filepath.Join(dir, "state"),
			"--health-addr", health, "--metrics-addr", metrics, "--stdout-format", "json", "--log-format", "json"},
			strings.NewReader(""), &stdout, &stderr)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _ := httpGet("http://" + health + "/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready; stderr:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := httpGet("http://" + health + "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d", code)
	}
	createCronJob(t, cs, "shop", "benign", benignTemplate())
	createCronJob(t, cs, "shop", "coin", minerTemplate())
	var alerts []notify.Alert
	for deadline := time.Now().Add(30 * time.Second); len(alerts) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		alerts = nil
		for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			if line == "" {
				continue
			}
			var a notify.Alert
			if err := json.Unmarshal([]byte(line), &a); err != nil {
				t.Fatalf("stdout line is not an alert: %q: %v", line, err)
			}
			alerts = append(alerts, a)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if len(alerts) != 1 || alerts[0].Object.Name != "coin" || alerts[0].Cluster != "e2e" {
		t.Fatalf("alerts = %v (cluster %q)", names(alerts), alerts[0].Cluster)
	}
	if strings.Contains(stdout.String()+stderr.String(), "SuperSecretValue-8d1f") {
		t.Fatal("a pod env value reached stdout or the logs")
	}
	_, body := httpGet("http://" + metrics + "/metrics")
	for _, m := range []string{`jobwatch_alerts_total{event="created",severity=`, `jobwatch_events_handled_total{kind="CronJob",type="add"}`, "jobwatch_queue_depth", "jobwatch_objects_watched"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("run exited %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop on cancel")
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop logged:\n%s", stderr.String())
	}
}

// TestScanCommand: one pass over the cluster, printed like check.
func TestScanCommand(t *testing.T) {
	c := cluster.StartT(t, cluster.Options{})
	cs := c.AdminClient(t)
	_, kubeconfig := adminKubeconfig(t, c, "scan")
	for _, ns := range []string{"a", "b"} {
		createNamespace(t, cs, ns)
	}
	createCronJob(t, cs, "a", "backup", benignTemplate())
	createCronJob(t, cs, "a", "coin", minerTemplate())
	createJob(t, cs, "b", "coin-job", minerTemplate(), nil)
	var out, errb bytes.Buffer
	code := app.MainContext(context.Background(), []string{"scan", "--kubeconfig", kubeconfig, "-o", "json", "--exclude-namespace", "b"}, strings.NewReader(""), &out, &errb)
	if code != 1 {
		t.Fatalf("scan exit %d (want 1: a high finding), stderr %s", code, errb.String())
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r struct{ Kind, Namespace, Name, Severity string }
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		got = append(got, r.Kind+" "+r.Namespace+"/"+r.Name+" "+r.Severity)
	}
	if len(got) != 2 || !strings.Contains(strings.Join(got, ","), "CronJob a/coin high") && !strings.Contains(strings.Join(got, ","), "CronJob a/coin critical") {
		t.Fatalf("scan output = %v (namespace b excluded)", got)
	}
	if strings.Contains(out.String(), "SuperSecretValue-8d1f") {
		t.Fatal("env value printed")
	}
}
