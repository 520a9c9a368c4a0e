package governanceprocessor // import "github.com/govcol/govcol/processor/governanceprocessor"

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/google/uuid"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottllog"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/pii"
	"github.com/govcol/govcol/internal/store/storeconfig"
	"github.com/govcol/govcol/processor/governanceprocessor/internal/metadata"
)

// governor is the processor's state shared by the three signals.
type governor struct {
	cfg       *Config
	masker    *masker
	policies  *policySet
	telemetry *metadata.TelemetryBuilder
	hmacs     sync.Pool // of hash.Hash keyed with the query hash key
	drop      map[string]bool
	// extraEvents extends audit.KnownEvents with the configured extra_event_names.
	extraEvents map[string]bool
	scratch     sync.Pool // of *recordScratch
	emails      emailMemo // of the identity's addresses (resolveIdentity)
	opts        metricOpts
	logger      *zap.Logger

	// Logs only: the integrity chains and where checkpoints go between batches. A governed batch's chain links
	// travel with its request context (batchLinks) from processLogs to its delivery (settlingLogs).
	chainer   *integrity.Chainer
	store     integrity.ChainStore // the chain registry and crash sealing (integrity.postgres_dsn); nil without
	regKick   chan struct{}
	signKey   ed25519.PrivateKey
	signKeyID string
	next      consumer.Logs
	stop      chan struct{}
	// life is cancelled when shutdown ends: checkpoint handovers outside shutdown derive from it.
	life    context.Context
	endLife context.CancelFunc
	wg      sync.WaitGroup
}

// recordScratch is reused across records to keep allocations per record low.
type recordScratch struct {
	mask maskState
	eval evaluation
	// rec is the record being governed; stamped its compact encoding (audit.record) before it is copied onto the
	// log record. (The chain hashes it with the chain's LogHasher: a scratch does not outlive a garbage
	// collection in the pool, and the hasher's memos are what make it cheap.)
	rec     audit.Record
	stamped []byte
	// Storage the record's lists point into (it lives until it is stamped), the request types seen, and the
	// query hash's input and output.
	piiTypes, redacted []string
	reqTypes           map[[2]string]string
	buf                []byte
	// ids and qhash hold the record's ids and query_hash, which its strings alias until it is stamped.
	ids   [idsLen]byte
	qhash [queryHashLen]byte
	// usage holds the record's usage numbers, sum the query hash's HMAC (Sum through the interface would put it on
	// the heap).
	usage usage
	sum   [sha256.Size]byte
	// stats are the statistics of the batch the scratch serves.
	stats batchStats
}

// requestType is requestType(plane, event), built once per scratch and pair.
func (sc *recordScratch) requestType(plane audit.Plane, event string) string {
	k := [2]string{string(plane), event}
	if rt, ok := sc.reqTypes[k]; ok {
		return rt
	}
	if sc.reqTypes == nil || len(sc.reqTypes) > 256 {
		sc.reqTypes = map[[2]string]string{}
	}
	rt := requestType(plane, event)
	sc.reqTypes[k] = rt
	return rt
}

func newGovernor(cfg *Config, set component.TelemetrySettings) (*governor, error) {
	engine, err := pii.New(cfg.piiConfig())
	if err != nil {
		return nil, err
	}
	ps, err := compilePolicies(cfg, set)
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	key := []byte(cfg.QueryHashKey)
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		set.Logger.Warn("governance: query_hash_key is not set; using a random key, so query_hash values join only within this process run")
	}
	if cfg.AllowUnauthenticated {
		set.Logger.Warn("governance: allow_unauthenticated is ON: data without a license is accepted and stamped with the default tenant. This is for local development only; never run it in production.",
			zap.String("default_tenant", cfg.DefaultTenant.TenantID))
	}
	g := &governor{
		cfg:       cfg,
		masker:    newMasker(engine, cfg.SafeAttributes),
		policies:  ps,
		telemetry: tb,
		drop:      map[string]bool{},
		logger:    set.Logger,
	}
	g.extraEvents = make(map[string]bool, len(cfg.ExtraEventNames))
	for _, e := range cfg.ExtraEventNames {
		g.extraEvents[e] = true
	}
	g.hmacs.New = func() any { return hmac.New(sha256.New, key) }
	g.scratch.New = func() any { return &recordScratch{} }
	for _, k := range cfg.Metrics.DropAttributes {
		g.drop[k] = true
	}
	return g, nil
}

