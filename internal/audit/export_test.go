package audit

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// ToAttributeForm rewrites every stamped record of ld in the form used before audit.record: every field an audit.*
// attribute of its own (records stamped so may wait in a queue or a fallback file when a collector is upgraded).
func ToAttributeForm(ld plog.Logs) error {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				r, err := FromLogRecord(rl.Resource(), lr)
				if err != nil {
					return err
				}
				var x Extra
				v, _ := lr.Attributes().Get(AttrRecord)
				b := v.Bytes().AsRaw()
				var ignore Record
				if err := decodeStamped(b, &ignore, &recordSink{r: &ignore, x: &x}); err != nil {
					return err
				}
				if v, ok := lr.Attributes().Get(AttrEvent); ok { // a named field: not in audit.record
					x.Event = v.Str()
				}
				x.PolicyLabel = PolicyLabel(r.PolicyDetails.TopPolicy)
				lr.Attributes().RemoveIf(func(k string, _ pcommon.Value) bool { return len(k) > 6 && k[:6] == AttrPrefix })
				r.writeEachAttribute(lr.Attributes(), x)
			}
		}
	}
	return nil
}
