package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"k8s.io/client-go/kubernetes"

	"github.com/jobwatch/jobwatch/pkg/analyze"
)

// SinkSpec is one configured sink: its type selects the constructor.
type SinkSpec struct {
	Type        string
	MinSeverity analyze.Severity
	Namespaces  []string

	StdoutFormat string
	StdoutColor  bool
	Webhook      WebhookOptions
	Slack        SlackOptions
}

// Deps are what constructors may need.
type Deps struct {
	Ctx    context.Context
	Out    io.Writer
	Client kubernetes.Interface
}

type constructor func(SinkSpec, Deps) (Notifier, error)

// constructors is the one map of sink types.
var constructors = map[string]constructor{
	"stdout": func(s SinkSpec, d Deps) (Notifier, error) {
		return NewStdout(d.Out, s.StdoutFormat, s.StdoutColor)
	},
	"webhook": func(s SinkSpec, _ Deps) (Notifier, error) { return NewWebhook(s.Webhook) },
	"slack":   func(s SinkSpec, _ Deps) (Notifier, error) { return NewSlack(s.Slack) },
	"events": func(_ SinkSpec, d Deps) (Notifier, error) {
		if d.Client == nil {
			return nil, errors.New("events: needs a cluster client")
		}
		return NewEvents(d.Ctx, d.Client), nil
	},
}

// SinkTypes lists the known sink types.
func SinkTypes() []string {
	out := make([]string, 0, len(constructors))
	for k := range constructors {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// BuildRoutes constructs every sink; an unknown type or a bad option fails.
func BuildRoutes(specs []SinkSpec, deps Deps) ([]Route, error) {
	var routes []Route
	seen := map[string]bool{}
	for _, s := range specs {
		c, ok := constructors[s.Type]
		if !ok {
			return nil, fmt.Errorf("notify: unknown sink type %q (known: %v)", s.Type, SinkTypes())
		}
		if seen[s.Type] {
			return nil, fmt.Errorf("notify: sink %q configured twice", s.Type)
		}
		seen[s.Type] = true
		n, err := c(s, deps)
		if err != nil {
			return nil, err
		}
		routes = append(routes, Route{Notifier: n, MinSeverity: s.MinSeverity, Namespaces: s.Namespaces})
	}
	if len(routes) == 0 {
		return nil, errors.New("notify: no sink enabled (stdout, webhook, slack or events)")
	}
	return routes, nil
}
