package store

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/license"
	"github.com/govcol/govcol/internal/store/storeconfig"
)

// Source says what to verify in Postgres.
type Source struct {
	Table            string // audit_logs
	CheckpointsTable string // audit_checkpoints
	Tenant           string // "" for every tenant
	// Since, when set, verifies each chain from its first record received at or after it (retention and windows
	// start a chain in the middle; its first record is then trusted as the anchor).
	Since time.Time
	// Workers bounds how many chains are read at once (one connection each); default DefaultWorkers().
	Workers int
	// Store, when set, is the decision store the s3decision exporter ships checkpoints to (under StorePrefix): every
	// chain with a checkpoint object there must exist in Postgres and reach that object's last_seq with the same
	// hash. Chains with checkpoints in Postgres but none in the store are reported as a warning (fail-open store).
	Store       integrity.CheckpointStore
	StorePrefix string
}

func (s Source) tables() storeconfig.Tables {
	return storeconfig.Tables{Records: s.Table, Checkpoints: s.CheckpointsTable}
}
func (s Source) registryTable() string   { return s.tables().Chains() }
func (s Source) markersTable() string    { return s.tables().RetentionMarkers() }
func (s Source) redeliveryTable() string { return s.tables().Redeliveries() }

// VerifyPostgres reads the chains and their evidence from Postgres and verifies them, the reports sorted by tenant
// and chain.
func VerifyPostgres(ctx context.Context, pool *pgxpool.Pool, src Source, keys license.KeySet) (*integrity.Report, error) {
	rep := &integrity.Report{}
	var mu sync.Mutex
	reg, err := VerifyPostgresEach(ctx, pool, src, keys, func(c integrity.ChainReport) error {
		mu.Lock()
		rep.Chains = append(rep.Chains, c)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Registered = reg
	integrity.SortReports(rep.Chains)
	return rep, nil
}

// DefaultWorkers is the number of chains read at once by default: two per CPU, at most 8. A chain's server process
// waits while the client decodes and hashes its rows (and between FETCHes), so two chains per CPU keep both sides
// busy; each holds one connection and a bounded buffer of rows.
func DefaultWorkers() int { return min(2*runtime.GOMAXPROCS(0), 8) }

// chainJob is one chain to verify with its evidence.
type chainJob struct {
	id, tenant string
	start      int64 // --since: the first sequence number in the window (0: from the start)
	ev         integrity.Evidence
	registered bool
	regFailure *integrity.Failure
	// registryInUse: other chains are registered, and this one is not.
	registryInUse bool
	// storeFailures and storeWarning: the decision store cross-check's findings for this chain.
	storeFailures []integrity.Failure
	storeWarning  string
}

// VerifyPostgresEach verifies every chain of src, streaming: at most src.Workers chains are read at once, each
// with its own connection and its records streamed in sequence order (never all of a chain in memory), and each
// chain's report is handed to emit as soon as it is done (from several goroutines, one at a time per chain; in no
// particular order). Besides the chains it reports registered chains of which nothing remains, registry entries
// naming a predecessor that is gone, chains missing from a registry in use (unregistered) and records with no
// chain (unchained). It returns the number of registered chains.
func VerifyPostgresEach(ctx context.Context, pool *pgxpool.Pool, src Source, keys license.KeySet, emit func(integrity.ChainReport) error) (int, error) {
	jobs, extra, registered, err := plan(ctx, pool, src, keys)
	if err != nil {
		return 0, err
	}
	if src.Store != nil {
		failures, warnings, err := crossCheck(ctx, pool, src, keys, jobs)
		if err != nil {
			return 0, err
		}
		for i := range jobs {
			j := &jobs[i]
			if r := failures[j.id]; r != nil {
				j.storeFailures = r.Failures
			}
			j.storeWarning = warnings[j.id]
			delete(failures, j.id)
		}
		// Chains the store knows and Postgres does not (removed whole, registry entry included).
		gone := make([]string, 0, len(failures))
		for id := range failures {
			gone = append(gone, id)
		}
		sort.Strings(gone)
		for _, id := range gone {
			extra = append(extra, *failures[id])
		}
	}
	for _, r := range extra {
		if err := emit(r); err != nil {
			return registered, err
		}
	}
	workers := src.Workers
	if workers <= 0 {
		workers = DefaultWorkers()
	}
	hp := newHashPool(runtime.GOMAXPROCS(0))
	defer hp.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan *chainJob)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range min(workers, max(1, len(jobs))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				r, err := verifyStoredChain(ctx, pool, src, j, keys, hp)
				if err == nil {
					err = emit(r)
				}
				if err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}()
	}
feed:
	for i := range jobs {
		select {
		case next <- &jobs[i]:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return registered, err
	}
	return registered, ctx.Err()
}

// plan reads everything small (registry, checkpoints, retention markers, the list of chains, unchained records)
// and returns the chains to verify, the reports that need no records (registry findings, unchained rows) and the
// number of registered chains.
func plan(ctx context.Context, pool *pgxpool.Pool, src Source, keys license.KeySet) ([]chainJob, []integrity.ChainReport, int, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, nil, 0, err
	}
	defer conn.Release()
	c := conn.Conn()

	exists := func(table string) (bool, error) {
		var ok bool
		err := c.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok)
		return ok, err
	}
	type chainInfo struct {
		tenant string
		start  int64
		stored bool
	}
	chains := map[string]*chainInfo{}
	add := func(id, tenant string) *chainInfo {
		ci, ok := chains[id]
		if !ok {
			ci = &chainInfo{tenant: tenant}
			chains[id] = ci
		}
		return ci
	}

	// Chains with stored records: a loose index scan of the chain index (one probe per chain, not per record).
	tenantArg := []any{}
	tenantCond := ""
	if src.Tenant != "" {
		tenantArg = append(tenantArg, src.Tenant)
		tenantCond = " AND tenant_id = $1"
	}
	if src.Since.IsZero() {
		q := fmt.Sprintf(`WITH RECURSIVE c(id) AS (
			SELECT min(chain_id) FROM %[1]s WHERE chain_id IS NOT NULL
			UNION ALL SELECT (SELECT min(chain_id) FROM %[1]s WHERE chain_id > c.id) FROM c WHERE c.id IS NOT NULL)
			SELECT id, t FROM (SELECT id, (SELECT tenant_id FROM %[1]s WHERE chain_id = c.id LIMIT 1) AS t FROM c WHERE id IS NOT NULL) x
			WHERE true%[2]s`, src.Table, strings.ReplaceAll(tenantCond, "tenant_id", "t"))
		if err := scanPairs(ctx, c, q, tenantArg, func(id, tenant string) { add(id, tenant).stored = true }); err != nil {
			return nil, nil, 0, fmt.Errorf("listing chains: %w", err)
		}
		q = fmt.Sprintf(`SELECT DISTINCT chain_id, tenant_id FROM %s WHERE chain_id IS NOT NULL%s`, src.redeliveryTable(), tenantCond)
		if err := scanPairs(ctx, c, q, tenantArg, func(id, tenant string) { add(id, tenant).stored = true }); err != nil {
			return nil, nil, 0, fmt.Errorf("listing chains: %w", err)
		}
	} else {
		args := append([]any{src.Since}, tenantArg...)
		q := fmt.Sprintf(`SELECT chain_id, min(tenant_id), min(chain_seq) FROM %s WHERE received_at >= $1 AND chain_id IS NOT NULL%s GROUP BY chain_id`,
			src.Table, strings.ReplaceAll(tenantCond, "$1", "$2"))
		rows, err := c.Query(ctx, q, args...)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("listing chains: %w", err)
		}
		for rows.Next() {
			var id, tenant string
			var start int64
			if err := rows.Scan(&id, &tenant, &start); err != nil {
				rows.Close()
				return nil, nil, 0, fmt.Errorf("listing chains: %w", err)
			}
			ci := add(id, tenant)
			ci.start, ci.stored = start, true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, 0, fmt.Errorf("listing chains: %w", err)
		}
	}

	// Checkpoints.
	cps := map[string][]integrity.Checkpoint{}
	{
		q := fmt.Sprintf(`SELECT chain_id, tenant_id, last_seq, last_hash, key_id, signed_at, signature, withdrawn FROM %s WHERE true%s`, src.CheckpointsTable, tenantCond)
		rows, err := c.Query(ctx, q, tenantArg...)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("reading checkpoints: %w", err)
		}
		for rows.Next() {
			var cp integrity.Checkpoint
			var withdrawn string
			err := rows.Scan(&cp.ChainID, &cp.TenantID, &cp.LastSeq, &cp.LastHash, &cp.KeyID, &cp.SignedAt, &cp.Signature, &withdrawn)
			if err == nil {
				cp.Withdrawn, err = integrity.ParseRanges(withdrawn)
			}
			if err != nil {
				rows.Close()
				return nil, nil, 0, fmt.Errorf("reading checkpoints: %w", err)
			}
			cps[cp.ChainID] = append(cps[cp.ChainID], cp)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, 0, fmt.Errorf("reading checkpoints: %w", err)
		}
	}

	// The registry: every entry (it is small, one per chain and seal), so that a predecessor in another tenant
	// is known too.
	opened := map[string]*integrity.RegistryEntry{}
	seals := map[string][]integrity.RegistryEntry{}
	var regFailures []integrity.ChainReport
	if ok, err := exists(src.registryTable()); err != nil {
		return nil, nil, 0, err
	} else if ok {
		entries, err := LoadRegistry(ctx, c, src.registryTable(), "")
		if err != nil {
			return nil, nil, 0, err
		}
		for i := range entries {
			e := &entries[i]
			if err := e.Verify(keys); err != nil {
				if src.Tenant == "" || e.TenantID == src.Tenant {
					regFailures = append(regFailures, integrity.ChainReport{ChainID: e.ChainID, TenantID: e.TenantID, Failures: []integrity.Failure{{
						Kind: integrity.KindBadSignature, Detail: fmt.Sprintf("chain registry entry (%s at %d): %v", e.Kind, e.Seq, err)}}})
				}
				continue
			}
			if e.Kind == integrity.RegistryOpened {
				opened[e.ChainID] = e
			} else {
				seals[e.ChainID] = append(seals[e.ChainID], *e)
			}
		}
	}

	// Retention markers (written by the postgresaudit retention function).
	markers := map[string][]integrity.RetentionMarker{}
	if ok, err := exists(src.markersTable()); err != nil {
		return nil, nil, 0, err
	} else if ok {
		q := fmt.Sprintf(`SELECT tenant_id, chain_id, from_seq, to_seq, "count", category, reason, cutoff, deleted_at,
			coalesce(key_id, ''), coalesce(signature, '') FROM %s WHERE true%s`, src.markersTable(), tenantCond)
		rows, err := c.Query(ctx, q, tenantArg...)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("reading retention markers: %w", err)
		}
		for rows.Next() {
			var m integrity.RetentionMarker
			if err := rows.Scan(&m.TenantID, &m.ChainID, &m.FromSeq, &m.ToSeq, &m.Count, &m.Category, &m.Reason, &m.Cutoff,
				&m.DeletedAt, &m.KeyID, &m.Signature); err != nil {
				rows.Close()
				return nil, nil, 0, fmt.Errorf("reading retention markers: %w", err)
			}
			markers[m.ChainID] = append(markers[m.ChainID], m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, 0, fmt.Errorf("reading retention markers: %w", err)
		}
	}

	inScope := func(tenant string) bool { return src.Tenant == "" || tenant == src.Tenant }
	if src.Since.IsZero() {
		for id, cs := range cps {
			add(id, cs[0].TenantID)
		}
		for id, e := range opened {
			if inScope(e.TenantID) {
				add(id, e.TenantID)
			}
		}
		for id, ss := range seals {
			if inScope(ss[0].TenantID) {
				add(id, ss[0].TenantID)
			}
		}
	}

	var extra []integrity.ChainReport
	extra = append(extra, regFailures...)
	// The registry of each instance is a chain of chains: an entry naming a predecessor that is not registered
	// means a whole chain was removed, registry entry included.
	for id, e := range opened {
		if e.Link == "" || !inScope(e.TenantID) {
			continue
		}
		if _, ok := opened[e.Link]; !ok {
			extra = append(extra, integrity.ChainReport{ChainID: e.Link, Failures: []integrity.Failure{{Kind: integrity.KindDeleted,
				Detail: fmt.Sprintf("the chain registry names chain %s as opened by instance %s before %s, but its registry entry is gone (the whole chain was removed)", e.Link, e.Instance, id)}}})
		}
	}

	// Records without a chain.
	{
		args := append([]any{}, tenantArg...)
		q := fmt.Sprintf(`SELECT tenant_id, count(*), min(id) FROM %s WHERE chain_id IS NULL%s`, src.Table, tenantCond)
		if !src.Since.IsZero() {
			args = append(args, src.Since)
			q += fmt.Sprintf(" AND received_at >= $%d", len(args))
		}
		q += " GROUP BY tenant_id"
		rows, err := c.Query(ctx, q, args...)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("reading unchained records: %w", err)
		}
		for rows.Next() {
			var tenant, id string
			var n int64
			if err := rows.Scan(&tenant, &n, &id); err != nil {
				rows.Close()
				return nil, nil, 0, fmt.Errorf("reading unchained records: %w", err)
			}
			extra = append(extra, integrity.ChainReport{TenantID: tenant, Records: int(n), Failures: []integrity.Failure{{Kind: integrity.KindUnchained, RecordID: id,
				Detail: fmt.Sprintf("%d records have no chain (chain_id is NULL), e.g. %s: not stored by the governance processor's chain", n, id)}}})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, 0, fmt.Errorf("reading unchained records: %w", err)
		}
	}

	ids := make([]string, 0, len(chains))
	for id := range chains {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	jobs := make([]chainJob, 0, len(ids))
	for _, id := range ids {
		ci := chains[id]
		j := chainJob{id: id, tenant: ci.tenant, start: ci.start,
			ev: integrity.Evidence{Checkpoints: cps[id], Seals: seals[id], Markers: markers[id], Anchored: !src.Since.IsZero()}}
		if e, ok := opened[id]; ok {
			j.registered = true
			if e.TenantID != ci.tenant {
				j.regFailure = &integrity.Failure{Kind: integrity.KindInserted, Detail: fmt.Sprintf("the chain registry opened %s for tenant %s, its records name %s", id, e.TenantID, ci.tenant)}
			}
		} else {
			j.registryInUse = len(opened) > 0
		}
		jobs = append(jobs, j)
	}
	return jobs, extra, len(opened), nil
}

