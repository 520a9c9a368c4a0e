package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/pgcluster"
	"github.com/govcol/govcol/internal/pgtest"
)

// The goals the end-to-end benchmark reports against (met or missed, computed in the run).
const (
	goalCopyRatio    = 0.6 // stored rows/s at least this share of raw COPY of the same rows
	goalCollectorCPU = 40  // collector CPU µs per stored row, at most
	goalPostgresCPU  = 1.3 // Postgres CPU per stored row, at most this many times the raw COPY's
	goalP99ms        = 50  // p99 acknowledgement latency at 50 % of the sustained rate, at most
	goalPeakRSSMiB   = 256 // peak RSS at the sustained rate, at most
)

// BenchmarkEndToEnd is the end-to-end method of docs/BENCHMARKS.md: the shipped quick start (config/local.yaml, every
// exporter on, plus the pprof extension on loopback) with the built bin/govcol and its own Postgres cluster, under
// `govctl load --developers 20 --concurrency 4 --duration 30s` (GOVCOL_E2E_SECONDS), GOVCOL_E2E_ROUNDS rounds
// (default 2), each of:
//
//   - the pipeline: events acknowledged per second; the rows stored, over the seconds from the load's start until
//     the Postgres exporter has committed the last acknowledged event (its own counter: counting rows would scan
//     audit_logs inside the window; the rows are counted after it); the collector's CPU (/proc/<pid>/stat) and the CPU of every Postgres
//     process (the postmaster, its children, and the children that ended) over that window, per stored row;
//   - raw COPY of the same rows: the run's rows copied out (COPY ... TO STDOUT (FORMAT binary)) and, timed, copied into
//     a fresh table created LIKE audit_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES on the same
//     server: rows/s and the Postgres CPU per row.
//
// A 5 s warm-up run comes first, not measured; the server runs without autovacuum and with a max_wal_size no round
// reaches (quietPostgres). The sides alternate (pipeline, COPY, pipeline, COPY, ...) and each figure is the best of
// the rounds. Then, at the
// sustained rate: the collector's peak RSS, and its CPU profile under the same closed loop (`go tool pprof -top`);
// then the open loop (`govctl load --rate`) at 50 % of the sustained rate (the lower of acknowledged and stored per
// second) for the p99 acknowledgement latency. Every figure is logged on a line starting "E2E"; `make bench` copies
// them into docs/BENCHMARKS.md.
//
// Run: go test -run '^$' -bench EndToEnd -benchtime 1x -timeout 20m -v ./test/e2e/
func BenchmarkEndToEnd(b *testing.B) {
	seconds := envInt("GOVCOL_E2E_SECONDS", 30, 5)
	rounds := envInt("GOVCOL_E2E_ROUNDS", 2, 1)
	cluster := pgtest.NewCluster(b)
	dsn := cluster.DSN("postgres")
	postmaster := postmasterPID(b, cluster)
	ctx := context.Background()
	db, err := pgx.Connect(ctx, dsn)
	require.NoError(b, err)
	defer db.Close(ctx)
	quietPostgres(b, db)
	pprofPort := FreePort(b)
	c := StartLocalCollectorWith(b, dsn, pprofOverlay(b, pprofPort))
	lic := c.Keys.License(b, "org-e2e", "tenant-e2e", "client-e2e", "")
	closedLoop := func(secs int) []string {
		return []string{"--developers", "20", "--concurrency", "4", "--batch", "10", "--duration", strconv.Itoa(secs) + "s",
			"--max-events", "100000000"}
	}

	// A warm-up run, not measured: the first seconds of the collector and of the server (connection pools, caches,
	// the month's partition, the runtime's heap growing to its limit) made a first round slower than the next.
	warm := Load(b, c, lic, "http", closedLoop(5)...)()
	awaitExported(b, c, db, warm.RunID, warm.EventsAcked)

	for b.Loop() {
		var pipe, raw []e2eSide
		var sustained float64
		for round := 1; round <= rounds; round++ {
			exec1(b, db, "CHECKPOINT")
			p := runPipeline(b, c, db, lic, postmaster, closedLoop(seconds))
			b.Logf("E2E round %d pipeline: %d events acknowledged in %.1f s (%.0f/s), %d failed; %d rows stored in %.1f s "+
				"(%.0f rows/s; %d exported by the end of the load); collector CPU %.1f s (%.0f µs/row); Postgres CPU %.1f s (%.0f µs/row)",
				round, p.load.EventsAcked, p.load.Seconds, p.load.EventsPerSec, p.load.EventsFailed, p.rows, p.seconds,
				p.rowsPerSec(), p.rowsInLoad, p.collectorCPU, p.collectorUsPerRow(), p.pgCPU, p.pgUsPerRow())
			pipe = append(pipe, p)
			sustained = max(sustained, min(p.load.EventsPerSec, p.rowsPerSec()))

			exec1(b, db, "CHECKPOINT")
			r := rawCopy(b, db, postmaster, p.load.RunID, round)
			b.Logf("E2E round %d raw COPY of the same rows: %d rows in %.2f s (%.0f rows/s); Postgres CPU %.2f s (%.1f µs/row)",
				round, r.rows, r.seconds, r.rowsPerSec(), r.pgCPU, r.pgUsPerRow())
			raw = append(raw, r)
		}
		rss := c.PeakRSSMiB(b)

		best := func(s []e2eSide, f func(e2eSide) float64, lowest bool) float64 {
			v := make([]float64, len(s))
			for i := range s {
				v[i] = f(s[i])
			}
			if lowest {
				return slices.Min(v)
			}
			return slices.Max(v)
		}
		acked := best(pipe, func(s e2eSide) float64 { return s.load.EventsPerSec }, false)
		stored := best(pipe, e2eSide.rowsPerSec, false)
		copyRate := best(raw, e2eSide.rowsPerSec, false)
		collectorUs := best(pipe, e2eSide.collectorUsPerRow, true)
		pgUs := best(pipe, e2eSide.pgUsPerRow, true)
		copyPgUs := best(raw, e2eSide.pgUsPerRow, true)
		b.Logf("E2E figures below: best of %d rounds per side, sides alternating (pipeline, raw COPY, ...)", rounds)
		b.Logf("E2E acknowledged %.0f events/s; stored %.0f rows/s; raw COPY of the same rows %.0f rows/s", acked, stored, copyRate)
		b.Logf("E2E stored / raw COPY = %.2f (goal >= %.1f: %s)", stored/copyRate, goalCopyRatio, verdict(stored/copyRate >= goalCopyRatio))
		b.Logf("E2E collector CPU per stored row %.1f µs (goal <= %d µs: %s)", collectorUs, goalCollectorCPU, verdict(collectorUs <= goalCollectorCPU))
		b.Logf("E2E Postgres CPU per stored row %.1f µs, raw COPY's %.1f µs: %.2fx (goal <= %.1fx: %s)", pgUs, copyPgUs,
			pgUs/copyPgUs, goalPostgresCPU, verdict(pgUs/copyPgUs <= goalPostgresCPU))
		b.Logf("E2E peak RSS at the sustained rate %.0f MiB (goal <= %d MiB: %s)", rss, goalPeakRSSMiB, verdict(rss <= goalPeakRSSMiB))

		cpuProfile := profile(b, c, db, lic, pprofPort, closedLoop)
		names, shares, err := stageShares(cpuProfile)
		require.NoError(b, err)
		b.Logf("E2E stages| Each CPU sample of the profile charged to the step of the path it was taken in (its innermost "+
			"frame that names one; the garbage collector's work wherever it ran); µs per stored row = share x the "+
			"collector CPU per stored row above (%.1f µs).", collectorUs)
		for _, line := range stageTable(names, shares, collectorUs) {
			b.Logf("E2E stages| %s", line)
		}

		rate := sustained / 2
		lat := Load(b, c, lic, "http", append([]string{"--rate", strconv.FormatFloat(rate, 'f', 0, 64)}, closedLoop(20)...)...)()
		awaitExported(b, c, db, lat.RunID, lat.EventsAcked)
		b.Logf("E2E open loop at 50 %% of the sustained rate (%.0f events/s offered, sustained = the lower of acknowledged "+
			"and stored per second): %s, %d late starts", rate, lat, lat.LateStarts)
		b.Logf("E2E p99 acknowledgement latency at 50 %% of the sustained rate %.1f ms (goal <= %d ms: %s)", lat.P99,
			goalP99ms, verdict(lat.P99 <= goalP99ms))

		b.ReportMetric(stored, "stored_rows/s")
		b.ReportMetric(stored/copyRate, "ratio_vs_copy")
		b.ReportMetric(collectorUs, "collector_µs/row")
		b.ReportMetric(pgUs/copyPgUs, "pg_cpu_vs_copy")
		b.ReportMetric(lat.P99, "p99_ms@50%")
		b.ReportMetric(rss, "peak_rss_MiB")
	}
}

