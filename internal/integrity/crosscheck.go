package integrity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/govcol/govcol/internal/license"
)

// CheckpointStore reads the checkpoint objects the s3decision exporter ships beside the decisions, at
// <prefix>/checkpoints/<chain_id, path-escaped>/<last_seq, 20 digits>.json: an S3 bucket (S3Store) or its local_dir
// form (DirStore).
type CheckpointStore interface {
	// List hands every key under prefix to f.
	List(ctx context.Context, prefix string, f func(key string)) error
	// Get returns an object's body.
	Get(ctx context.Context, key string) ([]byte, error)
}

// DirStore is the s3decision exporter's local_dir layout.
type DirStore struct{ Dir string }

// List walks the directory under prefix; temporary files of writes in progress (".…") are skipped.
func (d DirStore) List(_ context.Context, prefix string, f func(key string)) error {
	root := filepath.Join(d.Dir, filepath.FromSlash(prefix))
	return filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == root {
				return fs.SkipAll
			}
			return err
		}
		if de.IsDir() || strings.HasPrefix(de.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(d.Dir, path)
		if err != nil {
			return err
		}
		f(filepath.ToSlash(rel))
		return nil
	})
}

// Get reads one file.
func (d DirStore) Get(_ context.Context, key string) ([]byte, error) {
	return os.ReadFile(filepath.Join(d.Dir, filepath.FromSlash(key)))
}

// maxObjectsTried bounds the checkpoint objects read per chain: the newest whose signature verifies is compared
// with Postgres (older ones are implied by the chain's links, which verify checks); the ones before it that fail
// their signature are reported.
const maxObjectsTried = 8

// storeObject is one checkpoint object named by its key.
type storeObject struct {
	key string
	seq int64
}

// checkpointPrefix is where the s3decision exporter puts checkpoints under prefix.
func checkpointPrefix(prefix string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return "checkpoints/"
	}
	return prefix + "/checkpoints/"
}

// CompareStored checks a checkpoint object whose signature verifies against the stored trail: nil when the trail
// holds the record it signed (or a signed retention marker accounts for it), else the failure.
type CompareStored func(ctx context.Context, cp *Checkpoint, key string) (*Failure, error)

// NoObjectWarning is the warning for a chain with checkpoints in the trail but no object in the decision store.
const NoObjectWarning = "no checkpoint object in the decision store (it is fail-open: objects it dropped are not shipped again), so this chain is not cross-checked"

// CrossCheck compares the checkpoint objects of the decision store (under prefix, of tenant when not "") with the
// stored trail: every chain with a checkpoint object must exist in the trail and hold, at the newest valid object's
// last_seq, the record the object signed (compare decides). Objects are read newest first, at most maxObjectsTried
// per chain. It returns the failures by chain (objects whose signature fails, chains missing or cut short in the
// trail, hashes that differ) and the chains that have at least one object.
func CrossCheck(ctx context.Context, store CheckpointStore, storePrefix, tenant string, keys license.KeySet, compare CompareStored) (map[string]*ChainReport, map[string]bool, error) {
	prefix := checkpointPrefix(storePrefix)
	// Per chain only the newest maxObjectsTried objects are kept while listing (memory: chains, not objects).
	objects := map[string][]storeObject{}
	err := store.List(ctx, prefix, func(k string) {
		rest := strings.TrimPrefix(k, prefix)
		dir, file, ok := strings.Cut(rest, "/")
		if !ok || strings.Contains(file, "/") || !strings.HasSuffix(file, ".json") {
			return // not a checkpoint object (the exporter writes nothing else here)
		}
		chain, err1 := url.PathUnescape(dir)
		seq, err2 := strconv.ParseInt(strings.TrimSuffix(file, ".json"), 10, 64)
		if err1 != nil || err2 != nil || chain == "" {
			return
		}
		objs := append(objects[chain], storeObject{key: k, seq: seq})
		if len(objs) > maxObjectsTried {
			sort.Slice(objs, func(i, j int) bool { return objs[i].seq > objs[j].seq })
			objs = objs[:maxObjectsTried]
		}
		objects[chain] = objs
	})
	if err != nil {
		return nil, nil, err
	}
	failures := map[string]*ChainReport{}
	fail := func(chain, tenant string, f Failure) {
		r := failures[chain]
		if r == nil {
			r = &ChainReport{ChainID: chain}
			failures[chain] = r
		}
		if r.TenantID == "" {
			r.TenantID = tenant
		}
		r.Failures = append(r.Failures, f)
	}
	chains := make([]string, 0, len(objects))
	for c := range objects {
		chains = append(chains, c)
	}
	sort.Strings(chains)
	for _, chain := range chains {
		objs := objects[chain]
		sort.Slice(objs, func(i, j int) bool { return objs[i].seq > objs[j].seq })
		for _, o := range objs {
			body, err := store.Get(ctx, o.key)
			if err != nil {
				return nil, nil, err
			}
			var cp Checkpoint
			if err := json.Unmarshal(body, &cp); err != nil || cp.ChainID != chain || cp.LastSeq != o.seq {
				fail(chain, "", Failure{Kind: KindBadSignature, Seq: o.seq,
					Detail: fmt.Sprintf("checkpoint object %s in the decision store is malformed or names another chain or sequence number than its key", o.key)})
				continue
			}
			if tenant != "" && cp.TenantID != tenant {
				break
			}
			if err := cp.VerifySignature(keys); err != nil {
				fail(chain, "", Failure{Kind: KindBadSignature, Seq: o.seq,
					Detail: fmt.Sprintf("checkpoint object %s in the decision store: %v", o.key, err)})
				continue
			}
			if f, err := compare(ctx, &cp, o.key); err != nil {
				return nil, nil, err
			} else if f != nil {
				fail(chain, cp.TenantID, *f)
			}
			break
		}
	}
	have := make(map[string]bool, len(objects))
	for c := range objects {
		have[c] = true
	}
	return failures, have, nil
}
