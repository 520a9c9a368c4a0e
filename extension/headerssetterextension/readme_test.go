package headerssetterextension

import (
	"testing"

	"github.com/govcol/govcol/internal/readmetest"
)

// The README's configuration table is the promise; the defaults must keep it.
func TestREADMEDefaults(t *testing.T) {
	n := readmetest.CheckDefaults(t, "README.md", createDefaultConfig())
	if n == 0 {
		t.Fatal("no default checked")
	}
}
