package analyze

import (
	"fmt"
	"strings"
)

// RulesMarkdown renders the rule table as Markdown (docs/rules.md).
func RulesMarkdown() string {
	var b strings.Builder
	b.WriteString("# jobwatch rules\n\nGenerated from the rule table in `pkg/analyze/rules.go` by `make docs`; a test fails when this file and the table disagree.\n\n")
	b.WriteString("Severity is the rule's default; some rules grade each finding (a hostPath by its path and write access, a download by its source). A report's severity is its worst finding's. Combination rules (JW-COMBO-*, JW-EVADE-001) run after the others and see their findings.\n\n")
	b.WriteString("| ID | Title | Severity | ATT&CK | What it detects | Remediation |\n|---|---|---|---|---|---|\n")
	for _, r := range ruleTable {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.ID, r.Title, r.Severity, strings.Join(r.Attack, ", "),
			strings.ReplaceAll(r.Description, "|", "\\|"), strings.ReplaceAll(r.Remediation, "|", "\\|"))
	}
	return b.String()
}
