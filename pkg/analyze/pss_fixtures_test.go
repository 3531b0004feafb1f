package analyze

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// psaModuleDir finds k8s.io/pod-security-admission in the module cache; its
// zip ships the upstream fixture pods under test/testdata.
func psaModuleDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-json", "k8s.io/pod-security-admission").Output()
	if err != nil {
		t.Fatalf("go list pod-security-admission: %v", err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("module dir: %v %s", err, out)
	}
	return m.Dir
}

// latestFixtureDir returns testdata/<level>/v1.N with the highest N.
func latestFixtureDir(t *testing.T, root, level string) string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(root, "test", "testdata", level, "v1.*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no PSA fixtures for %s under %s", level, root)
	}
	minor := func(d string) int {
		var n int
		for _, c := range strings.TrimPrefix(filepath.Base(d), "v1.") {
			n = n*10 + int(c-'0')
		}
		return n
	}
	sort.Slice(dirs, func(i, j int) bool { return minor(dirs[i]) < minor(dirs[j]) })
	return dirs[len(dirs)-1]
}

func podAsJob(t *testing.T, file string) Object {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := yaml.Unmarshal(raw, &pod); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	defaultVolumes(&pod.Spec) // as the API server would
	j := &batchv1.Job{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec}}}
	j.Name, j.Namespace = "psa-fixture", "default"
	return FromJob(j)
}

var fixtureCheckRe = regexp.MustCompile(`^([a-z_]+?)\d+\.yaml$`)

// pssChecksReported returns the PSA check IDs (lower-cased) the report names.
func pssChecksReported(r Report) map[string]bool {
	out := map[string]bool{}
	for _, f := range r.Findings {
		switch f.Rule {
		case "JW-PSS-001":
			id, _, _ := strings.Cut(f.Evidence, ":")
			out[strings.ToLower(id)] = true
		case "JW-PSS-002":
			for _, id := range strings.Split(strings.TrimPrefix(f.Evidence, "fails "), ", ") {
				out[strings.ToLower(id)] = true
			}
		}
	}
	return out
}

// TestPodSecurityAdmissionFixtures wraps every upstream PSA fixture pod into
// a Job template: each fail fixture must yield a finding naming its check,
// each pass fixture none for its level.
func TestPodSecurityAdmissionFixtures(t *testing.T) {
	a := mustAnalyzer(t)
	root := psaModuleDir(t)
	total := 0
	for _, level := range []string{"baseline", "restricted"} {
		dir := latestFixtureDir(t, root, level)
		fails, _ := filepath.Glob(filepath.Join(dir, "fail", "*.yaml"))
		passes, _ := filepath.Glob(filepath.Join(dir, "pass", "*.yaml"))
		if len(fails) < 10 || len(passes) < 5 {
			t.Fatalf("%s: only %d fail and %d pass fixtures", dir, len(fails), len(passes))
		}
		for _, f := range fails {
			m := fixtureCheckRe.FindStringSubmatch(filepath.Base(f))
			if m == nil {
				t.Fatalf("unexpected fixture name %s", f)
			}
			r := a.Analyze(podAsJob(t, f))
			if !pssChecksReported(r)[m[1]] {
				t.Errorf("%s/%s: check %s not reported; got %v", level, filepath.Base(f), m[1], describe(r))
			}
			total++
		}
		for _, f := range passes {
			r := a.Analyze(podAsJob(t, f))
			got := pssChecksReported(r)
			if level == "baseline" {
				for _, fd := range r.Findings {
					if fd.Rule == "JW-PSS-001" {
						t.Errorf("%s/pass/%s: baseline finding %s", level, filepath.Base(f), fd.Evidence)
					}
				}
			} else if len(got) > 0 {
				t.Errorf("%s/pass/%s: restricted findings %v", level, filepath.Base(f), got)
			}
			total++
		}
		t.Logf("%s: %d fail and %d pass fixtures from %s", level, len(fails), len(passes), dir)
	}
	if total < 100 {
		t.Fatalf("only %d fixtures checked", total)
	}
}
