// Package glob matches names against lists of path.Match patterns: the one
// place jobwatch's namespace, registry and image globs are matched and
// validated.
package glob

import (
	"fmt"
	"path"
)

// Any reports whether s matches one of the patterns. A malformed pattern
// matches nothing (Validate rejects it at startup).
func Any(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}

// Validate returns an error naming the first malformed pattern.
func Validate(patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("bad glob %q", p)
		}
	}
	return nil
}
