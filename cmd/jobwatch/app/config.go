package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/jobwatch/jobwatch/pkg/analyze"
	"github.com/jobwatch/jobwatch/pkg/audit"
	"github.com/jobwatch/jobwatch/pkg/notify"
)

// Config is the validated, typed configuration handed to the commands.
type Config struct {
	LogLevel  slog.Level
	LogFormat string

	Kubeconfig string
	Context    string

	Namespaces        []string
	ExcludeNamespaces []string
	Selector          labels.Selector

	Analyze analyze.Options

	MinSeverity    analyze.Severity
	AlertOnDelete  bool
	ReportExisting bool
	Workers        int
	State          string
	ClusterName    string
	Stdout         bool
	StdoutFormat   string
	HealthAddr     string
	MetricsAddr    string

	LeaderElect    string // auto, true, false
	LeaseNamespace string
	LeaseName      string
	LeaseDuration  time.Duration
	RenewDeadline  time.Duration
	RetryPeriod    time.Duration

	Audit audit.Options

	Sinks        []notify.SinkSpec
	Dispatch     notify.DispatcherOptions
	DrainTimeout time.Duration

	// effective holds every key's value and source for the debug log.
	effective []effectiveValue
	// unknownEnv are JOBWATCH_ variables that are no key (warned about);
	// serviceLinkEnv those the kubelet injects for Services (ignored).
	unknownEnv, serviceLinkEnv []string
}

type effectiveValue struct {
	key, source string
	value       any
}

// ConfigError is a configuration problem: one line naming the key and
// where its value came from.
type ConfigError struct {
	Key    string
	Source string // "file PATH", "env NAME", "flag --NAME", "default"
	Msg    string
}

func (e *ConfigError) Error() string {
	if e.Source == "" {
		return fmt.Sprintf("config: %s: %s", e.Key, e.Msg)
	}
	return fmt.Sprintf("config: %s (from %s): %s", e.Key, e.Source, e.Msg)
}

// loader reads configuration for one command.
type loader struct {
	v        *viper.Viper
	flags    *pflag.FlagSet
	file     string
	fileKeys map[string]bool
	environ  []string
}

// loadConfig merges defaults < file < env < flags with viper, rejects
// unknown keys (file and env) and invalid values, and returns typed options.
// environ must be the process environment (viper reads the variables
// itself); it is scanned for unknown JOBWATCH_ variables.
func loadConfig(file string, flags *pflag.FlagSet, environ []string) (*Config, error) {
	l := &loader{v: viper.New(), flags: flags, file: file, fileKeys: map[string]bool{}, environ: environ}
	l.v.SetEnvPrefix(envPrefix)
	l.v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	for _, k := range keys {
		l.v.SetDefault(k.name, k.def)
		if err := l.v.BindEnv(k.name); err != nil {
			return nil, err
		}
		if k.flag != "" && flags != nil {
			if f := flags.Lookup(k.flag); f != nil {
				if err := l.v.BindPFlag(k.name, f); err != nil {
					return nil, err
				}
			}
		}
	}
	unknownEnv, serviceLinks, err := checkEnv(environ)
	if err != nil {
		return nil, err
	}
	if file != "" {
		if err := l.readFile(); err != nil {
			return nil, err
		}
	}
	cfg, err := l.build()
	if err != nil {
		return nil, err
	}
	cfg.unknownEnv, cfg.serviceLinkEnv = unknownEnv, serviceLinks
	return cfg, nil
}

// readFile loads the YAML file into viper after checking every key in it
// is known, so a misspelt key is reported by name instead of ignored.
func (l *loader) readFile() error {
	raw, err := os.ReadFile(l.file)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(raw, &tree); err != nil {
		return fmt.Errorf("config: file %s is not valid YAML: %v", l.file, err)
	}
	if err := l.walk("", tree); err != nil {
		return err
	}
	l.v.SetConfigType("yaml")
	if err := l.v.ReadConfig(bytes.NewReader(raw)); err != nil {
		return fmt.Errorf("config: file %s: %w", l.file, err)
	}
	return nil
}