// e2eSide is one measured run: the pipeline's (with its load) or raw COPY's.
type e2eSide struct {
	load                         LoadResult
	rows, rowsInLoad             int64
	seconds, collectorCPU, pgCPU float64
}

func (s e2eSide) rowsPerSec() float64        { return float64(s.rows) / s.seconds }
func (s e2eSide) collectorUsPerRow() float64 { return s.collectorCPU * 1e6 / float64(s.rows) }
func (s e2eSide) pgUsPerRow() float64        { return s.pgCPU * 1e6 / float64(s.rows) }

// runPipeline runs `govctl load` with flags and waits until the Postgres exporter has committed every acknowledged
// event; CPU and time are measured from the load's start until then. The window is closed by the exporter's own
// counter (otelcol_exporter_sent_log_records, read from the collector's telemetry), not by counting rows: a count
// scans audit_logs, and that work of the harness's would be charged to the pipeline's Postgres CPU. The rows are
// counted after the window: every acknowledged event stored once.
func runPipeline(b *testing.B, c *Collector, db *pgx.Conn, lic string, postmaster int, flags []string) e2eSide {
	base := exportedRecords(b, c)
	cpu0, pg0, start := c.cpuSeconds(b), pgCPUSeconds(b, postmaster), time.Now()
	load := Load(b, c, lic, "http", flags...)()
	require.Empty(b, load.FirstError)
	require.Positive(b, load.EventsAcked)
	// The counter also counts the integrity checkpoints (a few records a run), so it can reach the acknowledged
	// count a few rows early; the rows are checked exactly below.
	s := e2eSide{load: load, rowsInLoad: int64(exportedRecords(b, c) - base)}
	awaitExportedPast(b, c, base, load.EventsAcked, time.Now().Add(5*time.Minute))
	s.seconds = time.Since(start).Seconds()
	s.collectorCPU, s.pgCPU = c.cpuSeconds(b)-cpu0, pgCPUSeconds(b, postmaster)-pg0
	awaitExported(b, c, db, load.RunID, load.EventsAcked)
	s.rows = storedOf(b, db, load.RunID)
	require.Equal(b, load.EventsAcked, s.rows, "every acknowledged event stored once")
	return s
}

