package integrity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/govcol/govcol/internal/license"
)

func TestRetentionMarkerSignVerify(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid := license.KeyID(pub)
	keys := license.KeySet{kid: pub}
	m := RetentionMarker{TenantID: "acme", ChainID: "i/acme/1", FromSeq: 1, ToSeq: 10, Count: 10, Category: "llm.",
		Reason: ReasonRetention, Cutoff: time.Date(2026, 1, 1, 0, 0, 0, 1234, time.UTC), DeletedAt: time.Now()}
	m.Sign(key, kid)
	if err := m.Verify(keys); err != nil {
		t.Fatalf("fresh marker: %v", err)
	}
	if m.Cutoff.Nanosecond()%1000 != 0 {
		t.Fatalf("cutoff not truncated to the microsecond: %v", m.Cutoff)
	}
	for name, mutate := range map[string]func(*RetentionMarker){
		"tenant":   func(m *RetentionMarker) { m.TenantID = "other" },
		"chain":    func(m *RetentionMarker) { m.ChainID = "i/acme/2" },
		"from":     func(m *RetentionMarker) { m.FromSeq = 2 },
		"to":       func(m *RetentionMarker) { m.ToSeq = 11 },
		"count":    func(m *RetentionMarker) { m.Count = 9 },
		"category": func(m *RetentionMarker) { m.Category = "tool." },
		"reason":   func(m *RetentionMarker) { m.Reason = "legal" },
		"cutoff":   func(m *RetentionMarker) { m.Cutoff = m.Cutoff.Add(time.Microsecond) },
		"deleted":  func(m *RetentionMarker) { m.DeletedAt = m.DeletedAt.Add(time.Second) },
		"key":      func(m *RetentionMarker) { m.KeyID = "nope" },
		"unsigned": func(m *RetentionMarker) { m.Signature = "" },
		"range":    func(m *RetentionMarker) { m.FromSeq, m.ToSeq = 5, 4 },
		"overfull": func(m *RetentionMarker) { m.Count = 11 },
	} {
		c := m
		mutate(&c)
		if err := c.Verify(keys); err == nil {
			t.Errorf("%s: altered marker verifies", name)
		}
	}
	// Domain separation: a marker payload never equals a checkpoint payload with the same strings.
	cp := Checkpoint{ChainID: m.ChainID, TenantID: m.TenantID, LastSeq: 10, KeyID: kid, SignedAt: m.DeletedAt}
	if bytes.HasPrefix(m.Payload(), cp.Payload()[:len(checkpointMagic)]) {
		t.Fatal("marker payload shares the checkpoint prefix")
	}
	if !m.Covers("i/acme/1", 1) || !m.Covers("i/acme/1", 10) || m.Covers("i/acme/1", 11) || m.Covers("x", 5) {
		t.Fatal("Covers")
	}
}

// The signed payload format is stable: a stored trail's signatures must verify after any refactoring. The bytes of
// a checkpoint payload, spelled out.
func TestSignedPayloadBytesAreStable(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 123456000, time.UTC)
	cp := Checkpoint{ChainID: "c", TenantID: "t", LastSeq: 12, LastHash: "v1:ab", KeyID: "k", SignedAt: at}
	want := "govcol.checkpoint.v1\x00" + "\x00\x00\x00\x01c" + "\x00\x00\x00\x01t" + "\x00\x00\x00\x0212" +
		"\x00\x00\x00\x05v1:ab" + "\x00\x00\x00\x01k" + "\x00\x00\x00\x1b2026-11-29T10:00:00.123456Z"
	if got := string(cp.Payload()); got != want {
		t.Fatalf("checkpoint payload changed:\n got %q\nwant %q", got, want)
	}
	cp.Withdrawn.AddRange(3, 5)
	if got := string(cp.Payload()); got != "govcol.checkpoint.v2\x00"+want[len("govcol.checkpoint.v1\x00"):]+"\x00\x00\x00\x033-5" {
		t.Fatalf("v2 checkpoint payload changed: %q", got)
	}
}
