package analyze

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeAnalyze feeds arbitrary bytes through Decode and Analyze: no
// panic, and every report is self-consistent. Seeds: the fixture corpus and
// a few malformed documents; crashers found by `make fuzz` are committed
// under testdata/fuzz/FuzzDecodeAnalyze.
func FuzzDecodeAnalyze(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*", "*.yaml"))
	for i, file := range files {
		if i%4 != 0 { // a quarter of the corpus keeps seeding fast
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"apiVersion: batch/v1\nkind: Job\nspec: {template: {spec: {containers: [{name: a, image: b, command: [sh, -c, 'curl x | sh']}]}}}",
		"apiVersion: batch/v1\nkind: CronJob\nspec:\n  jobTemplate: 3\n",
		"kind: List\napiVersion: v1\nitems:\n- {apiVersion: batch/v1, kind: Job}\n---\n: :",
		`{"apiVersion":"batch/v1","kind":"Job","spec":{"template":{"spec":{"containers":[{"name":"x","command":["bash","-c","$(("]}]}}}}`,
	} {
		f.Add([]byte(s))
	}
	a, err := New(DefaultOptions())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, _ := Decode(bytes.NewReader(data))
		for _, d := range docs {
			if d.Object == nil {
				continue
			}
			r := a.Analyze(*d.Object)
			worst := SeverityNone
			for _, fd := range r.Findings {
				worst = max(worst, fd.Severity)
				if fd.Rule == "" || fd.Path == "" {
					t.Fatalf("finding without rule or path: %+v", fd)
				}
			}
			if worst != r.Severity {
				t.Fatalf("report severity %s, worst finding %s", r.Severity, worst)
			}
			if r.Score < bandBase[r.Severity] || r.Score > bandTop[r.Severity] {
				t.Fatalf("score %d outside the %s band", r.Score, r.Severity)
			}
			if _, err := json.Marshal(r); err != nil {
				t.Fatal(err)
			}
		}
	})
}