// exportedRecords is the Postgres exporter's otelcol_exporter_sent_log_records: the records it has committed
// (integrity checkpoints included), read from the collector's telemetry at no cost to Postgres.
func exportedRecords(b *testing.B, c *Collector) float64 {
	return c.Metric(b, "otelcol_exporter_sent_log_records", `exporter="postgresaudit"`)
}

// awaitExportedPast waits until exportedRecords has moved n records past base.
func awaitExportedPast(b *testing.B, c *Collector, base float64, n int64, deadline time.Time) {
	for exportedRecords(b, c)-base < float64(n) {
		require.True(b, time.Now().Before(deadline), "acknowledged events not exported after 5 minutes")
		time.Sleep(50 * time.Millisecond)
	}
}

// awaitExported waits until the Postgres exporter has written at least the acknowledged events of the run (its
// counter moved that far since the run's rows were last counted), then until they are all in audit_logs.
func awaitExported(b *testing.B, c *Collector, db *pgx.Conn, runID string, acked int64) {
	deadline := time.Now().Add(5 * time.Minute)
	awaitExportedPast(b, c, exportedRecords(b, c)-float64(storedOf(b, db, runID)), acked, deadline)
	for storedOf(b, db, runID) < acked {
		require.True(b, time.Now().Before(deadline), "acknowledged events not stored after 5 minutes")
		time.Sleep(100 * time.Millisecond)
	}
}

// storedOf counts the rows of one `govctl load` run (its copies' session ids are load-<run>-<n>).
func storedOf(b *testing.B, db *pgx.Conn, runID string) int64 {
	var n int64
	require.NoError(b, db.QueryRow(context.Background(), "SELECT count(*) FROM audit_logs WHERE session_id LIKE $1",
		"load-"+runID+"-%").Scan(&n))
	return n
}

