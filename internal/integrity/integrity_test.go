package integrity_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/license"
	"github.com/govcol/govcol/processor/governanceprocessor/governancetest"
)

func testKey(t testing.TB) (ed25519.PrivateKey, string, license.KeySet) {
	pub, priv, err := license.GenerateKey()
	require.NoError(t, err)
	kid := license.KeyID(pub)
	ks := license.KeySet{}
	require.NoError(t, ks.Add(kid, pub))
	return priv, kid, ks
}

// chained links n renumbered copies of the governed fixture and returns the entries as an exporter reads them back,
// and the checkpoints.
func chained(t testing.TB, c *integrity.Chainer, copies int) ([]integrity.Entry, []integrity.Checkpoint) {
	t.Helper()
	base := governancetest.Governed(t, "tenant-a")
	var entries []integrity.Entry
	var cps []integrity.Checkpoint
	for range copies {
		ld := audittest.Renumber(base, time.Time{})
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					link, err := c.Link(rl.Resource(), lr, "tenant-a")
					require.NoError(t, err)
					for _, cp := range c.Settle([]integrity.Link{link}, true) {
						cps = append(cps, *cp)
					}
					r, err := audit.FromLogRecord(rl.Resource(), lr)
					require.NoError(t, err)
					entries = append(entries, integrity.Entry{Record: r, JSON: audit.StoredJSON{
						PolicyDetails: r.PolicyDetailsJSON(), Obligations: r.ObligationsJSON(),
						ComplianceFlags: r.ComplianceFlagsJSON(), SecurityMetrics: r.SecurityMetricsJSON(), Metadata: r.MetadataJSON()}})
				}
			}
		}
	}
	for _, cp := range c.Due(true) {
		cps = append(cps, *cp)
	}
	return entries, cps
}

func TestChainLinksAndCheckpoints(t *testing.T) {
	key, kid, keys := testKey(t)
	c := integrity.NewChainer("inst-1", key, kid, 10, time.Hour, time.Now)
	entries, cps := chained(t, c, 3) // 33 records
	require.Len(t, entries, 33)
	prev := ""
	for i, e := range entries {
		assert.EqualValues(t, i+1, e.Record.ChainSeq)
		assert.Equal(t, prev, e.Record.PrevHash)
		assert.Regexp(t, `^v1:[0-9a-f]{64}$`, e.Record.RecordHash)
		assert.Contains(t, e.Record.ChainID, "inst-1/tenant-a/")
		h, err := e.Record.ComputeHash()
		require.NoError(t, err)
		assert.Equal(t, e.Record.RecordHash, h, "the hash an exporter recomputes from the stamped attributes")
		prev = e.Record.RecordHash
	}
	// Every 10 records, then the rest at shutdown.
	require.Len(t, cps, 4)
	assert.Equal(t, []int64{10, 20, 30, 33}, []int64{cps[0].LastSeq, cps[1].LastSeq, cps[2].LastSeq, cps[3].LastSeq})
	for _, cp := range cps {
		require.NoError(t, cp.VerifySignature(keys))
	}
	rep := integrity.VerifyChain(entries, cps, keys)
	assert.True(t, rep.OK(), "%+v", rep.Failures)
	assert.EqualValues(t, 33, rep.CoveredTo)
	assert.Empty(t, c.Due(true), "nothing new to sign")
}

func TestCheckpointDueByTime(t *testing.T) {
	key, kid, _ := testKey(t)
	now := time.Unix(1_800_000_000, 0)
	c := integrity.NewChainer("inst", key, kid, 1000, time.Second, func() time.Time { return now })
	chained(t, c, 0)
	ld := audittest.Renumber(governancetest.Governed(t, "tenant-a"), time.Time{})
	rl := ld.ResourceLogs().At(0)
	link, err := c.Link(rl.Resource(), rl.ScopeLogs().At(0).LogRecords().At(0), "tenant-a")
	require.NoError(t, err)
	now = now.Add(time.Second)
	assert.Empty(t, c.Due(false), "the record's delivery has not returned: nothing to sign")
	assert.Empty(t, c.Settle([]integrity.Link{link}, true))
	now = now.Add(-time.Second)
	assert.Empty(t, c.Due(false), "not a second old yet")
	now = now.Add(time.Second)
	due := c.Due(false)
	require.Len(t, due, 1)
	assert.EqualValues(t, 1, due[0].LastSeq)
	assert.Empty(t, c.Due(false))
}