// enableIntegrity makes this (logs) governor chain its records and emit checkpoints, in its batches and, between
// batches, to next.
func (g *governor) enableIntegrity(set component.TelemetrySettings, next consumer.Logs) error {
	ic := g.cfg.Integrity
	key, keyID, err := integrity.LoadSigningKey(ic.SigningKeyFile, string(ic.SigningKey), ic.KeyID)
	if err != nil {
		return err
	}
	g.signKey, g.signKeyID = key, keyID
	if key == nil {
		set.Logger.Warn("governance: integrity.signing_key_file / signing_key not set; records are hash-chained but no signed checkpoints are written, so `govctl verify` cannot prove the trail")
	}
	instance := ""
	if v, ok := set.Resource.Attributes().Get("service.instance.id"); ok {
		instance = v.AsString()
	}
	if instance == "" {
		instance = uuid.NewString()
		set.Logger.Warn("governance: service.instance.id not set; this run's chains get a random instance id, so after a crash the next start cannot find and seal their unsigned tail")
	}
	g.chainer = integrity.NewChainer(instance, key, keyID, ic.CheckpointRecords, ic.CheckpointInterval, time.Now)
	g.next = next
	g.stop = make(chan struct{})
	g.life, g.endLife = context.WithCancel(context.Background())
	dsn := storeconfig.DSN(string(ic.PostgresDSN))
	switch {
	case key == nil:
	case dsn == "":
		set.Logger.Warn("governance: integrity.postgres_dsn (or GOVCOL_PG_DSN) not set: chains are not registered and a crashed run's unsigned tail is not sealed at start, so `govctl verify` cannot tell a removed chain and reports that tail until then")
	default:
		// The store's implementation is registered by internal/store, which the postgresaudit exporter links into
		// the collector; this package links no database driver (README, "Chain registry and crash sealing").
		if g.store, err = integrity.OpenChainStore(dsn, storeconfig.Tables{Records: ic.Table, Checkpoints: ic.CheckpointsTable}); err != nil {
			return fmt.Errorf("governance: %w", err)
		}
		g.regKick = make(chan struct{}, 1)
	}
	return nil
}

// Crash sealing: at start, and every sealEvery for sealWatch after it (the crashed run's records may still be
// arriving from a persistent queue or the exporter's fallback file), the processor seals the chains earlier runs of
// its instance left with records beyond their last checkpoint.
const (
	sealEvery = 2 * time.Second
	sealWatch = 10 * time.Minute
)

// startRegistry names the instance's newest registered chain as the predecessor of this run's first one, then
// keeps storing registry entries and sealing crashed runs' chains in the background.
func (g *governor) startRegistry() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	head, err := g.store.InstanceHead(ctx, g.chainer.Instance())
	cancel()
	if err != nil {
		g.logger.Warn("governance: reading the chain registry failed; this run's first chain names no predecessor", zap.Error(err))
	}
	g.chainer.EnableRegistry(head, func() {
		select {
		case g.regKick <- struct{}{}:
		default:
		}
	})
	started := time.Now()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		t := time.NewTicker(sealEvery)
		defer t.Stop()
		sealing := true
		for {
			g.flushRegistry()
			if sealing {
				g.seal()
				sealing = time.Since(started) < sealWatch
			}
			select {
			case <-g.stop:
				return
			case <-t.C:
			case <-g.regKick:
			}
		}
	}()
}

// flushRegistry stores the registry entries of the chains opened since the last call (kept for the next call
// when the database refuses them).
func (g *governor) flushRegistry() {
	es := g.chainer.TakeOpened()
	if len(es) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.store.Register(ctx, es); err != nil {
		g.chainer.ReturnOpened(es)
		g.logger.Warn("governance: storing chain registry entries failed; retrying", zap.Int("entries", len(es)), zap.Error(err))
	}
}

// seal signs a seal for every chain of an earlier run of this instance whose stored tail goes beyond what was
// signed (a crash), naming the records that never arrived.
func (g *governor) seal() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := g.store.Seal(ctx, g.chainer.Instance(), g.chainer.Own, g.chainer.Instance()+"/"+g.chainer.Run(), g.signKey, g.signKeyID, time.Now())
	if err != nil {
		g.logger.Warn("governance: crash sealing could not read the stored trail", zap.Error(err))
	}
	for _, r := range res {
		switch {
		case r.Err != nil:
			g.logger.Error("governance: a crashed run's chain was not sealed", zap.String("chain_id", r.Chain), zap.Error(r.Err))
		case r.Entry != nil:
			g.logger.Info("governance: sealed a crashed run's chain", zap.String("chain_id", r.Chain),
				zap.Int64("sealed_to", r.Entry.Seq), zap.String("lost", r.Entry.Lost.String()))
		}
	}
}