// rawCopy copies the run's rows out of audit_logs (binary COPY, into a file) and times copying them into a fresh
// table LIKE audit_logs with its defaults, constraints and indexes, on the same server; the Postgres CPU is that of
// every Postgres process over the COPY.
func rawCopy(b *testing.B, db *pgx.Conn, postmaster int, runID string, round int) e2eSide {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "rows.copy")
	f, err := os.Create(path)
	require.NoError(b, err)
	tag, err := db.PgConn().CopyTo(ctx, f, fmt.Sprintf(
		"COPY (SELECT * FROM audit_logs WHERE session_id LIKE 'load-%s-%%') TO STDOUT (FORMAT binary)", runID))
	require.NoError(b, err)
	require.NoError(b, f.Close())
	table := fmt.Sprintf("audit_raw_copy_%d", round)
	exec1(b, db, "CREATE TABLE "+table+" (LIKE audit_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)")
	exec1(b, db, "CHECKPOINT")
	f, err = os.Open(path)
	require.NoError(b, err)
	defer f.Close()
	pg0, start := pgCPUSeconds(b, postmaster), time.Now()
	in, err := db.PgConn().CopyFrom(ctx, f, "COPY "+table+" FROM STDIN (FORMAT binary)")
	require.NoError(b, err)
	s := e2eSide{rows: in.RowsAffected(), seconds: time.Since(start).Seconds(), pgCPU: pgCPUSeconds(b, postmaster) - pg0}
	require.Equal(b, tag.RowsAffected(), s.rows)
	exec1(b, db, "DROP TABLE "+table)
	return s
}

// profile takes a CPU profile of the collector under the closed loop of the rounds, logs its top entries and returns
// its path.
func profile(b *testing.B, c *Collector, db *pgx.Conn, lic string, port int, closedLoop func(int) []string) string {
	const secs = 15
	dir := b.TempDir()
	allocsBefore, allocsAfter := filepath.Join(dir, "allocs-before.pprof"), filepath.Join(dir, "allocs-after.pprof")
	fetchProfile(b, port, "allocs", allocsBefore)
	wait := Load(b, c, lic, "http", closedLoop(secs+4)...)
	time.Sleep(2 * time.Second)
	path, keep := filepath.Join(dir, "cpu.pprof"), os.Getenv("GOVCOL_E2E_PROFILE")
	if keep != "" {
		path = keep
	}
	fetchProfile(b, port, fmt.Sprintf("profile?seconds=%d", secs), path)
	if keep != "" { // the heap in use while the load still runs
		fetchProfile(b, port, "heap", keep+".heap")
	}
	load := wait()
	awaitExported(b, c, db, load.RunID, load.EventsAcked)
	fetchProfile(b, port, "allocs", allocsAfter)
	b.Logf("E2E CPU profile taken over %d s of the closed loop (%s)", secs, load)
	names, shares, total, err := allocShares(allocsBefore, allocsAfter)
	require.NoError(b, err)
	b.Logf("E2E allocs| The bytes the collector allocated from the start of that closed loop until its last event was "+
		"stored (the runtime's sampled heap profile, before and after), charged to the steps like the CPU samples: "+
		"%.0f bytes per stored row in all.", total/float64(load.EventsAcked))
	for _, line := range allocTable(names, shares, total/float64(load.EventsAcked)) {
		b.Logf("E2E allocs| %s", line)
	}
	// Flat: where the CPU is spent (the runtime's allocation and GC show here); cumulative over govcol's own
	// functions: which of its steps the time is spent under.
	for _, view := range []struct {
		name  string
		flags []string
	}{
		{"flat", []string{"-nodecount=25"}},
		{"govcol-cum", []string{"-cum", "-show=^github.com/govcol/", `-hide=(\.func[0-9]+|-range[0-9]+)$`, "-nodecount=25"}},
	} {
		args := append([]string{"tool", "pprof", "-top"}, view.flags...)
		out, err := exec.Command("go", append(args, GovcolBinary(b), path)...).CombinedOutput()
		require.NoError(b, err, "go tool pprof: %s", out)
		b.Logf("E2E profile %s| go tool pprof -top %s", view.name, strings.Join(view.flags, " "))
		for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			if !strings.HasPrefix(line, "File:") && !strings.HasPrefix(line, "Build ID:") && !strings.HasPrefix(line, "Type:") &&
				!strings.HasPrefix(line, "Time:") {
				b.Logf("E2E profile %s| %s", view.name, line)
			}
		}
	}
	return path
}

