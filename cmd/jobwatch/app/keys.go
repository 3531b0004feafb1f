package app

import (
	"strings"

	"github.com/jobwatch/jobwatch/pkg/analyze"
)

// keyKind is how a key's value is parsed.
type keyKind int

const (
	kindString keyKind = iota
	kindList           // comma-separated in env, repeatable flag, YAML list in the file
	kindBool
	kindObject // structured value, configuration file only
)

// key is one configuration key. The table below is the single source of
// flags, environment variables, defaults and the README table.
type key struct {
	name     string // dotted, e.g. "log.level"
	flag     string // flag name, "" for file-only keys
	short    string
	kind     keyKind
	def      any
	usage    string
	secret   bool
	envOnly  bool     // a credential: accepted from the environment only
	noOpt    string   // value of a bare --flag (NoOptDefVal)
	commands []string // commands that take the flag; nil means global (persistent)
}

// env is the key's environment variable.
func (k key) env() string {
	return envPrefix + "_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(k.name))
}

const envPrefix = "JOBWATCH"

// Non-configuration environment variables that share the prefix.
var reservedEnv = map[string]string{
	"JOBWATCH_CONFIG":           "path of the configuration file (like --config)",
	"JOBWATCH_CONTROLPLANE_DIR": "where tests and the demo cache the control-plane binaries",
}

var scanAndRun = []string{"run", "scan"}
var run = []string{"run"}
var analyzers = []string{"run", "scan", "check"}

