package glob

import "testing"

func TestAny(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		s        string
		want     bool
	}{
		{nil, "prod", false},
		{[]string{"prod"}, "prod", true},
		{[]string{"kube-*"}, "kube-system", true},
		{[]string{"kube-*"}, "prod", false},
		{[]string{"a", "team-?"}, "team-b", true},
		{[]string{"[", "prod"}, "prod", true}, // a bad pattern matches nothing, the next still does
		{[]string{"["}, "[", false},
	} {
		if got := Any(tc.patterns, tc.s); got != tc.want {
			t.Errorf("Any(%q, %q) = %v, want %v", tc.patterns, tc.s, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := Validate([]string{"kube-*", "prod"}); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	err := Validate([]string{"ok", "team-[", "x"})
	if err == nil || err.Error() != `bad glob "team-["` {
		t.Fatalf("Validate = %v, want the bad pattern named", err)
	}
}
