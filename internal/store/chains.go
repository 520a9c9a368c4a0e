package store

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/store/storeconfig"
)

func init() { _ = integrity.RegisterChainStore(OpenChains) }

// Chains is the integrity.ChainStore the governance processor opens (integrity.postgres_dsn): it writes the chain
// registry and seals the chains a crashed run of the same instance left with an unsigned tail. It never writes
// audit records or checkpoints (the exporters do).
type Chains struct {
	pool *pgxpool.Pool
	src  Source
}

var _ integrity.ChainStore = (*Chains)(nil)

// OpenChains prepares a connection pool to dsn (connections are made on first use, so an unreachable database does
// not stop the collector from starting) for the tables t (the postgresaudit exporter's). It is the
// integrity.ChainStoreOpener this package registers.
func OpenChains(dsn string, t storeconfig.Tables) (integrity.ChainStore, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("integrity: postgres_dsn is not a valid Postgres connection string")
	}
	cfg.MaxConns = 2
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	cfg.ConnConfig.RuntimeParams["application_name"] = "govcol-integrity"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("integrity: %w", err)
	}
	return &Chains{pool: pool, src: Source{Table: t.Records, CheckpointsTable: t.Checkpoints}}, nil
}

// Close closes the pool.
func (s *Chains) Close() { s.pool.Close() }

// Register stores registry entries (idempotent).
func (s *Chains) Register(ctx context.Context, entries []integrity.RegistryEntry) error {
	if len(entries) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	q := "INSERT INTO " + s.src.registryTable() + " (kind, chain_id, tenant_id, instance, seq, link, lost, sealed_by, signed_at, key_id, signature) " +
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING"
	for i := range entries {
		e := &entries[i]
		b.Queue(q, e.Kind, e.ChainID, e.TenantID, e.Instance, e.Seq, e.Link, e.Lost.String(), e.SealedBy, e.SignedAt, e.KeyID, e.Signature)
	}
	return s.pool.SendBatch(ctx, b).Close()
}

// InstanceHead returns the newest chain instance opened (per the registry), for the next chain to name it.
func (s *Chains) InstanceHead(ctx context.Context, instance string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, "SELECT chain_id FROM "+s.src.registryTable()+
		" WHERE kind = 'opened' AND instance = $1 ORDER BY signed_at DESC, chain_id DESC LIMIT 1", instance).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// Seal finds the chains instance opened in earlier runs (own reports whether a chain belongs to the running one)
