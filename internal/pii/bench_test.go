package pii

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// corpusFiles are the realistic inputs (see testdata/README.md).
var corpusFiles = []string{"prompts.txt", "commands.txt", "tool_input.jsonl", "code_go.txt", "telemetry_logs.json",
	"telemetry_traces.json"}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sized repeats src until it holds n bytes.
func sized(src string, n int) string {
	if src == "" {
		return ""
	}
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(src)
		b.WriteByte('\n')
	}
	return b.String()[:n]
}

// benchCorpora returns name -> text for each content kind; "mixed" interleaves all kinds line by line.
func benchCorpora(b testing.TB) [][2]string {
	kinds := [][2]string{
		{"prompt", readTestdata(b, "prompts.txt")},
		{"shell", readTestdata(b, "commands.txt")},
		{"json_tool_input", readTestdata(b, "tool_input.jsonl")},
		{"code", readTestdata(b, "code_go.txt")},
		{"telemetry", readTestdata(b, "telemetry_logs.json")},
	}
	var lines [][]string
	for _, k := range kinds {
		lines = append(lines, strings.Split(k[1], "\n"))
	}
	var mixed strings.Builder
	for i := 0; mixed.Len() < 256<<10; i++ {
		for _, l := range lines {
			mixed.WriteString(l[i%len(l)])
			mixed.WriteByte('\n')
		}
	}
	return append([][2]string{{"mixed", mixed.String()}}, kinds...)
}

// upstreamPatterns mimics the contrib redaction processor: blocked_values, one Go regexp per type, each run over
// every value (MatchString, then ReplaceAllString), configured for the same types as the engine.
var upstreamPatterns = []string{
	`[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}`,                                    // email
	`(?:\+[1-9]\d{0,2}[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}`,                        // phone
	`\b\d{3}-\d{2}-\d{4}\b`,                                                             // ssn
	`\b(?:4\d{3}|5[1-5]\d{2}|3[47]\d{2}|6011)[ -]?\d{4}[ -]?\d{4}[ -]?\d{1,4}\b`,        // credit card
	`\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b`,                       // iban
	`\b[2-9]\d{3}[ -]?\d{4}[ -]?\d{4}\b`,                                                // aadhaar
	`\b[A-Z]{5}\d{4}[A-Z]\b`,                                                            // pan
	`\b\d{16}\b`,                                                                        // nik
	`\b(?:\d{1,3}\.){3}\d{1,3}\b`,                                                       // ipv4
	`(?i)\b(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{0,4}\b`,                                      // ipv6
	`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b`,                                                     // aws
	`\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})\b`,                    // github
	`xox[abposr]-[A-Za-z0-9-]{10,}`,                                                     // slack
	`AIza[0-9A-Za-z_-]{35}`,                                                             // google
	`sk-ant-[A-Za-z0-9_-]{20,}`,                                                         // anthropic
	`sk-(?:proj-)?[A-Za-z0-9_-]{20,}`,                                                   // openai
	`eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`,                              // jwt
	`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----`,        // private key
	`[a-zA-Z][a-zA-Z0-9+.-]*://[^:/\s@]+:[^@/\s]+@`,                                     // url password
	`(?i)(?:password|passwd|secret|token|api_key|apikey)["']?\s*[=:]\s*["']?[^\s"',;]+`, // assignment
}

func compileUpstream() []*regexp.Regexp {
	res := make([]*regexp.Regexp, len(upstreamPatterns))
	for i, p := range upstreamPatterns {
		res[i] = regexp.MustCompile(p)
	}
	return res
}

// upstreamMask is the baseline: every regexp over every value.
func upstreamMask(res []*regexp.Regexp, s string) string {
	for _, re := range res {
		if re.MatchString(s) {
			s = re.ReplaceAllString(s, "****")
		}
	}
	return s
}

var sinkString string

var benchSizes = []struct {
	name string
	n    int
}{{"100B", 100}, {"1KiB", 1 << 10}, {"16KiB", 16 << 10}, {"64KiB", 64 << 10}}

// BenchmarkMask runs the engine and the upstream baseline on the same inputs, per content kind and size.
func BenchmarkMask(b *testing.B) {
	e := newEngine(b, Config{})
	res := compileUpstream()
	for _, c := range benchCorpora(b) {
		for _, sz := range benchSizes {
			in := sized(c[1], sz.n)
			b.Run(c[0]+"/"+sz.name+"/engine", func(b *testing.B) {
				b.SetBytes(int64(len(in)))
				b.ReportAllocs()
				for b.Loop() {
					r, err := e.Mask(in)
					if err != nil {
						b.Fatal(err)
					}
					sinkString = r.Text
				}
			})
			b.Run(c[0]+"/"+sz.name+"/upstream_regexp", func(b *testing.B) {
				b.SetBytes(int64(len(in)))
				b.ReportAllocs()
				for b.Loop() {
					sinkString = upstreamMask(res, in)
				}
			})
		}
	}
}

var sinkInt int

// BenchmarkClean compares the engine on text without a single candidate with plain memory scans.
func BenchmarkClean(b *testing.B) {
	e := newEngine(b, Config{})
	in := sized(readTestdata(b, "clean.txt"), 16<<10)
	b.Run("engine", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			r, _ := e.Mask(in)
			sinkString = r.Text
		}
	})
	b.Run("bytes_loop", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			for i := 0; i < len(in); i++ {
				if in[i] == '@' {
					n++
				}
			}
			sinkInt = n
		}
	})
	b.Run("strings_IndexByte", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			sinkInt = strings.IndexByte(in, 0)
		}
	})
	res := compileUpstream()
	b.Run("upstream_regexp", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			sinkString = upstreamMask(res, in)
		}
	})
}

// TestUpstreamBaselineCompiles keeps the baseline honest: it must mask the fixture prompt too.
func TestUpstreamBaselineCompiles(t *testing.T) {
	out := upstreamMask(compileUpstream(), "My SSN is 123-45-6789 and my card is 4111 1111 1111 1111; list files")
	if strings.Contains(out, "123-45-6789") || strings.Contains(out, "4111 1111") {
		t.Fatalf("baseline does not mask: %q", out)
	}
}

// BenchmarkModes compares the masking modes on the PII-dense mixed corpus (16 KiB).
func BenchmarkModes(b *testing.B) {
	in := sized(benchCorpora(b)[0][1], 16<<10)
	for _, cfg := range []Config{{Mode: ModeRedact}, {Mode: ModeHash, HashKey: []byte("bench-key-0123456789")},
		{Mode: ModePartial}} {
		e := newEngine(b, cfg)
		b.Run(string(cfg.Mode), func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				r, _ := e.Mask(in)
				sinkString = r.Text
			}
		})
	}
	e := newEngine(b, Config{})
	b.Run("detect_only", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			f, _ := e.Detect(in)
			sinkInt = len(f)
		}
	})
}

// BenchmarkAdversarial measures the worst cases: 64 KiB made of one trigger pattern repeated.
func BenchmarkAdversarial(b *testing.B) {
	e := newEngine(b, Config{})
	for i, in := range adversarialInputs() {
		b.Run(strconv.Itoa(i), func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				r, _ := e.Mask(in)
				sinkString = r.Text
			}
		})
	}
}