func scanPairs(ctx context.Context, c *pgx.Conn, q string, args []any, f func(a, b string)) error {
	rows, err := c.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a, b *string
		if err := rows.Scan(&a, &b); err != nil {
			return err
		}
		if a != nil {
			bs := ""
			if b != nil {
				bs = *b
			}
			f(*a, bs)
		}
	}
	return rows.Err()
}

// LoadRegistry reads the chain registry (every tenant when tenant is "").
func LoadRegistry(ctx context.Context, c *pgx.Conn, table, tenant string) ([]integrity.RegistryEntry, error) {
	q := fmt.Sprintf(`SELECT kind, chain_id, tenant_id, instance, seq, link, lost, sealed_by, signed_at, key_id, signature FROM %s`, table)
	var args []any
	if tenant != "" {
		q += " WHERE tenant_id = $1"
		args = append(args, tenant)
	}
	rows, err := c.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the chain registry: %w", err)
	}
	defer rows.Close()
	var out []integrity.RegistryEntry
	for rows.Next() {
		var e integrity.RegistryEntry
		var lost string
		err := rows.Scan(&e.Kind, &e.ChainID, &e.TenantID, &e.Instance, &e.Seq, &e.Link, &lost, &e.SealedBy, &e.SignedAt, &e.KeyID, &e.Signature)
		if err == nil {
			e.Lost, err = integrity.ParseRanges(lost)
		}
		if err != nil {
			return nil, fmt.Errorf("reading the chain registry: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// verifyStoredChain streams one chain's records (audit_logs and re-deliveries, in sequence order) through the
// chain verifier, hashing batches on the hash pool while the next batch is read.
func verifyStoredChain(ctx context.Context, pool *pgxpool.Pool, src Source, j *chainJob, keys license.KeySet, hp *hashPool) (integrity.ChainReport, error) {
	v := integrity.NewChainVerifier(j.id, j.tenant, j.ev, keys)
	err := streamChain(ctx, pool, src, j.id, j.tenant, j.start, hp, func(e *integrity.Entry, ok bool) { v.Add(e, ok) })
	if err != nil {
		return integrity.ChainReport{}, err
	}
	rep := v.Finish()
	rep.Registered = j.registered
	if j.regFailure != nil {
		rep.Failures = append([]integrity.Failure{*j.regFailure}, rep.Failures...)
	}
	rep.Failures = append(rep.Failures, j.storeFailures...)
	if j.storeWarning != "" {
		rep.Warnings = append(rep.Warnings, j.storeWarning)
	}
	// A chain missing from a registry in use, with nothing signed for it, is foreign: no collector opened it. (One
	// that valid checkpoints cover was written by a holder of the signing key: a run whose registry entry could not
	// be stored, e.g. with Postgres down for the whole run; it is reported as not registered, not as a failure.)
	if j.registryInUse && rep.CoveredTo == 0 {
		rep.Failures = append([]integrity.Failure{{Kind: integrity.KindUnregistered, Seq: rep.FirstSeq,
			Detail: fmt.Sprintf("chain %s is not in the chain registry and nothing signed vouches for it: no collector opened it", j.id)}}, rep.Failures...)
	}
	if rep.Records == 0 && rep.CoveredTo == 0 && len(j.ev.Checkpoints) == 0 && !rep.Sealed && len(j.ev.Markers) == 0 && j.registered && src.Since.IsZero() {
		rep.Failures = append(rep.Failures, integrity.Failure{Kind: integrity.KindDeleted, Seq: 1,
			Detail: "the chain is registered but none of its records, checkpoints or seals remain (the whole chain was removed)"})
	}
	return rep, nil
}

// batchSize is the number of records read before they are hashed together; each chain holds at most
// inflightBatches of them, so a chain's memory is bounded whatever its length.
const (
	batchSize       = 256
	inflightBatches = 4
)

type entryBatch struct {
	entries []integrity.Entry
	ok      []bool
	done    chan struct{}
}

// hashPool checks record hashes on every CPU for all chains being read.
type hashPool struct {
	jobs chan *entryBatch
	wg   sync.WaitGroup
}

func newHashPool(n int) *hashPool {
	p := &hashPool{jobs: make(chan *entryBatch, n*2)}
	for range n {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			var hs integrity.EntryHasher
			for b := range p.jobs {
				for i := range b.entries {
					b.ok[i] = hs.Matches(&b.entries[i])
				}
				close(b.done)
			}
		}()
	}
	return p
}

func (p *hashPool) close() {
	close(p.jobs)
	p.wg.Wait()
}

// fetchSize is the number of rows each FETCH of a chain's cursors returns.
const fetchSize = 1024

// streamChain reads the records of chain (from sequence number from on, when from > 0) in sequence order, hands
// them to f with their hash check, and returns once all were handed over.
//
// audit_logs and the re-deliveries are read through two cursors in one read-only, repeatable-read transaction (one
// snapshot) and merged by sequence number here: each is an index scan in (chain_id, chain_seq) order (a Merge
// Append over the partitions), never a scan of the whole table and a sort (which a UNION ALL ... ORDER BY gets
// from the planner once a chain is a sizeable share of the table: every chain then costs a full scan and an
// on-disk sort).
func streamChain(ctx context.Context, pool *pgxpool.Pool, src Source, chain, tenant string, from int64, hp *hashPool, f func(e *integrity.Entry, ok bool)) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("reading audit records: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	args := []any{chain, from}
	cond := "chain_id = $1 AND chain_seq >= $2"
	if tenant != "" {
		args = append(args, tenant)
		cond += " AND tenant_id = $3"
	}
	// The plans are known (index scans in chain order); a JIT compile of a long chain's plan would cost more than
	// it saves.
	if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
		return fmt.Errorf("reading audit records: %w", err)
	}
	for _, c := range []struct{ name, table string }{{"govcol_verify_logs", src.Table}, {"govcol_verify_redeliveries", src.redeliveryTable()}} {
		q := fmt.Sprintf(`DECLARE %s NO SCROLL CURSOR FOR SELECT %s FROM %s WHERE %s ORDER BY chain_seq`, c.name, audit.ColumnList(""), c.table, cond)
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("reading audit records: %w", err)
		}
	}

	ordered := make(chan *entryBatch, inflightBatches)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for b := range ordered {
			<-b.done
			for i := range b.entries {
				f(&b.entries[i], b.ok[i])
			}
		}
	}()
	emit := func(batch []integrity.Entry) {
		b := &entryBatch{entries: batch, ok: make([]bool, len(batch)), done: make(chan struct{})}
		hp.jobs <- b
		ordered <- b
	}
	readErr := mergeCursors(ctx, tx.Conn(), "govcol_verify_logs", "govcol_verify_redeliveries", emit)
	close(ordered)
	<-consumed
	if readErr != nil {
		return readErr
	}
	return tx.Commit(ctx)
}