// batchLinks carries one governed batch's chain links from processLogs to the batch's delivery (settlingLogs). The
// logs processor (linkingLogs) puts a fresh one in each request's context; processorhelper hands that context to
// processLogs and then to next, so the links reach the delivery of exactly their batch.
type batchLinks struct{ links []integrity.Link }

type batchLinksKey struct{}

func linksOf(ctx context.Context) *batchLinks {
	bl, _ := ctx.Value(batchLinksKey{}).(*batchLinks)
	return bl
}

// linkingLogs is the logs processor: it gives every batch its own batchLinks.
type linkingLogs struct {
	processor.Logs
}

func (l linkingLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	return l.Logs.ConsumeLogs(context.WithValue(ctx, batchLinksKey{}, &batchLinks{}), ld)
}

// settlingLogs delivers governed batches to next and settles their chain links with the outcome: a checkpoint only
// signs records whose delivery returned, and lists those that failed (the client was refused and retries) as
// withdrawn, so neither a crash nor a refusal makes a stored trail look tampered with.
type settlingLogs struct {
	consumer.Logs
	g *governor
}

func (s settlingLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	err := s.Logs.ConsumeLogs(ctx, ld)
	if bl := linksOf(ctx); bl != nil && len(bl.links) > 0 {
		links := bl.links
		bl.links = nil // settled once
		if cps := s.g.chainer.Settle(links, err == nil); len(cps) > 0 {
			s.g.sendCheckpoints(s.g.life, cps)
		}
	}
	return err
}

func (g *governor) start(context.Context, component.Host) error {
	if g.chainer == nil {
		return nil
	}
	if g.store != nil {
		g.startRegistry()
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		t := time.NewTicker(g.cfg.Integrity.CheckpointInterval / 2)
		defer t.Stop()
		for {
			select {
			case <-g.stop:
				return
			case <-t.C:
				g.emitCheckpoints(g.life, false)
			}
		}
	}()
	return nil
}

// emitCheckpoints sends the due checkpoints down the pipeline on their own.
func (g *governor) emitCheckpoints(ctx context.Context, force bool) {
	if cps := g.chainer.Due(force); len(cps) > 0 {
		g.sendCheckpoints(ctx, cps)
	}
}

// sendCheckpoints hands cps to the next component within integrity.checkpoint_timeout (and before ctx ends).
func (g *governor) sendCheckpoints(ctx context.Context, cps []*integrity.Checkpoint) {
	ld := plog.NewLogs()
	integrity.AppendCheckpoints(ld, cps)
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Integrity.CheckpointTimeout)
	defer cancel()
	outcome := "sent"
	if err := g.next.ConsumeLogs(ctx, ld); err != nil {
		outcome = "failed"
		g.logger.Error("governance: sending integrity checkpoints failed", zap.Error(err))
	}
	g.telemetry.GovernanceCheckpoints.Add(ctx, int64(len(cps)), metric.WithAttributes(attribute.String("outcome", outcome)))
}

func (g *governor) shutdown(ctx context.Context) error {
	if g.chainer != nil && g.stop != nil {
		close(g.stop)
		g.wg.Wait()
		// Exporters shut down after processors: the final heads are still stored. The handover is bounded by the
		// shutdown's context and integrity.checkpoint_timeout.
		g.emitCheckpoints(ctx, true)
		g.endLife()
	}
	if g.store != nil {
		g.flushRegistry()
		g.store.Close()
	}
	g.telemetry.Shutdown()
	return nil
}

// stampedKeys are attribute keys govcol stamps on spans and metric data points (and, under audit., on logs);
// incoming attributes that would collide with them, directly or after Prometheus label sanitisation (user.email ->
// user_email), are removed so a payload cannot spoof them.
var stampedKeys = map[string]bool{
	"tenant_id": true, "org_id": true, "client_id": true, "user_email": true, "origin": true, "identity_source": true,
}

