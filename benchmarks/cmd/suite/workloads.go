package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ringtail/ringtail/benchmarks/report"
)

// Producer settings of the max-throughput workloads (a, b, c's fill, e, f).
// Tried on the 2-core dev VM with 8 partitions, 1 KiB, acks=all,
// idempotent, 4 s runs: 1 producer at linger 5/10/20 ms gave 155-205k,
// 125k records/s; 2 producers at 5/10 ms 144-174k; 4 producers at 5/20 ms
// 118k/213k (the load generator shares the 2 cores with the broker, so
// more producer goroutines mostly take CPU from it). One producer with a
// 10 ms linger was the best and steadiest and keeps the client's own CPU
// small; the figures are noisy (other builds ran at the same time).
const (
	maxProducers = 1
	maxLinger    = 10 * time.Millisecond
	// e2eLinger: (d) measures latency at half load, so the producer
	// does not hold records back for long.
	e2eLinger = time.Millisecond
)

// loadA is workload (a): 1 KiB records, 8 partitions, acks=all,
// idempotent, as fast as it goes.
func loadA() load {
	return load{partitions: 8, size: 1024, acks: "all", idempotent: true, producers: maxProducers, linger: maxLinger}
}

// runOne is one rep of a workload variant.
type runOne func(ctx context.Context, rep int) (*report.Run, error)

// variant runs one workload variant reps times, records each run and the
// variant's summary (medians), and returns the summary (nil if no run
// gave a figure).
func (s *suite) variant(ctx context.Context, w, v, desc string, partitions, reps int, one runOne) *report.Summary {
	var runs []report.Run
	for rep := 1; rep <= reps; rep++ {
		if ctx.Err() != nil {
			return nil
		}
		r, err := one(ctx, rep)
		if err != nil && ctx.Err() == nil {
			s.note("%s/%s rep %d: %v", w, v, rep, err)
		}
		if r == nil {
			continue
		}
		s.res.Runs = append(s.res.Runs, *r)
		lat := ""
		if r.Latency != nil {
			lat = fmt.Sprintf(", latency p50 %.2f p99 %.2f p99.9 %.2f ms", r.Latency.P50, r.Latency.P99, r.Latency.P999)
		}
		s.progress("%s/%s rep %d/%d: %.0f records/s, %.1f MB/s%s, RSS %.0f MiB, errors %d",
			w, v, rep, reps, r.RecordsPerS, r.MBPerS, lat, r.RSSMiB, r.Errors)
		if r.RecordsPerS > 0 {
			runs = append(runs, *r)
		}
	}
	if len(runs) == 0 {
		s.note("%s/%s: no run gave a figure", w, v)
		return nil
	}
	sm := summarize(w, v, desc, partitions, runs)
	s.res.Summaries = append(s.res.Summaries, sm)
	return &sm
}

// produceRingtail is one measured produce run on a fresh node. prof names
// the profile files to take during it ("" for none).
func (s *suite) produceRingtail(ctx context.Context, w, v string, rep int, rt map[string]string, l load, prof string) (*report.Run, error) {
	b, err := s.startNode(ctx, w+"-"+v, rt)
	if err != nil {
		return nil, err
	}
	defer s.stopBroker(b, true)
	if v == "ringtail" {
		s.setMachineNode(b)
	}
	var profDone <-chan error
	if prof != "" {
		profDone = s.cpuProfile(b, prof, max(1, int(s.p.dur.Seconds())-1))
	}
	cpu := startCPU(b.p.pid())
	br, err := s.produceFor(ctx, b.addr(), l, s.p.dur)
	var r report.Run
	if br != nil {
		r = toRun(w, v, rep, br)
		cpu.record(&r, report.ExtraCPUProduced, br.Bytes)
	}
	if profDone != nil {
		s.finishProfile(ctx, b, prof, profDone)
	}
	if br == nil {
		return nil, err
	}
	r.RSSMiB = round1(rssMiB(b.p.pid()))
	s.ioMetrics(&r, b, l.topic)
	return &r, err
}

