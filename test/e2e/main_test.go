package e2e

import (
	"testing"

	"github.com/govcol/govcol/internal/pgtest"
)

// TestMain starts one ephemeral Postgres for the package: every collector the harness starts stores its audit
// records in a fresh database there.
func TestMain(m *testing.M) { pgtest.Main(m) }
