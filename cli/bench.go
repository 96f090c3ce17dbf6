package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/term"
)

// `ringtail bench produce|consume|e2e` is a load generator on franz-go, the
// way kafka-producer-perf-test and kafka-consumer-perf-test are for the Java
// client: it talks to any Kafka broker, creates its topic when missing, and
// reports throughput and HDR-histogram latency.
//
// Every load loop is bounded: a run stops after --count records (or
// --timeout, whichever comes first) or after --duration; after the load,
// waiting for acknowledgements and, in e2e, for the consumer to catch up is
// bounded too (benchDrainTimeout).
//
// # Output
//
// On a terminal (or --output text) a one-line progress display is redrawn
// in place every --report-interval and a human summary follows. Otherwise
// (or --output json) stdout is JSON lines, one object per line:
//
//	{"type":"progress","elapsed_s":1.0,"records":51200,"bytes":52428800,"records_per_s":51200,"mb_per_s":50}
//
// every --report-interval, where records and bytes are totals so far and the
// rates are over the last interval; then one
//
//	{"type":"result","mode":"produce","records":...,"bytes":...,"elapsed_s":...,
//	 "records_per_s":...,"mb_per_s":...,
//	 "latency_ms":{"samples":...,"p50":...,"p99":...,"p999":...,"max":...},
//	 "errors":0,"stopped":"count","config":{...}}
//
// as the last line. records and bytes (key plus value) count records
// acknowledged (produce) or consumed (consume, e2e); rates are over the whole
// run; a MB is 2^20 bytes, as in Kafka's perf tools. latency_ms is the
// produce acknowledgement latency (from the Produce call to the broker's
// acknowledgement) in produce mode, the end-to-end latency (from the
// moment a record was handed to the producer, stamped in its value, to its
// consumption) in e2e mode, where ack_latency_ms is added and produced
// counts records acknowledged; consume mode has no latency. Without --rate
// a producer runs at saturation and its acknowledgement latency includes the
// wait in the client's buffer, as with kafka-producer-perf-test; give a
// --rate below saturation to see the broker's own latency. stopped is
// why the load ended: count, duration, timeout, idle (consume: nothing
// arrived for benchIdleTimeout), interrupted or error. config echoes the
// settings used. A run that lost records (produce errors, or e2e records
// acknowledged but never consumed), fell short of its --count, or was
// interrupted prints its result and then exits 1.

const (
	benchDefaultDuration = 10 * time.Second
	// benchDrainTimeout bounds waiting for the last acknowledgements, and in
	// e2e for the consumer to see the last acknowledged record.
	benchDrainTimeout = 30 * time.Second
	// benchIdleTimeout ends a consume run when nothing arrives for this
	// long, as kafka-consumer-perf-test's --timeout does.
	benchIdleTimeout = 10 * time.Second
	// benchMaxRecordBytes keeps a record within a default broker's
	// message.max.bytes (1 MiB plus batch overhead).
	benchMaxRecordBytes = 1_000_000
	benchMaxProducers   = 256
	// e2eHeaderBytes is the run id and send time at the front of every e2e
	// record's value.
	e2eHeaderBytes = 16
)

type benchMode string

const (
	benchProduce benchMode = "produce"
	benchConsume benchMode = "consume"
	benchE2E     benchMode = "e2e"
)

// benchFlags are the command-line flags as typed; validate turns them into a
// benchConfig.
type benchFlags struct {
	topic             string
	partitions        int32
	replicationFactor int16
	recordSize        int
	count             int64
	duration          time.Duration
	timeout           time.Duration
	acks              string
	linger            time.Duration
	producers         int
	idempotent        bool
	compression       string
	keyed             bool
	keySpace          int64
	txnSize           int64
	rate              float64
	reportInterval    time.Duration
	output            string
	raw               bool
	rawConnections    int
}

