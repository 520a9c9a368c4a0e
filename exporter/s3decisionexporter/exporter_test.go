package s3decisionexporter

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/govcol/govcol/exporter/s3decisionexporter/internal/metadatatest"
	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/audittest"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/license"
	"github.com/govcol/govcol/internal/s3test"
)

func bucketConfig(srv *s3test.Server, bucket string) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Bucket = bucket
	cfg.Endpoint = srv.Endpoint
	cfg.S3ForcePathStyle = true
	cfg.Selection = "true" // the mechanics tests ship every record; selection has its own tests
	return cfg
}

func startPipelineExporter(t *testing.T, cfg *Config, tel *componenttest.Telemetry) (exporter.Logs, *decisionExporter) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	exp, e, err := newLogsExporter(context.Background(), metadatatest.NewSettings(tel), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return exp, e
}

func newTel(t *testing.T) *componenttest.Telemetry {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

var keyPattern = regexp.MustCompile(`^axonflow/decisions/(\d{4})/(\d{2})/(\d{2})/([0-9a-f-]{36})\.json$`)

func TestObjectsLandWithKeyLayoutAndBody(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	srv.CreateBucket(t, "decisions", false)
	tel := newTel(t)
	exp, _ := startPipelineExporter(t, bucketConfig(srv, "decisions"), tel)

	ld := governed(t, "tenant-a")
	// One record whose time cannot be parsed goes under unpartitioned/.
	odd := plog.NewLogs()
	ld.ResourceLogs().CopyTo(odd.ResourceLogs())
	lr := odd.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	lr.Attributes().PutStr(audit.AttrTimestamp, "yesterday-ish")
	oddID := audittest.Record(t, lr).DecisionID
	odd.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().RemoveIf(func(x plog.LogRecord) bool { return x != lr })
	require.NoError(t, exp.ConsumeLogs(context.Background(), ld))
	require.NoError(t, exp.ConsumeLogs(context.Background(), odd))
	eventually(t, 30*time.Second, "12 objects shipped", func() bool { return outcomes(t, tel)["shipped"] == 12 })

	client := srv.Client()
	ctx := context.Background()
	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("decisions"), Prefix: aws.String("axonflow/decisions/")})
	require.NoError(t, err)
	keys := map[string]bool{}
	for _, o := range list.Contents {
		keys[*o.Key] = true
	}
	require.Len(t, keys, 12)
	assert.True(t, keys["axonflow/decisions/unpartitioned/"+oddID+".json"], "unparseable time: %v", keys)

	recs := map[string]audit.Record{}
	for _, rl := range ld.ResourceLogs().All() {
		for _, lr := range rl.ScopeLogs().At(0).LogRecords().All() {
			r, err := audit.FromLogRecord(rl.Resource(), lr)
			require.NoError(t, err)
			recs[r.DecisionID] = r
		}
	}
	for key := range keys {
		if strings.Contains(key, "unpartitioned") {
			continue
		}
		m := keyPattern.FindStringSubmatch(key)
		require.NotNil(t, m, key)
		r, ok := recs[m[4]]
		require.True(t, ok, "object named after a decision id: %s", key)
		assert.Equal(t, r.Timestamp.UTC().Format("2006/01/02"), m[1]+"/"+m[2]+"/"+m[3], "UTC date of the record")

		obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("decisions"), Key: aws.String(key)})
		require.NoError(t, err)
		body, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, "application/json", aws.ToString(obj.ContentType))
		var d Decision
		require.NoError(t, json.Unmarshal(body, &d))
		assert.Equal(t, SchemaVersion, d.SchemaVersion)
		assert.Equal(t, d.Verdict, d.Decision, "the recipe's decision is the verdict")
		assert.Equal(t, r.DecisionID, d.DecisionID)
		assert.Equal(t, "tenant-a", d.TenantID)
		assert.Equal(t, "org-tenant-a", d.OrgID)
		assert.Equal(t, string(r.PolicyDecision), d.Verdict)
		assert.Equal(t, r.RequestType, d.RequestType)
		assert.True(t, d.Timestamp.Equal(r.Timestamp))
		assert.NotContains(t, string(body), "123-45-6789")
		assert.NotContains(t, string(body), "4111 1111 1111 1111")
		if r.RequestType == "claude_code_user_prompt" {
			assert.Contains(t, d.Query, "[REDACTED:ssn]")
			assert.Equal(t, []string{"redact_pii"}, d.Obligations)
			assert.Contains(t, d.PolicyIDs, "sys_pii_redaction")
			assert.Nil(t, d.InputTokens, "unmeasured usage is null")
		}
		if r.RequestType == "claude_code_api_request" {
			require.NotNil(t, d.InputTokens)
			require.NotNil(t, d.Cost)
		}
	}
	obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("decisions"), Key: aws.String("axonflow/decisions/unpartitioned/" + oddID + ".json")})
	require.NoError(t, err)
	body, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	assert.Contains(t, string(body), `"timestamp":null`)
	assert.Contains(t, string(body), `"timestamp_raw":"yesterday-ish"`)
}

