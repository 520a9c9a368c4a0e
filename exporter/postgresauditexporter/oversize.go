package postgresauditexporter // import "github.com/govcol/govcol/exporter/postgresauditexporter"

import (
	"fmt"

	"github.com/govcol/govcol/internal/audit"
)

// oversizeLetter is the dead letter of a record CheckCaps refused: the error names the column and the sizes, and the
// record kept for the operator has every over-cap value withheld. A value over its cap is exactly what the governance
// processor should never have let through (an allow-listed identifier is not masked, only capped), so it may be raw
// content: the dead-letter file keeps its size, never its bytes.
func oversizeLetter(rec audit.Record, capErr error) deadLetter {
	return deadLetter{Reason: reasonOversize, Error: capErr.Error(), Record: withholdOversize(rec)}
}

// withheld replaces a value over its cap in a dead letter.
func withheld(n, limit int) string {
	return fmt.Sprintf("[withheld: %d bytes, over the cap of %d]", n, limit)
}

// withholdOversize returns a copy of rec in which every value over its cap in audit.ColumnCaps (and every pii_types
// or redacted_fields element over its cap) is replaced by a marker naming its size; rec itself is not changed.
func withholdOversize(rec audit.Record) audit.Record {
	rec.WithholdOverCaps(withheld)
	return rec
}