func (l *loader) walk(prefix string, tree map[string]any) error {
	names := make([]string, 0, len(tree))
	for k := range tree {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		full := name
		if prefix != "" {
			full = prefix + "." + name
		}
		if k, ok := keyByName(full); ok {
			if k.envOnly {
				return &ConfigError{Key: full, Source: "file " + l.file, Msg: "a credential: set it with " + k.env() + " or a file key (…-file), never in the config file"}
			}
			l.fileKeys[full] = true
			continue
		}
		if tree[name] == nil && isSection(full) {
			continue // a section left empty (only comments under it) is no error
		}
		sub, isMap := tree[name].(map[string]any)
		if isMap && isSection(full) {
			if err := l.walk(full, sub); err != nil {
				return err
			}
			continue
		}
		full = firstLeaf(full, tree[name])
		msg := "unknown key"
		if s := suggest(full); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		return &ConfigError{Key: full, Source: "file " + l.file, Msg: msg}
	}
	return nil
}

// firstLeaf extends a path into a map to its first leaf, so an unknown
// section is reported by the full key that was written (notify.webhok.url).
func firstLeaf(path string, v any) string {
	for {
		m, ok := v.(map[string]any)
		if !ok || len(m) == 0 {
			return path
		}
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		path, v = path+"."+names[0], m[names[0]]
	}
}

func isSection(prefix string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k.name, prefix+".") {
			return true
		}
	}
	return false
}

