// Command fetchsessbench measures what incremental fetch sessions (KIP-227)
// save (with --replica, for a follower replicating 1,000 partitions:
// replica.go): one franz-go consumer tails a 1,000-partition topic while a
// producer writes a steady trickle to every partition, on a fresh node with
// sessions on (max.incremental.fetch.session.cache.slots = 1000) and off
// (= 0), alternating. It reports the consumer's fetch request bytes per
// second and per request, and the broker's CPU seconds (utime+stime from
// /proc/<pid>/stat, the producer's share included) per fetched MiB of
// record payload.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/benchmarks/internal/localnode"
)

// Run is one measured window.
type Run struct {
	Sessions         bool    `json:"sessions"`
	FetchRequests    int64   `json:"fetch_requests"`
	RequestBytesPerS float64 `json:"fetch_request_bytes_per_s"`
	BytesPerRequest  float64 `json:"fetch_request_bytes_avg"`
	ResponseBytesPS  float64 `json:"fetch_response_bytes_per_s"`
	FetchedMiB       float64 `json:"fetched_record_mib"`
	BrokerCPUSeconds float64 `json:"broker_cpu_s"`
	CPUPerMiB        float64 `json:"broker_cpu_s_per_fetched_mib"`
}

// Variant is the medians of sessions on or off.
type Variant struct {
	Sessions         bool    `json:"sessions"`
	RequestBytesPerS float64 `json:"median_fetch_request_bytes_per_s"`
	BytesPerRequest  float64 `json:"median_fetch_request_bytes_avg"`
	ResponseBytesPS  float64 `json:"median_fetch_response_bytes_per_s"`
	CPUPerMiB        float64 `json:"median_broker_cpu_s_per_fetched_mib"`
}

// Summary is every run and the medians.
type Summary struct {
	Date     string    `json:"date"`
	Host     string    `json:"host"`
	Load     string    `json:"load"`
	Runs     []Run     `json:"runs"`
	Variants []Variant `json:"variants"`
	// RequestBytesRatio is sessions-on request bytes/s over sessions-off.
	RequestBytesRatio float64 `json:"request_bytes_on_vs_off"`
	CPUPerMiBRatio    float64 `json:"cpu_per_mib_on_vs_off"`
}

type params struct {
	bin        string
	partitions int
	rate       int // records per second, all partitions
	size       int
	dur        time.Duration
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fetchsessbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fetchsessbench", flag.ContinueOnError)
	var p params
	fs.StringVar(&p.bin, "ringtail", "", "the ringtail binary (default: build it from the repository)")
	runs := fs.Int("runs", 2, "runs of each variant, alternating, each on a fresh node")
	fs.DurationVar(&p.dur, "duration", 10*time.Second, "measured window per run (after 2 s of warm-up)")
	fs.IntVar(&p.partitions, "partitions", 1000, "partitions of the topic")
	fs.IntVar(&p.rate, "rate", 4000, "records per second the producer writes, spread over all partitions")
	fs.IntVar(&p.size, "record-size", 200, "value bytes per record")
	out := fs.String("out", "", "write the summary as JSON to this file")
	replica := fs.Bool("replica", false, "measure a follower replicating the partitions from a leader (two nodes) instead of a consumer (replica.go)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if p.partitions < 1 || p.rate < 1 || p.size < 1 || *runs < 1 {
		return fmt.Errorf("--partitions, --rate, --record-size and --runs must be >= 1")
	}
	work, err := localnode.Prepare(ctx, "fetchsessbench-", &p.bin)
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	host, _ := os.Hostname()
	sum := Summary{Date: time.Now().UTC().Format("2006-01-02"), Host: host,
		Load: fmt.Sprintf("1 franz-go consumer tailing %d partitions; producer %d records/s of %d B spread over them; %s measured per run",
			p.partitions, p.rate, p.size, p.dur)}
	measure := once
	if *replica {
		measure = onceReplica
		sum.Load = fmt.Sprintf("node 2 follows %d partitions led by node 1 (replication factor 2); producer %d records/s of %d B (acks=all) spread over them; %s measured per run; CPU and MiB are the leader's",
			p.partitions, p.rate, p.size, p.dur)
	}
	for i := 0; i < *runs; i++ {
		for _, on := range []bool{true, false} {
			dir := filepath.Join(work, fmt.Sprintf("run%d-%v", i, on))
			r, err := measure(ctx, p, dir, on)
			os.RemoveAll(dir)
			if err != nil {
				return fmt.Errorf("run %d (sessions %v): %w", i+1, on, err)
			}
			fmt.Fprintf(stdout, "run %d sessions=%-5v %6d fetches %10.0f req B/s %8.0f B/req %10.0f resp B/s %6.2f MiB %6.2f cpu s %7.3f cpu s/MiB\n",
				i+1, on, r.FetchRequests, r.RequestBytesPerS, r.BytesPerRequest, r.ResponseBytesPS, r.FetchedMiB, r.BrokerCPUSeconds, r.CPUPerMiB)
			sum.Runs = append(sum.Runs, r)
		}
	}
	for _, on := range []bool{true, false} {
		var rb, bpr, resp, cpu []float64
		for _, r := range sum.Runs {
			if r.Sessions == on {
				rb, bpr = append(rb, r.RequestBytesPerS), append(bpr, r.BytesPerRequest)
				resp, cpu = append(resp, r.ResponseBytesPS), append(cpu, r.CPUPerMiB)
			}
		}
		v := Variant{Sessions: on, RequestBytesPerS: localnode.Median(rb), BytesPerRequest: localnode.Median(bpr),
			ResponseBytesPS: localnode.Median(resp), CPUPerMiB: localnode.Median(cpu)}
		sum.Variants = append(sum.Variants, v)
		fmt.Fprintf(stdout, "median sessions=%-5v %10.0f req B/s %8.0f B/req %10.0f resp B/s %7.3f cpu s/MiB\n",
			on, v.RequestBytesPerS, v.BytesPerRequest, v.ResponseBytesPS, v.CPUPerMiB)
	}
	if off := sum.Variants[1]; off.RequestBytesPerS > 0 && off.CPUPerMiB > 0 {
		sum.RequestBytesRatio = sum.Variants[0].RequestBytesPerS / off.RequestBytesPerS
		sum.CPUPerMiBRatio = sum.Variants[0].CPUPerMiB / off.CPUPerMiB
	}
	if *out != "" {
		b, _ := json.MarshalIndent(sum, "", "  ")
		return os.WriteFile(*out, append(b, '\n'), 0o644)
	}
	return nil
}

