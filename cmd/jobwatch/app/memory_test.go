package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMemoryWarning(t *testing.T) {
	tests := []struct {
		name    string
		limit   int64
		objects int
		want    string // substring; "" means no warning
	}{
		{"no limit", 0, 1_000_000, ""},
		{"small cluster, shipped limit", 512 << 20, 1_000, ""},
		{"within the headroom", 512 << 20, 30_000, ""},
		{"past the headroom", 512 << 20, 35_000, "raise resources.limits.memory to at least 576Mi"},
		{"the old 256Mi limit at 15,000", 256 << 20, 15_000, "15000 Jobs and CronJobs need about 224 MiB, more than 80% of the memory limit of 256 MiB: raise resources.limits.memory to at least 320Mi"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := memoryWarning(tc.limit, tc.objects)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("memoryWarning(%d MiB, %d) = %q, want %q", tc.limit>>20, tc.objects, got, tc.want)
			}
		})
	}
}

func TestCgroupMemoryLimit(t *testing.T) {
	write := func(dir, file, v string) {
		t.Helper()
		p := filepath.Join(dir, file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v2, v2max, v1, v1unlimited, none := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	write(v2, "memory.max", "536870912\n")
	write(v2max, "memory.max", "max\n")
	write(v1, "memory/memory.limit_in_bytes", "268435456\n")
	write(v1unlimited, "memory/memory.limit_in_bytes", "9223372036854771712\n")
	for dir, want := range map[string]int64{v2: 512 << 20, v2max: 0, v1: 256 << 20, v1unlimited: 0, none: 0} {
		if got := cgroupMemoryLimit(dir); got != want {
			t.Errorf("cgroupMemoryLimit(%s) = %d, want %d", dir, got, want)
		}
	}
}
