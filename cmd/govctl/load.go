package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/govcol/govcol"
)

const (
	// attemptTimeout bounds one send: no response by then is a transport failure.
	attemptTimeout = 30 * time.Second
	// defaultDrain is how long requests in flight at --duration still get to be answered (--drain): no request or
	// retry starts after --duration, but cutting off the ones under way would charge the collector with failures the
	// generator made. maxDrain bounds it, like --duration, so a run always ends.
	defaultDrain, maxDrain = 5 * time.Second, 5 * time.Minute
	// retryMin and retryMax bound the --retry backoff (exponential, jittered).
	retryMin, retryMax = 100 * time.Millisecond, 2 * time.Second
	// maxRate bounds --rate (events per second).
	maxRate = 10_000_000
)

type loadOptions struct {
	endpoint, protocol, license, licenseFile, ackedFile string
	developers, concurrency, batch, maxInFlight         int
	rate                                                float64
	duration                                            time.Duration
	drain                                               time.Duration
	maxEvents                                           int64
	retry, asJSON                                       bool
}

func newLoadCommand() *cobra.Command {
	var o loadOptions
	cmd := &cobra.Command{
		Use:   "load",
		Short: "OTLP load generator: replays real Claude Code event mixes for many simulated developers",
		Long: "Sends the captured Claude Code 2.1.330 session (11 events per copy, --batch copies per request) to a " +
			"collector over OTLP/HTTP (protobuf) or OTLP/gRPC, as --developers simulated developers (X-User-Email " +
			"dev-N@load.example). Every copy is shifted to a new time and gets its own session id, load-<run>-<copy> " +
			"(<run> a random id per invocation, reported as run_id), so each event is new.\n\n" +
			"Without --rate the load is a closed loop: --concurrency workers each send a request and wait for its answer. " +
			"With --rate N it is an open loop: request k starts at k x batch x 11 / N seconds in its own goroutine, " +
			"whatever the earlier ones are doing, so the latency is measured at a fixed offered load; when " +
			"--max-in-flight requests are already in flight a request waits and counts as a late start.\n\n" +
			"Failures are classified the OTLP way: refused retryable (HTTP 429/502/503/504; gRPC Canceled, " +
			"DeadlineExceeded, Aborted, OutOfRange, Unavailable, DataLoss, and ResourceExhausted with RetryInfo), " +
			"failed permanent (any other status), failed transport (no answer: connection refused or reset, timeout). " +
			"With --retry a request refused retryably or lost in transport is re-sent as is, with exponential backoff " +
			"from 100ms to 2s (jittered; longer if the collector's Retry-After or RetryInfo asks), until it is " +
			"acknowledged or --duration passes, as a real OTLP exporter does. --acked-file lists the session id of " +
			"every acknowledged copy, one a line, written once the acknowledgement arrived.\n\n" +
			"Bounded: no request or retry starts after --duration or beyond --max-events; requests in flight at " +
			"--duration get up to --drain more to be answered. Reports events sent, acknowledged and failed by class, " +
			"retries, late starts, throughput and the p50/p90/p99 latency from a request's send to its acknowledgement " +
			"(the acknowledged attempt's).",
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := runLoad(cmd.Context(), o)
			if err != nil {
				return err
			}
			if cmd.Context().Err() != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "govctl load: interrupted; the result (and --acked-file) covers the run until then")
			}
			if o.asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			res.writeText(cmd.OutOrStdout(), o.concurrency)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.endpoint, "endpoint", "http://127.0.0.1:4318", "OTLP endpoint: http://host:port for http, host:port for grpc")
	f.StringVar(&o.protocol, "protocol", "http", "http (protobuf) or grpc")
	f.StringVar(&o.license, "license", "", "license sent as Authorization: Bearer")
	f.StringVar(&o.licenseFile, "license-file", "", "file holding the license")
	f.IntVar(&o.developers, "developers", 10, "simulated developers")
	f.IntVar(&o.concurrency, "concurrency", 4, "closed loop (no --rate): concurrent workers, each with one request in flight")
	f.IntVar(&o.batch, "batch", 10, "session copies per request (11 events each)")
	f.Float64Var(&o.rate, "rate", 0, "open loop: offered load in events/s (0: closed loop of --concurrency workers)")
	f.IntVar(&o.maxInFlight, "max-in-flight", 256, "open loop: most requests in flight; a request due beyond it waits (a late start)")
	f.BoolVar(&o.retry, "retry", false, "re-send requests refused retryably or lost in transport, with backoff, until acknowledged or --duration")
	f.StringVar(&o.ackedFile, "acked-file", "", "write the session id of every acknowledged copy to this file, one a line")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "stop after this long")
	f.DurationVar(&o.drain, "drain", defaultDrain, "after --duration, how long requests in flight still get to be answered")
	f.Int64Var(&o.maxEvents, "max-events", 100_000, "stop after this many events")
	f.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	return cmd
}

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
	case o.drain < 0 || o.drain > maxDrain:
		return nil, fmt.Errorf("--drain must be in [0, %s]", maxDrain)
	case !(o.rate >= 0 && o.rate <= maxRate): // also refuses NaN
		return nil, fmt.Errorf("--rate must be between 0 (closed loop) and %d events/s", maxRate)
	case o.maxInFlight < 1 || o.maxInFlight > 10_000:
		return nil, errors.New("--max-in-flight must be between 1 and 10000")
	}
	base, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(govcol.ClaudeCodeLogsJSON)
	if err != nil {
		return nil, err
	}
	var send sender
	switch o.protocol {
	case "http":
		send = httpSender(o.endpoint, lic, max(o.concurrency, o.maxInFlight))
	case "grpc":
		conn, err := grpc.NewClient(o.endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithStatsHandler(answerWatch{}))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		send = grpcSender(plogotlp.NewGRPCClient(conn), lic)
	default:
		return nil, fmt.Errorf("--protocol %q: use http or grpc", o.protocol)
	}
	acks, err := createAckLog(o.ackedFile)
	if err != nil {
		return nil, err
	}

	start := time.Now()
	g := &loadGen{
		o: o, send: send, base: base, perCopy: int64(base.LogRecordCount()), acks: acks,
		runID:    fmt.Sprintf("%08x", rand.Uint32()),
		epoch:    start.Add(-time.Hour), // copies are spread over the past hour, one millisecond apart
		deadline: start.Add(o.duration),
		parent:   ctx,
	}
	var cancel context.CancelFunc
	g.run, cancel = context.WithDeadline(ctx, g.deadline)
	defer cancel()
	if o.rate > 0 {
		g.openLoop(start)
	} else {
		g.closedLoop()
	}
	if err := acks.close(); err != nil {
		return nil, fmt.Errorf("--acked-file: %w", err)
	}

	res := &loadResult{
		Protocol: o.protocol, RunID: g.runID, Developers: o.developers, RateTarget: o.rate,
		Seconds:  time.Since(start).Seconds(),
		Requests: g.requests.Load(), Retries: g.retries.Load(), LateStarts: g.lateStarts.Load(),
		MaxInFlight: g.maxInFlight.Load(), EventsSent: g.sent.Load(), EventsAcked: g.acked.Load(),
		EventsRefusedRetryable: g.failed[refusedRetryable].Load(),
		EventsFailedPermanent:  g.failed[failedPermanent].Load(),
		EventsFailedTransport:  g.failed[failedTransport].Load(),
		FirstError:             g.firstErr,
	}
	res.EventsFailed = res.EventsRefusedRetryable + res.EventsFailedPermanent + res.EventsFailedTransport
	if res.Seconds > 0 {
		res.EventsPerSec = float64(res.EventsAcked) / res.Seconds
	}
	res.P50ms, res.P90ms, res.P99ms = latencyPercentiles(g.lat)
	return res, nil
}
