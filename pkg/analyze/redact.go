package analyze

import (
	"regexp"
	"strings"
)

// Redact masks things in command text that look like credentials: key=value
// pairs with secret-sounding keys, Authorization headers, user:password@ in
// URLs, and well-known token formats (AWS, GitHub, Slack, JWT, private keys).
// It is applied to every piece of evidence.
func Redact(s string) string {
	lower := strings.ToLower(s)
	for _, r := range redactions {
		if !containsAny(lower, r.needles) {
			continue
		}
		s = r.re.ReplaceAllString(s, r.repl)
		lower = strings.ToLower(s)
	}
	return s
}

func containsAny(s string, needles []string) bool {
	for _, n := range needles {
		if strings.Contains(s, n) {
			return true
		}
	}
	return false
}

const masked = "***"

// Each redaction runs only when its text contains one of its needles
// (lower-case literals every match must contain).
var redactions = []struct {
	needles []string
	re      *regexp.Regexp
	repl    string
}{
	{[]string{"private key-----"}, regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)`), "<private key redacted>"},
	{[]string{"authorization"}, regexp.MustCompile(`(?i)(authorization:\s*(?:bearer|basic|token)?\s*)[^\s'"]+`), "${1}" + masked},
	{[]string{"bearer"}, regexp.MustCompile(`(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}`), "${1}" + masked},
	{[]string{"pass", "pwd", "secret", "token", "key", "auth", "credential", "session"}, regexp.MustCompile(`(?i)\b((?:[a-z0-9_]*(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|auth|credential|session)[a-z0-9_]*)\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s'"&;|]+)`), "${1}" + masked},
	{[]string{"_pass", "_secret", "_token", "_key"}, regexp.MustCompile(`(?i)\b([a-z0-9]+_[a-z0-9_]*(?:passw(?:or)?d|secret|token|key)[a-z0-9_]*\s+)([^\s'"&;|-][^\s'"&;|]*)`), "${1}" + masked},
	{[]string{"pass", "token", "secret", "key"}, regexp.MustCompile(`(?i)(--?(?:password|passwd|pass|token|secret|api-key|apikey|access-key|secret-key|auth-token|key)(?:=|\s+))("[^"]*"|'[^']*'|[^\s'"]+)`), "${1}" + masked},
	{[]string{"@"}, regexp.MustCompile(`(://[^/\s:@]+:)[^@\s/]+@`), "${1}" + masked + "@"},
	{[]string{"akia", "asia"}, regexp.MustCompile(`\b(AKIA|ASIA)[A-Z0-9]{16}\b`), "${1}" + masked},
	{[]string{"gh"}, regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{20,}\b`), "gh" + masked},
	{[]string{"glpat-"}, regexp.MustCompile(`\bglpat-[A-Za-z0-9_-]{16,}\b`), "glpat-" + masked},
	{[]string{"xox"}, regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}`), "xox" + masked},
	{[]string{"hooks.slack.com"}, regexp.MustCompile(`(hooks\.slack\.com/services/)[A-Za-z0-9/]+`), "${1}" + masked},
	{[]string{"eyj"}, regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`), "<jwt redacted>"},
	{[]string{" -p"}, regexp.MustCompile(`(\s-p)[^\s'"]{3,}`), "${1}" + masked}, // mysql -pSECRET
}
