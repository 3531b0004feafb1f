// Package analyze scores the pod template of a batch/v1 Job or CronJob for
// signs of abuse (MITRE ATT&CK T1053.007 and what attackers run through it).
//
// It owns the rule table (Rules, one explicit list), the shell-script model
// the payload rules read (scripts are parsed with mvdan.cc/sh, not grepped),
// Pod Security Standards evaluation through k8s.io/pod-security-admission,
// image reference checks, combination rules that decide severity, the
// score, secret redaction of evidence, configured exceptions, and decoding of
// manifests for `jobwatch check`.
//
// Analyze is pure: it reads the object and never mutates it, does no I/O and
// is safe for concurrent use.
package analyze
