package postgresauditexporter // import "github.com/govcol/govcol/exporter/postgresauditexporter"

import (
	"bytes"
	"context"
	"io"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
)

// Fallback replay: the spill file written back to Postgres in the background.

func (e *auditExporter) kickReplay() {
	select {
	case e.replayKick <- struct{}{}:
	default:
	}
}

func (e *auditExporter) replayLoop() {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.Fallback.ReplayInterval)
	defer t.Stop()
	for {
		select {
		case <-e.loops.Done():
			return
		case <-t.C:
		case <-e.replayKick:
		}
		if e.fb.depth() == 0 {
			continue
		}
		if err := e.replay(e.loops); err != nil {
			e.logger.Info("Fallback replay paused; Postgres still unavailable", zap.String("error", safeError(err)))
		}
	}
}

// replay writes the fallback file to Postgres in batches. It is idempotent: a record stored before a crash or a
// cut-short replay is ignored by ON CONFLICT.
func (e *auditExporter) replay(ctx context.Context) error {
	e.replayMu.Lock()
	defer e.replayMu.Unlock()
	for {
		rp, err := e.fb.beginReplay()
		if err != nil || rp == "" {
			e.afterReplay()
			return err
		}
		if err := e.replayFile(ctx, rp); err != nil {
			e.reportFallback()
			return err
		}
	}
}

func (e *auditExporter) afterReplay() {
	if e.fb.depth() == 0 {
		e.spilling.Store(false)
	}
	e.reportFallback()
}

func (e *auditExporter) replayFile(ctx context.Context, rp string) error {
	f, err := os.Open(rp)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return err
	}
	var doneRecords, doneBytes int64
	batch := make([]audit.Record, 0, e.cfg.Fallback.ReplayBatchSize)
	var cps []integrity.Checkpoint
	batchStart := 0 // offset in data of the first line of the batch
	var bad []deadLetter
	// flush stores the batch, then dead-letters the lines of its range that could not be decoded or are over a cap.
	// A transient failure leaves the whole range (bad lines included) in the file: nothing of it is dead-lettered
	// twice or lost. Rows Postgres refuses for a data reason are dead-lettered by store, so the file always empties
	// once Postgres is reachable.
	flush := func(end int) error {
		if len(batch) > 0 || len(cps) > 0 {
			refused, err := e.storeIsolating(ctx, batch, cps)
			if err != nil {
				return err
			}
			e.tb.PostgresauditReplayed.Add(ctx, int64(len(batch)-refused))
			doneRecords += int64(len(batch) + len(cps))
		}
		if len(bad) > 0 {
			e.deadLetter(ctx, bad)
			doneRecords += int64(len(bad))
			bad = nil
		}
		doneBytes += int64(end - batchStart)
		batch, cps, batchStart = batch[:0], nil, end
		return nil
	}
	off := 0
	for off < len(data) {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += off + 1
		}
		line := bytes.TrimSpace(data[off:end])
		off = end
		if len(line) == 0 {
			continue
		}
		rec, cp, err := decodeLine(line)
		if err == nil && cp == nil {
			_, err = newRow(&rec)
		}
		if err != nil {
			bad = append(bad, deadLetter{Reason: reasonMalformed, Error: "fallback line: " + err.Error(), Record: string(line)})
			continue
		}
		if cp == nil {
			if err := rec.CheckCaps(); err != nil { // a line spilled before the caps existed, or written by hand
				bad = append(bad, oversizeLetter(rec, err))
				continue
			}
		}
		if cp != nil {
			cps = append(cps, *cp)
		} else {
			batch = append(batch, rec)
		}
		if len(batch)+len(cps)+len(bad) >= e.cfg.Fallback.ReplayBatchSize {
			if err := flush(off); err != nil {
				return e.fb.finishReplayWith(rp, doneRecords, doneBytes, data[batchStart:], err)
			}
		}
	}
	if err := flush(len(data)); err != nil {
		return e.fb.finishReplayWith(rp, doneRecords, doneBytes, data[batchStart:], err)
	}
	if err := e.fb.finishReplay(rp, doneRecords, doneBytes, nil); err != nil {
		return err
	}
	e.logger.Info("Fallback file replayed into Postgres", zap.Int64("records", doneRecords))
	return nil
}
