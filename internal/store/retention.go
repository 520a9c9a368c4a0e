package store

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/store/storeconfig"
)

// RetentionBatch runs one bounded deletion through <table>_retention_delete (SECURITY DEFINER: it deletes only what
// the stored policy allows for category prefix and writes a marker per chain touched) and, when key is set, signs
// those markers through <table>_retention_sign, all in tx: the caller commits. It returns the records deleted and
// the markers written.
func RetentionBatch(ctx context.Context, tx pgx.Tx, t storeconfig.Tables, prefix string, cutoff time.Time, limit int, key ed25519.PrivateKey, keyID string) (deleted int64, markers int, err error) {
	var ids []int64
	if err := tx.QueryRow(ctx, "SELECT deleted, marker_ids FROM "+t.Function("retention_delete")+"($1, $2, $3)",
		prefix, cutoff, limit).Scan(&deleted, &ids); err != nil {
		return 0, 0, err
	}
	if len(ids) == 0 || key == nil {
		return deleted, len(ids), nil
	}
	stored, err := readMarkers(ctx, tx, t, ids)
	if err != nil {
		return 0, 0, err
	}
	for i := range stored {
		stored[i].m.Sign(key, keyID)
		if _, err := tx.Exec(ctx, "SELECT "+t.Function("retention_sign")+"($1, $2, $3)", stored[i].id, stored[i].m.KeyID, stored[i].m.Signature); err != nil {
			return 0, 0, err
		}
	}
	return deleted, len(ids), nil
}

type storedMarker struct {
	id int64
	m  integrity.RetentionMarker
}

// readMarkers reads the markers with the given ids.
func readMarkers(ctx context.Context, tx pgx.Tx, t storeconfig.Tables, ids []int64) ([]storedMarker, error) {
	rows, err := tx.Query(ctx, "SELECT id, tenant_id, chain_id, from_seq, to_seq, count, category, reason, cutoff, "+
		"deleted_at, key_id, signature FROM "+t.RetentionMarkers()+" WHERE id = ANY($1) ORDER BY id", ids)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (storedMarker, error) {
		var s storedMarker
		err := r.Scan(&s.id, &s.m.TenantID, &s.m.ChainID, &s.m.FromSeq, &s.m.ToSeq, &s.m.Count, &s.m.Category,
			&s.m.Reason, &s.m.Cutoff, &s.m.DeletedAt, &s.m.KeyID, &s.m.Signature)
		return s, err
	})
}
