package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// loadResult is what `govctl load` reports.
type loadResult struct {
	Protocol   string `json:"protocol"`
	RunID      string `json:"run_id"`
	Developers int    `json:"developers"`
	// RateTarget is the offered load of an open-loop run in events/s; 0 for a closed loop.
	RateTarget float64 `json:"rate_target"`
	// Requests counts distinct requests; Retries the re-sends of them (--retry).
	Requests int64 `json:"requests"`
	Retries  int64 `json:"retries"`
	// LateStarts counts open-loop requests that could not start at their slot: --max-in-flight were in flight.
	LateStarts int64 `json:"late_starts"`
	// MaxInFlight is the most requests observed in flight at once (a request waiting to be retried is in flight).
	MaxInFlight int64 `json:"max_in_flight"`
	// EventsSent counts every event once, however many times its request was sent.
	EventsSent  int64 `json:"events_sent"`
	EventsAcked int64 `json:"events_acked"`
	// EventsFailed is the sum of the three failure classes below; an event counts in the class of its request's
	// last attempt.
	EventsFailed int64 `json:"events_failed"`
	// EventsRefusedRetryable: the collector answered with a status the OTLP spec calls retryable (it was busy).
	EventsRefusedRetryable int64 `json:"events_refused_retryable"`
	// EventsFailedPermanent: the collector answered with any other error status.
	EventsFailedPermanent int64 `json:"events_failed_permanent"`
	// EventsFailedTransport: no answer (connection refused or reset, timeout): the collector was down.
	EventsFailedTransport int64   `json:"events_failed_transport"`
	Seconds               float64 `json:"seconds"`
	EventsPerSec          float64 `json:"events_per_second"`
	P50ms                 float64 `json:"ack_latency_p50_ms"`
	P90ms                 float64 `json:"ack_latency_p90_ms"`
	P99ms                 float64 `json:"ack_latency_p99_ms"`
	// FirstError is the first failure (status and message) of any attempt, if any, even one a retry made good.
	FirstError string `json:"first_error,omitempty"`
}

// writeText prints the result as one line (and the first error, if any), as `govctl load` without --json does.
func (res *loadResult) writeText(w io.Writer, concurrency int) {
	mode := fmt.Sprintf("closed loop of %d workers", concurrency)
	if res.RateTarget > 0 {
		mode = fmt.Sprintf("open loop at %.0f events/s", res.RateTarget)
	}
	fmt.Fprintf(w, "%s (%s, run %s): %d developers, %d requests, %d retries, %d late starts, "+
		"max %d in flight, %d events sent, %d acknowledged, %d failed (%d refused retryable, %d permanent, "+
		"%d transport) in %.1fs (%.0f events/s), ack latency p50 %.1f ms p90 %.1f ms p99 %.1f ms\n",
		res.Protocol, mode, res.RunID, res.Developers, res.Requests, res.Retries, res.LateStarts, res.MaxInFlight,
		res.EventsSent, res.EventsAcked, res.EventsFailed, res.EventsRefusedRetryable, res.EventsFailedPermanent,
		res.EventsFailedTransport, res.Seconds, res.EventsPerSec, res.P50ms, res.P90ms, res.P99ms)
	if res.FirstError != "" {
		fmt.Fprintln(w, "first error:", res.FirstError)
	}
}

// latencyPercentiles sorts the acknowledged attempts' latencies and returns their p50, p90 and p99 in milliseconds
// (the nearest rank below; zeros when nothing was acknowledged).
func latencyPercentiles(lat []time.Duration) (p50, p90, p99 float64) {
	slices.Sort(lat)
	n := len(lat)
	if n == 0 {
		return 0, 0, 0
	}
	pct := func(q int) float64 { return float64(lat[min(n-1, n*q/100)].Microseconds()) / 1000 }
	return pct(50), pct(90), pct(99)
}