// ioMetrics adds the node's group-commit figures to r: fsyncs, writes,
// submissions, and avg_write_bytes = the topic's bytes in / fsyncs.
func (s *suite) ioMetrics(r *report.Run, b *broker, topic string) {
	text, err := scrape(b)
	if err != nil {
		s.note("%s/%s: /metrics: %v", r.Workload, r.Variant, err)
		return
	}
	in := metricSum(text, "ringtail_topic_bytes_in_total", `topic="`+topic+`"`)
	syncs := metricSum(text, "ringtail_io_fsyncs_total")
	if r.Extra == nil {
		r.Extra = map[string]float64{}
	}
	r.Extra["fsyncs"] = syncs
	r.Extra["io_writes"] = metricSum(text, "ringtail_io_writes_total")
	r.Extra["io_submissions"] = metricSum(text, "ringtail_io_submissions_total")
	if syncs > 0 {
		r.Extra["avg_write_bytes"] = float64(int64(in / syncs))
	}
}

// produceKfake is one measured produce run against a fresh kfake-server.
func (s *suite) produceKfake(ctx context.Context, w, v string, rep int, l load) (*report.Run, error) {
	b, err := s.startKfake(ctx, w+"-"+v)
	if err != nil {
		return nil, err
	}
	defer s.stopBroker(b, true)
	cpu := startCPU(b.p.pid())
	br, err := s.produceFor(ctx, b.addr(), l, s.p.dur)
	if br == nil {
		return nil, err
	}
	r := toRun(w, v, rep, br)
	cpu.record(&r, report.ExtraCPUProduced, br.Bytes)
	r.RSSMiB = round1(rssMiB(b.p.pid()))
	return &r, err
}

func (s *suite) workloadA(ctx context.Context) error {
	type variantA struct {
		name, what string
		rt         map[string]string
		unpinned   bool // the broker may use every CPU (shards = cores means something)
	}
	variants := []variantA{
		{"ringtail", "defaults: io_engine auto (io_uring), shards = cores, group commit, durability fsync", nil, false},
		{"sync-engine", `io_engine = "sync" (pwritev + fdatasync)`, map[string]string{"io_engine": `"sync"`}, false},
		{"one-shard", "shards = 1", map[string]string{"shards": "1"}, false},
		{"per-request-fsync", "group_commit = false (an fdatasync per append)", map[string]string{"group_commit": "false"}, false},
		{"kfake", "franz-go kfake, in memory", nil, false},
	}
	if s.pinNow && s.pin.brokerCPUs == 1 {
		// Pinned to one CPU, shards = cores is one shard: compare the
		// shard counts with the broker free to use every CPU instead.
		variants[2] = variantA{unpinnedShards, "defaults, shards = cores, not pinned (the broker and the load generator share every CPU)", nil, true}
		variants = append(variants, variantA{unpinnedOneShard, "shards = 1, not pinned", map[string]string{"shards": "1"}, true})
	}
	s.res.Notes = append(s.res.Notes, "avg_write_bytes (workload a) = the bench topic's ringtail_topic_bytes_in_total / the sum over shards of ringtail_io_fsyncs_total after the run: the broker has no bytes-per-fdatasync metric, and each fdatasync covers one partition file's writes of one drain, so this is the mean bytes one fdatasync made durable (the node's few other fsyncs, e.g. metadata, count too).")
	for _, v := range variants {
		l := loadA()
		pinned := s.pinNow
		s.pinNow = pinned && !v.unpinned
		sm := s.variant(ctx, "a", v.name, l.describe()+"; "+v.what, l.partitions, s.p.reps, func(ctx context.Context, rep int) (*report.Run, error) {
			l.topic = fmt.Sprintf("a-%s-%d", v.name, rep)
			if v.name == "kfake" {
				return s.produceKfake(ctx, "a", v.name, rep, l)
			}
			prof := ""
			if v.name == "ringtail" && rep == 1 {
				prof = "a"
			}
			return s.produceRingtail(ctx, "a", v.name, rep, v.rt, l, prof)
		})
		s.pinNow = pinned
		if sm != nil && v.name == "ringtail" {
			s.aRecordsPerS = sm.RecordsPerS
		}
	}
	return nil
}

