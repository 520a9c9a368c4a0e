package auditapiextension // import "github.com/govcol/govcol/extension/auditapiextension"

import (
	"context"
	"net/http"

	"github.com/govcol/govcol/internal/integrity"
)

func (a *auditAPI) verify(ctx context.Context, c caller, w http.ResponseWriter, r *http.Request) error {
	if len(a.keys) == 0 {
		return &apiError{http.StatusServiceUnavailable, "verification is not configured (verify_public_key_files)"}
	}
	src := integrity.Source{Table: a.cfg.Table, CheckpointsTable: a.cfg.CheckpointsTable, Tenant: c.tenant}
	if c.admin {
		src.Tenant = r.URL.Query().Get("tenant_id")
	}
	conn, err := a.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	rep, err := integrity.VerifyPostgres(ctx, conn.Conn(), src, a.keys)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": rep.OK(), "records_checked": rep.Records(), "chains": rep.Chains})
	return nil
}
