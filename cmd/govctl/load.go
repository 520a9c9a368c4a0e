package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/govcol/govcol"
)

type loadOptions struct {
	endpoint, protocol, license, licenseFile string
	developers, concurrency, batch           int
	duration                                 time.Duration
	maxEvents                                int64
	asJSON                                   bool
}

// loadResult is what `govctl load` reports.
type loadResult struct {
	Protocol     string  `json:"protocol"`
	Developers   int     `json:"developers"`
	Requests     int64   `json:"requests"`
	EventsSent   int64   `json:"events_sent"`
	EventsAcked  int64   `json:"events_acked"`
	EventsFailed int64   `json:"events_failed"`
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_second"`
	P50ms        float64 `json:"ack_latency_p50_ms"`
	P99ms        float64 `json:"ack_latency_p99_ms"`
	// FirstError is the first failure (status and message), if any.
	FirstError string `json:"first_error,omitempty"`
}

func newLoadCommand() *cobra.Command {
	var o loadOptions
	cmd := &cobra.Command{
		Use:   "load",
		Short: "OTLP load generator: replays real Claude Code event mixes for many simulated developers",
		Long: "Sends the captured Claude Code 2.1.330 session (11 events per copy) to a collector over OTLP/HTTP " +
			"(protobuf) or OTLP/gRPC, as --developers simulated developers (X-User-Email dev-N@load.example, a session " +
			"each), every copy shifted to a new time so each event is new. Bounded: it stops at --duration or " +
			"--max-events, whichever comes first. Reports events sent, acknowledged and failed, throughput and the " +
			"p50/p99 acknowledgement latency.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := runLoad(cmd.Context(), o)
			if err != nil {
				return err
			}
			if o.asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d developers, %d requests, %d events sent, %d acknowledged, %d failed in %.1fs "+
				"(%.0f events/s), ack latency p50 %.1f ms p99 %.1f ms\n", res.Protocol, res.Developers, res.Requests,
				res.EventsSent, res.EventsAcked, res.EventsFailed, res.Seconds, res.EventsPerSec, res.P50ms, res.P99ms)
			if res.FirstError != "" {
				fmt.Fprintln(cmd.OutOrStdout(), "first error:", res.FirstError)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.endpoint, "endpoint", "http://127.0.0.1:4318", "OTLP endpoint: http://host:port for http, host:port for grpc")
	f.StringVar(&o.protocol, "protocol", "http", "http (protobuf) or grpc")
	f.StringVar(&o.license, "license", "", "license sent as Authorization: Bearer")
	f.StringVar(&o.licenseFile, "license-file", "", "file holding the license")
	f.IntVar(&o.developers, "developers", 10, "simulated developers")
	f.IntVar(&o.concurrency, "concurrency", 4, "concurrent requests")
	f.IntVar(&o.batch, "batch", 10, "session copies per request (11 events each)")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "stop after this long")
	f.Int64Var(&o.maxEvents, "max-events", 100_000, "stop after this many events")
	f.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	return cmd
}

type sender func(ctx context.Context, dev int, body plog.Logs) error

