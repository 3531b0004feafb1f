package app

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestClassifyEnv(t *testing.T) {
	tests := []struct {
		name    string
		want    envVerdict
		suggest string
	}{
		{"JOBWATCH_LOG_LEVEL", envKnown, ""},
		{"JOBWATCH_CONFIG", envKnown, ""},
		{"JOBWATCH_NOTIFY_SLACK_TOKEN", envKnown, ""},
		// What the kubelet injects for Services named jobwatch, jobwatch-metrics
		// (port "metrics" 8080), jobwatch-audit (443/TCP) and an UDP one.
		{"JOBWATCH_SERVICE_HOST", envServiceLink, ""},
		{"JOBWATCH_SERVICE_PORT", envServiceLink, ""},
		{"JOBWATCH_SERVICE_PORT_HTTP_API", envServiceLink, ""},
		{"JOBWATCH_PORT", envServiceLink, ""},
		{"JOBWATCH_PORT_80_TCP", envServiceLink, ""},
		{"JOBWATCH_METRICS_SERVICE_HOST", envServiceLink, ""},
		{"JOBWATCH_METRICS_SERVICE_PORT", envServiceLink, ""},
		{"JOBWATCH_METRICS_SERVICE_PORT_METRICS", envServiceLink, ""},
		{"JOBWATCH_METRICS_PORT", envServiceLink, ""},
		{"JOBWATCH_METRICS_PORT_8080_TCP", envServiceLink, ""},
		{"JOBWATCH_METRICS_PORT_8080_TCP_PROTO", envServiceLink, ""},
		{"JOBWATCH_METRICS_PORT_8080_TCP_PORT", envServiceLink, ""},
		{"JOBWATCH_METRICS_PORT_8080_TCP_ADDR", envServiceLink, ""},
		{"JOBWATCH_AUDIT_PORT_443_TCP_ADDR", envServiceLink, ""},
		{"JOBWATCH_DNS_PORT_53_UDP", envServiceLink, ""},
		{"JOBWATCH_SCTP_PORT_9_SCTP_PORT", envServiceLink, ""},
		// Typos and tails of real keys stop startup.
		{"JOBWATCH_LOG_LEVL", envTypo, "JOBWATCH_LOG_LEVEL"},
		{"JOBWATCH_NOTIFY_SLACK_TOKN", envTypo, "JOBWATCH_NOTIFY_SLACK_TOKEN"},
		{"JOBWATCH_WATCH_NAMESPACE", envTypo, "JOBWATCH_WATCH_NAMESPACES"},
		{"JOBWATCH_WEBHOOK_URL", envTypo, "JOBWATCH_NOTIFY_WEBHOOK_URL"},
		{"JOBWATCH_SLACK_TOKEN", envTypo, "JOBWATCH_NOTIFY_SLACK_TOKEN"},
		{"JOBWATCH_CONFG", envTypo, "JOBWATCH_CONFIG"},
		// A port-shaped name that is not a kubelet shape is judged as a name.
		{"JOBWATCH_PORT_HTTP", envUnknown, ""},
		// Anything else is a warning, not an error.
		{"JOBWATCH_VERSION", envUnknown, ""},
		{"JOBWATCH_HOME", envUnknown, ""},
		{"JOBWATCH_IMAGE_TAG", envUnknown, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, s := classifyEnv(tc.name)
			if got != tc.want || s != tc.suggest {
				t.Errorf("classifyEnv(%s) = %d %q, want %d %q", tc.name, got, s, tc.want, tc.suggest)
			}
		})
	}
}

// No key may look like a service-link variable: the kubelet would set it
// to a Service's address and jobwatch would read that as configuration.
func TestNoKeyLooksLikeAServiceLink(t *testing.T) {
	for _, name := range envNames() {
		if isServiceLink(name) {
			t.Errorf("%s has the shape of a kubelet service-link variable", name)
		}
	}
}

// The whole service-link environment of Services named jobwatch and
// jobwatch-metrics loads; an unknown name is a warning naming it; a typo
// is a one-line error with "did you mean".
func TestServiceLinkEnvironmentLoads(t *testing.T) {
	env := []string{
		"JOBWATCH_SERVICE_HOST=10.96.0.10", "JOBWATCH_SERVICE_PORT=8080", "JOBWATCH_SERVICE_PORT_METRICS=8080",
		"JOBWATCH_PORT=tcp://10.96.0.10:8080", "JOBWATCH_PORT_8080_TCP=tcp://10.96.0.10:8080",
		"JOBWATCH_PORT_8080_TCP_PROTO=tcp", "JOBWATCH_PORT_8080_TCP_PORT=8080", "JOBWATCH_PORT_8080_TCP_ADDR=10.96.0.10",
		"JOBWATCH_METRICS_SERVICE_HOST=10.96.0.11", "JOBWATCH_METRICS_SERVICE_PORT=8080", "JOBWATCH_METRICS_SERVICE_PORT_METRICS=8080",
		"JOBWATCH_METRICS_PORT=tcp://10.96.0.11:8080", "JOBWATCH_METRICS_PORT_8080_TCP=tcp://10.96.0.11:8080",
		"JOBWATCH_METRICS_PORT_8080_TCP_PROTO=tcp", "JOBWATCH_METRICS_PORT_8080_TCP_PORT=8080", "JOBWATCH_METRICS_PORT_8080_TCP_ADDR=10.96.0.11",
		"JOBWATCH_WRAPPER_VERSION=1.2.3",
	}
	cfg, err := loadConfig("", flagsFor(t, "run"), setenv(t, env))
	if err != nil {
		t.Fatalf("service-link environment refused: %v", err)
	}
	var logged bytes.Buffer
	cfg.logEffective(slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})))
	out := logged.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "name=JOBWATCH_WRAPPER_VERSION") {
		t.Errorf("no warning naming JOBWATCH_WRAPPER_VERSION:\n%s", out)
	}
	if strings.Contains(out, "1.2.3") || strings.Contains(out, "10.96.0.1") {
		t.Errorf("environment values logged:\n%s", out)
	}
	if strings.Count(out, "level=WARN") != 1 {
		t.Errorf("want exactly one warning (service links are not warned about):\n%s", out)
	}

	_, err = loadConfig("", flagsFor(t, "run"), setenv(t, append(env, "JOBWATCH_LOG_LEVL=debug")))
	var ce *ConfigError
	if !errors.As(err, &ce) || err.Error() != "config: JOBWATCH_LOG_LEVL (from env): unknown environment variable (did you mean JOBWATCH_LOG_LEVEL?)" {
		t.Fatalf("typo: got %v", err)
	}
}

// A section with only comments under it is YAML null: no error.
func TestEmptySectionsLoad(t *testing.T) {
	cfg, err := loadConfig("testdata/empty-sections.yaml", flagsFor(t, "run"), setenv(t, nil))
	if err != nil {
		t.Fatalf("empty sections: %v", err)
	}
	if cfg.LogLevel != slog.LevelWarn {
		t.Errorf("log.level = %v, want warn", cfg.LogLevel)
	}
}

// The config.yaml of the shipped ConfigMap loads as the Deployment passes it.
func TestShippedConfigMapLoads(t *testing.T) {
	raw, err := os.ReadFile("../../../manifests/base/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(cm.Data["config.yaml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(file, flagsFor(t, "run", "--leader-elect=true"), setenv(t, nil))
	if err != nil {
		t.Fatalf("shipped config.yaml: %v", err)
	}
	if cfg.State != "configmap://jobwatch/jobwatch-state" {
		t.Errorf("state = %q", cfg.State)
	}
}