var keys = []key{
	{name: "log.level", flag: "log-level", kind: kindString, def: "info", usage: "log level: debug, info, warn or error"},
	{name: "log.format", flag: "log-format", kind: kindString, def: "text", usage: "log format on stderr: text or json"},
	{name: "kube.kubeconfig", flag: "kubeconfig", kind: kindString, def: "", usage: "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)", commands: scanAndRun},
	{name: "kube.context", flag: "context", kind: kindString, def: "", usage: "kubeconfig context to use", commands: scanAndRun},
	{name: "watch.namespaces", flag: "namespace", short: "n", kind: kindList, def: []string{}, usage: "namespaces to watch (repeatable; default all)", commands: scanAndRun},
	{name: "watch.exclude-namespaces", flag: "exclude-namespace", kind: kindList, def: []string{}, usage: "namespaces to ignore, globs allowed (repeatable)", commands: scanAndRun},
	{name: "watch.selector", flag: "selector", short: "l", kind: kindString, def: "", usage: "label selector for Jobs and CronJobs", commands: scanAndRun},
	{name: "watch.min-severity", flag: "min-severity", kind: kindString, def: "medium", usage: "least severity that alerts: low, medium, high or critical", commands: []string{"run"}},
	{name: "watch.alert-on-delete", flag: "alert-on-delete", kind: kindBool, def: false, usage: "alert when an object that had alerted is deleted", commands: []string{"run"}},
	{name: "watch.report-existing", flag: "report-existing", kind: kindBool, def: false, usage: "on the first run ever, alert existing objects instead of taking them as the baseline", commands: []string{"run"}},
	{name: "watch.workers", flag: "workers", kind: kindString, def: "2", usage: "objects judged in parallel", commands: []string{"run"}},
	{name: "watch.state", flag: "state", kind: kindString, def: "", usage: "checkpoint: a file path or configmap://NAMESPACE/NAME (default: in-cluster a ConfigMap jobwatch-state in jobwatch's namespace, else $XDG_STATE_HOME/jobwatch/CONTEXT.state)", commands: []string{"run"}},
	{name: "watch.cluster-name", flag: "cluster-name", kind: kindString, def: "", usage: "cluster name put in alerts (default: the kubeconfig context, or in-cluster)", commands: []string{"run"}},
	{name: "notify.stdout", flag: "stdout", kind: kindBool, def: true, usage: "write alerts to stdout", commands: []string{"run"}},
	{name: "notify.stdout-format", flag: "stdout-format", kind: kindString, def: "auto", usage: "stdout alert format: auto (json unless a terminal), json or text", commands: []string{"run"}},
	{name: "notify.webhook.url", flag: "webhook-url", kind: kindString, def: "", usage: "POST alerts (JSON, signed) to this URL", secret: true, commands: run},
	{name: "notify.webhook.secret-file", flag: "webhook-secret-file", kind: kindString, def: "", usage: "file holding the webhook HMAC key (or env JOBWATCH_NOTIFY_WEBHOOK_SECRET)", commands: run},
	{name: "notify.webhook.secret", kind: kindString, def: "", usage: "webhook HMAC key, from the environment only", secret: true, envOnly: true},
	{name: "notify.webhook.headers", kind: kindObject, def: map[string]string{}, usage: "extra HTTP headers for the webhook (file only)", secret: true},
	{name: "notify.webhook.ca-file", flag: "webhook-ca-file", kind: kindString, def: "", usage: "CA bundle to verify the webhook's TLS certificate", commands: run},
	{name: "notify.webhook.insecure-skip-verify", flag: "webhook-insecure-skip-verify", kind: kindBool, def: false, usage: "do not verify the webhook's TLS certificate", commands: run},
	{name: "notify.webhook.timeout", flag: "webhook-timeout", kind: kindString, def: "10s", usage: "timeout of one webhook request", commands: run},
	{name: "notify.webhook.template", flag: "webhook-template", kind: kindString, def: "", usage: "file with a Go template for the request body (default: the Alert JSON)", commands: run},
	{name: "notify.webhook.min-severity", flag: "webhook-min-severity", kind: kindString, def: "", usage: "least severity sent to the webhook (default --min-severity)", commands: run},
	{name: "notify.webhook.namespaces", flag: "webhook-namespace", kind: kindList, def: []string{}, usage: "only alerts from these namespaces (globs) go to the webhook", commands: run},
	{name: "notify.slack.webhook-url", flag: "slack-webhook-url", kind: kindString, def: "", usage: "Slack incoming webhook URL", secret: true, commands: run},
	{name: "notify.slack.token-file", flag: "slack-token-file", kind: kindString, def: "", usage: "file holding a Slack bot token (or env JOBWATCH_NOTIFY_SLACK_TOKEN)", commands: run},
	{name: "notify.slack.token", kind: kindString, def: "", usage: "Slack bot token, from the environment only", secret: true, envOnly: true},
	{name: "notify.slack.channel", flag: "slack-channel", kind: kindString, def: "", usage: "channel for the bot token (ID or #name)", commands: run},
	{name: "notify.slack.api-url", flag: "slack-api-url", kind: kindString, def: "", usage: "Slack Web API base URL (Slack-compatible servers, tests)", commands: run},
	{name: "notify.slack.min-severity", flag: "slack-min-severity", kind: kindString, def: "", usage: "least severity sent to Slack (default --min-severity)", commands: run},
	{name: "notify.slack.namespaces", flag: "slack-namespace", kind: kindList, def: []string{}, usage: "only alerts from these namespaces (globs) go to Slack", commands: run},
	{name: "notify.slack.channel-routes", kind: kindObject, def: []any{}, usage: "list of {namespaces: [globs], channel} sending namespaces to other channels (file only)"},
	{name: "notify.events.enabled", flag: "events", kind: kindBool, def: false, usage: "record a Warning Event on the Job or CronJob", commands: run},
	{name: "notify.events.min-severity", flag: "events-min-severity", kind: kindString, def: "", usage: "least severity recorded as an Event (default --min-severity)", commands: run},
	{name: "notify.queue-size", flag: "notify-queue-size", kind: kindString, def: "1000", usage: "alerts each sink may hold before dropping (counted)", commands: run},
	{name: "notify.max-retries", flag: "notify-max-retries", kind: kindString, def: "10", usage: "retries of one alert on one sink (exponential backoff, Retry-After honoured)", commands: run},
	{name: "notify.throttle", flag: "notify-throttle", kind: kindString, def: "0s", usage: "least time between two alerts for the same object on one sink (0 disables)", commands: run},
	{name: "notify.drain-timeout", flag: "drain-timeout", kind: kindString, def: "10s", usage: "on shutdown, how long sinks may deliver queued alerts (the rest stays in the checkpoint)", commands: run},
	{name: "leader-election.enabled", flag: "leader-elect", kind: kindString, def: "auto", noOpt: "true", usage: "elect one leader among replicas (a Lease); auto means on in-cluster, off on a laptop", commands: run},
	{name: "leader-election.namespace", flag: "leader-election-namespace", kind: kindString, def: "", usage: "namespace of the Lease (default: jobwatch's own)", commands: run},
	{name: "leader-election.id", flag: "leader-election-id", kind: kindString, def: "jobwatch", usage: "name of the Lease", commands: run},
	{name: "leader-election.lease-duration", flag: "leader-election-lease-duration", kind: kindString, def: "15s", usage: "how long a standby waits before taking over a silent leader", commands: run},
	{name: "leader-election.renew-deadline", flag: "leader-election-renew-deadline", kind: kindString, def: "10s", usage: "how long the leader retries renewing before it gives up (and exits)", commands: run},
	{name: "leader-election.retry-period", flag: "leader-election-retry-period", kind: kindString, def: "2s", usage: "interval between Lease attempts", commands: run},
	{name: "audit.webhook-addr", flag: "audit-webhook-addr", kind: kindString, def: "", usage: "serve the kube-apiserver audit webhook (POST /audit) on this address, e.g. :9443 (TLS) or 127.0.0.1:9443", commands: run},
	{name: "audit.cert-file", flag: "audit-webhook-cert-file", kind: kindString, def: "", usage: "TLS certificate of the audit webhook (required unless the address is loopback)", commands: run},
	{name: "audit.key-file", flag: "audit-webhook-key-file", kind: kindString, def: "", usage: "TLS key of the audit webhook", commands: run},
	{name: "audit.client-ca-file", flag: "audit-webhook-client-ca-file", kind: kindString, def: "", usage: "require API server client certificates signed by this CA", commands: run},
	{name: "audit.token-file", flag: "audit-webhook-token-file", kind: kindString, def: "", usage: "file with the bearer token the API server must send (or env JOBWATCH_AUDIT_TOKEN)", commands: run},
	{name: "audit.token", kind: kindString, def: "", usage: "audit webhook bearer token, from the environment only", secret: true, envOnly: true},
	{name: "audit.wait", flag: "audit-wait", kind: kindString, def: "2s", usage: "how long an alert may wait for its audit event", commands: run},
	{name: "audit.alert-deletes", flag: "audit-alert-deletes", kind: kindBool, def: true, usage: "low alert when a user (not a controller) deletes a Job or CronJob", commands: run},
	{name: "audit.alert-denied", flag: "audit-alert-denied", kind: kindBool, def: true, usage: "medium alert when creating or changing a Job or CronJob is denied (403)", commands: run},
	{name: "server.health-addr", flag: "health-addr", kind: kindString, def: ":8081", usage: "address serving /healthz and /readyz (empty disables)", commands: []string{"run"}},
	{name: "server.metrics-addr", flag: "metrics-addr", kind: kindString, def: ":8080", usage: "address serving Prometheus /metrics (empty disables)", commands: []string{"run"}},
	{name: "analyze.trusted-registries", flag: "trusted-registry", kind: kindList, def: analyze.DefaultTrustedRegistries, usage: "registries images may come from (globs); others are JW-IMG-004", commands: analyzers},
	{name: "analyze.trusted-download-hosts", flag: "trusted-download-host", kind: kindList, def: analyze.DefaultTrustedDownloadHosts, usage: "hosts whose installers are well known: fetch-and-run from them is only low", commands: analyzers},
	{name: "analyze.disabled-rules", flag: "disable-rule", kind: kindList, def: []string{}, usage: "rule IDs never reported (repeatable)", commands: analyzers},
	{name: "analyze.pss-version", flag: "pss-version", kind: kindString, def: "latest", usage: "Pod Security Standards version evaluated: latest or v1.N", commands: analyzers},
	{name: "analyze.severity-overrides", kind: kindObject, def: map[string]string{}, usage: "map of rule ID to severity (file only)"},
	{name: "analyze.exceptions", kind: kindObject, def: []any{}, usage: "list of {namespace, name, labels, image, rules, reason, expires} (file only)"},
}

func keyByName(name string) (key, bool) {
	for _, k := range keys {
		if k.name == name {
			return k, true
		}
	}
	return key{}, false
}

func (k key) forCommand(cmd string) bool {
	if k.flag == "" {
		return false
	}
	if k.commands == nil {
		return true
	}
	for _, c := range k.commands {
		if c == cmd {
			return true
		}
	}
	return false
}
