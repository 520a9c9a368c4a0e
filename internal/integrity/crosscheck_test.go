package integrity

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/license"
)

// The cross-check reads a chain's objects newest first and at most maxObjectsTried of them: here the 8 newest of 20
// are forged (each a bad_signature failure, newest first) and the valid older ones are never read (reading one
// would hand it to compare, which counts). Keys that are not checkpoint objects are ignored.
func TestCrossCheckReadsNewestObjectsFirstAndAtMostEight(t *testing.T) {
	pub, priv, err := license.GenerateKey()
	require.NoError(t, err)
	kid := license.KeyID(pub)
	keys := license.KeySet{}
	require.NoError(t, keys.Add(kid, pub))
	dir := t.TempDir()
	chain := "inst/tenant-a/20260101T000000.000000Z-abcdef"
	objects := filepath.Join(dir, "p", "checkpoints", url.PathEscape(chain))
	require.NoError(t, os.MkdirAll(objects, 0o750))
	for seq := int64(1); seq <= 20; seq++ {
		cp := Checkpoint{ChainID: chain, TenantID: "tenant-a", LastSeq: seq, LastHash: fmt.Sprintf("v1:%064d", seq), SignedAt: time.Now()}
		cp.Sign(priv, kid)
		if seq > 12 {
			cp.LastHash = "v1:" + fmt.Sprintf("%064d", 0) // forged after signing
		}
		b, err := json.Marshal(cp)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(objects, fmt.Sprintf("%020d.json", seq)), b, 0o600))
	}
	require.NoError(t, os.WriteFile(filepath.Join(objects, ".put-123"), []byte("partial"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p", "checkpoints", "stray.txt"), []byte("x"), 0o600))

	compared := 0
	failures, have, err := CrossCheck(context.Background(), DirStore{Dir: dir}, "p/", "", keys,
		func(context.Context, *Checkpoint, string) (*Failure, error) { compared++; return nil, nil })
	require.NoError(t, err)
	assert.Equal(t, 0, compared, "no valid object among the eight newest: none is compared with the trail")
	assert.Equal(t, map[string]bool{chain: true}, have)
	require.Contains(t, failures, chain)
	var seqs []int64
	for _, f := range failures[chain].Failures {
		assert.Equal(t, KindBadSignature, f.Kind)
		seqs = append(seqs, f.Seq)
	}
	assert.Equal(t, []int64{20, 19, 18, 17, 16, 15, 14, 13}, seqs)
}