// Load reads the chain entries and checkpoints of src, by chain id, all in memory (tests and small trails).
func Load(ctx context.Context, conn *pgx.Conn, src Source) (map[string][]integrity.Entry, map[string][]integrity.Checkpoint, error) {
	args := []any{}
	where := []string{"chain_id IS NOT NULL"}
	if src.Tenant != "" {
		args = append(args, src.Tenant)
		where = append(where, fmt.Sprintf("tenant_id = $%d", len(args)))
	}
	entries := map[string][]integrity.Entry{}
	for _, table := range []string{src.Table, src.redeliveryTable()} {
		q := fmt.Sprintf(`SELECT %s FROM %s WHERE %s`, audit.ColumnList(""), table, strings.Join(where, " AND "))
		if err := readEntries(ctx, conn, q, args, func(b []integrity.Entry) {
			for _, e := range b {
				entries[e.Record.ChainID] = append(entries[e.Record.ChainID], e)
			}
		}); err != nil {
			return nil, nil, err
		}
	}
	cq := fmt.Sprintf(`SELECT chain_id, tenant_id, last_seq, last_hash, key_id, signed_at, signature, withdrawn FROM %s`, src.CheckpointsTable)
	cpArgs := []any{}
	if src.Tenant != "" {
		cpArgs = append(cpArgs, src.Tenant)
		cq += " WHERE tenant_id = $1"
	}
	rows, err := conn.Query(ctx, cq, cpArgs...)
	if err != nil {
		return nil, nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	defer rows.Close()
	cps := map[string][]integrity.Checkpoint{}
	for rows.Next() {
		var c integrity.Checkpoint
		var withdrawn string
		err := rows.Scan(&c.ChainID, &c.TenantID, &c.LastSeq, &c.LastHash, &c.KeyID, &c.SignedAt, &c.Signature, &withdrawn)
		if err == nil {
			c.Withdrawn, err = integrity.ParseRanges(withdrawn)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading checkpoints: %w", err)
		}
		cps[c.ChainID] = append(cps[c.ChainID], c)
	}
	return entries, cps, rows.Err()
}