func TestCheckpointLogRecordRoundTrip(t *testing.T) {
	key, kid, keys := testKey(t)
	cp := integrity.Checkpoint{ChainID: "i/t/s", TenantID: "t", LastSeq: 42, LastHash: "v1:ab", SignedAt: time.Now()}
	cp.Sign(key, kid)
	ld := plog.NewLogs()
	integrity.AppendCheckpoints(ld, []*integrity.Checkpoint{&cp})
	lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	require.True(t, integrity.IsCheckpoint(lr))
	got, err := integrity.CheckpointFromLogRecord(lr)
	require.NoError(t, err)
	assert.Equal(t, cp.Signature, got.Signature)
	assert.True(t, got.SignedAt.Equal(cp.SignedAt))
	require.NoError(t, got.VerifySignature(keys))
	got.LastSeq = 43
	assert.Error(t, got.VerifySignature(keys), "the sequence number is signed")
}

func TestVerifyChainKinds(t *testing.T) {
	key, kid, keys := testKey(t)
	fresh := func() ([]integrity.Entry, []integrity.Checkpoint) {
		return chained(t, integrity.NewChainer("inst", key, kid, 10, time.Hour, time.Now), 2) // 22 records, cps 10, 20, 22
	}
	first := func(es []integrity.Entry, cps []integrity.Checkpoint) integrity.Failure {
		rep := integrity.VerifyChain(es, cps, keys)
		require.False(t, rep.OK())
		return rep.Failures[0]
	}
	es, cps := fresh()
	es[4].Record.Query = "changed"
	assert.Equal(t, integrity.Failure{Kind: integrity.KindModified, Seq: 5, RecordID: es[4].Record.ID, Detail: "record " + es[4].Record.ID + " does not match its record_hash"}, first(es, cps))

	es, cps = fresh()
	es[6].JSON.Metadata = []byte(`{"extra":1}`)
	assert.Equal(t, integrity.KindModified, first(es, cps).Kind, "a changed JSON column")

	es, cps = fresh()
	es = append(es[:7], es[8:]...)
	f := first(es, cps)
	assert.Equal(t, integrity.KindDeleted, f.Kind)
	assert.EqualValues(t, 8, f.Seq)

	es, cps = fresh()
	es[2].Record.ChainSeq, es[3].Record.ChainSeq = 4, 3
	f = first(es, cps)
	assert.Equal(t, integrity.KindReordered, f.Kind)
	assert.EqualValues(t, 3, f.Seq)

	es, cps = fresh()
	f = first(es[:20], cps)
	assert.Equal(t, integrity.KindDeleted, f.Kind, "the tail a checkpoint signed is gone")
	assert.EqualValues(t, 21, f.Seq)

	es, cps = fresh()
	f = first(es, cps[:2])
	assert.Equal(t, integrity.KindUncoveredTail, f.Kind)
	assert.EqualValues(t, 21, f.Seq)

	es, cps = fresh()
	cps[1].LastHash = es[0].Record.RecordHash
	assert.Equal(t, integrity.KindBadSignature, first(es, cps).Kind)

	// A removed head is a deletion (issue 17, finding 2: it used to verify from the first stored record) ...
	es, cps = fresh()
	f = first(es[5:], cps)
	assert.Equal(t, integrity.KindDeleted, f.Kind)
	assert.EqualValues(t, 1, f.Seq)
	// ... unless a signed retention marker accounts for it ...
	es, cps = fresh()
	m := integrity.RetentionMarker{TenantID: "tenant-a", ChainID: es[0].Record.ChainID, FromSeq: 1, ToSeq: 5, Count: 5,
		Reason: integrity.ReasonRetention, Cutoff: time.Now(), DeletedAt: time.Now()}
	m.Sign(key, kid)
	rep := integrity.VerifyChainWith(es[5:], integrity.Evidence{Checkpoints: cps, Markers: []integrity.RetentionMarker{m}}, keys)
	assert.True(t, rep.OK(), "%+v", rep.Failures)
	assert.EqualValues(t, 6, rep.FirstSeq)
	assert.EqualValues(t, 5, rep.Retained)
	// ... (an unsigned or forged one does not) ...
	m.Count = 4
	rep = integrity.VerifyChainWith(es[5:], integrity.Evidence{Checkpoints: cps, Markers: []integrity.RetentionMarker{m}}, keys)
	assert.False(t, rep.OK())
	// ... or the verification window (--since) starts inside the chain and anchors it at its first record.
	es, cps = fresh()
	rep = integrity.VerifyChainWith(es[5:], integrity.Evidence{Checkpoints: cps, Anchored: true}, keys)
	assert.True(t, rep.OK(), "%+v", rep.Failures)
}

func TestCanonicalJSONNumbersAndKeys(t *testing.T) {
	for in, want := range map[string]string{
		`{"b":1,"a":[1e2,0.50,-3]}`:            `{"a":[100,1/2,-3],"b":1}`,
		`{"a": 100, "b": {"z":null,"y":true}}`: `{"a":100,"b":{"y":true,"z":null}}`,
		`"x<y"`:                                `"x\u003cy"`,
		`12345678901234567890123`:              `12345678901234567890123`,
	} {
		got, err := audit.CanonicalJSON([]byte(in))
		require.NoError(t, err)
		assert.Equal(t, want, got, in)
	}
	_, err := audit.CanonicalJSON([]byte(`{"a":`))
	assert.Error(t, err)
}

