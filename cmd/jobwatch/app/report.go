package app

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/jobwatch/jobwatch/pkg/analyze"
)

// result is one scored object as `check` and `scan` print it.
type result struct {
	Kind      string            `json:"kind"`
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	File      string            `json:"file,omitempty"`
	Document  *int              `json:"document,omitempty"`
	Score     int               `json:"score"`
	Severity  analyze.Severity  `json:"severity"`
	Findings  []analyze.Finding `json:"findings"`
}

func newResult(obj *analyze.Object, rep analyze.Report) result {
	return result{Kind: obj.Kind, Namespace: obj.Meta.Namespace, Name: obj.Meta.Name, Score: rep.Score, Severity: rep.Severity, Findings: rep.Findings}
}

// printer writes results as JSON lines or a readable table.
type printer struct {
	w      io.Writer
	format string
}

func newPrinter(w io.Writer, format string) (*printer, error) {
	if format != "text" && format != "json" {
		return nil, fmt.Errorf("-o: unknown output format %q (want text or json)", format)
	}
	return &printer{w: w, format: format}, nil
}

func (p *printer) print(r result) error {
	if p.format == "json" {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.w, "%s\n", b)
		return err
	}
	where := r.Name
	if r.Namespace != "" {
		where = r.Namespace + "/" + r.Name
	}
	src := ""
	if r.File != "" {
		src = fmt.Sprintf("  (%s, document %d)", r.File, *r.Document)
	}
	fmt.Fprintf(p.w, "%s %s  %s score %d%s\n", strings.ToUpper(r.Severity.String()), r.Kind, where, r.Score, src)
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	for _, f := range r.Findings {
		c := ""
		if f.Container != "" {
			c = " [" + f.Container + "]"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s%s\t%s\n", f.Rule, f.Severity, f.Title, c, f.Evidence)
		fmt.Fprintf(tw, "  \t\t  at %s\t%s\n", f.Path, strings.Join(f.Attack, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(p.w)
	return err
}

// reporter scores objects and prints them for check and scan, and
// remembers whether anything reached --fail-on.
type reporter struct {
	analyzer *analyze.Analyzer
	printer  *printer
	failOn   analyze.Severity
	failed   bool
}

// newReporter validates -o and --fail-on and builds the analyzer.
func newReporter(s *streams, cfg *Config, o *checkOptions) (*reporter, error) {
	failOn, err := analyze.ParseSeverity(o.failOn)
	if err != nil {
		return nil, &codeError{code: exitError, err: fmt.Errorf("--fail-on: %v", err)}
	}
	p, err := newPrinter(s.out, o.output)
	if err != nil {
		return nil, &codeError{code: exitError, err: err}
	}
	a, err := analyze.New(cfg.Analyze)
	if err != nil {
		return nil, &codeError{code: exitError, err: err}
	}
	for _, w := range a.Warnings() {
		fmt.Fprintln(s.err, "jobwatch: warning: "+w)
	}
	return &reporter{analyzer: a, printer: p, failOn: failOn}, nil
}

// report scores obj and prints it; file and doc are set for check.
func (r *reporter) report(obj *analyze.Object, file string, doc *int) error {
	res := newResult(obj, r.analyzer.Analyze(*obj))
	res.File, res.Document = file, doc
	if r.failOn > analyze.SeverityNone && res.Severity >= r.failOn {
		r.failed = true
	}
	if err := r.printer.print(res); err != nil {
		return &codeError{code: exitError, err: err}
	}
	return nil
}