func isSpoofable(k string) bool {
	if strings.HasPrefix(k, audit.AttrPrefix) || strings.HasPrefix(k, "audit_") {
		return true
	}
	// The key as Prometheus sanitises it (tenant.id, org.id, client.id, user.email, tenant-id ...), rewritten on the
	// stack: this runs on every key of every record. Only keys of a stamped key's length can sanitise to one.
	switch len(k) {
	case len("org_id"), len("client_id"), len("user_email"), len("identity_source"):
	default:
		return false
	}
	var b [len("identity_source")]byte
	for i := range len(k) {
		switch c := k[i]; c {
		case '.', '-', '/', ' ':
			b[i] = '_'
		default:
			b[i] = c
		}
	}
	switch string(b[:len(k)]) { // stampedKeys (TestSpoofableKeys)
	case "tenant_id", "org_id", "client_id", "user_email", "origin", "identity_source":
		return true
	}
	return false
}

// stripSpoofable removes colliding attributes and returns the payload's claimed user email, if any.
func stripSpoofable(m pcommon.Map) (claimedEmail string) {
	m.RemoveIf(func(k string, v pcommon.Value) bool {
		if !isSpoofable(k) {
			return false
		}
		if k == "user.email" || k == "user_email" {
			claimedEmail = v.AsString()
		}
		return true
	})
	return claimedEmail
}

// batchStats aggregates the own-telemetry of one batch, so counters are updated once per batch, not per record.
type batchStats struct {
	records  map[[2]string]int64 // verdict, origin
	perType  map[pii.Type]int64
	withheld int64
	evalErrs map[string]int64
	dropped  map[string]int64 // reason
	// identifiersWithheld counts identifier values that failed their shape rule, by field (a closed set).
	identifiersWithheld map[string]int64
}

// reset empties the statistics for the next batch, keeping the maps (the scratch holds them between batches).
func (st *batchStats) reset() {
	if st.records == nil {
		*st = batchStats{records: map[[2]string]int64{}, perType: map[pii.Type]int64{}, evalErrs: map[string]int64{}, dropped: map[string]int64{}, identifiersWithheld: map[string]int64{}}
		return
	}
	clear(st.records)
	clear(st.perType)
	clear(st.evalErrs)
	clear(st.dropped)
	clear(st.identifiersWithheld)
	st.withheld = 0
}

// metricOpts caches the attribute options of the counters flushStats adds to on every batch (their attribute values
// are closed sets: verdicts, origins, signals, PII types, identifier fields), which metric.WithAttributes would
// build again each time.
type metricOpts struct {
	mu sync.Mutex
	m  map[[3]string][]metric.AddOption
}

// get returns the options build makes of k, built once. They are kept as the slice Add's variadic parameter takes
// (a slice made per call would be allocated: Add is an interface method), and build is a function of k alone (a
// closure capturing the caller's variables would be allocated per call).
func (c *metricOpts) get(k [3]string, build func(k [3]string) metric.AddOption) []metric.AddOption {
	c.mu.Lock()
	defer c.mu.Unlock()
	if o, ok := c.m[k]; ok {
		return o
	}
	if c.m == nil || len(c.m) > 4096 {
		c.m = map[[3]string][]metric.AddOption{}
	}
	o := []metric.AddOption{build(k)}
	c.m[k] = o
	return o
}

func (g *governor) flushStats(ctx context.Context, signal string, st *batchStats) {
	sig := attribute.String("signal", signal)
	for k, n := range st.records {
		g.telemetry.GovernanceRecordsProcessed.Add(ctx, n, g.opts.get([3]string{"records", k[0], k[1]}, func(k [3]string) metric.AddOption {
			return metric.WithAttributes(attribute.String("verdict", k[1]), attribute.String("origin", k[2]))
		})...)
	}
	for t, n := range st.perType {
		g.telemetry.GovernancePiiDetections.Add(ctx, n, g.opts.get([3]string{"pii", signal, string(t)}, func(k [3]string) metric.AddOption {
			return metric.WithAttributes(attribute.String("signal", k[1]), attribute.String("pii_type", k[2]))
		})...)
	}
	if st.withheld > 0 {
		g.telemetry.GovernanceValuesWithheld.Add(ctx, st.withheld, metric.WithAttributes(sig))
	}
	for field, n := range st.identifiersWithheld {
		g.telemetry.GovernanceIdentifiersWithheld.Add(ctx, n, g.opts.get([3]string{"identifiers", signal, field}, func(k [3]string) metric.AddOption {
			return metric.WithAttributes(attribute.String("signal", k[1]), attribute.String("field", k[2]))
		})...)
	}
	for id, n := range st.evalErrs {
		g.telemetry.GovernancePolicyEvaluationErrors.Add(ctx, n, metric.WithAttributes(attribute.String("policy", id)))
	}
	for reason, n := range st.dropped {
		g.telemetry.GovernanceRecordsDropped.Add(ctx, n, metric.WithAttributes(attribute.String("reason", reason)))
		g.logger.Warn("governance: log records dropped: beyond max_attributes_per_record / max_value_depth",
			zap.String("reason", reason), zap.Int64("records", n))
	}
}

