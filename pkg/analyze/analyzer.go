package analyze

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	psaapi "k8s.io/pod-security-admission/api"
)

// Options configure an Analyzer. The zero value plus DefaultOptions' lists
// is what `jobwatch check` uses without a config file.
type Options struct {
	// TrustedRegistries are registry hosts (path.Match globs like
	// "*.dkr.ecr.*.amazonaws.com") images may come from; empty disables
	// JW-IMG-004.
	TrustedRegistries []string
	// TrustedDownloadHosts are hosts whose installers are well known
	// (dl.k8s.io, get.helm.sh …): fetch-and-run from them is only low.
	TrustedDownloadHosts []string
	// DisabledRules are rule IDs never reported.
	DisabledRules []string
	// SeverityOverrides replace a rule's severity (all its findings).
	SeverityOverrides map[string]Severity
	// Exceptions silence rules for matching objects.
	Exceptions []Exception
	// PSSVersion is the Pod Security Standards version to evaluate
	// ("latest" or "v1.N"); empty means latest.
	PSSVersion string
	// Now returns the time exceptions expire against; nil means time.Now.
	Now func() time.Time
}

// Exception silences rules for objects it matches. Every non-empty field
// must match. It only ever comes from configuration.
type Exception struct {
	Namespace string          // glob, e.g. "ci-*"
	Name      *regexp.Regexp  // object name
	Labels    labels.Selector // object labels
	Image     string          // glob over any container image
	Rules     []string        // rule IDs; empty means every rule
	Reason    string
	Expires   time.Time // zero: never
}

// DefaultTrustedRegistries is the default analyze.trustedRegistries.
var DefaultTrustedRegistries = []string{
	"docker.io", "registry.k8s.io", "k8s.gcr.io", "gcr.io", "*.gcr.io", "*.pkg.dev", "quay.io", "ghcr.io",
	"public.ecr.aws", "*.dkr.ecr.*.amazonaws.com", "mcr.microsoft.com", "*.azurecr.io", "registry.gitlab.com",
	"nvcr.io", "docker.elastic.co", "cgr.dev", "registry.redhat.io", "registry.access.redhat.com",
}

// DefaultTrustedDownloadHosts is the default analyze.trustedDownloadHosts.
var DefaultTrustedDownloadHosts = []string{
	"dl.k8s.io", "get.helm.sh", "storage.googleapis.com", "github.com", "objects.githubusercontent.com",
	"releases.hashicorp.com", "awscli.amazonaws.com", "sh.rustup.rs", "deb.nodesource.com", "bootstrap.pypa.io",
	"install.python-poetry.org", "cli.github.com", "get.docker.com", "aka.ms", "sdk.cloud.google.com",
	"get.k3s.io", "download.docker.com", "packages.cloud.google.com", "apt.releases.hashicorp.com", "astral.sh",
	"bun.sh", "deno.land", "pyenv.run", "nodejs.org", "go.dev", "dl.google.com", "releases.rancher.com",
}

// DefaultOptions returns the options used when nothing is configured.
func DefaultOptions() Options {
	return Options{
		TrustedRegistries:    append([]string(nil), DefaultTrustedRegistries...),
		TrustedDownloadHosts: append([]string(nil), DefaultTrustedDownloadHosts...),
	}
}

// Analyzer scores objects. It is immutable and safe for concurrent use.
type Analyzer struct {
	opts     Options
	rules    []Rule
	pss      *pss
	now      func() time.Time
	warnings []string
}

