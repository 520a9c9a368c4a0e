package s3decisionexporter // import "github.com/govcol/govcol/exporter/s3decisionexporter"

import (
	"bytes"
	"compress/gzip"
	"context"
	"time"
)

// partition is one hour partition's open batch: NDJSON lines gzip-compressed as they arrive.
type partition struct {
	buf    bytes.Buffer
	gz     *gzip.Writer
	n      int64
	oldest time.Time
	hour   time.Time
	known  bool
}

type partKey struct {
	hour  int64
	known bool
}

func newPartition(hour time.Time, known bool, level int) *partition {
	p := &partition{hour: hour, known: known}
	p.gz, _ = gzip.NewWriterLevel(&p.buf, level) // the level was validated
	return p
}

func (p *partition) add(it item) {
	_, _ = p.gz.Write(it.line)
	_, _ = p.gz.Write([]byte{'\n'})
	if p.n == 0 || it.received.Before(p.oldest) {
		p.oldest = it.received
	}
	p.n++
}

// batch collects decisions into one batch per hour partition and hands each batch to the workers when it is full
// or when the flush interval ends. A batch the workers cannot take at once (they are all busy and their queue is
// full) is dropped and counted, like a decision that finds the buffer full.
func (e *decisionExporter) batch() {
	defer e.wg.Done()
	parts := map[partKey]*partition{}
	tick := time.NewTicker(e.cfg.Batch.FlushInterval)
	defer tick.Stop()
	finish := func(k partKey, p *partition) object {
		delete(parts, k)
		_ = p.gz.Close()
		return object{key: batchKey(e.cfg.Prefix, p.hour, p.known, e.instance, e.seq.Add(1)), body: p.buf.Bytes(), n: p.n, oldest: p.oldest}
	}
	hand := func(o object) {
		select {
		case e.objs <- o:
		default:
			e.count(context.Background(), outcomeBufferFull, o.n)
		}
	}
	add := func(it item) {
		k := partKey{hour: it.hour.Unix(), known: it.known}
		p := parts[k]
		if p == nil {
			p = newPartition(it.hour, it.known, e.cfg.Batch.CompressionLevel)
			parts[k] = p
		}
		p.add(it)
		if p.n >= int64(e.cfg.Batch.MaxRecords) {
			hand(finish(k, p))
		}
	}
	for {
		select {
		case <-e.stop:
			for {
				select {
				case it := <-e.items:
					add(it)
					continue
				default:
				}
				break
			}
			for k, p := range parts {
				e.final = append(e.final, finish(k, p))
			}
			return
		case it := <-e.items:
			add(it)
		case <-tick.C:
			for k, p := range parts {
				hand(finish(k, p))
			}
		}
	}
}