func TestBreakerOpensWhenS3StopsAndClosesWhenItReturns(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	srv.CreateBucket(t, "decisions", false)
	tel := newTel(t)
	cfg := bucketConfig(srv, "decisions")
	cfg.Breaker = BreakerConfig{Threshold: 3, Cooldown: 1500 * time.Millisecond}
	cfg.Workers = 1
	cfg.PutTimeout = time.Second
	exp, e := startPipelineExporter(t, cfg, tel)
	ctx := context.Background()
	ld := governed(t, "tenant-a")

	srv.Stop()
	// Each consume returns at once and without error although S3 is down.
	for range 5 {
		require.NoError(t, exp.ConsumeLogs(ctx, ld))
	}
	eventually(t, 30*time.Second, "55 decisions accounted for", func() bool {
		o := outcomes(t, tel)
		return o["failed"]+o["dropped_breaker_open"] == 55
	})
	o := outcomes(t, tel)
	assert.Equal(t, int64(3), o["failed"], "the breaker opened after 3 failed puts")
	assert.Equal(t, int64(52), o["dropped_breaker_open"])
	assert.Zero(t, o["shipped"])
	assert.True(t, e.breaker.isOpen())
	metadatatest.AssertEqualS3decisionBreakerOpen(t, tel, []metricdataPoint{{Value: 1}}, ignoreTimestamp())

	// Back: after the cooldown one probe closes the breaker and decisions flow again.
	require.NoError(t, srv.Resume())
	time.Sleep(cfg.Breaker.Cooldown + 50*time.Millisecond)
	require.NoError(t, exp.ConsumeLogs(ctx, ld))
	eventually(t, 30*time.Second, "11 shipped after recovery", func() bool { return outcomes(t, tel)["shipped"] == 11 })
	assert.False(t, e.breaker.isOpen())
	metadatatest.AssertEqualS3decisionBreakerOpen(t, tel, []metricdataPoint{{Value: 0}}, ignoreTimestamp())
}

func TestBufferOverflowIsDroppedAndCounted(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	srv.CreateBucket(t, "decisions", false)
	tel := newTel(t)
	cfg := bucketConfig(srv, "decisions")
	cfg.BufferSize = 4
	cfg.Workers = 1
	exp, _ := startPipelineExporter(t, cfg, tel)
	ld := governed(t, "tenant-a")
	const rounds = 40
	for range rounds {
		require.NoError(t, exp.ConsumeLogs(context.Background(), ld))
	}
	eventually(t, 60*time.Second, "every decision accounted for", func() bool {
		o := outcomes(t, tel)
		return o["shipped"]+o["dropped_buffer_full"] == rounds*11
	})
	o := outcomes(t, tel)
	assert.Positive(t, o["dropped_buffer_full"], "a buffer of 4 overflows")
	assert.Positive(t, o["shipped"])
	assert.Zero(t, o["failed"])
	// Decisions are named by id: repeats of the same 11 overwrite, so at most 11 objects exist.
	list, err := srv.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("decisions")})
	require.NoError(t, err)
	assert.LessOrEqual(t, len(list.Contents), 11)
	assert.Positive(t, len(list.Contents))
}

