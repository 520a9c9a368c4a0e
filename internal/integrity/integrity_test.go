package integrity_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/license"
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
	base := audittest.Governed(t, "tenant-a")
	var entries []integrity.Entry
	var cps []integrity.Checkpoint
	for range copies {
		ld := audittest.Renumber(base, time.Time{})
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					cp, err := c.Link(rl.Resource(), lr, "tenant-a")
					require.NoError(t, err)
					if cp != nil {
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
	ld := audittest.Renumber(audittest.Governed(t, "tenant-a"), time.Time{})
	rl := ld.ResourceLogs().At(0)
	_, err := c.Link(rl.Resource(), rl.ScopeLogs().At(0).LogRecords().At(0), "tenant-a")
	require.NoError(t, err)
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

	// A chain verified from the middle (retention removed its head) is anchored at its first record.
	es, cps = fresh()
	rep := integrity.VerifyChain(es[5:], cps, keys)
	assert.True(t, rep.OK(), "%+v", rep.Failures)
	assert.EqualValues(t, 6, rep.FirstSeq)
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
