package integrity

import (
	"context"
	"crypto/ed25519"
	"errors"
	"sync"
	"time"

	"github.com/govcol/govcol/internal/store/storeconfig"
)

// ChainStore is the governance processor's access to the stored trail (integrity.postgres_dsn): it writes the chain
// registry and seals the chains a crashed run of the same instance left with an unsigned tail. It never writes audit
// records or checkpoints (the exporters do). The implementation is internal/store's; it is supplied through
// RegisterChainStore so that this package, and the processor that imports it, link no database driver.
type ChainStore interface {
	// Register stores registry entries (idempotent).
	Register(ctx context.Context, entries []RegistryEntry) error
	// InstanceHead returns the newest chain instance opened (per the registry), for the next chain to name it.
	InstanceHead(ctx context.Context, instance string) (string, error)
	// Seal finds the chains instance opened in earlier runs (own reports whether a chain belongs to the running
	// one) whose stored records go beyond everything signed for them, checks the stored tail (every record's hash,
	// the links from the last signed record on) and signs and stores a seal vouching for it up to its last record,
	// naming the sequence numbers in between that never arrived. A tail that does not check out is not sealed
	// (verify reports it). Chains with nothing stored and nothing signed are sealed empty (Seq 0). A later seal
	// supersedes an earlier one.
	Seal(ctx context.Context, instance string, own func(chainID string) bool, sealedBy string, key ed25519.PrivateKey, keyID string, now time.Time) ([]SealResult, error)
	// Close releases the store's connections.
	Close()
}

// SealResult is what Seal did for one chain.
type SealResult struct {
	Entry *RegistryEntry // the seal signed and stored (nil: nothing to seal)
	Err   error          // the stored tail did not check out (not sealed), or the database failed
	Chain string
}

// ChainStoreOpener opens a ChainStore on dsn for the audit tables t. It must not need the database to be reachable
// (an unreachable database must not stop a collector from starting).
type ChainStoreOpener func(dsn string, t storeconfig.Tables) (ChainStore, error)

var (
	chainStoreMu     sync.RWMutex
	chainStoreOpener ChainStoreOpener
)

// RegisterChainStore makes open the opener OpenChainStore uses (the database/sql driver pattern) and returns the one
// it replaces: internal/store calls it from init, so every binary that links the store (the postgresaudit exporter
// imports it) can open one.
func RegisterChainStore(open ChainStoreOpener) (previous ChainStoreOpener) {
	chainStoreMu.Lock()
	defer chainStoreMu.Unlock()
	previous, chainStoreOpener = chainStoreOpener, open
	return previous
}

// ChainStoreRegistered reports whether an opener is registered.
func ChainStoreRegistered() bool {
	chainStoreMu.RLock()
	defer chainStoreMu.RUnlock()
	return chainStoreOpener != nil
}

// ErrNoChainStore is returned by OpenChainStore when no opener is registered.
var ErrNoChainStore = errors.New("integrity: postgres_dsn is set but this binary links no chain store " +
	"(internal/store registers it; the postgresaudit exporter links it): build the collector with the postgresaudit exporter")

// OpenChainStore opens the registered ChainStore.
func OpenChainStore(dsn string, t storeconfig.Tables) (ChainStore, error) {
	chainStoreMu.RLock()
	open := chainStoreOpener
	chainStoreMu.RUnlock()
	if open == nil {
		return nil, ErrNoChainStore
	}
	return open(dsn, t)
}