func TestObjectLockRetention(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	srv.CreateBucket(t, "locked", true)
	tel := newTel(t)
	cfg := bucketConfig(srv, "locked")
	cfg.ObjectLock = ObjectLockConfig{Mode: "GOVERNANCE", RetainDays: 7}
	exp, _ := startPipelineExporter(t, cfg, tel)
	ld := governed(t, "tenant-a")
	require.NoError(t, exp.ConsumeLogs(context.Background(), ld))
	eventually(t, 30*time.Second, "shipped", func() bool { return outcomes(t, tel)["shipped"] == 11 })
	assert.Zero(t, outcomes(t, tel)["failed"])

	client := srv.Client()
	ctx := context.Background()
	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("locked")})
	require.NoError(t, err)
	require.Len(t, list.Contents, 11)
	ret, err := client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String("locked"), Key: list.Contents[0].Key})
	require.NoError(t, err)
	assert.Equal(t, types.ObjectLockRetentionModeGovernance, ret.Retention.Mode)
	until := aws.ToTime(ret.Retention.RetainUntilDate)
	assert.WithinDuration(t, time.Now().AddDate(0, 0, 7), until, time.Hour)
	// The lock is enforced: deleting the object without a governance bypass is refused.
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("locked"), Key: list.Contents[0].Key})
	require.NoError(t, err)
	_, err = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("locked"), Key: list.Contents[0].Key, VersionId: head.VersionId})
	require.Error(t, err, "a locked object version cannot be deleted")
}

func TestLocalDirLayout(t *testing.T) {
	dir := t.TempDir()
	cfg := createDefaultConfig().(*Config)
	cfg.LocalDir = dir
	cfg.Selection = "true"
	tel := newTel(t)
	exp, _ := startPipelineExporter(t, cfg, tel)
	require.NoError(t, exp.ConsumeLogs(context.Background(), governed(t, "tenant-a")))
	eventually(t, 10*time.Second, "shipped", func() bool { return outcomes(t, tel)["shipped"] == 11 })
	var files []string
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	}))
	require.Len(t, files, 11)
	for _, f := range files {
		assert.Regexp(t, keyPattern, f)
	}
}

// Consuming never waits on the store: with every put blocked, consume still returns at once and the overflow is
// counted (the property the Postgres path relies on while S3 is down).
func TestConsumeNeverBlocksOnTheStore(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.LocalDir = t.TempDir()
	cfg.Selection = "true"
	cfg.BufferSize = 8
	cfg.Workers = 2
	tel := newTel(t)
	release := make(chan struct{})
	e, err := newDecisionExporter(cfg, tel.NewTelemetrySettings())
	require.NoError(t, err)
	e.store = blockingStore{release}
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	ld := governed(t, "tenant-a")
	for range 10 {
		require.NoError(t, e.pushLogs(context.Background(), ld))
	}
	// 2 puts in flight, 8 buffered, the other 100 dropped: all while no put has finished.
	o := outcomes(t, tel)
	assert.Equal(t, int64(100), o["dropped_buffer_full"])
	assert.Zero(t, o["shipped"])
	close(release)
	require.NoError(t, e.shutdown(context.Background()))
	assert.Equal(t, int64(10), outcomes(t, tel)["shipped"])
}

type blockingStore struct{ release chan struct{} }

func (b blockingStore) list(context.Context, string, string, func(string) bool) error { return nil }
func (b blockingStore) get(context.Context, string) ([]byte, error)                   { return nil, errNotFound }

func (b blockingStore) put(ctx context.Context, _ string, _ []byte) error {
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestCheckpointsShippedBesideDecisions(t *testing.T) {
	dir := t.TempDir()
	cfg := createDefaultConfig().(*Config)
	cfg.LocalDir = dir
	tel := newTel(t)
	exp, _ := startPipelineExporter(t, cfg, tel)
	pub, priv, err := license.GenerateKey()
	require.NoError(t, err)
	cp := integrity.Checkpoint{ChainID: "inst-1/tenant-a/20261123T000000.000000Z-abc", TenantID: "tenant-a", LastSeq: 42,
		LastHash: "v1:" + strings.Repeat("ab", 32), SignedAt: time.Now()}
	cp.Sign(priv, license.KeyID(pub))
	ld := plog.NewLogs()
	integrity.AppendCheckpoints(ld, []*integrity.Checkpoint{&cp})
	require.NoError(t, exp.ConsumeLogs(context.Background(), ld))
	eventually(t, 10*time.Second, "shipped", func() bool { return outcomes(t, tel)["shipped"] == 1 })
	path := filepath.Join(dir, "axonflow", "decisions", "checkpoints", "inst-1%2Ftenant-a%2F20261123T000000.000000Z-abc", "00000000000000000042.json")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var got integrity.Checkpoint
	require.NoError(t, json.Unmarshal(b, &got))
	keys := license.KeySet{}
	require.NoError(t, keys.Add(license.KeyID(pub), pub))
	require.NoError(t, got.VerifySignature(keys), "the stored checkpoint verifies on its own")
}