// The (a) variants that compare shard counts when the other variants
// pin the broker to one CPU.
const (
	unpinnedShards   = "unpinned-shards-cores"
	unpinnedOneShard = "unpinned-one-shard"
)

func (s *suite) workloadB(ctx context.Context) error {
	l := load{partitions: 16, size: 100, acks: "1", producers: maxProducers, linger: maxLinger}
	for _, v := range []string{"ringtail", "kfake"} {
		what := "Ringtail defaults"
		if v == "kfake" {
			what = "franz-go kfake, in memory"
		}
		s.variant(ctx, "b", v, l.describe()+"; "+what, l.partitions, s.p.reps, func(ctx context.Context, rep int) (*report.Run, error) {
			l := l
			l.topic = fmt.Sprintf("b-%s-%d", v, rep)
			if v == "kfake" {
				return s.produceKfake(ctx, "b", v, rep, l)
			}
			prof := ""
			if rep == 1 {
				prof = "b"
			}
			return s.produceRingtail(ctx, "b", v, rep, nil, l, prof)
		})
	}
	return nil
}

// workloadC produces consumeBytes once per server and consumes it from
// the start: warm, cold, without sendfile, and from kfake.
func (s *suite) workloadC(ctx context.Context) error {
	records := s.p.consumeBytes / 1024
	fill := load{topic: "c-data", partitions: 8, size: 1024, acks: "1", producers: maxProducers, linger: maxLinger}
	desc := fmt.Sprintf("consume %s from the start (%d x 1 KiB records in 8 partitions, filled with acks=1)", bytesName(s.p.consumeBytes), records)
	err := s.consumeRingtail(ctx, fill, records, desc)
	if ctx.Err() != nil {
		return err
	}
	if err != nil {
		s.note("c (ringtail): %v", err)
	}
	return s.consumeKfake(ctx, fill, records, desc)
}

