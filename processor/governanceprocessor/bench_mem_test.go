package governanceprocessor

import "runtime"

type runtimeMem struct{ bytes, mallocs uint64 }

func (m *runtimeMem) read() {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	m.bytes, m.mallocs = s.TotalAlloc, s.Mallocs
}