// benchConfig is one validated run. count < 0 with duration 0 (consume
// only) means "the records in the topic when the run starts".
type benchConfig struct {
	mode              benchMode
	topic             string
	partitions        int32
	partitionsGiven   bool
	replicationFactor int16
	recordSize        int
	count             int64
	duration          time.Duration
	timeout           time.Duration
	acksName          string
	acks              kgo.Acks
	linger            time.Duration
	producers         int
	idempotent        bool
	compressionName   string
	codec             kgo.CompressionCodec
	keyed             bool
	keySpace          int64
	txnSize           int64 // records per transaction (0: no transactions)
	rate              float64
	reportInterval    time.Duration
	output            string // "json" or "text" once resolved
	raw               bool   // consume: raw Fetch requests, records not decoded (bench_raw.go)
	rawConnections    int    // consume --raw: connections per partition leader
}

func (a *app) benchCommand() *cobra.Command {
	return groupCommand("bench", "Measure a broker: produce, consume and end-to-end load with latency histograms",
		a.benchSubcommand(benchProduce, "Produce records as fast as allowed; report throughput and acknowledgement latency",
			"Produce --count records (or for --duration) of --record-size bytes to --topic from\n"+
				"--producers clients, and report throughput and the latency from each Produce call\n"+
				"to its acknowledgement (p50, p99, p99.9, max). --rate caps records/s (0: no cap)."),
		a.benchSubcommand(benchConsume, "Consume a topic from its beginning; report throughput",
			"Consume --topic from the start of every partition and report throughput. Without\n"+
				"--count or --duration it reads the records the topic holds when the run starts;\n"+
				"it ends early when nothing arrives for 10s. Fill the topic first with\n"+
				"`ringtail bench produce`."),
		a.benchSubcommand(benchE2E, "Produce at --rate and consume at once; report end-to-end latency",
			"Produce at --rate records/s (0: as fast as possible) while one consumer reads the\n"+
				"same records, and report the end-to-end latency from the moment each record was\n"+
				"handed to the producer (stamped in its value) to its consumption, and the\n"+
				"acknowledgement latency. Records need at least 16 bytes for the stamp."),
	)
}