// whose stored records go beyond everything signed for them, checks the stored tail (every record's hash, the links
// from the last signed record on) and signs a seal vouching for it up to its last record, naming the sequence
// numbers in between that never arrived. A tail that does not check out is not sealed: verify reports it. Chains
// with nothing stored and nothing signed are sealed empty (Seq 0). Run it again when more may arrive (a persistent
// queue or the fallback file delivering the crashed run's records late): a later seal supersedes.
func (s *Chains) Seal(ctx context.Context, instance string, own func(chainID string) bool, sealedBy string, key ed25519.PrivateKey, keyID string, now time.Time) ([]integrity.SealResult, error) {
	rows, err := s.pool.Query(ctx, "SELECT chain_id, tenant_id FROM "+s.src.registryTable()+" WHERE kind = 'opened' AND instance = $1", instance)
	if err != nil {
		return nil, err
	}
	type chain struct{ id, tenant string }
	var chains []chain
	for rows.Next() {
		var c chain
		if err := rows.Scan(&c.id, &c.tenant); err != nil {
			rows.Close()
			return nil, err
		}
		if !own(c.id) {
			chains = append(chains, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []integrity.SealResult
	for _, c := range chains {
		e, err := s.sealChain(ctx, c.id, c.tenant, instance, sealedBy, key, keyID, now)
		if e != nil || err != nil {
			out = append(out, integrity.SealResult{Entry: e, Err: err, Chain: c.id})
		}
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	return out, nil
}

func (s *Chains) sealChain(ctx context.Context, id, tenant, instance, sealedBy string, key ed25519.PrivateKey, keyID string, now time.Time) (*integrity.RegistryEntry, error) {
	var covered int64
	var coveredHash string
	signedAny := false
	var cpSeq *int64
	var cpHash *string
	if err := s.pool.QueryRow(ctx, "SELECT max(last_seq), (array_agg(last_hash ORDER BY last_seq DESC))[1] FROM "+s.src.CheckpointsTable+" WHERE chain_id = $1", id).Scan(&cpSeq, &cpHash); err != nil {
		return nil, err
	}
	if cpSeq != nil {
		covered, coveredHash, signedAny = *cpSeq, *cpHash, true
	}
	var sealSeq *int64
	var sealHash *string
	if err := s.pool.QueryRow(ctx, "SELECT max(seq), (array_agg(link ORDER BY seq DESC))[1] FROM "+s.src.registryTable()+" WHERE chain_id = $1 AND kind = 'sealed'", id).Scan(&sealSeq, &sealHash); err != nil {
		return nil, err
	}
	if sealSeq != nil {
		signedAny = true
		if *sealSeq > covered {
			covered, coveredHash = *sealSeq, *sealHash
		}
	}
	var stored *int64
	if err := s.pool.QueryRow(ctx, fmt.Sprintf("SELECT max(s) FROM (SELECT max(chain_seq) s FROM %s WHERE chain_id = $1 UNION ALL SELECT max(chain_seq) FROM %s WHERE chain_id = $1) x",
		s.src.Table, s.src.redeliveryTable()), id).Scan(&stored); err != nil {
		return nil, err
	}
	if stored == nil || *stored <= covered {
		if signedAny || stored != nil {
			return nil, nil
		}
		// Opened, nothing stored, nothing signed: the run died before any of its records arrived.
		e := &integrity.RegistryEntry{Kind: integrity.RegistrySealed, ChainID: id, TenantID: tenant, Instance: instance, SealedBy: sealedBy, SignedAt: now}
		e.Sign(key, keyID)
		return e, s.Register(ctx, []integrity.RegistryEntry{*e})
	}

	// The stored tail after the last signed record: every record must match its hash and link to its predecessor
	// (across a gap nothing links: the missing records are named as lost).
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	q := fmt.Sprintf(`SELECT %[1]s FROM %[2]s WHERE chain_id = $1 AND chain_seq > $2 UNION ALL SELECT %[1]s FROM %[3]s WHERE chain_id = $1 AND chain_seq > $2 ORDER BY chain_seq`,
		audit.ColumnList(""), s.src.Table, s.src.redeliveryTable())
	var lost integrity.Ranges
	prevSeq, prevHash := covered, coveredHash
	var bad error
	err = readEntries(ctx, conn.Conn(), q, []any{id, covered}, func(batch []integrity.Entry) {
		for i := range batch {
			r := &batch[i].Record
			if bad != nil {
				return
			}
			h, err := integrity.HashEntry(&batch[i], r.ChainSeq)
			switch {
			case err != nil || h != r.RecordHash:
				bad = fmt.Errorf("record %d does not match its record_hash", r.ChainSeq)
			case r.TenantID != tenant:
				bad = fmt.Errorf("record %d belongs to another tenant", r.ChainSeq)
			case r.ChainSeq == prevSeq:
				bad = fmt.Errorf("two records claim sequence number %d", r.ChainSeq)
			case r.ChainSeq > prevSeq+1:
				lost.AddRange(prevSeq+1, r.ChainSeq-1)
			case prevSeq == 0 && r.PrevHash != "", prevSeq > 0 && r.PrevHash != prevHash:
				bad = fmt.Errorf("record %d does not link to record %d", r.ChainSeq, prevSeq)
			}
			prevSeq, prevHash = r.ChainSeq, r.RecordHash
		}
	})
	if err != nil {
		return nil, err
	}
	if bad != nil {
		return nil, fmt.Errorf("the stored tail after %d does not check out, not sealed: %w", covered, bad)
	}
	if prevSeq <= covered {
		return nil, nil
	}
	e := &integrity.RegistryEntry{Kind: integrity.RegistrySealed, ChainID: id, TenantID: tenant, Instance: instance, Seq: prevSeq, Link: prevHash,
		Lost: lost, SealedBy: sealedBy, SignedAt: now}
	e.Sign(key, keyID)
	return e, s.Register(ctx, []integrity.RegistryEntry{*e})
}