// fetchHooks counts the consumer's Fetch request and response bytes.
type fetchHooks struct{ reqs, reqBytes, respBytes atomic.Int64 }

func (h *fetchHooks) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == 1 && err == nil {
		h.reqs.Add(1)
		h.reqBytes.Add(int64(n))
	}
}

func (h *fetchHooks) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == 1 && err == nil {
		h.respBytes.Add(int64(n))
	}
}

// once runs one variant on a fresh node.
func once(ctx context.Context, p params, dir string, sessions bool) (Run, error) {
	settings := ""
	if !sessions {
		settings = "max.incremental.fetch.session.cache.slots = 0\n"
	}
	node, err := localnode.Start(ctx, p.bin, dir, settings)
	if err != nil {
		return Run{}, err
	}
	defer node.Stop()
	const topic = "fetch-sessions"
	adm, err := kgo.NewClient(kgo.SeedBrokers(node.Addr))
	if err != nil {
		return Run{}, err
	}
	resp, err := kadm.NewClient(adm).CreateTopic(ctx, int32(p.partitions), 1, nil, topic)
	adm.Close()
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return Run{}, fmt.Errorf("create topic: %w", err)
	}

	hooks := &fetchHooks{}
	cons, err := kgo.NewClient(kgo.SeedBrokers(node.Addr), kgo.ConsumeTopics(topic), kgo.WithHooks(hooks),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	if err != nil {
		return Run{}, err
	}
	defer cons.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(node.Addr), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return Run{}, err
	}
	defer prod.Close()

	lctx, stop := context.WithCancel(ctx)
	defer stop()
	var fetched atomic.Int64
	consDone := make(chan struct{})
	go func() {
		defer close(consDone)
		for lctx.Err() == nil {
			cons.PollFetches(lctx).EachRecord(func(r *kgo.Record) { fetched.Add(int64(len(r.Value) + len(r.Key))) })
		}
	}()
	var prodErr atomic.Value
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		value := make([]byte, p.size)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		perTick := max(p.rate/100, 1)
		for lctx.Err() == nil {
			select {
			case <-tick.C:
			case <-lctx.Done():
				return
			}
			for range perTick {
				prod.Produce(lctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					if err != nil && lctx.Err() == nil {
						prodErr.Store(err)
					}
				})
			}
		}
	}()

	select { // warm-up: the consumer finds its partitions, sessions open
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return Run{}, ctx.Err()
	}
	cpu0, err := localnode.CPUSeconds(node.PID())
	if err != nil {
		return Run{}, err
	}
	reqs0, rb0, resp0, f0 := hooks.reqs.Load(), hooks.reqBytes.Load(), hooks.respBytes.Load(), fetched.Load()
	start := time.Now()
	select {
	case <-time.After(p.dur):
	case <-ctx.Done():
		return Run{}, ctx.Err()
	}
	cpu1, err := localnode.CPUSeconds(node.PID())
	if err != nil {
		return Run{}, err
	}
	secs := time.Since(start).Seconds()
	reqs, rb, respB, f := hooks.reqs.Load()-reqs0, hooks.reqBytes.Load()-rb0, hooks.respBytes.Load()-resp0, fetched.Load()-f0
	stop()
	<-prodDone
	<-consDone
	if e := prodErr.Load(); e != nil {
		return Run{}, fmt.Errorf("produce: %v", e)
	}
	if f == 0 || reqs == 0 {
		return Run{}, fmt.Errorf("the consumer fetched nothing in the window (%d fetch requests)", reqs)
	}
	r := Run{Sessions: sessions, FetchRequests: reqs, RequestBytesPerS: float64(rb) / secs, BytesPerRequest: float64(rb) / float64(reqs),
		ResponseBytesPS: float64(respB) / secs, FetchedMiB: float64(f) / (1 << 20), BrokerCPUSeconds: cpu1 - cpu0}
	r.CPUPerMiB = r.BrokerCPUSeconds / r.FetchedMiB
	return r, nil
}