func (s *suite) consumeRingtail(ctx context.Context, fill load, records int64, desc string) error {
	b, err := s.startNode(ctx, "c-ringtail", nil)
	if err != nil {
		return err
	}
	defer func() { s.stopBroker(b, true) }()
	t0 := time.Now()
	br, err := s.produceCount(ctx, b.addr(), fill, records, s.p.fillLimit)
	if br == nil {
		return fmt.Errorf("filling %s: %w", fill.topic, err)
	}
	if err != nil || br.Records < records {
		s.note("c: the fill produced %d of %d records: %v", br.Records, records, err)
	}
	s.progress("c: filled %d records (%s) in %.1fs (%.1f MB/s)", br.Records, bytesName(br.Bytes), time.Since(t0).Seconds(), br.MBPerS)

	// fetchBytes reads the node's counters of fetched bytes sent by
	// sendfile and copied through memory, to show which path served.
	fetchBytes := func() (sent, copied float64) {
		text, err := scrape(b)
		if err != nil {
			return 0, 0
		}
		return metricSum(text, "ringtail_fetch_sendfile_bytes_total"), metricSum(text, "ringtail_fetch_copied_bytes_total")
	}
	consume := func(ctx context.Context, w, v string, rep int) (*report.Run, error) {
		sent0, copied0 := fetchBytes()
		cpu := startCPU(b.p.pid())
		consumeFn := s.consumeAll
		if v == report.VariantRawFetch {
			consumeFn = s.consumeRaw
		}
		br, err := consumeFn(ctx, b.addr(), fill.topic, s.p.consumeLimit)
		if br == nil {
			return nil, err
		}
		r := toRun(w, v, rep, br)
		cpu.record(&r, report.ExtraCPUConsumed, br.Bytes)
		r.RSSMiB = round1(rssMiB(b.p.pid()))
		sent1, copied1 := fetchBytes()
		if sent1+copied1 > 0 {
			if r.Extra == nil {
				r.Extra = map[string]float64{}
			}
			r.Extra["fetch_sendfile_bytes"], r.Extra["fetch_copied_bytes"] = sent1-sent0, copied1-copied0
		}
		return &r, err
	}

	// Warm: the data is in the page cache (read once more to be sure).
	if err := warmFiles(b.dataDir); err != nil {
		s.note("c: warming the page cache: %v", err)
	}
	var firstElapsed float64
	s.variant(ctx, "c", "warm", desc+"; page cache warm, sendfile", 8, s.p.reps, func(ctx context.Context, rep int) (*report.Run, error) {
		// Profile the second rep (or the only one), sized by the first.
		prof := rep == min(2, s.p.reps)
		var done <-chan error
		if prof {
			done = s.cpuProfile(b, "c", max(1, int(firstElapsed*0.8)))
		}
		r, err := consume(ctx, "c", "warm", rep)
		if prof {
			s.finishProfile(ctx, b, "c", done)
		}
		if rep == 1 && r != nil {
			firstElapsed = r.ElapsedS
		}
		return r, err
	})

	// Raw fetch: the same warm data read by Fetch requests over raw TCP,
	// no record decoded: what the broker serves, for iperf3.
	s.variant(ctx, "c", report.VariantRawFetch, desc+"; page cache warm, sendfile; raw Fetch requests without decoding records (ringtail bench consume --raw): MiB/s of record-batch bytes, batch headers included", 8, s.p.reps, func(ctx context.Context, rep int) (*report.Run, error) {
		return consume(ctx, "c", report.VariantRawFetch, rep)
	})

	// Cold: drop the page cache before each run.
	if err := dropCaches(); err != nil {
		s.note("c/cold skipped: dropping the page cache (sync; echo 3 > /proc/sys/vm/drop_caches) is not permitted here: %v", err)
	} else {
		s.variant(ctx, "c", "cold", desc+"; page cache dropped before each run", 8, s.p.reps, func(ctx context.Context, rep int) (*report.Run, error) {
			if err := dropCaches(); err != nil {
				return nil, err
			}
			return consume(ctx, "c", "cold", rep)
		})
	}

	// Read-and-write fetch: the same node and data, restarted with
	// fetch_sendfile = false.
	s.stopBroker(b, false)
	if err := b.writeConfig(nodeConf{id: 1, rt: map[string]string{"fetch_sendfile": "false"}}); err != nil {
		return err
	}
	if err := s.restartNode(ctx, b, "c-read-write-fetch"); err != nil {
		return fmt.Errorf("restarting with fetch_sendfile = false: %w", err)
	}
	if err := warmFiles(b.dataDir); err != nil {
		s.note("c: warming the page cache: %v", err)
	}
	s.variant(ctx, "c", "read-write-fetch", desc+"; page cache warm, fetch_sendfile = false (read into memory, then write)", 8, s.p.reps, func(ctx context.Context, rep int) (*report.Run, error) {
		return consume(ctx, "c", "read-write-fetch", rep)
	})
	return nil
}

