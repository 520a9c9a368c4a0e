package e2e

import (
	"fmt"
	"os"
	"regexp"
	"slices"

	pprofile "github.com/google/pprof/profile"
)

// cpuStage is one step of the collector's path that a CPU sample can be charged to.
type cpuStage struct {
	name  string
	match *regexp.Regexp // a frame's function name
	own   bool           // govcol's code (the processor, its exporters), not the collector's or a contrib component's
}

// gcStage takes every sample of the garbage collector's own work, wherever it interrupted: background marking,
// sweeping, scavenging and the assists an allocating goroutine pays.
var gcStage = cpuStage{"garbage collection (background marking, sweeping, scavenging, assists)",
	regexp.MustCompile(`^runtime\.(gcBgMarkWorker|bgsweep|bgscavenge|gcAssistAlloc|gcStart|gcMarkTermination|markroot)`), false}

// cpuStages are matched from a sample's innermost frame outwards; the first stage one of its frames matches takes the
// sample (so the Postgres driver's time under the exporter is the driver's, and the processor's calls into shared
// packages are the processor's). Their order is the order of the path through the collector.
var cpuStages = []cpuStage{
	{"OTLP receiver: HTTP and gRPC serving, decompression, protobuf decoding", regexp.MustCompile(`otlpreceiver|^google\.golang\.org/grpc|^net/http\.|^golang\.org/x/net/http2`), false},
	{"license authentication (licenseauth)", regexp.MustCompile(`/licenseauthextension\.`), false},
	{"memory limiter", regexp.MustCompile(`memorylimiter`), false},
	{"governance processor: PII and secret masking (internal/pii)", regexp.MustCompile(`^github\.com/govcol/govcol/internal/pii\.`), true},
	{"governance processor: OTTL policies", regexp.MustCompile(`governanceprocessor\.\(\*(policySet|toolInput|litFilter)\)`), true},
	{"governance processor: hash chain and checkpoints (internal/integrity)", regexp.MustCompile(`^github\.com/govcol/govcol/internal/integrity\.`), true},
	{"governance processor: identity, mapping, verdicts, stamping", regexp.MustCompile(`/governanceprocessor\.`), true},
	{"pipeline fan-out (copies for a consumer that mutates)", regexp.MustCompile(`/fanoutconsumer\.`), false},
	{"count connector (decision metrics)", regexp.MustCompile(`/countconnector\.`), false},
	{"span metrics connector and Prometheus exporters", regexp.MustCompile(`spanmetricsconnector|prometheusexporter|prometheus/client_golang`), false},
	{"decision exporter (s3decision: selection, NDJSON, gzip, files)", regexp.MustCompile(`/s3decisionexporter\.`), true},
	{"Postgres exporter: Postgres driver (pgx, COPY protocol)", regexp.MustCompile(`^github\.com/jackc/`), false},
	{"Postgres exporter: records to rows", regexp.MustCompile(`/postgresauditexporter\.`), true},
	{"exporter queues and batching (exporterhelper)", regexp.MustCompile(`/exporterhelper`), false},
}

const otherStage = "other (scheduler, network polling, timers, everything unmatched)"

// stageOwned says whether the stage of stageShares' index i is govcol's own code.
func stageOwned(i int) bool { return i >= 1 && i <= len(cpuStages) && cpuStages[i-1].own }

// stageShares reads a CPU profile and returns each stage's share of its CPU time, in the order of cpuStages, the
// garbage collector first and everything unmatched last.
func stageShares(path string) (names []string, shares []float64, err error) {
	p, err := readProfile(path)
	if err != nil {
		return nil, nil, err
	}
	names, shares, _, err = sharesOf(p, "cpu")
	return names, shares, err
}

// allocShares returns each stage's share of the bytes the collector allocated between two heap profiles (the
// runtime's sampled allocation counts, which only grow), and the bytes allocated in all.
func allocShares(before, after string) (names []string, shares []float64, total float64, err error) {
	base, err := readProfile(before)
	if err != nil {
		return nil, nil, 0, err
	}
	cur, err := readProfile(after)
	if err != nil {
		return nil, nil, 0, err
	}
	base.Scale(-1)
	diff, err := pprofile.Merge([]*pprofile.Profile{cur, base})
	if err != nil {
		return nil, nil, 0, err
	}
	return sharesOf(diff, "alloc_space")
}

func readProfile(path string) (*pprofile.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return pprofile.Parse(f)
}

// sharesOf charges the samples' values of sampleType to the stages (GC first, then cpuStages, then the rest).
func sharesOf(p *pprofile.Profile, sampleType string) (names []string, shares []float64, total float64, err error) {
	valueIndex := slices.IndexFunc(p.SampleType, func(t *pprofile.ValueType) bool { return t.Type == sampleType })
	if valueIndex < 0 {
		return nil, nil, 0, fmt.Errorf("profile has no %s samples (sample types %v)", sampleType, p.SampleType)
	}
	names = append([]string{gcStage.name}, stageNames()...)
	names = append(names, otherStage)
	sums := make([]float64, len(names))
	for _, s := range p.Sample {
		v := float64(s.Value[valueIndex])
		total += v
		sums[stageOf(frames(s))] += v
	}
	if total <= 0 {
		return nil, nil, 0, fmt.Errorf("profile: no %s", sampleType)
	}
	shares = make([]float64, len(sums))
	for i := range sums {
		shares[i] = sums[i] / total
	}
	return names, shares, total, nil
}

func stageNames() []string {
	names := make([]string, len(cpuStages))
	for i, s := range cpuStages {
		names[i] = s.name
	}
	return names
}

// frames lists a sample's function names, innermost first (inlined calls included).
func frames(s *pprofile.Sample) []string {
	var out []string
	for _, loc := range s.Location {
		for _, line := range loc.Line {
			if line.Function != nil {
				out = append(out, line.Function.Name)
			}
		}
	}
	return out
}

// stageOf is the index (in stageShares' names) of the stage that takes a sample with these frames.
func stageOf(frames []string) int {
	for _, fn := range frames {
		if gcStage.match.MatchString(fn) {
			return 0
		}
	}
	for _, fn := range frames {
		for i, s := range cpuStages {
			if s.match.MatchString(fn) {
				return i + 1
			}
		}
	}
	return len(cpuStages) + 1
}

// stageTable formats the stages as the lines BenchmarkEndToEnd logs: share and the CPU per stored row it stands for.
func stageTable(names []string, shares []float64, usPerRow float64) []string {
	return table(names, shares, usPerRow, "share of the collector's CPU", "µs per stored row")
}

// allocTable formats the stages' shares of the bytes allocated and the bytes per stored row they stand for.
func allocTable(names []string, shares []float64, bytesPerRow float64) []string {
	return table(names, shares, bytesPerRow, "share of the bytes allocated", "bytes per stored row")
}

func table(names []string, shares []float64, perRow float64, shareHead, perRowHead string) []string {
	lines := []string{"| step | " + shareHead + " | " + perRowHead + " |", "|---|---:|---:|"}
	var own float64
	for i, n := range names {
		lines = append(lines, fmt.Sprintf("| %s | %.1f %% | %.1f |", n, 100*shares[i], shares[i]*perRow))
		if stageOwned(i) {
			own += shares[i]
		}
	}
	return append(lines, fmt.Sprintf("| govcol's own steps (processor, its two exporters; not GC) | %.1f %% | %.1f |", 100*own, own*perRow),
		fmt.Sprintf("| the rest (receiver, upstream connectors and exporters, queues, driver, runtime, GC) | %.1f %% | %.1f |",
			100*(1-own), (1-own)*perRow))
}