func (a *app) benchSubcommand(mode benchMode, short, long string) *cobra.Command {
	var bf benchFlags
	cmd := &cobra.Command{
		Use:   string(mode) + " [flags]",
		Short: short,
		Long: long + "\n\nOn a terminal it shows a progress line and a summary; otherwise it prints JSON\n" +
			"lines: {\"type\":\"progress\",...} every --report-interval and one final\n" +
			"{\"type\":\"result\",...} with throughput, latency_ms {p50,p99,p999,max} and the\n" +
			"configuration. The topic is created when missing.",
		Args: exactArgs(0, "no arguments (the topic is --topic)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := bf.validate(mode, cmd.Flags().Changed)
			if err != nil {
				return err
			}
			if cfg.output == "auto" {
				cfg.output = "json"
				if isTerminal(a.stdout) {
					cfg.output = "text"
				}
			}
			return a.bench(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&bf.topic, "topic", "t", "ringtail-bench", "topic to use; created when missing")
	f.Int32Var(&bf.partitions, "partitions", 6, "partitions of the topic when it is created")
	f.Int16Var(&bf.replicationFactor, "replication-factor", -1, "replicas per partition when the topic is created (-1: the broker's default)")
	f.Int64VarP(&bf.count, "count", "n", 0, "records to produce or consume (give --count or --duration)")
	f.DurationVarP(&bf.duration, "duration", "d", 0, "run for this long, e.g. 30s (default 10s when --count is not given)")
	f.DurationVar(&bf.timeout, "timeout", 10*time.Minute, "a --count run stops after this long")
	f.DurationVar(&bf.reportInterval, "report-interval", time.Second, "how often to report progress")
	f.StringVar(&bf.output, "output", "auto", "auto (text on a terminal, JSON lines otherwise), text or json")
	if mode == benchConsume {
		f.IntVar(&bf.rawConnections, "raw-connections", 1, "with --raw, connections per partition leader, each fetching its share of the partitions with one Fetch in flight")
		f.BoolVar(&bf.raw, "raw", false, "measure the broker, not the client: send Fetch requests over plain TCP and count record batches by their headers, never decoding a record (reads what the topic holds; bytes are record-batch bytes)")
		return cmd
	}
	f.IntVarP(&bf.recordSize, "record-size", "s", 1024, "bytes in each record's value")
	f.StringVar(&bf.acks, "acks", "all", "acknowledgement to wait for: all (or -1), 1 or 0")
	f.DurationVar(&bf.linger, "linger", 5*time.Millisecond, "how long a producer waits to fill a batch (Kafka's linger.ms)")
	f.IntVar(&bf.producers, "producers", 1, "producer clients running at once")
	f.BoolVar(&bf.idempotent, "idempotent", true, "idempotent producers (needs --acks all; turned off for --acks 0 or 1 unless given)")
	f.StringVarP(&bf.compression, "compression", "z", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	f.BoolVar(&bf.keyed, "keyed", false, "give every record a distinct key (default: no key, the client's sticky partitioner)")
	f.Int64Var(&bf.keySpace, "key-space", 0, "with --keyed, cycle over this many keys (updates to the same keys, as a compacted topic sees; 0: every key distinct)")
	if mode == benchProduce {
		f.Int64Var(&bf.txnSize, "transaction-size", 0, "records per transaction: each producer is transactional and commits every this many records (0: no transactions)")
	}
	rate := 0.0
	if mode == benchE2E {
		rate = 1000
	}
	f.Float64Var(&bf.rate, "rate", rate, "target records/s across all producers (0: as fast as possible)")
	return cmd
}

// validate checks the flags of a mode; changed says whether a flag was given
// on the command line. Every error names the flag and what would be valid.
func (bf benchFlags) validate(mode benchMode, changed func(string) bool) (benchConfig, error) {
	c := benchConfig{
		mode:              mode,
		topic:             strings.TrimSpace(bf.topic),
		partitions:        bf.partitions,
		partitionsGiven:   changed("partitions"),
		replicationFactor: bf.replicationFactor,
		count:             bf.count,
		duration:          bf.duration,
		timeout:           bf.timeout,
		reportInterval:    bf.reportInterval,
		output:            strings.ToLower(strings.TrimSpace(bf.output)),
	}
	if c.topic == "" {
		return c, errors.New("--topic is empty: give the topic to use")
	}
	if c.partitions < 1 {
		return c, fmt.Errorf("--partitions %d: want a partition count >= 1", c.partitions)
	}
	if c.replicationFactor < 1 && c.replicationFactor != -1 {
		return c, fmt.Errorf("--replication-factor %d: want a replica count >= 1, or -1 for the broker's default", c.replicationFactor)
	}
	switch {
	case changed("count") && changed("duration"):
		return c, errors.New("give --count or --duration, not both")
	case changed("count") && c.count < 1:
		return c, fmt.Errorf("--count %d: want a record count >= 1", c.count)
	case changed("duration") && c.duration <= 0:
		return c, fmt.Errorf("--duration %s: want a duration > 0, e.g. 30s", c.duration)
	case !changed("count") && !changed("duration"):
		if mode == benchConsume {
			c.count = -1 // what the topic holds now
		} else {
			c.duration = benchDefaultDuration
		}
	}
	if c.timeout <= 0 {
		return c, fmt.Errorf("--timeout %s: want a duration > 0, e.g. 5m", c.timeout)
	}
	if c.reportInterval < 10*time.Millisecond {
		return c, fmt.Errorf("--report-interval %s: want a duration >= 10ms, e.g. 1s", c.reportInterval)
	}
	switch c.output {
	case "auto", "text", "json":
	default:
		return c, fmt.Errorf("--output %q: want auto, text or json", bf.output)
	}
	if mode == benchConsume {
		c.raw, c.rawConnections = bf.raw, max(bf.rawConnections, 1)
		if changed("raw-connections") && (!c.raw || bf.rawConnections < 1 || bf.rawConnections > 64) {
			return c, fmt.Errorf("--raw-connections %d: want 1 to 64, with --raw", bf.rawConnections)
		}
		if c.raw && (changed("count") || changed("duration")) {
			return c, errors.New("--raw reads the records the topic holds when the run starts: give --timeout, not --count or --duration")
		}
		return c, nil
	}

	c.recordSize = bf.recordSize
	minSize := 1
	if mode == benchE2E {
		minSize = e2eHeaderBytes
	}
	if c.recordSize < minSize || c.recordSize > benchMaxRecordBytes {
		return c, fmt.Errorf("--record-size %d: want %d to %d bytes", c.recordSize, minSize, benchMaxRecordBytes)
	}
	acks, canIdempotent, err := parseAcks(bf.acks)
	if err != nil {
		return c, err
	}
	c.acks = acks
	c.acksName = strings.TrimSpace(bf.acks)
	if canIdempotent {
		c.acksName = "all"
	}
	c.idempotent = bf.idempotent
	if c.idempotent && !canIdempotent {
		if changed("idempotent") {
			return c, fmt.Errorf("--idempotent needs --acks all, not --acks %s: give --idempotent=false or --acks all", bf.acks)
		}
		c.idempotent = false // as the Java client: only an explicit request conflicts
	}
	if bf.linger < 0 || bf.linger > time.Minute {
		return c, fmt.Errorf("--linger %s: want a duration from 0 to 1m, e.g. 5ms", bf.linger)
	}
	c.linger = bf.linger
	if bf.producers < 1 || bf.producers > benchMaxProducers {
		return c, fmt.Errorf("--producers %d: want 1 to %d", bf.producers, benchMaxProducers)
	}
	c.producers = bf.producers
	if c.codec, err = parseCompression(bf.compression); err != nil {
		return c, err
	}
	c.compressionName = strings.ToLower(strings.TrimSpace(bf.compression))
	if c.compressionName == "" {
		c.compressionName = "none"
	}
	c.txnSize = bf.txnSize
	if c.txnSize < 0 || (c.txnSize > 0 && !c.idempotent) {
		return c, fmt.Errorf("--transaction-size %d: want a record count > 0 with --acks all and --idempotent (0: no transactions)", bf.txnSize)
	}
	c.keyed = bf.keyed
	if bf.keySpace < 0 || (bf.keySpace > 0 && !bf.keyed) {
		return c, fmt.Errorf("--key-space %d: want a count of keys > 0 with --keyed (0: every key distinct)", bf.keySpace)
	}
	c.keySpace = bf.keySpace
	if bf.rate < 0 || bf.rate != bf.rate {
		return c, fmt.Errorf("--rate %v: want records/s >= 0 (0: as fast as possible)", bf.rate)
	}
	c.rate = bf.rate
	if c.count > 0 && c.count < int64(c.producers) {
		return c, fmt.Errorf("--count %d: want at least one record per producer (--producers %d)", c.count, c.producers)
	}
	return c, nil
}

// isTerminal reports whether w is a terminal, so progress can be redrawn in
// place rather than printed as JSON lines.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ensureBenchTopic creates the topic when missing. An existing topic is used
// as it is; a different partition count than asked for is only a warning.
func (a *app) ensureBenchTopic(ctx context.Context, cl *kgo.Client, c benchConfig) error {
	adm := kadm.NewClient(cl)
	what := fmt.Sprintf("bench: topic %q", c.topic)
	resp, err := adm.CreateTopic(ctx, c.partitions, c.replicationFactor, nil, c.topic)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.TopicAlreadyExists):
	default:
		return failed(what+": create", err, resp.ErrMessage)
	}
	topics, err := adm.ListTopics(ctx, c.topic)
	if err != nil {
		return failed(what, err, "")
	}
	td := topics[c.topic]
	if td.Err != nil {
		return failed(what, td.Err, "")
	}
	if n := int32(len(td.Partitions)); c.partitionsGiven && n != c.partitions {
		fmt.Fprintf(a.stderr, "ringtail: warning: %s exists with %d partitions, not the %d of --partitions; using it as it is\n", what, n, c.partitions)
	}
	return nil
}