func (g *governor) refused(ctx context.Context, signal string) {
	g.telemetry.GovernanceBatchesRefused.Add(ctx, 1, metric.WithAttributes(attribute.String("signal", signal), attribute.String("reason", "unauthenticated")))
}

// resourceContext is what is known per resource: origin, plane and the payload's claimed email.
type resourceContext struct {
	origin       audit.Origin
	plane        audit.Plane
	claimedEmail string
}

// beginBatch resolves the request's identity (refusing and counting a batch without one) and hands out the batch's
// statistics and scratch space; the caller returns the scratch with endBatch.
func (g *governor) beginBatch(ctx context.Context, signal string) (identity, *batchStats, *recordScratch, error) {
	id, err := g.resolveIdentity(ctx)
	if err != nil {
		g.refused(ctx, signal)
		return identity{}, nil, nil, err
	}
	sc := g.scratch.Get().(*recordScratch)
	sc.stats.reset()
	stats := &sc.stats
	sc.mask.perType = stats.perType
	return id, stats, sc, nil
}

// endBatch returns a batch's scratch space, without the batch's strings.
func (g *governor) endBatch(sc *recordScratch) {
	clear(sc.mask.clean)
	g.scratch.Put(sc)
}

// prepareResource strips and masks a resource's attributes (counting what it withholds), classifies its origin and
// plane, and returns the mask state's mark after the resource, to which each record rewinds.
func (g *governor) prepareResource(id *identity, res pcommon.Resource, ms *maskState, stats *batchStats) (resourceContext, maskMark) {
	ms.reset()
	attrs := res.Attributes()
	claimed := stripSpoofable(attrs)
	g.masker.maskMap(attrs, ms)
	stats.withheld += int64(ms.withheld)
	service := audit.Str(attrs, "service.name")
	origin := classifyOrigin(id.gatewayID, id.clientHeader, service)
	return resourceContext{origin: origin, plane: planeOf(service, origin), claimedEmail: claimed}, ms.mark()
}

// processLogs turns every log record into a canonical audit record.
func (g *governor) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	id, stats, sc, err := g.beginBatch(ctx, "logs")
	if err != nil {
		return ld, err
	}
	defer g.endBatch(sc)
	// Microseconds: the precision Postgres stores, so the integrity hash of the stored row matches.
	received := time.Now().UTC().Truncate(time.Microsecond)
	var links []integrity.Link
	for _, rl := range ld.ResourceLogs().All() {
		sanitizeMap(rl.Resource().Attributes())
		rc, resMark := g.prepareResource(&id, rl.Resource(), &sc.mask, stats)
		for _, sl := range rl.ScopeLogs().All() {
			// Records beyond the limits are dropped (reported, counted); the others are made storable.
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				if reason := g.checkLimits(lr); reason != "" {
					stats.dropped[reason]++
					return true
				}
				sanitizeMap(lr.Attributes())
				sanitizeValue(lr.Body())
				return false
			})
			for _, lr := range sl.LogRecords().All() {
				extra := g.governLog(ctx, &id, rc, rl, sl, lr, received, sc, stats)
				stats.withheld += int64(sc.mask.withheld - resMark.withheld)
				sc.mask.rewind(resMark)
				r := &sc.rec
				stamped := false
				if g.chainer != nil {
					// The chain fields and record_hash go into audit.record: the record is hashed in its compact
					// encoding, exactly as the exporters will read it back, before it is stamped; then the hash is
					// set in that encoding (record_hash is its last entry).
					res := rl.Resource()
					link, err := g.chainer.LinkRecord(id.tenantID, r, func(r *audit.Record, h *audit.LogHasher) (string, error) {
						sc.stamped = r.AppendStamped(sc.stamped[:0], &extra)
						return h.StampedHash(res, lr, sc.stamped)
					})
					if err != nil {
						g.logger.Error("governance: chaining a record failed", zap.Error(err))
					} else {
						links = append(links, link)
						sc.stamped, stamped = audit.SetStampedRecordHash(sc.stamped, r.RecordHash)
					}
				}
				if !stamped {
					sc.stamped = r.AppendStamped(sc.stamped[:0], &extra)
				}
				lr.Attributes().PutEmptyBytes(audit.AttrRecord).FromRaw(sc.stamped)
			}
		}
	}
	if bl := linksOf(ctx); bl != nil {
		bl.links = links
	} // else: a direct call (tests, benchmarks) whose delivery nobody settles
	g.flushStats(ctx, "logs", stats)
	return ld, nil
}

