package auditapiextension // import "github.com/govcol/govcol/extension/auditapiextension"

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.uber.org/zap"

	"github.com/govcol/govcol/extension/auditapiextension/internal/metadata"
	"github.com/govcol/govcol/internal/license"
)

//go:embed explorer
var explorerFiles embed.FS

type auditAPI struct {
	cfg    *Config
	set    component.TelemetrySettings
	logger *zap.Logger
	tb     *metadata.TelemetryBuilder

	auth   extensionauth.Server
	pool   *pgxpool.Pool
	keys   license.KeySet
	server *http.Server
	done   chan struct{}
}

func newAuditAPI(cfg *Config, set component.TelemetrySettings) (*auditAPI, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	return &auditAPI{cfg: cfg, set: set, logger: set.Logger, tb: tb}, nil
}

func (a *auditAPI) Start(ctx context.Context, host component.Host) error {
	ext, ok := host.GetExtensions()[a.cfg.Authenticator]
	if !ok {
		return fmt.Errorf("auditapi: authenticator %q is not an enabled extension", a.cfg.Authenticator)
	}
	if a.auth, ok = ext.(extensionauth.Server); !ok {
		return fmt.Errorf("auditapi: %q is not a server authenticator", a.cfg.Authenticator)
	}
	if a.cfg.AdminTier != "" {
		a.logger.Warn("auditapi: admin_tier is deprecated and ignored; an admin is a license issued with scope admin " +
			"(govctl license issue --scope admin), limited to its organisation unless issued --global")
	}
	if len(a.cfg.VerifyPublicKeyFiles) > 0 {
		keys, err := license.LoadKeySet(a.cfg.VerifyPublicKeyFiles, "")
		if err != nil {
			return fmt.Errorf("auditapi: verify_public_key_files: %w", err)
		}
		a.keys = keys
	}
	pcfg, err := pgxpool.ParseConfig(a.cfg.dsn())
	if err != nil {
		return errors.New("auditapi: dsn is not a valid Postgres connection string")
	}
	pcfg.ConnConfig.RuntimeParams["application_name"] = "govcol-auditapi"
	if a.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return fmt.Errorf("auditapi: %w", err)
	}
	static, err := fs.Sub(explorerFiles, "explorer")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /audit/", http.StripPrefix("/audit/", http.FileServerFS(static)))
	mux.HandleFunc("GET /audit", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/audit/", http.StatusFound) })
	a.routes(mux)
	ln, err := a.cfg.ServerConfig.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("auditapi: listen on %s: %w", a.cfg.ServerConfig.NetAddr.Endpoint, err)
	}
	a.server, err = a.cfg.ServerConfig.ToServer(ctx, host.GetExtensions(), a.set, securityHeaders(mux))
	if err != nil {
		ln.Close()
		return err
	}
	a.done = make(chan struct{})
	go func() {
		defer close(a.done)
		if err := a.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	a.logger.Info("Audit API and Log Explorer listening", zap.String("endpoint", "http://"+ln.Addr().String()+"/audit/"))
	return nil
}

func (a *auditAPI) Shutdown(ctx context.Context) error {
	var err error
	if a.server != nil {
		err = a.server.Shutdown(ctx)
		<-a.done
	}
	if a.pool != nil {
		a.pool.Close()
	}
	a.tb.Shutdown()
	return err
}