// New validates opts and builds an Analyzer.
func New(opts Options) (*Analyzer, error) {
	known := map[string]bool{}
	for _, r := range ruleTable {
		known[r.ID] = true
	}
	var errs []error
	disabled := map[string]bool{}
	for _, id := range opts.DisabledRules {
		if !known[id] {
			errs = append(errs, fmt.Errorf("unknown rule ID %q in disabled rules", id))
		}
		disabled[id] = true
	}
	for id := range opts.SeverityOverrides {
		if !known[id] {
			errs = append(errs, fmt.Errorf("unknown rule ID %q in severity overrides", id))
		}
	}
	for _, p := range append(append([]string{}, opts.TrustedRegistries...), opts.TrustedDownloadHosts...) {
		if _, err := path.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("bad pattern %q: %w", p, err))
		}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	a := &Analyzer{opts: opts, now: now}
	for i, e := range opts.Exceptions {
		for _, id := range e.Rules {
			if !known[id] {
				errs = append(errs, fmt.Errorf("exception %d: unknown rule ID %q", i, id))
			}
		}
		if e.Namespace == "" && e.Name == nil && e.Labels == nil && e.Image == "" {
			errs = append(errs, fmt.Errorf("exception %d: needs at least one of namespace, name, labels, image", i))
		}
		if e.Reason == "" {
			errs = append(errs, fmt.Errorf("exception %d: a reason is required", i))
		}
		for _, g := range []string{e.Namespace, e.Image} {
			if _, err := path.Match(g, ""); err != nil {
				errs = append(errs, fmt.Errorf("exception %d: bad glob %q: %w", i, g, err))
			}
		}
		if !e.Expires.IsZero() && !e.Expires.After(now()) {
			a.warnings = append(a.warnings, fmt.Sprintf("exception %d (%s) expired on %s and is ignored", i, e.Reason, e.Expires.Format(time.DateOnly)))
		}
	}
	v := psaapi.LatestVersion()
	if opts.PSSVersion != "" {
		pv, err := psaapi.ParseVersion(opts.PSSVersion)
		if err != nil {
			errs = append(errs, fmt.Errorf("pod security version: %w", err))
		} else {
			v = pv
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p, err := newPSS(v)
	if err != nil {
		return nil, err
	}
	a.pss = p
	for _, r := range ruleTable {
		if disabled[r.ID] {
			continue
		}
		if sev, ok := opts.SeverityOverrides[r.ID]; ok {
			r.Severity = sev
		}
		a.rules = append(a.rules, r)
	}
	return a, nil
}

// Warnings are non-fatal configuration problems found by New (expired
// exceptions), for the caller to log.
func (a *Analyzer) Warnings() []string { return a.warnings }

// Analyze judges one object.
func (a *Analyzer) Analyze(obj Object) Report {
	if obj.Template == nil {
		return Report{Findings: []Finding{}}
	}
	s := newSubject(a, &obj)
	var findings []Finding
	for i := range a.rules {
		r := &a.rules[i]
		if r.check != nil {
			findings = a.appendHits(findings, r, r.check(s))
		}
	}
	findings = a.applyExceptions(&obj, findings)
	nodeTool := s.allNodeTools()
	capNodeTool(nodeTool, findings)
	for i := range a.rules {
		r := &a.rules[i]
		if r.combine != nil {
			findings = a.appendHits(findings, r, r.combine(s, findings))
		}
	}
	findings = a.applyExceptions(&obj, findings)
	capNodeTool(nodeTool, findings)
	return score(findings)
}

func (a *Analyzer) appendHits(fs []Finding, r *Rule, hits []hit) []Finding {
	_, overridden := a.opts.SeverityOverrides[r.ID]
	seen := map[string]bool{}
	for _, h := range hits {
		key := h.path + "\x00" + h.evidence
		if seen[key] {
			continue
		}
		seen[key] = true
		sev := r.Severity
		if h.severity != SeverityNone && !overridden {
			sev = h.severity
		}
		fs = append(fs, Finding{Rule: r.ID, Title: r.Title, Severity: sev, Container: h.container, Path: h.path, Evidence: h.evidence, Attack: r.Attack})
	}
	return fs
}

func (a *Analyzer) applyExceptions(obj *Object, fs []Finding) []Finding {
	if len(a.opts.Exceptions) == 0 {
		return fs
	}
	now := a.now()
	drop := map[string]bool{}
	all := false
	for _, e := range a.opts.Exceptions {
		if !e.Expires.IsZero() && !e.Expires.After(now) || !e.matches(obj) {
			continue
		}
		if len(e.Rules) == 0 {
			all = true
		}
		for _, id := range e.Rules {
			drop[id] = true
		}
	}
	if !all && len(drop) == 0 {
		return fs
	}
	out := fs[:0]
	for _, f := range fs {
		if !all && !drop[f.Rule] {
			out = append(out, f)
		}
	}
	return out
}

func (e *Exception) matches(obj *Object) bool {
	if e.Namespace != "" {
		if ok, _ := path.Match(e.Namespace, obj.Meta.Namespace); !ok {
			return false
		}
	}
	if e.Name != nil && !e.Name.MatchString(obj.Meta.Name) {
		return false
	}
	if e.Labels != nil && !e.Labels.Matches(labels.Set(obj.Meta.Labels)) {
		return false
	}
	if e.Image != "" {
		found := false
		spec := &obj.Template.Spec
		for _, cs := range [][]string{imagesOf(spec.InitContainers), imagesOf(spec.Containers)} {
			for _, im := range cs {
				if ok, _ := path.Match(e.Image, im); ok {
					found = true
				}
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// capNodeTool caps pod-security findings at low for official node tools.
func capNodeTool(nodeTool bool, fs []Finding) {
	if !nodeTool {
		return
	}
	for i := range fs {
		if podSecurityRules[fs[i].Rule] && fs[i].Severity > SeverityLow {
			fs[i].Severity = SeverityLow
			fs[i].Evidence += " [capped: official node-tool image]"
		}
	}
}

// podSecurityRules are capped for official node-tool images.
var podSecurityRules = map[string]bool{"JW-PSS-001": true, "JW-POD-001": true, "JW-POD-002": true, "JW-SCHED-003": true, "JW-COMBO-003": true}

// Score bands: the score stays inside its severity's band.
var (
	bandBase = [...]int{0, 15, 45, 70, 90}
	bandTop  = [...]int{0, 39, 69, 89, 100}
)

// score turns findings into a Report: the severity is the worst finding's;
// the score starts at that severity's base and grows with corroborating
// findings, without leaving the band.
func score(fs []Finding) Report {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Severity > fs[j].Severity })
	r := Report{Findings: fs}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	if len(fs) == 0 {
		return r
	}
	r.Severity = fs[0].Severity
	sc := bandBase[r.Severity]
	for _, f := range fs[1:] {
		switch {
		case f.Severity >= SeverityHigh:
			sc += 5
		case f.Severity == SeverityMedium:
			sc += 3
		case f.Severity == SeverityLow:
			sc++
		}
	}
	r.Score = min(sc, bandTop[r.Severity])
	return r
}
