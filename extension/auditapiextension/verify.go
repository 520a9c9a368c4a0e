package auditapiextension // import "github.com/govcol/govcol/extension/auditapiextension"

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/store"
)

// verifyWorkers bounds the chains one verify request reads at once (one pooled connection each).
const verifyWorkers = 2

// verify checks the hash chains of a tenant (a global admin: of every tenant, or of ?tenant_id=) and streams the
// report chain by chain: {"chains":[...], "registered_chains":n, "records_checked":n, "ok":bool} (plus "error" when
// verification stopped part-way, with "ok":false). Memory is bounded: chains are streamed from Postgres in
// sequence order, at most verifyWorkers at a time, and each chain's report is written as soon as it is done, never
// all of a tenant's records held at once. It needs a read license for the whole tenant (read_tenant) or an admin
// license; a per-developer read license gets 403 (chains span every developer of the tenant), and ingest licenses
// never reach here (callerOf refuses them).
func (a *auditAPI) verify(ctx context.Context, c caller, w http.ResponseWriter, r *http.Request) error {
	if len(a.keys) == 0 {
		return &apiError{http.StatusServiceUnavailable, "verification is not configured (verify_public_key_files)"}
	}
	tenant := r.URL.Query().Get("tenant_id")
	switch {
	case c.admin:
	case c.email != "":
		return &apiError{http.StatusForbidden, "verification reads every record of the tenant's chains: it needs a read license with read_tenant, or an admin license"}
	case tenant == "" || tenant == c.tenant:
		tenant = c.tenant
	case c.orgAdmin:
		var ok bool
		if err := a.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+a.cfg.Table+" WHERE tenant_id = $1 AND org_id = $2)", tenant, c.org).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return &apiError{http.StatusForbidden, "an organisation's admin verifies its own organisation's tenants only"}
		}
	default:
		return &apiError{http.StatusForbidden, "a license reads its own tenant only"}
	}
	src := store.Source{Table: a.cfg.Table, CheckpointsTable: a.cfg.CheckpointsTable, Tenant: tenant, Workers: verifyWorkers}

	var mu sync.Mutex
	started, ok, records, n := false, true, 0, 0
	enc := json.NewEncoder(w)
	begin := func() {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"chains":[`))
		}
	}
	registered, err := store.VerifyPostgresEach(ctx, a.pool, src, a.keys, func(rep integrity.ChainReport) error {
		mu.Lock()
		defer mu.Unlock()
		begin()
		if n > 0 {
			_, _ = w.Write([]byte(","))
		}
		n++
		ok = ok && rep.OK()
		records += rep.Records
		return enc.Encode(rep) // the server's buffer sends the report on as it fills

	})
	if err != nil && !started {
		return err
	}
	begin()
	tail := map[string]any{"registered_chains": registered, "records_checked": records, "ok": ok && err == nil}
	if err != nil {
		tail["error"] = "verification stopped before every chain was checked"
		a.logger.Error("audit API verify failed part-way")
	}
	b, _ := json.Marshal(tail)
	_, _ = w.Write([]byte("],"))
	_, _ = w.Write(b[1:])
	return nil
}
