package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type consumeFlags struct {
	fromBeginning  bool
	offset         string
	partition      int32
	maxMessages    int
	timeout        time.Duration
	format         string
	keySeparator   string
	printKey       bool
	printTimestamp bool
	printHeaders   bool
	shareGroup     string
}

func (a *app) consumeCommand() *cobra.Command {
	var cf consumeFlags
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records of a topic as they arrive",
		Long: "Print records of TOPIC, from the end of each partition unless told otherwise,\n" +
			"until -n records are printed, --timeout passes without a record, or interrupt.\n\n" +
			"--format is a template (like kcat -f): %k key, %v value, %t timestamp (ms),\n" +
			"%p partition, %o offset, %h headers (k=v,k=v), %T topic, %s key separator,\n" +
			"%% a percent sign; \\n \\t \\r \\\\ are escapes. The default prints the value and a\n" +
			"newline; --print-key, --print-timestamp and --print-headers add fields in front.",
		Args: exactArgs(1, "one TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			if cf.fromBeginning && fl.Changed("offset") {
				return errors.New("give --from-beginning or --offset, not both")
			}
			if fl.Changed("partition") && cf.partition < 0 {
				return fmt.Errorf("--partition %d: want a partition number >= 0", cf.partition)
			}
			if cf.maxMessages < 0 {
				return fmt.Errorf("--max-messages %d: want a count >= 0 (0: no limit)", cf.maxMessages)
			}
			if cf.timeout < 0 {
				return fmt.Errorf("--timeout %s: want a duration >= 0 (0: wait forever)", cf.timeout)
			}
			if cf.shareGroup != "" && (cf.fromBeginning || fl.Changed("offset") || fl.Changed("partition")) {
				return errors.New("--share-group takes records as the share group hands them out: give no --from-beginning, --offset or --partition (the group's share.auto.offset.reset says where a new group starts)")
			}
			if fl.Changed("format") && (cf.printKey || cf.printTimestamp || cf.printHeaders) {
				return errors.New("give --format or the --print-* shortcuts, not both")
			}
			return a.consume(cmd.Context(), args[0], cf)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&cf.fromBeginning, "from-beginning", false, "start at the beginning of each partition (same as --offset earliest)")
	f.StringVarP(&cf.offset, "offset", "o", "latest", "where to start: earliest, latest, an offset N, or -N (N records before the end)")
	f.Int32VarP(&cf.partition, "partition", "p", -1, "consume only this partition (default: all)")
	f.IntVarP(&cf.maxMessages, "max-messages", "n", 0, "exit after printing this many records (0: no limit)")
	f.DurationVar(&cf.timeout, "timeout", 0, "exit when no record arrives for this long, e.g. 5s (0: wait forever)")
	f.StringVarP(&cf.format, "format", "f", "%v\\n", "output template; see above")
	f.StringVar(&cf.keySeparator, "key-separator", `\t`, "separator that %s and the --print-* shortcuts put between fields")
	f.BoolVar(&cf.printKey, "print-key", false, "print the key before the value")
	f.BoolVar(&cf.printTimestamp, "print-timestamp", false, "print the timestamp (ms) first")
	f.BoolVar(&cf.printHeaders, "print-headers", false, "print the headers (k=v,k=v) before the key and value")
	f.StringVar(&cf.shareGroup, "share-group", "", "consume as a member of this share group (KIP-932): each record goes to one member and is accepted once printed")
	return cmd
}

func (a *app) consume(ctx context.Context, topic string, cf consumeFlags) error {
	tmpl := cf.format
	if cf.printKey || cf.printTimestamp || cf.printHeaders {
		tmpl = shortcutFormat(cf.printKey, cf.printTimestamp, cf.printHeaders)
	}
	f, err := compileFormat(tmpl)
	if err != nil {
		return err
	}
	start := kgo.NewOffset().AtEnd()
	if cf.fromBeginning {
		start = kgo.NewOffset().AtStart()
	} else if start, err = parseOffset(cf.offset); err != nil {
		return err
	}
	opts := []kgo.Opt{kgo.ConsumeStartOffset(start)}
	if cf.shareGroup != "" {
		opts = []kgo.Opt{kgo.ConsumeTopics(topic), kgo.ShareGroup(cf.shareGroup)}
	} else if cf.partition >= 0 {
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {cf.partition: start}}))
	} else {
		opts = append(opts, kgo.ConsumeTopics(topic))
	}
	cl, err := a.client(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if cf.shareGroup != "" {
		// Records printed are accepted; flush those acks before the
		// client closes (records fetched but not printed are released
		// when the connection closes).
		defer func() {
			flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := cl.FlushAcks(flushCtx); err != nil {
				a.report(fmt.Errorf("warning: share group %s: acknowledging the records printed: %w", cf.shareGroup, err))
			}
		}()
	}

	what := fmt.Sprintf("consume from %q", topic)
	// A consumer would wait forever for a topic that does not exist; say so.
	topics, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return failed(what, err, "")
	}
	td := topics[topic]
	if td.Err != nil {
		return failed(what, td.Err, "")
	}
	if _, ok := td.Partitions[cf.partition]; cf.partition >= 0 && !ok {
		return failed(what, kerr.UnknownTopicOrPartition, fmt.Sprintf("partition %d does not exist; the topic has %d", cf.partition, len(td.Partitions)))
	}

	w := bufio.NewWriterSize(a.stdout, 64<<10)
	defer w.Flush()
	keySep := unescape(cf.keySeparator)
	var buf []byte
	printed := 0
	idleUntil := time.Now().Add(cf.timeout)
	for {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if cf.timeout > 0 {
			pollCtx, cancel = context.WithDeadline(ctx, idleUntil)
		}
		limit := 0
		if cf.maxMessages > 0 {
			limit = cf.maxMessages - printed
		}
		fetches := cl.PollRecords(pollCtx, limit)
		cancel()
		if ctx.Err() != nil {
			return nil // interrupted: the normal end of an open-ended consume
		}
		var fetchErr error
		fetches.EachError(func(t string, p int32, err error) {
			var loss *kgo.ErrDataLoss
			switch {
			case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.Is(err, kgo.ErrClientClosed):
			case errors.As(err, &loss):
				a.report(fmt.Errorf("warning: %s partition %d: %v", what, p, err))
			case fetchErr == nil:
				fetchErr = failed(fmt.Sprintf("%s partition %d", what, p), err, "")
			}
		})
		if fetchErr != nil {
			return fetchErr
		}
		got := 0
		fetches.EachRecord(func(r *kgo.Record) {
			if cf.maxMessages > 0 && printed >= cf.maxMessages {
				return
			}
			buf = f.appendRecord(buf[:0], r, keySep)
			w.Write(buf)
			if cf.shareGroup != "" {
				r.Ack(kgo.AckAccept)
			}
			printed++
			got++
		})
		if err := w.Flush(); err != nil {
			return fmt.Errorf("%s: writing output: %w", what, err)
		}
		if cf.maxMessages > 0 && printed >= cf.maxMessages {
			return nil
		}
		if got > 0 {
			idleUntil = time.Now().Add(cf.timeout)
		} else if cf.timeout > 0 && !time.Now().Before(idleUntil) {
			return nil
		}
	}
}
