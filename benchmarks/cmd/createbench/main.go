// Command createbench measures how long one CreateTopics of many partitions
// takes on a fresh single node, and how long until every partition takes a
// write (issue 11): it starts the real ringtail binary, sends CreateTopics,
// then one Produce to every partition with a client that never retries, and
// reports the median of its runs. make bench-create runs it for 6,000
// partitions and records the figures in benchmarks/results; its test runs
// it small.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/benchmarks/internal/localnode"
)

// Result is one run's figures.
type Result struct {
	Partitions int `json:"partitions"`
	// CreateS is how long CreateTopics took to answer: at commit for more
	// than 1,000 partitions, once usable for fewer.
	CreateS float64 `json:"create_s"`
	// WritableS is the time from sending CreateTopics until one Produce to
	// every partition (sent right after the answer, never retried) came
	// back with no error.
	WritableS float64 `json:"writable_s"`
	// ProduceS is that Produce's own round trip: the wait for logs still
	// being created.
	ProduceS float64 `json:"produce_s"`
}

// Summary is the medians over the runs.
type Summary struct {
	Date            string   `json:"date"`
	Host            string   `json:"host"`
	Partitions      int      `json:"partitions"`
	Runs            []Result `json:"runs"`
	MedianCreateS   float64  `json:"median_create_s"`
	MedianWritableS float64  `json:"median_writable_s"`
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "createbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("createbench", flag.ContinueOnError)
	bin := fs.String("ringtail", "", "the ringtail binary (default: build it from the repository)")
	partitions := fs.Int("partitions", 6000, "partitions in the one CreateTopics")
	runs := fs.Int("runs", 3, "runs, each on a fresh node")
	out := fs.String("out", "", "write the summary as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	work, err := localnode.Prepare(ctx, "createbench-", bin)
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	host, _ := os.Hostname()
	sum := Summary{Date: time.Now().UTC().Format("2006-01-02"), Host: host, Partitions: *partitions}
	for i := 0; i < *runs; i++ {
		r, err := once(ctx, *bin, filepath.Join(work, fmt.Sprintf("run%d", i)), *partitions)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		fmt.Fprintf(stdout, "run %d: %d partitions: CreateTopics answered in %.3f s, all writable %.3f s after it was sent (the produce waited %.3f s)\n",
			i+1, r.Partitions, r.CreateS, r.WritableS, r.ProduceS)
		sum.Runs = append(sum.Runs, r)
	}
	sum.MedianCreateS = median(sum.Runs, func(r Result) float64 { return r.CreateS })
	sum.MedianWritableS = median(sum.Runs, func(r Result) float64 { return r.WritableS })
	fmt.Fprintf(stdout, "median of %d: CreateTopics %.3f s, all %d partitions writable %.3f s\n", len(sum.Runs), sum.MedianCreateS, *partitions, sum.MedianWritableS)
	if *out != "" {
		b, _ := json.MarshalIndent(sum, "", "  ")
		return os.WriteFile(*out, append(b, '\n'), 0o644)
	}
	return nil
}

func median(rs []Result, f func(Result) float64) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return localnode.Median(xs)
}

// once starts a fresh node in dir, measures, and stops it.
func once(ctx context.Context, bin, dir string, partitions int) (Result, error) {
	node, err := localnode.Start(ctx, bin, dir, "")
	if err != nil {
		return Result{}, err
	}
	defer node.Stop()
	c, err := dial(node.Addr)
	if err != nil {
		return Result{}, err
	}
	defer c.Close()

	const topic = "many"
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Version, ct.TimeoutMillis = 5, 60_000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, int32(partitions), 1
	ct.Topics = append(ct.Topics, rt)
	t0 := time.Now()
	resp, err := c.roundTrip(ct)
	if err != nil {
		return Result{}, err
	}
	created := time.Now()
	if code := resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; code != 0 {
		return Result{}, fmt.Errorf("CreateTopics: %v", kerr.ErrorForCode(code))
	}

	pr := kmsg.NewPtrProduceRequest()
	pr.Version, pr.Acks, pr.TimeoutMillis = 9, 1, 60_000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	batch := recordBatch(t0.UnixMilli())
	for p := 0; p < partitions; p++ {
		pp := kmsg.NewProduceRequestTopicPartition()
		pp.Partition, pp.Records = int32(p), batch
		pt.Partitions = append(pt.Partitions, pp)
	}
	pr.Topics = append(pr.Topics, pt)
	presp, err := c.roundTrip(pr)
	if err != nil {
		return Result{}, err
	}
	done := time.Now()
	failed := 0
	var first error
	for _, p := range presp.(*kmsg.ProduceResponse).Topics[0].Partitions {
		if p.ErrorCode != 0 {
			failed++
			if first == nil {
				first = fmt.Errorf("partition %d: %w", p.Partition, kerr.ErrorForCode(p.ErrorCode))
			}
		}
	}
	if failed > 0 {
		return Result{}, fmt.Errorf("the first produce failed on %d of %d partitions (no retry): %w", failed, partitions, first)
	}
	return Result{Partitions: partitions, CreateS: round3(created.Sub(t0)), WritableS: round3(done.Sub(t0)), ProduceS: round3(done.Sub(created))}, nil
}

func round3(d time.Duration) float64 { return float64(d.Round(time.Millisecond).Milliseconds()) / 1000 }

// conn is a minimal Kafka client: one request at a time, no retries.
type conn struct {
	nc   net.Conn
	corr int32
}

func dial(addr string) (*conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &conn{nc: nc}, nil
}

func (c *conn) Close() error { return c.nc.Close() }

func (c *conn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	c.corr++
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("createbench"))
	c.nc.SetDeadline(time.Now().Add(120 * time.Second))
	if _, err := c.nc.Write(f.AppendRequest(nil, req, c.corr)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.nc, body); err != nil {
		return nil, err
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != c.corr {
		return nil, fmt.Errorf("correlation id %d, want %d", got, c.corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	if resp.IsFlexible() {
		body = body[1:] // empty header tags
	}
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return nil, err
	}
	return resp, nil
}

// recordBatch is one magic-v2 batch of one record ("v"), CRC-32C filled.
func recordBatch(ts int64) []byte {
	// attributes, timestamp delta, offset delta, key length -1 (zigzag 1),
	// value length 1 (zigzag 2), "v", no headers.
	rec := []byte{0, 0, 0, 1, 2, 'v', 0}
	var b []byte
	b = binary.BigEndian.AppendUint64(b, 0) // base offset
	b = binary.BigEndian.AppendUint32(b, 0) // length, below
	b = binary.BigEndian.AppendUint32(b, 0) // partition leader epoch
	b = append(b, 2)                        // magic
	b = binary.BigEndian.AppendUint32(b, 0) // crc, below
	b = binary.BigEndian.AppendUint16(b, 0) // attributes
	b = binary.BigEndian.AppendUint32(b, 0) // last offset delta
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	b = binary.BigEndian.AppendUint64(b, ^uint64(0)) // producer id -1
	b = binary.BigEndian.AppendUint16(b, 0xffff)     // producer epoch -1
	b = binary.BigEndian.AppendUint32(b, 0xffffffff) // base sequence -1
	b = binary.BigEndian.AppendUint32(b, 1)          // one record
	b = append(b, byte(len(rec)<<1))                 // record length, zigzag varint
	b = append(b, rec...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}
