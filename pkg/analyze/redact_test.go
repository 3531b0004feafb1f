package analyze

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, secret string }{
		{`curl -H "Authorization: Bearer abc.def.ghi123" https://x`, "abc.def.ghi123"},
		{`mysql -uroot -pS3cretPw orders`, "S3cretPw"},
		{`PGPASSWORD=hunter22 pg_dump db`, "hunter22"},
		{`aws configure set aws_secret_access_key wJalrXUtnFEMI/K7MDENG`, ""},
		{`export API_TOKEN="tok-123456789"`, "tok-123456789"},
		{`--password 'p@ss word'`, "p@ss word"},
		{`git clone https://bob:gh-secret-pw@github.com/acme/x`, "gh-secret-pw"},
		{`echo AKIAIOSFODNN7EXAMPLE`, "IOSFODNN7EXAMPLE"},
		{`curl https://hooks.slack.com/services/T000/B000/XXXXXXXX`, "T000/B000/XXXXXXXX"},
		{`GITHUB_TOKEN=ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`, "aaaaaaaaaaaaaaaaaaaa"},
		{`token: eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl`, "eyJzdWIiOiJzeXN0ZW0ifQ"},
		{"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow"},
	}
	for _, tc := range tests {
		got := Redact(tc.in)
		if tc.secret != "" && strings.Contains(got, tc.secret) {
			t.Errorf("Redact(%q) = %q still contains %q", tc.in, got, tc.secret)
		}
		if got == tc.in {
			t.Errorf("Redact(%q) changed nothing", tc.in)
		}
	}
	for _, clean := range []string{"curl -fsS http://svc:8080/healthz", "find /var/log -mtime +7 -delete", "kubectl get pods -n ci"} {
		if got := Redact(clean); got != clean {
			t.Errorf("Redact(%q) = %q, want unchanged", clean, got)
		}
	}
}