// governLog builds the canonical record of one log record in sc.rec and stamps its named attributes: the identity
// and ids (newRecord), the query hash over the unmasked content, masking, the columns read from the masked
// attributes (readColumns), the facts policies read, the verdict (decide), then the verdict's named attributes.
// The caller chains the record and stamps it as audit.record (with the returned extra facts).
func (g *governor) governLog(ctx context.Context, id *identity, rc resourceContext, rl plog.ResourceLogs, sl plog.ScopeLogs, lr plog.LogRecord, received time.Time, sc *recordScratch, stats *batchStats) audit.Extra {
	attrs := lr.Attributes()
	claimed := stripSpoofable(attrs)
	if claimed == "" {
		claimed = rc.claimedEmail
	}
	claimed = g.putClaimedEmail(attrs, claimed)

	body := lr.Body()
	event := g.eventName(audit.Str(attrs, "event.name"), body, stats)
	sc.rec = g.newRecord(id, rc, event, sc.requestType(rc.plane, event), lr, received, &sc.ids)
	r := &sc.rec

	// query_hash is over the unmasked content, so it is computed before masking.
	queryKey := queryAttr(event, attrs)
	if queryKey != "" {
		r.QueryHash = g.queryHash(audit.Str(attrs, queryKey), sc)
	}

	// Mask the record: every attribute (allow-listed keys pass only identifiers), every key, and the body. Every
	// column below is read from the masked attributes.
	ms := &sc.mask
	g.masker.maskMap(attrs, ms)
	g.masker.maskValue("body", body, ms)
	g.readColumns(r, event, queryKey, attrs, sc, stats)
	// One allocation of exactly the slots stamped below (masking renames keys in place, it adds none); pdata would
	// otherwise grow the slice by doubling, and a rounder reservation costs a larger size class on most records.
	attrs.EnsureCapacity(attrs.Len() + stampedAttributes(claimed, r))
	if claimed != "" {
		attrs.PutStr(claimedEmailKey, claimed)
	}

	// Facts policies can read: audit.event and friends are set before evaluation. These and the verdict's below
	// are the named attributes (audit.Field.Named); the rest of the record travels in audit.record.
	attrs.PutStr(audit.AttrEvent, event)
	attrs.PutStr(audit.AttrTenantID, r.TenantID)
	attrs.PutStr(audit.AttrOrigin, string(r.Origin))
	attrs.PutStr(audit.AttrPlane, string(r.Plane))
	attrs.PutStr(audit.AttrUserEmail, r.UserEmail)
	attrs.PutStr(audit.AttrRequestType, r.RequestType)
	if r.ToolName != "" {
		attrs.PutStr(audit.AttrToolName, r.ToolName)
	}
	g.decide(ctx, r, event, rl, sl, lr, sc, stats)

	extra := audit.Extra{
		Event:              event,
		LicenseID:          id.licenseID,
		Tier:               id.tier,
		AttemptedUserEmail: id.attemptedEmail,
		PolicyLabel:        audit.PolicyLabel(r.PolicyDetails.TopPolicy),
	}
	attrs.PutStr(audit.AttrPolicyDecision, string(r.PolicyDecision))
	attrs.PutStr(audit.AttrPolicyLabel, extra.PolicyLabel)
	if len(r.PIITypes) > 0 {
		pt := attrs.PutEmptySlice(audit.AttrPIITypes)
		pt.EnsureCapacity(len(r.PIITypes))
		for _, t := range r.PIITypes {
			pt.AppendEmpty().SetStr(t)
		}
	}

	stats.records[[2]string{string(r.PolicyDecision), string(r.Origin)}]++
	return extra
}

// stampedAttributes is the number of attributes governLog and processLogs add to a record once its columns are
// read: the valid claimed email, the named attributes and audit.record.
func stampedAttributes(claimed string, r *audit.Record) int {
	n := 6 + 2 + 1 // audit.event ... audit.request_type, audit.policy_decision and audit.policy_label, audit.record
	if claimed != "" {
		n++
	}
	if r.ToolName != "" {
		n++
	}
	if len(r.PIITypes) > 0 {
		n++
	}
	return n
}

