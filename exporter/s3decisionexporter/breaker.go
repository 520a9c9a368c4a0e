package s3decisionexporter // import "github.com/govcol/govcol/exporter/s3decisionexporter"

import (
	"sync"
	"time"
)

// breaker is a circuit breaker: closed until threshold consecutive failures, then open for cooldown, then half-open
// for exactly one probe whose outcome closes or re-opens it.
type breaker struct {
	mu        sync.Mutex
	threshold int
	cooldown  time.Duration
	now       func() time.Time

	failures int
	open     bool
	openedAt time.Time
	probing  bool
}

func newBreaker(threshold int, cooldown time.Duration, now func() time.Time) *breaker {
	return &breaker{threshold: threshold, cooldown: cooldown, now: now}
}

// admits reports whether a new decision may wait in the buffer: always when closed, and once the cooldown is over
// (the first to reach a worker probes).
func (b *breaker) admits() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.open || b.now().Sub(b.openedAt) >= b.cooldown
}

// allow reports whether a put may run now; when open past its cooldown it lets exactly one probe through.
func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return true
	}
	if b.probing || b.now().Sub(b.openedAt) < b.cooldown {
		return false
	}
	b.probing = true
	return true
}

func (b *breaker) success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures, b.open, b.probing = 0, false, false
}

// failure records a failed put and reports whether the breaker is open afterwards.
func (b *breaker) failure() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open { // the probe failed: another cooldown
		b.probing = false
		b.openedAt = b.now()
		return true
	}
	b.failures++
	if b.failures >= b.threshold {
		b.open, b.openedAt = true, b.now()
	}
	return b.open
}

func (b *breaker) isOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}
