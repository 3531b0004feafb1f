package app

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/jobwatch/jobwatch/pkg/analyze"
)

// flagsFor builds the flag set a command would have, parsed from args.
func flagsFor(t *testing.T, cmd string, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet(cmd, pflag.ContinueOnError)
	addKeyFlags(fs, "")
	addKeyFlags(fs, cmd)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

// setenv sets NAME=VALUE pairs for the test and returns the environment.
func setenv(t *testing.T, env []string) []string {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return os.Environ()
}

func TestConfigPrecedence(t *testing.T) {
	const file = "testdata/config-file.yaml"
	tests := []struct {
		name    string
		file    string
		env     []string
		args    []string
		level   slog.Level
		format  string
		ns      []string
		sources map[string]string
	}{
		{name: "defaults", level: slog.LevelInfo, format: "text", ns: nil,
			sources: map[string]string{"log.level": "default"}},
		{name: "file over default", file: file, level: slog.LevelWarn, format: "json", ns: []string{"payments", "ci"},
			sources: map[string]string{"log.level": "file " + file, "watch.namespaces": "file " + file}},
		{name: "env over file", file: file, env: []string{"JOBWATCH_LOG_LEVEL=error", "JOBWATCH_WATCH_NAMESPACES=web, api"},
			level: slog.LevelError, format: "json", ns: []string{"web", "api"},
			sources: map[string]string{"log.level": "env JOBWATCH_LOG_LEVEL", "log.format": "file " + file}},
		{name: "flag over env", file: file, env: []string{"JOBWATCH_LOG_LEVEL=error", "JOBWATCH_WATCH_NAMESPACES=web"},
			args: []string{"--log-level=debug", "-n", "prod", "--namespace", "stage"}, level: slog.LevelDebug, format: "json", ns: []string{"prod", "stage"},
			sources: map[string]string{"log.level": "flag --log-level", "watch.namespaces": "flag --namespace"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadConfig(tc.file, flagsFor(t, "run", tc.args...), setenv(t, tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.LogLevel != tc.level || cfg.LogFormat != tc.format {
				t.Errorf("level, format = %v, %q; want %v, %q", cfg.LogLevel, cfg.LogFormat, tc.level, tc.format)
			}
			if strings.Join(cfg.Namespaces, ",") != strings.Join(tc.ns, ",") {
				t.Errorf("namespaces = %q, want %q", cfg.Namespaces, tc.ns)
			}
			for k, want := range tc.sources {
				var got string
				for _, e := range cfg.effective {
					if e.key == k {
						got = e.source
					}
				}
				if got != want {
					t.Errorf("source of %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestConfigFileTypedValues(t *testing.T) {
	cfg, err := loadConfig("testdata/config-file.yaml", flagsFor(t, "check"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Analyze.TrustedRegistries, ","); got != "registry.example.com,*.dkr.ecr.*.amazonaws.com" {
		t.Errorf("trusted registries = %s", got)
	}
	if cfg.Analyze.SeverityOverrides["JW-IMG-005"] != analyze.SeverityNone || len(cfg.Analyze.SeverityOverrides) != 1 {
		t.Errorf("severity overrides = %v", cfg.Analyze.SeverityOverrides)
	}
	if len(cfg.Analyze.Exceptions) != 1 {
		t.Fatalf("exceptions = %d, want 1", len(cfg.Analyze.Exceptions))
	}
	e := cfg.Analyze.Exceptions[0]
	if e.Namespace != "ci-*" || !e.Name.MatchString("nightly-build") || e.Name.MatchString("x-nightly-build") || e.Expires.Year() != 2099 {
		t.Errorf("exception = %+v", e)
	}
	// Defaults survive for keys the file does not set.
	if len(cfg.Analyze.TrustedDownloadHosts) != len(analyze.DefaultTrustedDownloadHosts) {
		t.Errorf("trusted download hosts = %v, want the defaults", cfg.Analyze.TrustedDownloadHosts)
	}
}

func TestConfigErrorsNameKeyAndSource(t *testing.T) {
	tests := []struct {
		name, file string
		env        []string
		args       []string
		want       []string
	}{
		{name: "misspelt nested key in file", file: "testdata/bad-unknown-key.yaml",
			want: []string{"notify.webhok.url", "file testdata/bad-unknown-key.yaml", "unknown key"}},
		{name: "invalid value in file", file: "testdata/bad-value.yaml",
			want: []string{"log.level", "file testdata/bad-value.yaml", `"verbose"`}},
		{name: "invalid value in env", env: []string{"JOBWATCH_LOG_FORMAT=xml"},
			want: []string{"log.format", "env JOBWATCH_LOG_FORMAT", `"xml"`}},
		{name: "invalid value in flag", args: []string{"--selector", "a in (b"},
			want: []string{"watch.selector", "flag --selector"}},
		{name: "unknown env variable", env: []string{"JOBWATCH_LOG_LEVL=debug"},
			want: []string{"JOBWATCH_LOG_LEVL", "unknown environment variable"}},
		{name: "unknown field in exception", file: "testdata/bad-exception.yaml",
			want: []string{"analyze.exceptions[0]", "rulez"}},
		{name: "unknown rule ID", file: "testdata/bad-rule.yaml",
			want: []string{"JW-NOPE-001"}},
		{name: "credential in the config file", file: "testdata/bad-secret-in-file.yaml",
			want: []string{"notify.slack.token", "JOBWATCH_NOTIFY_SLACK_TOKEN"}},
		{name: "unreadable secret file", args: []string{"--webhook-url", "https://h.example/x", "--webhook-secret-file", "/nonexistent/key"},
			want: []string{"notify.webhook.secret-file", "flag --webhook-secret-file"}},
		{name: "bot token without channel", env: []string{"JOBWATCH_NOTIFY_SLACK_TOKEN=xoxb-1"},
			want: []string{"notify.slack.channel"}},
		{name: "bad duration", args: []string{"--notify-throttle", "soon"},
			want: []string{"notify.throttle", "flag --notify-throttle"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(tc.file, flagsFor(t, "run", tc.args...), setenv(t, tc.env))
			if err == nil {
				t.Fatal("no error")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v is not a *ConfigError", err, err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans several lines: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
}

func TestSinksFromConfig(t *testing.T) {
	key := t.TempDir() + "/hmac"
	if err := os.WriteFile(key, []byte("k3y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := setenv(t, []string{"JOBWATCH_NOTIFY_SLACK_TOKEN=xoxb-from-env"})
	cfg, err := loadConfig("", flagsFor(t, "run", "--webhook-url", "https://hooks.example/j", "--webhook-secret-file", key,
		"--slack-channel", "#sec", "--events", "--events-min-severity", "high"), env)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, s := range cfg.Sinks {
		types[s.Type] = true
		switch s.Type {
		case "webhook":
			if string(s.Webhook.Secret) != "k3y" || s.MinSeverity != analyze.SeverityMedium {
				t.Errorf("webhook spec: secret %q, min %s", s.Webhook.Secret, s.MinSeverity)
			}
		case "slack":
			if s.Slack.Token != "xoxb-from-env" || s.Slack.Channel != "#sec" {
				t.Errorf("slack spec: %+v", s.Slack)
			}
		case "events":
			if s.MinSeverity != analyze.SeverityHigh {
				t.Errorf("events min severity %s", s.MinSeverity)
			}
		}
	}
	if len(types) != 4 {
		t.Fatalf("sinks = %v, want stdout, webhook, slack, events", types)
	}
	var logged bytes.Buffer
	cfg.logEffective(newLogger(&logged, slog.LevelDebug, "text"))
	if strings.Contains(logged.String(), "xoxb-from-env") || !strings.Contains(logged.String(), "key=notify.slack.token value=***") {
		t.Fatalf("effective config log leaks or does not mask the token:\n%s", logged.String())
	}
}

func TestRunWithBadConfigStopsBeforeAnything(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main([]string{"run", "--config", "testdata/bad-unknown-key.yaml", "--kubeconfig", "/nonexistent"}, strings.NewReader(""), &out, &errb)
	if code != exitError {
		t.Fatalf("exit code = %d, want %d", code, exitError)
	}
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "notify.webhok.url") {
		t.Fatalf("stderr = %q, want one line naming notify.webhok.url", errb.String())
	}
	// The config error came first: the bad kubeconfig was never looked at.
	if strings.Contains(errb.String(), "nonexistent") || out.Len() != 0 {
		t.Fatalf("something ran before the configuration was rejected: stdout %q stderr %q", out.String(), errb.String())
	}
}

func TestNoClusterConfig(t *testing.T) {
	t.Setenv("KUBECONFIG", t.TempDir()+"/missing")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	var out, errb bytes.Buffer
	code := Main([]string{"scan"}, strings.NewReader(""), &out, &errb)
	if code != exitError || !strings.Contains(errb.String(), "no cluster configuration found") || strings.Count(errb.String(), "\n") != 1 {
		t.Fatalf("code %d stderr %q", code, errb.String())
	}
}

func TestEffectiveConfigLoggedAtDebug(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main([]string{"check", "--log-level=debug", "--log-format=json", "-"}, strings.NewReader(""), &out, &errb)
	if code != exitOK {
		t.Fatalf("code %d: %s", code, errb.String())
	}
	for _, want := range []string{`"key":"log.level","value":"debug","source":"flag --log-level"`, `"key":"analyze.pss-version"`} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("debug log lacks %s:\n%s", want, errb.String())
		}
	}
}