// newRecord is the record's identity (from the license and the request, never the payload), its time and its
// deterministic ids (formatted into ids, which they alias).
func (g *governor) newRecord(id *identity, rc resourceContext, event, reqType string, lr plog.LogRecord, received time.Time, ids *[idsLen]byte) audit.Record {
	r := audit.Record{
		ReceivedAt:     received,
		Plane:          rc.plane,
		Origin:         rc.origin,
		RequestType:    reqType,
		OrgID:          id.orgID,
		TenantID:       id.tenantID,
		ClientID:       id.clientID,
		UserEmail:      id.userEmail,
		IdentitySource: id.identitySource,
		SessionID:      id.sessionHeader,
	}
	switch {
	case lr.Timestamp() != 0:
		r.Timestamp = lr.Timestamp().AsTime().UTC().Truncate(time.Microsecond)
	case lr.ObservedTimestamp() != 0:
		r.Timestamp = lr.ObservedTimestamp().AsTime().UTC().Truncate(time.Microsecond)
	default:
		r.Timestamp = received
	}
	r.ID, r.DecisionID = g.recordIDs(ids, &r, event, lr.Attributes(), lr)
	return r
}

// readColumns fills the columns read from the masked attributes: usage, identifiers (counting those withheld),
// the capped content and what masking found.
func (g *governor) readColumns(r *audit.Record, event, queryKey string, attrs pcommon.Map, sc *recordScratch, stats *batchStats) {
	ms := &sc.mask
	withheld := mapUsage(event, attrs, r, &sc.usage)
	r.UserID = g.identifier(attrs, "user_id", &withheld, "user.id", "user.account_uuid")
	if r.SessionID == "" {
		r.SessionID = g.identifier(attrs, "session_id", &withheld, "session.id")
	}
	for _, f := range withheld {
		stats.identifiersWithheld[f]++
	}
	if queryKey != "" {
		r.Query = capContent(audit.Str(attrs, queryKey), g.cfg.MaxContentBytes)
	}
	if rk := responseAttr(event, attrs); rk != "" {
		r.ResponseSample = capContent(audit.Str(attrs, rk), g.cfg.MaxContentBytes)
	}
	// The record lives until it is stamped: its lists use the scratch's storage.
	sc.piiTypes = sc.piiTypes[:0]
	for _, t := range ms.types {
		sc.piiTypes = append(sc.piiTypes, string(t))
	}
	sc.redacted = append(sc.redacted[:0], ms.fields...)
	r.PIITypes, r.RedactedFields = sc.piiTypes, sc.redacted
}

// decide evaluates the built-in rules and the policies on the record and sets its verdict, details, obligations,
// compliance flags and security metrics.
func (g *governor) decide(ctx context.Context, r *audit.Record, event string, rl plog.ResourceLogs, sl plog.ScopeLogs, lr plog.LogRecord, sc *recordScratch, stats *batchStats) {
	ms := &sc.mask
	ev := &sc.eval
	ev.reset()
	g.builtinRules(event, lr.Attributes(), ms, ev)
	tCtx := ottllog.NewTransformContext(rl, sl, lr)
	g.policies.evalLogPolicies(ctx, tCtx, event, ev)
	tCtx.Close()
	for _, f := range ev.failures {
		stats.evalErrs[f]++
	}

	r.PolicyDecision = ev.verdict
	r.PolicyDetails = ev.details()
	r.Obligations = noObligations
	if len(ms.types) > 0 {
		r.Obligations = redactObligations
	}
	r.ComplianceFlags = complianceFlags(r.PIITypes)
	r.SecurityMetrics = securityMetrics(r.PolicyDecision, ev.topSeverity(), len(r.Query)+len(r.ResponseSample))
}

// The obligations a record can carry (shared, read-only: the record's lists are copied when it is stamped).
var (
	noObligations     = []string{}
	redactObligations = []string{audit.ObligationRedactPII}
)

// builtinRules applies the verdict rules of docs/ARCHITECTURE.md §6 that do not depend on configuration.
func (g *governor) builtinRules(event string, attrs pcommon.Map, ms *maskState, ev *evaluation) {
	rejected := false
	if event == audit.EventToolDecision {
		switch strings.ToLower(audit.Str(attrs, "decision")) {
		case "reject", "rejected", "deny", "denied", "block", "blocked":
			rejected = true
		}
	}
	ev.add(ruleToolRejected, rejected, audit.VerdictBlocked, "medium", "the tool call was rejected")
	ev.add(ruleAPIError, event == audit.EventAPIError, audit.VerdictError, "medium", "the model API returned an error")
	maskingRules(ms, ev)
}

