package app

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Memory sizing, measured with ../shared/bench (jobwatch run, webhook sink,
// file checkpoint, first run) as peak RSS: 72.8 MiB at 2,000 and 285 MiB at
// 20,000 pre-existing Jobs and CronJobs, i.e. about 12 KiB per object on
// 49 MiB. The README's sizing table is derived from the same two figures.
const (
	memBaseBytes      = 49 << 20 // process with empty caches
	memPerObjectBytes = 12 << 10 // informer cache + judgement record + checkpoint share
	memHeadroom       = 0.8      // warn above this share of the limit
)

// estimateMemory is the expected peak resident memory for objects.
func estimateMemory(objects int) int64 {
	return memBaseBytes + int64(objects)*memPerObjectBytes
}

// memoryWarning says, when the estimate for objects exceeds the headroom
// of limit (bytes, 0 = none), how far off it is and what limit would fit.
func memoryWarning(limit int64, objects int) string {
	if limit <= 0 {
		return ""
	}
	need := estimateMemory(objects)
	if float64(need) <= memHeadroom*float64(limit) {
		return ""
	}
	fit := int64(math.Ceil(float64(need)/memHeadroom/float64(64<<20))) * 64
	return fmt.Sprintf("%d Jobs and CronJobs need about %d MiB, more than %.0f%% of the memory limit of %d MiB: raise resources.limits.memory to at least %dMi (README, Sizing) or watch fewer namespaces",
		objects, need>>20, memHeadroom*100, limit>>20, fit)
}

// cgroupMemoryLimit reads the container's memory limit: cgroup v2
// memory.max, else cgroup v1 memory.limit_in_bytes; 0 when unlimited or
// unknown.
func cgroupMemoryLimit(root string) int64 {
	for _, f := range []string{root + "/memory.max", root + "/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= 1<<62 { // v1 reports "unlimited" as a huge number
			return 0
		}
		return n
	}
	return 0
}

// applyMemoryLimit sets Go's soft memory limit to 90% of the container's
// limit, unless GOMEMLIMIT is set, so the collector works harder before the
// kernel OOM-kills the pod. It returns the container limit (0: none).
func applyMemoryLimit(log *slog.Logger, environ []string) int64 {
	limit := cgroupMemoryLimit("/sys/fs/cgroup")
	if limit == 0 {
		return 0
	}
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOMEMLIMIT=") {
			return limit
		}
	}
	soft := limit / 10 * 9
	debug.SetMemoryLimit(soft)
	log.Info("memory limit", "containerMiB", limit>>20, "goSoftLimitMiB", soft>>20)
	return limit
}