func (s *suite) consumeKfake(ctx context.Context, fill load, records int64, desc string) error {
	b, err := s.startKfake(ctx, "c-kfake")
	if err != nil {
		return err
	}
	defer s.stopBroker(b, true)
	t0 := time.Now()
	br, err := s.produceCount(ctx, b.addr(), fill, records, s.p.fillLimit)
	if br == nil || br.Records == 0 {
		return fmt.Errorf("filling kfake: %w", err)
	}
	if br.Records < records {
		desc = fmt.Sprintf("consume %s from the start (%d x 1 KiB records in 8 partitions)", bytesName(br.Bytes), br.Records)
		s.note("c/kfake holds less than Ringtail: %d of %d records (%s) were produced within %v (%v); its runs consume that", br.Records, records, bytesName(br.Bytes), s.p.fillLimit, err)
	}
	s.progress("c: filled kfake with %d records in %.1fs (%.1f MB/s), RSS %.0f MiB", br.Records, time.Since(t0).Seconds(), br.MBPerS, rssMiB(b.p.pid()))
	s.variant(ctx, "c", "kfake", desc+"; franz-go kfake, in memory", 8, s.p.reps, func(ctx context.Context, rep int) (*report.Run, error) {
		cpu := startCPU(b.p.pid())
		br, err := s.consumeAll(ctx, b.addr(), fill.topic, s.p.consumeLimit)
		if br == nil {
			return nil, err
		}
		r := toRun("c", "kfake", rep, br)
		cpu.record(&r, report.ExtraCPUConsumed, br.Bytes)
		r.RSSMiB = round1(rssMiB(b.p.pid()))
		return &r, err
	})
	return nil
}

func bytesName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d B", n)
}

// warmFiles reads every file under dir, so the page cache holds it.
func warmFiles(dir string) error {
	buf := make([]byte, 1<<20)
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyBuffer(io.Discard, f, buf)
		return err
	})
}

// dropCaches writes back dirty pages and drops the page cache.
func dropCaches() error {
	syscall.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200)
}

