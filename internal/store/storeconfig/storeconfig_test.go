package storeconfig

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDSNResolution(t *testing.T) {
	t.Setenv(EnvDSN, "postgres://writer@db/audit")
	t.Setenv(EnvReaderDSN, "")
	assert.Equal(t, "postgres://explicit@db/audit", DSN("postgres://explicit@db/audit"))
	assert.Equal(t, "postgres://writer@db/audit", DSN(""))
	assert.Equal(t, "postgres://writer@db/audit", DSN("", EnvReaderDSN, EnvDSN), "the reader's is preferred only when set")
	t.Setenv(EnvReaderDSN, "postgres://reader@db/audit")
	assert.Equal(t, "postgres://reader@db/audit", DSN("", EnvReaderDSN, EnvDSN))
	t.Setenv(EnvDSN, "")
	assert.Equal(t, "", DSN(""))
}

func TestTables(t *testing.T) {
	tb := Tables{Records: DefaultTable, Checkpoints: DefaultCheckpointsTable}
	assert.NoError(t, tb.Validate())
	assert.Equal(t, "audit_logs_chains", tb.Chains())
	assert.Equal(t, "audit_logs_redeliveries", tb.Redeliveries())
	assert.Equal(t, "audit_logs_retention_markers", tb.RetentionMarkers())
	assert.Equal(t, "audit_logs_retention_policy", tb.RetentionPolicy())
	assert.Equal(t, "audit_logs_schema_version", tb.SchemaVersion())
	assert.Equal(t, "audit_logs_ensure_partitions", tb.Function("ensure_partitions"))
	for _, bad := range []Tables{
		{Records: "audit_logs; drop table users", Checkpoints: "c"},
		{Records: "Audit", Checkpoints: "c"},
		{Records: strings.Repeat("a", 41), Checkpoints: "c"},
		{Records: "a", Checkpoints: "a"},
		{Records: "a", Checkpoints: "1c"},
	} {
		assert.Error(t, bad.Validate(), "%+v", bad)
	}
	assert.True(t, ValidTable(strings.Repeat("a", 40)))
}