// maskingRules are the built-in rules on what masking found; logs and spans both apply them.
func maskingRules(ms *maskState, ev *evaluation) {
	ev.add(rulePIIRedaction, len(ms.types) > 0, audit.VerdictRedacted, "low", "PII or secrets were masked")
	ev.add(ruleRedactionUnavailable, ms.withheld > 0, audit.VerdictError, "high", "PII detection failed; content withheld")
}

// recordIDs derives the deterministic ids (see deriveIDs). Claude Code numbers its events per session, so the
// session id and event.sequence identify an event; other sources fall back to a digest of the record's content.
func (g *governor) recordIDs(ids *[idsLen]byte, r *audit.Record, event string, attrs pcommon.Map, lr plog.LogRecord) (string, string) {
	seq := audit.Str(attrs, "event.sequence")
	session := audit.Str(attrs, "session.id")
	if seq != "" && session != "" {
		return deriveIDsInto(ids, r.TenantID, r.Timestamp, event, session, seq)
	}
	h := sha256.New()
	h.Write([]byte(lr.Body().AsString()))
	for k, v := range attrs.All() {
		h.Write([]byte{0})
		h.Write([]byte(k))
		h.Write([]byte{1})
		h.Write([]byte(v.AsString()))
	}
	var sum [sha256.Size]byte
	return deriveIDsInto(ids, r.TenantID, r.Timestamp, event, session, seq, lr.TraceID().String(), lr.SpanID().String(),
		strconv.FormatUint(uint64(lr.ObservedTimestamp()), 10), hex.EncodeToString(h.Sum(sum[:0])))
}

// queryHashPrefix and queryHashLen are the form of query_hash: the prefix, then the HMAC in hex.
const (
	queryHashPrefix = "hmac-sha256:"
	queryHashLen    = len(queryHashPrefix) + 2*sha256.Size
)

// queryHash is the query_hash of s, formatted into sc.qhash, which it aliases until the record is stamped.
func (g *governor) queryHash(s string, sc *recordScratch) string {
	h := g.hmacs.Get().(hash.Hash)
	h.Reset()
	sc.buf = append(sc.buf[:0], s...) // Write through the interface would copy s to the heap
	h.Write(sc.buf)
	out := &sc.qhash
	copy(out[:], queryHashPrefix)
	hex.Encode(out[len(queryHashPrefix):], h.Sum(sc.sum[:0]))
	g.hmacs.Put(h)
	return unsafe.String(&out[0], queryHashLen)
}

// eventName is the record's event from the closed set (audit.KnownEvents and the configured extra_event_names):
// the event.name attribute, else the body without its product prefix. Anything else is "unknown", counted: an event
// name reaches request_type, metadata and decision objects, so it is never client text.
func (g *governor) eventName(attr string, body pcommon.Value, stats *batchStats) string {
	raw := attr
	if raw == "" && body.Type() == pcommon.ValueTypeStr {
		raw = body.Str()
	}
	event := bareEventName(attr, raw)
	if audit.KnownEvents[event] || g.extraEvents[event] {
		return event
	}
	if raw != "" || body.Type() != pcommon.ValueTypeEmpty {
		stats.identifiersWithheld["event_name"]++
	}
	return audit.EventUnknown
}

// identifier reads the first present of keys from masked attributes for an identifier column (identAttr); a
// value that is not an identifier is withheld and its column added to withheld.
func (g *governor) identifier(attrs pcommon.Map, column string, withheld *[]string, keys ...string) string {
	for _, k := range keys {
		v, ok := identAttr(attrs, k)
		if !ok {
			*withheld = append(*withheld, column)
			return ""
		}
		if v != "" {
			return v
		}
	}
	return ""
}

// claimedEmailKey keeps the payload's own identity claim (user.email) beside, never instead of, user_email.
const claimedEmailKey = "claimed_user_email"

// putClaimedEmail records the payload's claimed email. A valid address (normalizeEmail) is an identity fact, kept
// as it is beside user_email: it is returned, for the caller to put after masking. Anything else is payload text:
// it is put now, before masking, and masked like any other attribute.
func (g *governor) putClaimedEmail(attrs pcommon.Map, claimed string) (valid string) {
	if claimed == "" {
		return ""
	}
	if email, ok := normalizeEmail(claimed); ok {
		return email
	}
	attrs.PutStr(claimedEmailKey, claimed)
	return ""
}