// suggest returns the known key closest to name, if close.
func suggest(name string) string {
	best, bestD := "", 4
	for _, k := range keys {
		if d := editDistance(name, k.name); d < bestD {
			best, bestD = k.name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (l *loader) envSet(k key) bool {
	for _, kv := range l.environ {
		if name, _, _ := strings.Cut(kv, "="); name == k.env() {
			return true
		}
	}
	return false
}

// source says where a key's effective value came from.
func (l *loader) source(k key) string {
	if k.flag != "" && l.flags != nil {
		if f := l.flags.Lookup(k.flag); f != nil && f.Changed {
			return "flag --" + k.flag
		}
	}
	if l.envSet(k) {
		return "env " + k.env()
	}
	if l.fileKeys[k.name] {
		return "file " + l.file
	}
	return "default"
}

func (l *loader) errf(name, format string, args ...any) error {
	k, _ := keyByName(name)
	return &ConfigError{Key: name, Source: l.source(k), Msg: fmt.Sprintf(format, args...)}
}

func (l *loader) str(name string) string { return strings.TrimSpace(l.v.GetString(name)) }

// list reads a list key: a YAML list, a repeatable flag, or a
// comma-separated env value.
func (l *loader) list(name string) []string {
	var out []string
	switch v := l.v.Get(name).(type) {
	case string:
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	case []string:
		for _, p := range v {
			for _, q := range strings.Split(p, ",") {
				if q = strings.TrimSpace(q); q != "" {
					out = append(out, q)
				}
			}
		}
	case []any:
		for _, p := range v {
			out = append(out, strings.TrimSpace(fmt.Sprint(p)))
		}
	}
	return out
}

func (l *loader) duration(name string, add func(error)) time.Duration {
	d, err := time.ParseDuration(l.str(name))
	if err != nil || d < 0 {
		add(l.errf(name, "invalid duration %q", l.str(name)))
	}
	return d
}

func (l *loader) positive(name string, add func(error)) int {
	n, err := strconv.Atoi(l.str(name))
	if err != nil || n < 1 {
		add(l.errf(name, "invalid value %q (want a positive number)", l.str(name)))
	}
	return n
}

// secret reads a credential from KEY-file or the env-only KEY; its value
// never appears in an error or log.
func (l *loader) secret(fileKey, envKey string) (string, error) {
	if f := l.str(fileKey); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", l.errf(fileKey, "cannot read the secret file: %v", errors.Unwrap(err))
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", l.errf(fileKey, "the secret file is empty")
		}
		return v, nil
	}
	return l.str(envKey), nil
}

func (l *loader) severityOr(name string, def analyze.Severity, add func(error)) analyze.Severity {
	v := l.str(name)
	if v == "" {
		return def
	}
	sev, err := analyze.ParseSeverity(v)
	if err != nil {
		add(l.errf(name, "%v", err))
	}
	return sev
}

// sinks builds the sink specs from the notify.* keys.
func (l *loader) sinks(c *Config) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	c.Dispatch = notify.DispatcherOptions{QueueSize: l.positive("notify.queue-size", add), MaxRetries: l.positive("notify.max-retries", add),
		Throttle: l.duration("notify.throttle", add)}
	c.DrainTimeout = l.duration("notify.drain-timeout", add)
	if c.Stdout {
		c.Sinks = append(c.Sinks, notify.SinkSpec{Type: "stdout", StdoutFormat: c.StdoutFormat})
	}
	if u := l.str("notify.webhook.url"); u != "" {
		w := notify.WebhookOptions{URL: u, CAFile: l.str("notify.webhook.ca-file"), InsecureSkipVerify: l.boolean("notify.webhook.insecure-skip-verify", add),
			Timeout: l.duration("notify.webhook.timeout", add)}
		if pu, err := url.Parse(u); err != nil || pu.Host == "" || pu.Scheme != "http" && pu.Scheme != "https" {
			add(l.errf("notify.webhook.url", "want a valid http:// or https:// URL"))
		}
		sec, err := l.secret("notify.webhook.secret-file", "notify.webhook.secret")
		add(err)
		w.Secret = []byte(sec)
		if h, ok := l.v.Get("notify.webhook.headers").(map[string]any); ok {
			w.Headers = map[string]string{}
			for k, v := range h {
				w.Headers[k] = fmt.Sprint(v)
			}
		}
		if f := l.str("notify.webhook.template"); f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				add(l.errf("notify.webhook.template", "%v", errors.Unwrap(err)))
			} else if t, err := template.New(filepath.Base(f)).Funcs(notify.TemplateFuncs()).Parse(string(b)); err != nil {
				add(l.errf("notify.webhook.template", "%v", err))
			} else {
				w.Template = t
			}
		}
		c.Sinks = append(c.Sinks, notify.SinkSpec{Type: "webhook", Webhook: w,
			MinSeverity: l.severityOr("notify.webhook.min-severity", c.MinSeverity, add), Namespaces: l.list("notify.webhook.namespaces")})
	} else if l.str("notify.webhook.secret-file") != "" {
		add(l.errf("notify.webhook.secret-file", "set without notify.webhook.url"))
	}
	token, err := l.secret("notify.slack.token-file", "notify.slack.token")
	add(err)
	if hook := l.str("notify.slack.webhook-url"); hook != "" || token != "" {
		so := notify.SlackOptions{WebhookURL: hook, Token: token, Channel: l.str("notify.slack.channel"), APIURL: l.str("notify.slack.api-url")}
		routes, ok := l.v.Get("notify.slack.channel-routes").([]any)
		if !ok {
			add(l.errf("notify.slack.channel-routes", "want a list of {namespaces, channel}"))
		}
		for i, r := range routes {
			js, _ := json.Marshal(r)
			var cr struct {
				Namespaces []string `json:"namespaces"`
				Channel    string   `json:"channel"`
			}
			dec := json.NewDecoder(bytes.NewReader(js))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&cr); err != nil || cr.Channel == "" || len(cr.Namespaces) == 0 {
				add(l.errf(fmt.Sprintf("notify.slack.channel-routes[%d]", i), "want {namespaces: [globs], channel}"))
				continue
			}
			so.ChannelRoutes = append(so.ChannelRoutes, notify.ChannelRoute{Namespaces: cr.Namespaces, Channel: cr.Channel})
		}
		switch {
		case hook != "" && token != "":
			add(l.errf("notify.slack.webhook-url", "set either a Slack webhook URL or a bot token, not both"))
		case token != "" && so.Channel == "":
			add(l.errf("notify.slack.channel", "a Slack bot token needs a channel"))
		case hook != "" && !strings.HasPrefix(hook, "https://") && !strings.HasPrefix(hook, "http://"):
			add(l.errf("notify.slack.webhook-url", "want an https:// URL"))
		}
		c.Sinks = append(c.Sinks, notify.SinkSpec{Type: "slack", Slack: so,
			MinSeverity: l.severityOr("notify.slack.min-severity", c.MinSeverity, add), Namespaces: l.list("notify.slack.namespaces")})
	}
	if l.boolean("notify.events.enabled", add) {
		c.Sinks = append(c.Sinks, notify.SinkSpec{Type: "events", MinSeverity: l.severityOr("notify.events.min-severity", c.MinSeverity, add)})
	}
	return errors.Join(errs...)
}

// boolean reads a bool key; strings from env must parse as a bool.
func (l *loader) boolean(name string, add func(error)) bool {
	switch v := l.v.Get(name).(type) {
	case bool:
		return v
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			add(l.errf(name, "invalid value %q (want true or false)", v))
		}
		return b
	default:
		add(l.errf(name, "invalid value %v (want true or false)", v))
		return false
	}
}

