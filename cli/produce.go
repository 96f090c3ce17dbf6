package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

type produceFlags struct {
	keySeparator string
	acks         string
	partition    int32
	headers      []string
	compression  string
}

func (a *app) produceCommand() *cobra.Command {
	var pf produceFlags
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce one record per line of standard input",
		Long: "Produce one record per line of standard input to TOPIC, and wait until every\n" +
			"record is acknowledged. Prints nothing on success; on failure prints how many\n" +
			"records failed, and why, and exits 1.",
		Args: exactArgs(1, "one TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("key-separator") && pf.keySeparator == "" {
				return errors.New("--key-separator must not be empty")
			}
			if cmd.Flags().Changed("partition") && pf.partition < 0 {
				return fmt.Errorf("--partition %d: want a partition number >= 0", pf.partition)
			}
			return a.produce(cmd.Context(), args[0], pf)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&pf.keySeparator, "key-separator", "K", "", `split each line at the first SEP into key and value (escapes like \t work); a line without SEP gets no key`)
	f.StringVar(&pf.acks, "acks", "-1", "acknowledgement to wait for: -1 (all in-sync replicas), 1 (leader) or 0 (none)")
	f.Int32VarP(&pf.partition, "partition", "p", -1, "produce every record to this partition (default: the client's partitioner, by key)")
	f.StringArrayVarP(&pf.headers, "header", "H", nil, "add header key=value to every record, repeatable")
	f.StringVarP(&pf.compression, "compression", "z", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	return cmd
}

func (a *app) produce(ctx context.Context, topic string, pf produceFlags) error {
	acks, idempotent, err := parseAcks(pf.acks)
	if err != nil {
		return err
	}
	codec, err := parseCompression(pf.compression)
	if err != nil {
		return err
	}
	headers, err := parseHeaders(pf.headers)
	if err != nil {
		return err
	}
	opts := []kgo.Opt{
		kgo.RequiredAcks(acks),
		kgo.ProducerBatchCompression(codec),
		kgo.RecordDeliveryTimeout(deliveryTimeout),
		kgo.AllowAutoTopicCreation(), // as Kafka's console producer: the broker decides
		kgo.DefaultProduceTopic(topic),
	}
	if !idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if pf.partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl, err := a.client(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	var (
		mu       sync.Mutex
		firstErr error
		failures int
		total    int
	)
	promise := func(_ *kgo.Record, err error) {
		if err == nil {
			return
		}
		mu.Lock()
		failures++
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}

	sep := []byte(unescape(pf.keySeparator))
	lines := make(chan []byte, 256)
	readDone := make(chan error, 1)
	// Read standard input on its own goroutine so that an interrupt is
	// noticed while a terminal has nothing to type.
	go func() {
		defer close(lines)
		r := bufio.NewReaderSize(a.stdin, 64<<10)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				select {
				case lines <- trimEOL(line):
				case <-ctx.Done():
					readDone <- nil
					return
				}
			}
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				readDone <- err
				return
			}
		}
	}()
	var readErr error
loop:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				readErr = <-readDone
				break loop
			}
			key, value, _ := splitKey(line, sep)
			total++
			cl.Produce(ctx, &kgo.Record{Key: key, Value: value, Headers: headers, Partition: pf.partition}, promise)
		case <-ctx.Done():
			break loop
		}
	}
	flushErr := cl.Flush(ctx)

	mu.Lock()
	defer mu.Unlock()
	what := fmt.Sprintf("produce to %q", topic)
	switch {
	case readErr != nil:
		return fmt.Errorf("%s: reading standard input: %w", what, readErr)
	case failures > 0:
		return failed(fmt.Sprintf("%s: %d of %d records failed, the first with", what, failures, total), firstErr, "")
	case flushErr != nil:
		return failed(what, flushErr, "")
	case ctx.Err() != nil:
		return fmt.Errorf("%s: interrupted after %d records: %w", what, total, ctx.Err())
	}
	return nil
}

// trimEOL drops the line's "\n" or "\r\n".
func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	return line
}
