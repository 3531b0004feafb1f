package app

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// How a JOBWATCH_ environment variable that is not a configuration key is
// treated. jobwatch never owns the whole JOBWATCH_ namespace of its
// process environment:
//
//   - The kubelet injects Docker-links variables for every Service in the
//     pod's namespace (enableServiceLinks defaults to true): a Service named
//     jobwatch-metrics yields JOBWATCH_METRICS_SERVICE_HOST,
//     JOBWATCH_METRICS_SERVICE_PORT[_<NAME>], JOBWATCH_METRICS_PORT and
//     JOBWATCH_METRICS_PORT_<n>_<PROTO>[_PROTO|_PORT|_ADDR]. Those are
//     never an error and are ignored silently (named at debug level).
//   - A name close to a real key (a typo, or a real key's tail such as
//     JOBWATCH_WEBHOOK_URL for JOBWATCH_NOTIFY_WEBHOOK_URL) stops startup
//     with "did you mean": the operator meant to configure something.
//   - Any other name (a wrapper script's JOBWATCH_VERSION, say) is logged
//     as a warning, by name only, and ignored.
//
// No configuration key may itself look like a service-link variable, or
// a Service's address could be read as configuration (a test keeps it so).

// serviceLink matches the variable names the kubelet derives from a
// Service: the name upper-cased with '-' turned into '_', then one of the
// suffixes of k8s.io/kubernetes/pkg/kubelet/envvars.
var serviceLink = regexp.MustCompile(`^[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT|PORT_[0-9]+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)$`)

// isServiceLink reports whether name has the shape of a kubelet
// service-link variable.
func isServiceLink(name string) bool { return serviceLink.MatchString(name) }

// envVerdict is what becomes of one JOBWATCH_ variable.
type envVerdict int

const (
	envKnown       envVerdict = iota // a configuration key or a reserved name
	envServiceLink                   // injected by the kubelet for a Service: ignored
	envTypo                          // close to a real key: an error
	envUnknown                       // anything else: a warning
)

// classifyEnv judges one variable name that starts with JOBWATCH_. For
// envTypo the suggestion is the real variable meant.
func classifyEnv(name string) (envVerdict, string) {
	if reservedEnv[name] != "" {
		return envKnown, ""
	}
	for _, k := range keys {
		if k.env() == name {
			return envKnown, ""
		}
	}
	if isServiceLink(name) {
		return envServiceLink, ""
	}
	if s := closeEnv(name); s != "" {
		return envTypo, s
	}
	return envUnknown, ""
}

// closeEnv returns the real variable name is probably a mistake for: within
// a small edit distance (scaled to the name's length, so short unrelated
// names are not matched), or a tail of two or more words of a real name (the shortest such name).
func closeEnv(name string) string {
	rest := strings.TrimPrefix(name, envPrefix+"_")
	limit := min(3, max(1, len(rest)/4))
	best, bestD := "", limit+1
	var tail string
	for _, real := range envNames() {
		realRest := strings.TrimPrefix(real, envPrefix+"_")
		if d := editDistance(rest, realRest); d < bestD {
			best, bestD = real, d
		}
		if strings.Contains(rest, "_") && strings.HasSuffix(realRest, "_"+rest) && (tail == "" || len(real) < len(tail)) {
			tail = real
		}
	}
	if best != "" {
		return best
	}
	return tail
}

// envNames lists every variable jobwatch reads, sorted.
func envNames() []string {
	names := make([]string, 0, len(keys)+len(reservedEnv))
	for _, k := range keys {
		names = append(names, k.env())
	}
	for n := range reservedEnv {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// checkEnv classifies every JOBWATCH_ variable of the environment. The first
// typo (in name order) is the error; unknown names come back as warnings
// and service-link names as ignored, both sorted.
func checkEnv(environ []string) (warnings, ignored []string, err error) {
	var names []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix+"_") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		switch v, s := classifyEnv(name); v {
		case envTypo:
			return nil, nil, &ConfigError{Key: name, Source: "env", Msg: fmt.Sprintf("unknown environment variable (did you mean %s?)", s)}
		case envUnknown:
			warnings = append(warnings, name)
		case envServiceLink:
			ignored = append(ignored, name)
		}
	}
	return warnings, ignored, nil
}