func TestLoadSigningKey(t *testing.T) {
	pub, priv, err := license.GenerateKey()
	require.NoError(t, err)
	pemBytes, err := license.MarshalPrivateKeyPEM(priv)
	require.NoError(t, err)
	k, kid, err := integrity.LoadSigningKey("", string(pemBytes), "")
	require.NoError(t, err)
	assert.Equal(t, priv, k)
	assert.Equal(t, license.KeyID(pub), kid)
	seed := priv.Seed()
	k, kid, err = integrity.LoadSigningKey("", b64(seed), "rotated-2026")
	require.NoError(t, err)
	assert.Equal(t, priv, k)
	assert.Equal(t, "rotated-2026", kid)
	_, _, err = integrity.LoadSigningKey("a", "b", "")
	assert.ErrorContains(t, err, "not both")
	_, _, err = integrity.LoadSigningKey("", "!!!", "")
	assert.ErrorContains(t, err, "not PEM and not base64")
	k, _, err = integrity.LoadSigningKey("", "", "")
	require.NoError(t, err)
	assert.Nil(t, k, "no key configured: no checkpoints")
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// linkCopies chains n records (renumbered fixture copies) without settling them and returns their links and the
// entries as an exporter reads them back.
func linkCopies(t *testing.T, c *integrity.Chainer, n int) ([]integrity.Link, []integrity.Entry) {
	t.Helper()
	var links []integrity.Link
	var entries []integrity.Entry
	for len(links) < n {
		ld := audittest.Renumber(governancetest.Governed(t, "tenant-a"), time.Time{})
		for _, rl := range ld.ResourceLogs().All() {
			for _, lr := range rl.ScopeLogs().At(0).LogRecords().All() {
				if len(links) == n {
					break
				}
				link, err := c.Link(rl.Resource(), lr, "tenant-a")
				require.NoError(t, err)
				r, err := audit.FromLogRecord(rl.Resource(), lr)
				require.NoError(t, err)
				links = append(links, link)
				entries = append(entries, integrity.Entry{Record: r, JSON: audit.StoredJSON{
					PolicyDetails: r.PolicyDetailsJSON(), Obligations: r.ObligationsJSON(),
					ComplianceFlags: r.ComplianceFlagsJSON(), SecurityMetrics: r.SecurityMetricsJSON(), Metadata: r.MetadataJSON()}})
			}
		}
	}
	return links, entries
}

func checkpoints(cps []*integrity.Checkpoint) []integrity.Checkpoint {
	out := make([]integrity.Checkpoint, len(cps))
	for i, cp := range cps {
		out[i] = *cp
	}
	return out
}

// Two batches in flight at once: the second returns first, the first is refused. The checkpoint waits for both,
// then signs the delivered records and withdraws the refused ones; the stored trail (refused records absent)
// verifies, and deleting a delivered record is still caught.
func TestCheckpointSignsOnlySettledRecordsAndWithdrawsRefused(t *testing.T) {
	key, kid, keys := testKey(t)
	c := integrity.NewChainer("inst", key, kid, 3, time.Hour, time.Now)
	links, entries := linkCopies(t, c, 8)
	batchA, batchB := links[:4], links[4:]
	assert.Empty(t, c.Settle(batchB, true), "batch A is still in flight: nothing below it can be signed")
	assert.Empty(t, c.Due(true))
	cps := c.Settle(batchA, false)
	require.Len(t, cps, 1)
	assert.EqualValues(t, 8, cps[0].LastSeq)
	assert.Equal(t, "1-4", cps[0].Withdrawn.String())
	require.NoError(t, cps[0].VerifySignature(keys))

	stored := entries[4:]
	rep := integrity.VerifyChain(append([]integrity.Entry{}, stored...), checkpoints(cps), keys)
	assert.True(t, rep.OK(), "%+v", rep.Failures)
	assert.EqualValues(t, 4, rep.Withdrawn)

	tampered := append(append([]integrity.Entry{}, stored[:1]...), stored[2:]...)
	rep = integrity.VerifyChain(tampered, checkpoints(cps), keys)
	require.False(t, rep.OK())
	assert.Equal(t, integrity.KindDeleted, rep.Failures[0].Kind)
	assert.EqualValues(t, 6, rep.Failures[0].Seq)

	// A withdrawal cannot be forged into an older checkpoint: the signature covers it (payload v2).
	forged := checkpoints(cps)
	forged[0].Withdrawn = integrity.Ranges{{1, 5}}
	rep = integrity.VerifyChain(append([]integrity.Entry{}, stored...), forged, keys)
	var kinds []string
	for _, f := range rep.Failures {
		kinds = append(kinds, f.Kind)
	}
	assert.Contains(t, kinds, integrity.KindBadSignature)
}

// A crash (SIGKILL) with records in flight: the last checkpoint signed only delivered records, the records stored
// after it (with a gap where a batch was lost in flight) are reported as an uncovered tail, nothing else.
func TestCrashLeavesOnlyAnUncoveredTail(t *testing.T) {
	key, kid, keys := testKey(t)
	c := integrity.NewChainer("inst", key, kid, 1000, time.Hour, time.Now)
	links, entries := linkCopies(t, c, 9)
	require.Empty(t, c.Settle(links[:3], true))
	require.Empty(t, c.Settle(links[5:7], true)) // 4..5 still in flight: the checkpoint stops at 3
	cps := c.Due(true)
	require.Len(t, cps, 1)
	assert.EqualValues(t, 3, cps[0].LastSeq)
	// Killed now: 4, 5, 8 and 9 were never stored (in flight, unacknowledged), 6 and 7 were.
	stored := append(append([]integrity.Entry{}, entries[:3]...), entries[5:7]...)
	rep := integrity.VerifyChain(stored, checkpoints(cps), keys)
	require.Len(t, rep.Failures, 1, "%+v", rep.Failures)
	assert.Equal(t, integrity.KindUncoveredTail, rep.Failures[0].Kind)
	assert.Contains(t, rep.Failures[0].Detail, "records 4..7")
	assert.Contains(t, rep.Failures[0].Detail, "2 sequence numbers missing")
}

func TestRanges(t *testing.T) {
	var r integrity.Ranges
	for _, s := range []int64{5, 3, 4, 9, 1, 10, 7, 4} {
		r.Add(s)
	}
	assert.Equal(t, "1,3-5,7,9-10", r.String())
	assert.EqualValues(t, 7, r.Count())
	assert.True(t, r.Contains(3, 5))
	assert.False(t, r.Contains(5, 7))
	r.AddRange(6, 8)
	r.Add(2)
	assert.Equal(t, "1-10", r.String())
	r.AddRange(20, 25)
	r.AddRange(12, 14)
	r.AddRange(13, 21)
	assert.Equal(t, "1-10,12-25", r.String())
	r.AddRange(11, 11)
	assert.Equal(t, "1-25", r.String())
	lo, hi := r.Split(4)
	assert.Equal(t, "1-4", lo.String())
	assert.Equal(t, "5-25", hi.String())
	back, err := integrity.ParseRanges("1,3-5,7")
	require.NoError(t, err)
	assert.Equal(t, "1,3-5,7", back.String())
	for _, bad := range []string{"0", "5-3", "3,2", "3-4,5", "a", "1-", ","} {
		_, err := integrity.ParseRanges(bad)
		assert.Error(t, err, bad)
	}
}

// The withdrawn list travels on the checkpoint log record and in JSON (fallback lines, S3 objects) intact.
func TestCheckpointWithdrawnRoundTrips(t *testing.T) {
	key, kid, keys := testKey(t)
	cp := integrity.Checkpoint{ChainID: "i/t/s", TenantID: "t", LastSeq: 42, LastHash: "v1:ab", SignedAt: time.Now(),
		Withdrawn: integrity.Ranges{{3, 5}, {9, 9}}}
	cp.Sign(key, kid)
	ld := plog.NewLogs()
	integrity.AppendCheckpoints(ld, []*integrity.Checkpoint{&cp})
	back, err := integrity.CheckpointFromLogRecord(ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0))
	require.NoError(t, err)
	assert.Equal(t, "3-5,9", back.Withdrawn.String())
	require.NoError(t, back.VerifySignature(keys))
	b, err := json.Marshal(cp)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"withdrawn":"3-5,9"`)
	var fromJSON integrity.Checkpoint
	require.NoError(t, json.Unmarshal(b, &fromJSON))
	require.NoError(t, fromJSON.VerifySignature(keys))
	plain := cp
	plain.Withdrawn = nil
	b, err = json.Marshal(plain)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "withdrawn", "checkpoints without withdrawals keep the v1 form")
}

// A signing key file group or others can read is refused with the fix in the error.
func TestLoadSigningKeyRefusesLoosePermissions(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "audit.key")
	_, err := license.WriteKeyPair(priv, filepath.Join(dir, "audit.pub"))
	require.NoError(t, err)
	_, _, err = integrity.LoadSigningKey(priv, "", "")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(priv, 0o644))
	_, _, err = integrity.LoadSigningKey(priv, "", "")
	require.ErrorContains(t, err, "chmod 600")
}
