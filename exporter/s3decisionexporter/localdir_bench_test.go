package s3decisionexporter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// legacyDirPut is the local_dir put before the change: MkdirAll and a temporary file created in the (large) day
// directory for every decision, chmod, close, rename.
func legacyDirPut(dir, key string, body []byte) error {
	path := filepath.Join(dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".put-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o640); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLocalDirPut measures the CPU time (user + system, getrusage) of one local_dir put into a day directory
// that already holds GOVCOL_BENCH_PREFILL files (default 200,000), before the change (legacyDirPut) and now
// (dirStore.put: the file is written in <dir>/.tmp and renamed in, directories remembered), alternating blocks of
// 2,000 puts per side, five rounds; reports the CPU µs per put of each and their ratio.
// Run: go test -run '^$' -bench LocalDirPut -benchtime 1x ./exporter/s3decisionexporter/
func BenchmarkLocalDirPut(b *testing.B) {
	files := 200000
	if v, err := strconv.Atoi(os.Getenv("GOVCOL_BENCH_PREFILL")); err == nil && v >= 0 {
		files = v
	}
	const block, rounds = 2000, 5
	body := []byte(`{"schema_version":2,"decision_id":"0190abcd-0000-7000-8000-000000000000","decision":"allowed"}`)
	for b.Loop() {
		dirs := [2]string{b.TempDir(), b.TempDir()}
		for _, d := range dirs {
			day := filepath.Join(d, "axonflow", "decisions", "2026", "11", "29")
			require.NoError(b, os.MkdirAll(day, 0o750))
			for i := range files {
				require.NoError(b, os.WriteFile(filepath.Join(day, fmt.Sprintf("0190%04x-0000-7000-8000-%012x.json", i>>16, i)), body, 0o640))
			}
		}
		store := newDirStore(dirs[1])
		var cpu [2]time.Duration
		n := 0
		for r := range rounds {
			for s := range 2 {
				side := (s + r) % 2
				start := cpuTime()
				for i := range block {
					key := fmt.Sprintf("axonflow/decisions/2026/11/29/0191%04x-0000-7000-8000-%012x.json", r, n+i)
					var err error
					if side == 0 {
						err = legacyDirPut(dirs[0], key, body)
					} else {
						err = store.put(context.Background(), key, body)
					}
					require.NoError(b, err)
				}
				cpu[side] += cpuTime() - start
			}
			n += block
		}
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(rounds*block) }
		b.ReportMetric(per(cpu[0]), "before_cpu_µs/put")
		b.ReportMetric(per(cpu[1]), "after_cpu_µs/put")
		b.ReportMetric(per(cpu[0])/per(cpu[1]), "ratio")
		b.Logf("local_dir put into a day directory of %d files: before %.1f CPU µs/put, after %.1f CPU µs/put (ratio %.2f)",
			files, per(cpu[0]), per(cpu[1]), per(cpu[0])/per(cpu[1]))
	}
}