func (l *loader) build() (*Config, error) {
	c := &Config{}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	switch lv := strings.ToLower(l.str("log.level")); lv {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info", "":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		add(l.errf("log.level", "invalid value %q (want debug, info, warn or error)", lv))
	}
	c.LogFormat = strings.ToLower(l.str("log.format"))
	if c.LogFormat != "text" && c.LogFormat != "json" {
		add(l.errf("log.format", "invalid value %q (want text or json)", c.LogFormat))
	}
	c.Kubeconfig = l.str("kube.kubeconfig")
	c.Context = l.str("kube.context")
	c.Namespaces = l.list("watch.namespaces")
	c.ExcludeNamespaces = l.list("watch.exclude-namespaces")
	for _, g := range c.ExcludeNamespaces {
		if _, err := path.Match(g, ""); err != nil {
			add(l.errf("watch.exclude-namespaces", "bad glob %q", g))
		}
	}
	sel, err := labels.Parse(l.str("watch.selector"))
	if err != nil {
		add(l.errf("watch.selector", "invalid label selector: %v", err))
	}
	c.Selector = sel

	if sev, err := analyze.ParseSeverity(l.str("watch.min-severity")); err != nil || sev == analyze.SeverityNone {
		add(l.errf("watch.min-severity", "invalid value %q (want low, medium, high or critical)", l.str("watch.min-severity")))
	} else {
		c.MinSeverity = sev
	}
	c.AlertOnDelete = l.boolean("watch.alert-on-delete", add)
	c.ReportExisting = l.boolean("watch.report-existing", add)
	if n, err := strconv.Atoi(l.str("watch.workers")); err != nil || n < 1 || n > 64 {
		add(l.errf("watch.workers", "invalid value %q (want 1 to 64)", l.str("watch.workers")))
	} else {
		c.Workers = n
	}
	c.State = l.str("watch.state")
	c.ClusterName = l.str("watch.cluster-name")
	c.Stdout = l.boolean("notify.stdout", add)
	c.StdoutFormat = strings.ToLower(l.str("notify.stdout-format"))
	if c.StdoutFormat != "auto" && c.StdoutFormat != "json" && c.StdoutFormat != "text" {
		add(l.errf("notify.stdout-format", "invalid value %q (want auto, json or text)", c.StdoutFormat))
	}
	c.HealthAddr, c.MetricsAddr = l.str("server.health-addr"), l.str("server.metrics-addr")
	add(l.sinks(c))
	if addr := l.str("audit.webhook-addr"); addr != "" {
		tok, err := l.secret("audit.token-file", "audit.token")
		add(err)
		c.Audit = audit.Options{Addr: addr, CertFile: l.str("audit.cert-file"), KeyFile: l.str("audit.key-file"), ClientCAFile: l.str("audit.client-ca-file"),
			Token: tok, Wait: l.duration("audit.wait", add), AlertDeletes: l.boolean("audit.alert-deletes", add), AlertDenied: l.boolean("audit.alert-denied", add)}
		if _, err := audit.New(c.Audit, nil, nil, nil); err != nil {
			add(l.errf("audit.webhook-addr", "%v", strings.TrimPrefix(err.Error(), "audit webhook: ")))
		}
	}
	c.LeaderElect = strings.ToLower(l.str("leader-election.enabled"))
	if c.LeaderElect != "auto" && c.LeaderElect != "true" && c.LeaderElect != "false" {
		add(l.errf("leader-election.enabled", "invalid value %q (want auto, true or false)", c.LeaderElect))
	}
	c.LeaseNamespace, c.LeaseName = l.str("leader-election.namespace"), l.str("leader-election.id")
	c.LeaseDuration = l.duration("leader-election.lease-duration", add)
	c.RenewDeadline = l.duration("leader-election.renew-deadline", add)
	c.RetryPeriod = l.duration("leader-election.retry-period", add)
	if c.LeaseDuration <= c.RenewDeadline || c.RenewDeadline <= c.RetryPeriod || c.RetryPeriod <= 0 {
		add(l.errf("leader-election.lease-duration", "need lease-duration > renew-deadline > retry-period > 0"))
	}

	c.Analyze.TrustedRegistries = l.list("analyze.trusted-registries")
	c.Analyze.TrustedDownloadHosts = l.list("analyze.trusted-download-hosts")
	c.Analyze.DisabledRules = l.list("analyze.disabled-rules")
	if v := l.str("analyze.pss-version"); v != "latest" {
		c.Analyze.PSSVersion = v
	}
	add(l.severityOverrides(c))
	add(l.exceptions(c))
	if len(errs) == 0 {
		if _, err := analyze.New(c.Analyze); err != nil {
			add(l.errf("analyze", "%v", firstLine(err)))
		}
	}
	if len(errs) > 0 {
		first := errs[0]
		if j, ok := first.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 0 {
			first = j.Unwrap()[0]
		}
		return nil, first
	}
	for _, k := range keys {
		c.effective = append(c.effective, effectiveValue{key: k.name, source: l.source(k), value: l.v.Get(k.name)})
	}
	return c, nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func (l *loader) severityOverrides(c *Config) error {
	raw := l.v.Get("analyze.severity-overrides")
	m, ok := raw.(map[string]any)
	if !ok {
		if sm, ok2 := raw.(map[string]string); ok2 && len(sm) == 0 {
			return nil
		}
		return l.errf("analyze.severity-overrides", "want a map of rule ID to severity")
	}
	if len(m) == 0 {
		return nil
	}
	c.Analyze.SeverityOverrides = map[string]analyze.Severity{}
	for id, v := range m {
		sev, err := analyze.ParseSeverity(fmt.Sprint(v))
		if err != nil {
			return l.errf("analyze.severity-overrides."+id, "%v", err)
		}
		// viper lower-cases map keys; rule IDs are upper case.
		c.Analyze.SeverityOverrides[strings.ToUpper(id)] = sev
	}
	return nil
}

// exceptionSpec is the file form of one analyze.exceptions entry.
type exceptionSpec struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Labels    string   `json:"labels"`
	Image     string   `json:"image"`
	Rules     []string `json:"rules"`
	Reason    string   `json:"reason"`
	Expires   string   `json:"expires"`
}

