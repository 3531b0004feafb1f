package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runMain(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// golden compares got with testdata/golden/NAME, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `make golden`)", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (run `make golden` if intended):\n--- got\n%s", path, got)
	}
}

func TestCheckGoldenJSON(t *testing.T) {
	code, out, errs := runMain(t, "", "check", "-o", "json", "testdata/check/mixed.yaml", "testdata/check/list.json")
	if code != exitFindings {
		t.Fatalf("exit %d, want %d; stderr %s", code, exitFindings, errs)
	}
	golden(t, "check.json.golden", out)
	if !strings.Contains(errs, "testdata/check/mixed.yaml: document 1: skipping ConfigMap settings") {
		t.Errorf("stderr lacks the skip note: %q", errs)
	}
	if strings.Contains(out, "never-print-me") {
		t.Fatal("an env value reached the output")
	}
	if n := strings.Count(out, "\n"); n != 3 {
		t.Errorf("%d JSON lines, want 3 (two Jobs/CronJobs in mixed.yaml, one in list.json)", n)
	}
}

func TestCheckGoldenText(t *testing.T) {
	code, out, _ := runMain(t, "", "check", "testdata/check/mixed.yaml")
	if code != exitFindings {
		t.Fatalf("exit %d", code)
	}
	golden(t, "check.text.golden", out)
}

func TestCheckExitCodes(t *testing.T) {
	benign := "apiVersion: batch/v1\nkind: Job\nmetadata: {name: ok}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: a, image: 'busybox:1.36', command: [sh, -c, 'find /data -mtime +7 -delete']}]\n"
	if code, _, errs := runMain(t, benign, "check", "-"); code != exitOK {
		t.Errorf("benign stdin: exit %d (%s)", code, errs)
	}
	if code, _, _ := runMain(t, "", "check", "--fail-on", "critical", "testdata/check/list.json"); code != exitOK {
		t.Errorf("high miner with --fail-on critical: exit %d, want 0", code)
	}
	if code, _, _ := runMain(t, "", "check", "--fail-on", "medium", "testdata/check/list.json"); code != exitFindings {
		t.Errorf("--fail-on medium: exit %d, want 1", code)
	}
	// Directories are walked; the broken document is named by file and index.
	code, out, errs := runMain(t, "", "check", "-o", "json", "testdata/check")
	if code != exitError {
		t.Fatalf("invalid input: exit %d, want 2", code)
	}
	if !strings.Contains(errs, "testdata/check/bad/broken.yaml: document 1:") || strings.Count(errs, "broken.yaml") != 1 {
		t.Errorf("stderr does not name the broken file and document once: %q", errs)
	}
	if !strings.Contains(out, `"name":"fine"`) || !strings.Contains(out, `"name":"sync"`) {
		t.Errorf("valid documents around the broken one were not reported: %s", out)
	}
	if code, _, errs := runMain(t, "", "check", "testdata/check/missing.yaml"); code != exitError || !strings.Contains(errs, "missing.yaml") {
		t.Errorf("missing file: exit %d, stderr %q", code, errs)
	}
	if code, _, _ := runMain(t, "", "check", "-o", "yaml", "-"); code != exitError {
		t.Errorf("bad -o: exit %d", code)
	}
}
