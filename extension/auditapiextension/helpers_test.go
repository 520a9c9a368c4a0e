package auditapiextension

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/exporter/postgresauditexporter"
	"github.com/govcol/govcol/extension/licenseauthextension"
	"github.com/govcol/govcol/internal/license"
	"github.com/govcol/govcol/internal/pgcluster"
	"github.com/govcol/govcol/internal/pgtest"
	"github.com/govcol/govcol/processor/governanceprocessor/governancetest"
)

// runWithPostgres is the package's TestMain body (see metadata.yaml, tests.goleak.setup).
func runWithPostgres(m *testing.M) int { return pgtest.RunVerifyingLeaks(m) }

// fakeHost provides the extensions a Start looks up.
type fakeHost struct {
	exts map[component.ID]component.Component
}

func (h fakeHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// fixture is a running audit API over a database holding tenant-a's and tenant-b's governed fixture records.
type fixture struct {
	base string
	dsn  string
	// issue signs claims with the key the fixture's licenseauth trusts.
	issue func(c license.Claims) string
	cfg   *Config
	pub   string
	idsOf map[string][]string // tenant -> record ids
}

// storeLogs writes governed logs with the real Postgres exporter.
func storeLogs(t *testing.T, dsn string, lds ...plog.Logs) {
	t.Helper()
	f := postgresauditexporter.NewFactory()
	cfg := f.CreateDefaultConfig().(*postgresauditexporter.Config)
	cfg.DSN = configopaque.String(dsn)
	cfg.Fallback.Path = filepath.Join(t.TempDir(), "fb.jsonl")
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	exp, err := f.CreateLogs(context.Background(), exportertest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	for _, ld := range lds {
		require.NoError(t, exp.ConsumeLogs(context.Background(), ld))
	}
	require.NoError(t, exp.Shutdown(context.Background()))
}

func newFixture(t *testing.T, mutate func(*Config)) *fixture {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	a := governancetest.Governed(t, "tenant-a")
	b := governancetest.Governed(t, "tenant-b")
	storeLogs(t, dsn, a, b)

	pub, priv, err := license.GenerateKey()
	require.NoError(t, err)
	pemBytes, err := license.MarshalPublicKeyPEM(pub)
	require.NoError(t, err)
	pubPath := filepath.Join(t.TempDir(), "license.pub.pem")
	require.NoError(t, os.WriteFile(pubPath, pemBytes, 0o600))

	lf := licenseauthextension.NewFactory()
	lcfg := lf.CreateDefaultConfig().(*licenseauthextension.Config)
	lcfg.PublicKeyFiles = []string{pubPath}
	lext, err := lf.Create(context.Background(), extensiontest.NewNopSettings(lf.Type()), lcfg)
	require.NoError(t, err)
	require.NoError(t, lext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = lext.Shutdown(context.Background()) })

	port, err := pgcluster.FreePort()
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = fmt.Sprintf("127.0.0.1:%d", port)
	cfg.DSN = configopaque.String(dsn)
	if mutate != nil {
		mutate(cfg)
	}
	for i, k := range cfg.VerifyPublicKeyFiles {
		if k == "" { // a test asking for "some" verification key
			cfg.VerifyPublicKeyFiles[i] = pubPath
		}
	}
	require.NoError(t, cfg.Validate())
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(NewFactory().Type()), cfg)
	require.NoError(t, err)
	host := fakeHost{exts: map[component.ID]component.Component{component.MustNewID("licenseauth"): lext}}
	require.NoError(t, ext.Start(context.Background(), host))
	t.Cleanup(func() { _ = ext.Shutdown(context.Background()) })

	fx := &fixture{base: fmt.Sprintf("http://127.0.0.1:%d", port), dsn: dsn, cfg: cfg, pub: pubPath, idsOf: map[string][]string{}}
	fx.issue = func(c license.Claims) string {
		tok, err := license.Issue(priv, c)
		require.NoError(t, err)
		return tok
	}
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		rows, err := pgxQueryStrings(t, dsn, "SELECT id FROM audit_logs WHERE tenant_id = $1 ORDER BY id", tenant)
		require.NoError(t, err)
		fx.idsOf[tenant] = rows
	}
	return fx
}

// claims are the claims of a license for tenant in the organisation the fixture records carry ("org-<tenant>").
func claims(tenant string, scope license.Scope) license.Claims {
	c := license.NewClaims("org-"+tenant, tenant, "client-"+tenant, "", "", time.Now(), time.Hour)
	c.Scope = scope
	return c
}

// tenantReader is a read license granted its whole tenant.
func (fx *fixture) tenantReader(tenant string) string {
	c := claims(tenant, license.ScopeRead)
	c.ReadTenant = true
	return fx.issue(c)
}

// globalAdmin is an admin license issued as global: it reads every organisation.
func (fx *fixture) globalAdmin() string {
	c := license.NewClaims("org-ops", "ops", "client-ops", "", "", time.Now(), time.Hour)
	c.Scope, c.Global = license.ScopeAdmin, true
	return fx.issue(c)
}

type response struct {
	status  int
	header  http.Header
	trailer http.Header
	body    []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), string(r.body))
}

func (fx *fixture) do(t *testing.T, method, path, lic, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, fx.base+path, strings.NewReader(body))
	require.NoError(t, err)
	if lic != "" {
		req.Header.Set("Authorization", "Bearer "+lic)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, trailer: resp.Trailer, body: b}
}

func pgxQueryStrings(t *testing.T, dsn, q string, args ...any) ([]string, error) {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.Background())
	rows, err := c.Query(context.Background(), q, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// fixtureReportWindow is a report body whose window holds the captured fixture's records (2026-11-23): the report's
// default window is the last 30 days before now, which the fixture leaves as the calendar moves on.
const fixtureReportWindow = `{"start_time":"2026-11-01T00:00:00Z","end_time":"2026-12-31T00:00:00Z"}`