func (l *loader) exceptions(c *Config) error {
	raw := l.v.Get("analyze.exceptions")
	list, ok := raw.([]any)
	if !ok {
		return l.errf("analyze.exceptions", "want a list of exceptions")
	}
	for i, item := range list {
		js, err := json.Marshal(item)
		if err != nil {
			return l.errf(fmt.Sprintf("analyze.exceptions[%d]", i), "%v", err)
		}
		var spec exceptionSpec
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			return l.errf(fmt.Sprintf("analyze.exceptions[%d]", i), "%v", strings.TrimPrefix(err.Error(), "json: "))
		}
		e := analyze.Exception{Namespace: spec.Namespace, Image: spec.Image, Rules: spec.Rules, Reason: spec.Reason}
		if spec.Name != "" {
			re, err := regexp.Compile("^(?:" + spec.Name + ")$")
			if err != nil {
				return l.errf(fmt.Sprintf("analyze.exceptions[%d].name", i), "invalid regexp: %v", err)
			}
			e.Name = re
		}
		if spec.Labels != "" {
			sel, err := labels.Parse(spec.Labels)
			if err != nil {
				return l.errf(fmt.Sprintf("analyze.exceptions[%d].labels", i), "invalid selector: %v", err)
			}
			e.Labels = sel
		}
		if spec.Expires != "" {
			t, err := time.Parse(time.DateOnly, spec.Expires)
			if err != nil {
				t, err = time.Parse(time.RFC3339, spec.Expires)
			}
			if err != nil {
				return l.errf(fmt.Sprintf("analyze.exceptions[%d].expires", i), "want YYYY-MM-DD or RFC 3339, got %q", spec.Expires)
			}
			e.Expires = t
		}
		for j, id := range e.Rules {
			e.Rules[j] = strings.ToUpper(id)
		}
		c.Analyze.Exceptions = append(c.Analyze.Exceptions, e)
	}
	return nil
}

// logEffective logs every key's value and source at debug level, secrets masked.
func (c *Config) logEffective(log *slog.Logger) {
	for _, e := range c.effective {
		v := e.value
		if k, _ := keyByName(e.key); k.secret && fmt.Sprint(v) != "" {
			v = "***"
		}
		log.Debug("config", "key", e.key, "value", v, "source", e.source)
	}
	for _, name := range c.unknownEnv {
		log.Warn("ignoring an environment variable that is not a configuration key", "name", name)
	}
	if len(c.serviceLinkEnv) > 0 {
		log.Debug("ignoring service-link environment variables injected by the kubelet", "names", c.serviceLinkEnv)
	}
}

var errNoClusterConfig = errors.New("no cluster configuration found: pass --kubeconfig or --context, set KUBECONFIG, or run inside a cluster")