// quietPostgres keeps the server's background work out of the measured windows: autovacuum off (a vacuum or analyze
// of the tables the two sides fill, started by the inserts of one side, would land in whichever window runs then)
// and max_wal_size large enough that no checkpoint is forced inside a window (each side starts after a CHECKPOINT).
func quietPostgres(b *testing.B, db *pgx.Conn) {
	ctx := context.Background()
	for _, q := range []string{"ALTER SYSTEM SET autovacuum = off", "ALTER SYSTEM SET max_wal_size = '16GB'", "SELECT pg_reload_conf()"} {
		_, err := db.Exec(ctx, q)
		require.NoError(b, err, q)
	}
}

// fetchProfile saves the collector's pprof profile of kind (allocs, heap, profile?seconds=n, ...) to path.
func fetchProfile(b *testing.B, port int, kind, path string) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/%s", port, kind))
	require.NoError(b, err)
	defer resp.Body.Close()
	require.Equal(b, http.StatusOK, resp.StatusCode)
	data, err := io.ReadAll(resp.Body)
	require.NoError(b, err)
	require.NoError(b, os.WriteFile(path, data, 0o644))
}

// pprofOverlay adds the pprof extension on 127.0.0.1:port to config/local.yaml's service extensions.
func pprofOverlay(b *testing.B, port int) string {
	local, err := os.ReadFile(filepath.Join(RepoRoot(b), "config", "local.yaml"))
	require.NoError(b, err)
	m := regexp.MustCompile(`(?m)^service:\n(?:\s*#.*\n)*  extensions: \[([^\]]*)\]`).FindSubmatch(local)
	require.NotNil(b, m, "config/local.yaml: service.extensions as a [flow list] under service:")
	exts := string(m[1])
	if !strings.Contains(exts, "pprof") {
		exts += ", pprof"
	}
	return fmt.Sprintf("extensions:\n  pprof:\n    endpoint: 127.0.0.1:%d\nservice:\n  extensions: [%s]\n", port, exts)
}

// postmasterPID reads the cluster's postmaster.pid.
func postmasterPID(b *testing.B, c *pgcluster.Cluster) int {
	raw, err := os.ReadFile(filepath.Join(c.Dir, "data", "postmaster.pid"))
	require.NoError(b, err)
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0]))
	require.NoError(b, err)
	return pid
}

// procStat is the fields of /proc/<pid>/stat after the command name (field 3, the state, first); nil when the
// process is gone.
func procStat(pid int) []string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(raw)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
}

// ticks sums the given fields of a procStat (clock ticks of 1/100 s) in seconds.
func ticks(t testing.TB, f []string, idx ...int) float64 {
	var sum float64
	for _, i := range idx {
		v, err := strconv.ParseFloat(f[i], 64)
		require.NoError(t, err)
		sum += v
	}
	return sum / 100
}

// Indexes into procStat: ppid, utime, stime, cutime, cstime.
const statPPID, statUtime, statStime, statCutime, statCstime = 1, 11, 12, 13, 14

// pgCPUSeconds is the CPU time of every process of a Postgres cluster so far: the postmaster's own, that of its
// children that ended (it reaps every backend: cutime, cstime), and that of its children still running.
func pgCPUSeconds(b *testing.B, postmaster int) float64 {
	entries, err := os.ReadDir("/proc")
	require.NoError(b, err)
	var total float64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == postmaster {
			continue
		}
		if f := procStat(pid); f != nil && f[statPPID] == strconv.Itoa(postmaster) {
			total += ticks(b, f, statUtime, statStime)
		}
	}
	f := procStat(postmaster)
	require.NotNil(b, f, "the postmaster is gone")
	return total + ticks(b, f, statUtime, statStime, statCutime, statCstime)
}

func exec1(b *testing.B, db *pgx.Conn, sql string) {
	_, err := db.Exec(context.Background(), sql)
	require.NoError(b, err, sql)
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

// envInt is the integer in environment variable name, def when unset or below lowest.
func envInt(name string, def, lowest int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= lowest {
		return v
	}
	return def
}
