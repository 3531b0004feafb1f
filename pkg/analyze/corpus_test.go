package analyze

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

type corpusCase struct {
	file, class string
	expect      Severity
	obj         Object
	envValues   []string
}

func loadCorpus(t testing.TB) []corpusCase {
	t.Helper()
	var out []corpusCase
	for _, class := range []string{"malicious", "benign"} {
		files, err := filepath.Glob(filepath.Join("testdata", "corpus", class, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("corpus %s: %v (%d files)", class, err, len(files))
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var expect string
			for _, l := range strings.Split(string(raw), "\n") {
				if v, ok := strings.CutPrefix(l, "# expect:"); ok {
					expect = strings.TrimSpace(v)
				}
			}
			sev, err := ParseSeverity(expect)
			if err != nil {
				t.Fatalf("%s: # expect: %v", f, err)
			}
			docs, err := Decode(strings.NewReader(string(raw)))
			if err != nil || len(docs) != 1 || docs[0].Object == nil {
				t.Fatalf("%s: want one Job or CronJob, got %d docs, err %v", f, len(docs), err)
			}
			c := corpusCase{file: f, class: class, expect: sev, obj: *docs[0].Object}
			c.envValues = privateEnvValues(t, raw)
			out = append(out, c)
		}
	}
	return out
}

// privateEnvValues returns the env values of a manifest that appear nowhere
// else in it (a value that is also a name or label may legitimately be shown).
func privateEnvValues(t testing.TB, raw []byte) []string {
	docs, err := Decode(strings.NewReader(string(raw)))
	if err != nil || len(docs) != 1 {
		t.Fatalf("decode: %v", err)
	}
	var values []string
	spec := &docs[0].Object.Template.Spec
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			for j := range cs[i].Env {
				if v := cs[i].Env[j].Value; len(v) >= 4 {
					values = append(values, v)
				}
				cs[i].Env[j].Value = ""
			}
		}
	}
	rest, err := json.Marshal(docs[0].Object.Template)
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := json.Marshal(docs[0].Object.Meta)
	var out []string
	for _, v := range values {
		if !strings.Contains(string(rest), v) && !strings.Contains(string(meta), v) {
			out = append(out, v)
		}
	}
	return out
}

// TestCorpus scores the fixture corpus (testdata/corpus, written
// independently of the rules): every file must land on the alert side
// (severity >= medium) its expectation says, and the precision and recall
// of the malicious/benign split are logged (`make quality`).
func TestCorpus(t *testing.T) {
	a, err := New(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	cases := loadCorpus(t)
	var tp, fp, fn, tn, exact, within1 int
	for _, c := range cases {
		r := a.Analyze(c.obj)
		alert := r.Severity >= SeverityMedium
		switch {
		case c.class == "malicious" && alert:
			tp++
		case c.class == "malicious":
			fn++
		case alert:
			fp++
		default:
			tn++
		}
		if r.Severity == c.expect {
			exact++
		}
		if d := int(r.Severity) - int(c.expect); d >= -1 && d <= 1 {
			within1++
		}
		if alert != (c.expect >= SeverityMedium) {
			t.Errorf("%s: severity %s, expected %s (%v)", c.file, r.Severity, c.expect, r.RuleIDs())
		}
		if c.class == "benign" && c.expect < SeverityMedium && r.Severity >= SeverityMedium {
			t.Errorf("%s: benign fixture alerts", c.file)
		}
	}
	n := len(cases)
	precision := float64(tp) / float64(max(tp+fp, 1))
	recall := float64(tp) / float64(max(tp+fn, 1))
	t.Logf("corpus: %d objects (%d malicious, %d benign); alert = severity >= medium", n, tp+fn, fp+tn)
	t.Logf("precision %.3f, recall %.3f, F1 %.3f (tp %d, fp %d, fn %d, tn %d)", precision, recall, 2*precision*recall/max(precision+recall, 1e-9), tp, fp, fn, tn)
	t.Logf("corpus: exact severity %d/%d, within one step %d/%d", exact, n, within1, n)
	if tp+fn < 40 || fp+tn < 40 {
		t.Errorf("corpus too small: %d malicious, %d benign (want >= 40 each)", tp+fn, fp+tn)
	}
}

// TestCorpusNeverLeaksEnvValues: no env value of any fixture appears in
// its report, whatever rule fired.
func TestCorpusNeverLeaksEnvValues(t *testing.T) {
	a, err := New(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, c := range loadCorpus(t) {
		b, err := json.Marshal(a.Analyze(c.obj))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range c.envValues {
			checked++
			if strings.Contains(string(b), v) {
				t.Errorf("%s: report contains an env value: %s", c.file, b)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d env values checked; the corpus should exercise this", checked)
	}
}