func runLoad(ctx context.Context, o loadOptions) (*loadResult, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	lic := strings.TrimSpace(o.license)
	if lic == "" && o.licenseFile != "" {
		b, err := os.ReadFile(o.licenseFile)
		if err != nil {
			return nil, err
		}
		lic = strings.TrimSpace(string(b))
	}
	switch {
	case lic == "":
		return nil, errors.New("--license or --license-file is required")
	case o.developers < 1 || o.concurrency < 1 || o.batch < 1 || o.batch > 1000:
		return nil, errors.New("--developers and --concurrency must be positive, --batch between 1 and 1000")
	case o.duration <= 0 || o.duration > time.Hour || o.maxEvents < 1:
		return nil, errors.New("--duration must be in (0, 1h] and --max-events positive: load runs are bounded")
	}
	base, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(govcol.ClaudeCodeLogsJSON)
	if err != nil {
		return nil, err
	}
	perCopy := int64(base.LogRecordCount())
	var send sender
	switch o.protocol {
	case "http":
		send = httpSender(o.endpoint, lic)
	case "grpc":
		conn, err := grpc.NewClient(o.endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		client := plogotlp.NewGRPCClient(conn)
		send = func(ctx context.Context, dev int, ld plog.Logs) error {
			md := metadata.Pairs("authorization", "Bearer "+lic, "x-user-email", devEmail(dev), "x-axonflow-client", "claude-code")
			_, err := client.Export(metadata.NewOutgoingContext(ctx, md), plogotlp.NewExportRequestFromLogs(ld))
			return err
		}
	default:
		return nil, fmt.Errorf("--protocol %q: use http or grpc", o.protocol)
	}

	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	res := &loadResult{Protocol: o.protocol, Developers: o.developers}
	var seq, sent, acked, failed, requests atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	start := time.Now()
	epoch := start.Add(-time.Hour) // copies are spread over the past hour, one microsecond apart
	var wg sync.WaitGroup
	for w := range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n := sent.Add(perCopy * int64(o.batch))
				if n > o.maxEvents {
					sent.Add(-perCopy * int64(o.batch))
					return
				}
				dev := int(requests.Add(1)) % o.developers
				ld := plog.NewLogs()
				for range o.batch {
					appendCopy(ld, base, dev, epoch.Add(time.Duration(seq.Add(1))*time.Millisecond), w)
				}
				t0 := time.Now()
				err := send(ctx, dev, ld)
				d := time.Since(t0)
				if err != nil {
					failed.Add(perCopy * int64(o.batch))
					mu.Lock()
					if res.FirstError == "" {
						res.FirstError = err.Error()
					}
					mu.Unlock()
					continue
				}
				acked.Add(perCopy * int64(o.batch))
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.Requests, res.EventsSent, res.EventsAcked, res.EventsFailed = requests.Load(), sent.Load(), acked.Load(), failed.Load()
	if res.Seconds > 0 {
		res.EventsPerSec = float64(res.EventsAcked) / res.Seconds
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		res.P50ms = float64(lat[len(lat)/2].Microseconds()) / 1000
		res.P99ms = float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds()) / 1000
	}
	return res, nil
}

func devEmail(dev int) string { return fmt.Sprintf("dev-%d@load.example", dev) }

// appendCopy adds one copy of the session for developer dev at time at: every timestamp moved to keep the session's
// internal spacing, the session id the developer's own, so the governed records get new ids.
func appendCopy(dst, base plog.Logs, dev int, at time.Time, worker int) {
	first := firstTime(base)
	shift := at.Sub(first)
	start := dst.ResourceLogs().Len()
	for _, rl := range base.ResourceLogs().All() {
		rl.CopyTo(dst.ResourceLogs().AppendEmpty())
	}
	for i := start; i < dst.ResourceLogs().Len(); i++ {
		for _, sl := range dst.ResourceLogs().At(i).ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if lr.Timestamp() != 0 {
					lr.SetTimestamp(pcommon.NewTimestampFromTime(lr.Timestamp().AsTime().Add(shift)))
				}
				if lr.ObservedTimestamp() != 0 {
					lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(lr.ObservedTimestamp().AsTime().Add(shift)))
				}
				lr.Attributes().PutStr("session.id", fmt.Sprintf("load-%d-%d", dev, worker))
			}
		}
	}
}

func firstTime(ld plog.Logs) time.Time {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				if lr.Timestamp() != 0 {
					return lr.Timestamp().AsTime()
				}
			}
		}
	}
	return time.Unix(0, 0)
}

func httpSender(endpoint, lic string) sender {
	client := &http.Client{Timeout: 30 * time.Second}
	url := strings.TrimRight(endpoint, "/") + "/v1/logs"
	return func(ctx context.Context, dev int, ld plog.Logs) error {
		body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Authorization", "Bearer "+lic)
		req.Header.Set("X-User-Email", devEmail(dev))
		req.Header.Set("X-Axonflow-Client", "claude-code")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
		}
		return nil
	}
}
