package pii

import (
	"regexp"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"My SSN is 123-45-6789 and my card is 4111 1111 1111 1111; list files",
	"Contact admin@corp.example for access.",
	`{"command":"ls -la","description":"List files in the working directory"}`,
	"postgres://admin:s3cr3t@db.example.com:5432/app password=hunter2",
	"GITHUB_TOKEN=ghp_1234567890abcdefghijABCDEFGHIJ123456 AKIAIOSFODNN7EXAMPLE",
	"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
	"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
	"+1 (415) 555-2671 2001:db8::1 192.168.1.1 DE89 3704 0044 0532 0130 00",
	"ABCPE1234F 2341 2341 2346 3201012501900001",
	"[REDACTED:email] [email:1a2b3c4d] token=[REDACTED:secret_assignment]",
	"sk-ant-api03-AbCdEf1234567890abcdefGHIJ sk-proj-AbCdEf1234567890abcdefGHIJ xoxb-123456789012-abcdefghij",
	"AIzaSyA1234567890abcdefghijklmnopqrstuv 2026-11-22T08:46:14.504Z 1763801174504 2.1.330",
	"a@b@c.com: x:y@z.io",
	`curl -H "Authorization: Bearer SpFk_gMFIYtKhSWbBTkPRU2NFoylq2xqzuB7FAs2" -u rzp_test_a4eTqRA3hvAMEy:7pMmtkoQllyV9w9ejbPnWj7W`,
	"AccountKey=S5QLSPkV1f/KAYVfPH0nT01RdXQQKrN7utkDcdfdfQM=;x?sv=1&sig=69d5sssfdNWcFH%2BnBfcktTvrZ%2BVeCIoLqKZmmlF6gqs%3D",
	"pay x@ybl 9876543210@paytm NPWP 01.312.166.0-091.000 0013121660091000 SECRET_KEY=k3Jd8sPqL2mN5vX7",
	"",
}

func addSeeds(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	for _, p := range positives {
		f.Add(p.text)
	}
	for _, n := range negatives {
		f.Add(n)
	}
	for _, name := range []string{"credentials.txt", "codelike.txt"} {
		for _, b := range blocks(f, name) {
			f.Add(b)
		}
	}
}

var tokenRE = regexp.MustCompile(`\[[A-Za-z0-9_:*]+\]`)

// checkMask asserts the masking properties on one input: no error or panic, no detected value (of 6+ bytes,
// occurring once in the input) left in the output outside mask tokens, and idempotence.
func checkMask(t *testing.T, e *Engine, s string) {
	f, err := e.Detect(s)
	if err != nil {
		t.Fatalf("detect: %v", err)
	}
	last := 0
	for _, x := range f {
		if x.Start < last || x.End <= x.Start || x.End > len(s) {
			t.Fatalf("bad span %v after %d in %q", x, last, s)
		}
		last = x.End
	}
	r, err := e.Mask(s)
	if err != nil {
		t.Fatalf("mask: %v", err)
	}
	stripped := tokenRE.ReplaceAllString(r.Text, "\x00")
	for _, x := range f {
		v := s[x.Start:x.End]
		if len(v) >= 6 && strings.Count(s, v) == 1 && strings.Contains(stripped, v) {
			t.Fatalf("value %q (%s) left in %q (input %q)", v, x.Type, r.Text, s)
		}
	}
	if len(f) == 0 && r.Text != s {
		t.Fatalf("changed without findings: %q -> %q", s, r.Text)
	}
	r2, err := e.Mask(r.Text)
	if err != nil {
		t.Fatalf("mask again: %v", err)
	}
	if r2.Text != r.Text {
		t.Fatalf("not idempotent:\n in  %q\n 1st %q\n 2nd %q", s, r.Text, r2.Text)
	}
}

func FuzzMask(f *testing.F) {
	addSeeds(f)
	e := newEngine(f, Config{})
	f.Fuzz(func(t *testing.T, s string) { checkMask(t, e, s) })
}

func FuzzMaskHash(f *testing.F) {
	addSeeds(f)
	e := newEngine(f, Config{Mode: ModeHash, HashKey: []byte("fuzz-key-0123456789")})
	p := newEngine(f, Config{Mode: ModePartial, KeepPrivateIPs: true})
	f.Fuzz(func(t *testing.T, s string) {
		checkMask(t, e, s)
		checkMask(t, p, s)
	})
}

// FuzzDetectPerType checks that each detector alone never panics and only reports spans inside the input.
func FuzzDetectPerType(f *testing.F) {
	addSeeds(f)
	var engines []*Engine
	for _, typ := range AllTypes() {
		engines = append(engines, newEngine(f, Config{Types: []Type{typ}}))
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, e := range engines {
			fs, err := e.Detect(s)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range fs {
				if x.Start < 0 || x.End > len(s) || x.Start >= x.End {
					t.Fatalf("bad span %v", x)
				}
			}
		}
	})
}

// TestCombinations glues every pair of corpus values with separators that move token boundaries and checks the
// masking properties on each (a deterministic complement to the fuzzers).
func TestCombinations(t *testing.T) {
	e := newEngine(t, Config{})
	h := newEngine(t, Config{Mode: ModeHash, HashKey: []byte("combination-key-0123")})
	var vals []string
	for _, p := range positives {
		vals = append(vals, p.want)
	}
	vals = append(vals, "2.1.330", "localhost:4318", "1763801174504", "b202ba49-6acd-41fe-8ea9-ba982ec1a75d")
	for _, a := range vals {
		for _, b := range vals {
			for _, glue := range []string{"", " ", "-", ".", ":", "@", "=", "/", "\n", "_", "a", "1"} {
				s := a + glue + b
				checkMask(t, e, s)
				checkMask(t, h, s)
			}
		}
	}
}
