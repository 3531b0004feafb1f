package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/jobwatch/jobwatch/pkg/analyze"
)

// Stdout writes alerts as JSON lines (the SIEM path) or as a readable,
// optionally coloured summary for a terminal.
type Stdout struct {
	mu     sync.Mutex
	w      io.Writer
	format string // "json" or "text"
	color  bool
}

var _ Notifier = (*Stdout)(nil)

// NewStdout returns a stdout sink; format is "json" or "text".
func NewStdout(w io.Writer, format string, color bool) (*Stdout, error) {
	if format != "json" && format != "text" {
		return nil, &PermanentError{Err: fmt.Errorf("stdout: unknown format %q (want json or text)", format)}
	}
	return &Stdout{w: w, format: format, color: color}, nil
}

// Name implements Notifier.
func (s *Stdout) Name() string { return "stdout" }

// Notify implements Notifier.
func (s *Stdout) Notify(_ context.Context, a Alert) error {
	var b []byte
	if s.format == "json" {
		var err error
		if b, err = json.Marshal(a); err != nil {
			return &PermanentError{Err: err}
		}
		b = append(b, '\n')
	} else {
		b = []byte(s.text(a))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.Write(b)
	return err
}

var sevColor = map[analyze.Severity]string{
	analyze.SeverityCritical: "\x1b[1;37;41m", analyze.SeverityHigh: "\x1b[1;31m",
	analyze.SeverityMedium: "\x1b[33m", analyze.SeverityLow: "\x1b[36m",
}

func (s *Stdout) text(a Alert) string {
	var b strings.Builder
	sev := strings.ToUpper(a.Severity.String())
	if s.color {
		sev = sevColor[a.Severity] + sev + "\x1b[0m"
	}
	fmt.Fprintf(&b, "%s %s %s %s/%s score %d", sev, a.Event, a.Object.Kind, a.Object.Namespace, a.Object.Name, a.Score)
	if a.PreviousScore != nil {
		fmt.Fprintf(&b, " (was %d)", *a.PreviousScore)
	}
	switch {
	case a.Actor != nil && a.Actor.User != "":
		fmt.Fprintf(&b, " by %s (%s)", a.Actor.User, a.Actor.Manager)
	case a.Actor != nil && a.Actor.Manager != "":
		fmt.Fprintf(&b, " by %s", a.Actor.Manager)
	}
	b.WriteString("\n")
	for _, c := range a.Diff {
		fmt.Fprintf(&b, "  ~ %s: %q -> %q\n", c.Path, c.Old, c.New)
	}
	for _, f := range a.Findings {
		if f.Severity == analyze.SeverityNone {
			continue
		}
		fmt.Fprintf(&b, "  %-12s %-8s %s: %s\n", f.Rule, f.Severity, f.Title, f.Evidence)
	}
	return b.String()
}