// workloadD is end-to-end latency at half of (a)'s median throughput.
func (s *suite) workloadD(ctx context.Context) error {
	rate := s.aRecordsPerS / 2
	if rate <= 0 {
		rate = 20000
		s.note("d: no median from a/ringtail in this run; e2e ran at a fixed %.0f records/s", rate)
	}
	l := loadA()
	l.linger = e2eLinger
	l.rate = float64(int64(rate))
	desc := "end-to-end latency (produce to consume) at 50% of a/ringtail's median records/s: " + l.describe() +
		"; the load generator's producer and consumer share the machine's cores with the broker"
	s.variant(ctx, "d", "ringtail", desc, l.partitions, s.p.reps, func(ctx context.Context, rep int) (*report.Run, error) {
		b, err := s.startNode(ctx, "d-ringtail", nil)
		if err != nil {
			return nil, err
		}
		defer s.stopBroker(b, true)
		l := l
		l.topic = fmt.Sprintf("d-%d", rep)
		br, err := s.bench(ctx, b.addr(), "e2e", s.p.dur+2*time.Minute, append(l.args(), "--duration", s.p.dur.String())...)
		if br == nil {
			return nil, err
		}
		r := toRun("d", "ringtail", rep, br)
		r.RSSMiB = round1(rssMiB(b.p.pid()))
		r.Extra = map[string]float64{"target_rate": l.rate}
		if a := br.AckLatencyMs; a != nil {
			r.Extra["ack_p50_ms"], r.Extra["ack_p99_ms"], r.Extra["ack_p999_ms"] = a.P50, a.P99, a.P999
		}
		return &r, err
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return s.workloadD10k(ctx)
}

// workloadD10k is issue 16's latency target: a linger-0 producer at
// 10,000 records/s of 1 KiB, acks=all, broker and load generator on
// different CPUs where the machine allows.
func (s *suite) workloadD10k(ctx context.Context) error {
	l := loadA()
	l.linger = 0
	l.producers = 1
	l.rate = 10000
	desc := "end-to-end latency at 10,000 records/s, linger 0, one producer: " + l.describe()
	s.variant(ctx, "d", report.VariantD10k, desc, l.partitions, s.p.reps, func(ctx context.Context, rep int) (*report.Run, error) {
		b, err := s.startNode(ctx, "d-10k", nil)
		if err != nil {
			return nil, err
		}
		defer s.stopBroker(b, true)
		l := l
		l.topic = fmt.Sprintf("d10k-%d", rep)
		br, err := s.bench(ctx, b.addr(), "e2e", s.p.dur+2*time.Minute, append(l.args(), "--duration", s.p.dur.String())...)
		if br == nil {
			return nil, err
		}
		r := toRun("d", report.VariantD10k, rep, br)
		r.RSSMiB = round1(rssMiB(b.p.pid()))
		r.Extra = map[string]float64{"target_rate": l.rate}
		if a := br.AckLatencyMs; a != nil {
			r.Extra["ack_p50_ms"], r.Extra["ack_p99_ms"], r.Extra["ack_p999_ms"] = a.P50, a.P99, a.P999
		}
		return &r, err
	})
	return nil
}

// workloadE is keyed records over 8 and 1,000 partitions, then one node
// each with 10,000 and 100,000 partitions (100 in smoke).
func (s *suite) workloadE(ctx context.Context) error {
	for _, parts := range []int{8, s.p.midPartitions} {
		l := loadA()
		l.keyed = true
		l.partitions = parts
		v := fmt.Sprintf("partitions-%d", parts)
		s.variant(ctx, "e", v, l.describe(), parts, s.p.reps, func(ctx context.Context, rep int) (*report.Run, error) {
			l := l
			l.topic = fmt.Sprintf("e-%d-%d", parts, rep)
			return s.produceRingtail(ctx, "e", v, rep, nil, l, "")
		})
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, n := range s.p.bigPartitions {
		if err := s.manyPartitions(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// nofile is the RLIMIT_NOFILE the brokers get (the node needs ~2 fds per
// partition).
const nofile = 1 << 20

func raiseNofile() error {
	lim := syscall.Rlimit{Cur: nofile, Max: nofile}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		return nil
	}
	var cur syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &cur); err != nil {
		return err
	}
	cur.Cur = cur.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &cur); err != nil {
		return err
	}
	return fmt.Errorf("RLIMIT_NOFILE raised only to its hard limit %d (raising that needs CAP_SYS_RESOURCE)", cur.Max)
}

// manyPartitions creates one topic of n partitions on a fresh node,
// times creation until it is writable, then produces keyed records and
// consumes them. A failure is noted; the suite goes on.
func (s *suite) manyPartitions(ctx context.Context, n int) error {
	v := fmt.Sprintf("partitions-%d", n)
	l := loadA()
	l.keyed, l.partitions, l.topic = true, n, fmt.Sprintf("e-%d", n)
	desc := fmt.Sprintf("one node, one topic of %d partitions: time to create and be writable, RSS before and after, a short keyed produce (%s), then a consume", n, l.describe())
	s.variant(ctx, "e", v, desc, n, 1, func(ctx context.Context, rep int) (*report.Run, error) {
		// Children inherit the raised limit (Go's Setrlimit drops the
		// saved original limit it would otherwise restore in children).
		if err := raiseNofile(); err != nil {
			s.note("e/%s: raising RLIMIT_NOFILE to %d: %v", v, nofile, err)
		}
		b, err := s.startNode(ctx, "e-"+v, nil)
		if err != nil {
			return nil, err
		}
		defer s.stopBroker(b, true)
		rssBefore := rssMiB(b.p.pid())
		t0 := time.Now()
		if _, _, err := runCmd(ctx, s.p.createLimit, s.repo, nil, s.ringtailBin, "topic", "create", l.topic, "-b", b.addr(),
			"--partitions", strconv.Itoa(n), "--replication-factor", "1"); err != nil {
			return nil, fmt.Errorf("creating %d partitions: %w", n, err)
		}
		created := time.Since(t0)
		// Writable: a one-record produce succeeds.
		var lastErr error
		for {
			if _, err := s.bench(ctx, b.addr(), "produce", time.Minute, "-t", l.topic, "--count", "1", "--acks", "all", "--timeout", "30s"); err == nil {
				break
			} else {
				lastErr = err
			}
			if time.Since(t0) > s.p.createLimit || ctx.Err() != nil {
				return nil, fmt.Errorf("topic of %d partitions not writable %v after create: %w", n, s.p.createLimit, lastErr)
			}
			if !b.p.running() {
				return nil, fmt.Errorf("the node exited after creating %d partitions:\n%s", n, tail(b.p.readLog(), 2000))
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
		createS := time.Since(t0).Seconds()
		rssCreated := rssMiB(b.p.pid())
		s.progress("e/%s: created in %.1fs, writable after %.1fs; RSS %.0f -> %.0f MiB", v, created.Seconds(), createS, rssBefore, rssCreated)
		br, err := s.produceFor(ctx, b.addr(), l, s.p.dur)
		if br == nil {
			return nil, err
		}
		r := toRun("e", v, rep, br)
		r.Extra = map[string]float64{
			"create_s":             round3(createS),
			"create_request_s":     round3(created.Seconds()),
			"rss_before_mib":       round1(rssBefore),
			"rss_after_create_mib": round1(rssCreated),
		}
		if lim := nofileLimit(b.p.pid()); lim > 0 {
			r.Extra[report.ExtraNofileLimit] = float64(lim)
		}
		cr, cerr := s.consumeAll(ctx, b.addr(), l.topic, s.p.consumeLimit)
		if cr != nil {
			r.Extra["consume_records_per_s"] = round1(cr.RecordsPerS)
			r.Extra["consume_mb_per_s"] = round1(cr.MBPerS)
			r.Extra["consumed_records"] = float64(cr.Records)
		}
		r.RSSMiB = round1(rssMiB(b.p.pid()))
		rerr := s.restartTimed(ctx, b, "e-"+v, n, &r)
		return &r, errors.Join(err, cerr, rerr)
	})
	return nil
}

// restartTimed stops b cleanly, timing the shutdown, starts it again on
// the same data, timing start to ready, and records both with the idle
// RSS after the restart (the memory the partitions cost with no load).
func (s *suite) restartTimed(ctx context.Context, b *broker, name string, n int, r *report.Run) error {
	t0 := time.Now()
	// 100,000 partitions close in minutes on a slow disk: the grace
	// grows with the count so that the shutdown is measured, not killed.
	grace := 30*time.Second + time.Duration(n)*5*time.Millisecond
	if err := s.reg.stop(b.p, grace); err != nil {
		b.p = nil
		return fmt.Errorf("clean shutdown of %d partitions: %w", n, err)
	}
	b.p = nil
	r.Extra[report.ExtraShutdownS] = round3(time.Since(t0).Seconds())
	t1 := time.Now()
	if err := s.restartNode(ctx, b, name+"-restart"); err != nil {
		return fmt.Errorf("restart with %d partitions: %w", n, err)
	}
	startup := time.Since(t1).Seconds()
	idle := rssMiB(b.p.pid())
	r.Extra[report.ExtraStartupS] = round3(startup)
	r.Extra["startup_ms_per_1000_partitions"] = round3(startup * 1000 * 1000 / float64(n))
	r.Extra["rss_idle_after_restart_mib"] = round1(idle)
	r.Extra[report.ExtraIdleKiBPer] = round3(idle * 1024 / float64(n))
	s.progress("e/partitions-%d: clean shutdown %.1fs, start-up %.2fs, idle RSS %.0f MiB (%.1f KiB per partition)",
		n, r.Extra[report.ExtraShutdownS], startup, idle, idle*1024/float64(n))
	return nil
}

// workloadF is a 3-node cluster (combined controller+broker nodes), a
// topic with RF=3, acks=all, as fast as it goes.
func (s *suite) workloadF(ctx context.Context) error {
	l := loadA()
	l.rf = 3
	desc := "3 combined controller+broker nodes on this machine: " + l.describe() + "; RSS is the sum of the three nodes"
	s.variant(ctx, "f", "ringtail-3node", desc, l.partitions, s.p.reps, func(ctx context.Context, rep int) (*report.Run, error) {
		nodes, err := s.startCluster(ctx, "f", 3, nil)
		if err != nil {
			return nil, err
		}
		defer s.stopCluster(nodes)
		var addrs []string
		for _, b := range nodes {
			addrs = append(addrs, b.addr())
		}
		bootstrap := strings.Join(addrs, ",")
		l := l
		l.topic = fmt.Sprintf("f-%d", rep)
		// The topic needs all three brokers registered: retry the create.
		t0 := time.Now()
		for {
			_, _, err := runCmd(ctx, time.Minute, s.repo, nil, s.ringtailBin, "topic", "create", l.topic, "-b", bootstrap,
				"--partitions", strconv.Itoa(l.partitions), "--replication-factor", "3", "--if-not-exists")
			if err == nil {
				break
			}
			if time.Since(t0) > startTimeout || ctx.Err() != nil {
				return nil, fmt.Errorf("creating an RF=3 topic: %w", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
		br, err := s.produceFor(ctx, bootstrap, l, s.p.dur)
		if br == nil {
			return nil, err
		}
		r := toRun("f", "ringtail-3node", rep, br)
		for _, b := range nodes {
			r.RSSMiB += rssMiB(b.p.pid())
		}
		r.RSSMiB = round1(r.RSSMiB)
		return &r, err
	})
	return nil
}

// comparisons lists the side-by-side speed mechanisms; report.Evaluate
// fills the ratios.
func (s *suite) comparisons() {
	find := func(w, v string) *report.Summary {
		for i := range s.res.Summaries {
			if s.res.Summaries[i].Workload == w && s.res.Summaries[i].Variant == v {
				return &s.res.Summaries[i]
			}
		}
		return nil
	}
	for _, c := range []struct{ mech, w, with, without string }{
		{"io_uring vs sync engine", "a", "ringtail", "sync-engine"},
		{"shards = cores vs one shard", "a", "ringtail", "one-shard"},
		{"shards = cores vs one shard", "a", unpinnedShards, unpinnedOneShard},
		{"group commit vs per-request fsync", "a", "ringtail", "per-request-fsync"},
		{"sendfile vs read-and-write fetch", "c", "warm", "read-write-fetch"},
		{"Ringtail vs kfake", "a", "ringtail", "kfake"},
		{"Ringtail vs kfake", "b", "ringtail", "kfake"},
		{"Ringtail vs kfake", "c", "warm", "kfake"},
		{"raw Fetch loop vs decoding consumer (the client's share)", "c", report.VariantRawFetch, "warm"},
	} {
		if len(s.o.only) > 0 && !s.o.only[c.w] {
			continue
		}
		cmp := report.Comparison{Mechanism: c.mech, Workload: c.w, With: c.with, Without: c.without}
		a, b := find(c.w, c.with), find(c.w, c.without)
		if a != nil {
			cmp.WithMBps = a.MBPerS
		}
		if b != nil {
			cmp.WithoutMBps = b.MBPerS
		}
		if b == nil && (c.without == "one-shard" || c.without == unpinnedOneShard) {
			continue // the other pair measured it
		}
		if a == nil || b == nil {
			cmp.Note = "not measured in this run (see the notes)"
		} else if c.without == "one-shard" && s.pin.brokerCPUs == 1 {
			cmp.Note = "the broker was pinned to one CPU, so shards = cores was 1 too: this compares one shard with itself (run with --pin off to compare shards)"
		}
		s.res.Comparisons = append(s.res.Comparisons, cmp)
	}
}
