package analyze

import (
	"regexp"
)

// Redact masks things in command text that look like credentials: key=value
// pairs with secret-sounding keys, Authorization headers, user:password@ in
// URLs, and well-known token formats (AWS, GitHub, Slack, JWT, private keys).
// It is applied to every piece of evidence.
func Redact(s string) string {
	for _, r := range redactions {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return s
}

const masked = "***"

var redactions = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)`), "<private key redacted>"},
	{regexp.MustCompile(`(?i)(authorization:\s*(?:bearer|basic|token)?\s*)[^\s'"]+`), "${1}" + masked},
	{regexp.MustCompile(`(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}`), "${1}" + masked},
	{regexp.MustCompile(`(?i)\b((?:[a-z0-9_]*(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|auth|credential|session)[a-z0-9_]*)\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s'"&;|]+)`), "${1}" + masked},
	{regexp.MustCompile(`(?i)(--?(?:password|passwd|pass|token|secret|api-key|apikey|access-key|secret-key|auth-token|key)(?:=|\s+))("[^"]*"|'[^']*'|[^\s'"]+)`), "${1}" + masked},
	{regexp.MustCompile(`(://[^/\s:@]+:)[^@\s/]+@`), "${1}" + masked + "@"},
	{regexp.MustCompile(`\b(AKIA|ASIA)[A-Z0-9]{16}\b`), "${1}" + masked},
	{regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{20,}\b`), "gh" + masked},
	{regexp.MustCompile(`\bglpat-[A-Za-z0-9_-]{16,}\b`), "glpat-" + masked},
	{regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}`), "xox" + masked},
	{regexp.MustCompile(`(hooks\.slack\.com/services/)[A-Za-z0-9/]+`), "${1}" + masked},
	{regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`), "<jwt redacted>"},
	{regexp.MustCompile(`(\s-p)[^\s'"]{3,}`), "${1}" + masked}, // mysql -pSECRET
}
