package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// `ringtail txn ...` works on transactions the way kafka-transactions.sh
// does: list the transactional ids the coordinators know, describe one,
// find hanging transactions (data written to a partition, no marker ever
// coming), and abort one by writing the ABORT marker to the partition
// leader (KIP-664). It is an ordinary admin client on kadm (ListTransactions,
// DescribeTransactions, DescribeProducers, WriteTxnMarkers), so it works
// against any Kafka broker that serves those APIs.

// txnStates are the transaction states, by lower-case name, for --state.
var txnStates = map[string]string{
	"empty":             "Empty",
	"ongoing":           "Ongoing",
	"preparecommit":     "PrepareCommit",
	"prepareabort":      "PrepareAbort",
	"completecommit":    "CompleteCommit",
	"completeabort":     "CompleteAbort",
	"dead":              "Dead",
	"prepareepochfence": "PrepareEpochFence",
}

// openTxnStates are the states of a transaction whose markers are not all
// written yet: the partitions in it may hold its data without a marker.
var openTxnStates = []string{"Ongoing", "PrepareCommit", "PrepareAbort", "PrepareEpochFence"}

// defaultMaxAge is find-hanging's --max-age: Kafka's
// transaction.max.timeout.ms, past which no coordinator keeps a
// transaction open.
const defaultMaxAge = 15 * time.Minute

func (a *app) txnCommand() *cobra.Command {
	return groupCommand("txn", "List, describe, find hanging and abort transactions",
		a.txnListCommand(), a.txnDescribeCommand(), a.txnFindHangingCommand(), a.txnAbortCommand())
}

// parseTxnStates reads --state a,b,c case-insensitively into Kafka's
// spelling.
func parseTxnStates(list []string) ([]string, error) {
	return parseStateList(list, txnStates, "Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort, Dead, PrepareEpochFence")
}

func (a *app) txnListCommand() *cobra.Command {
	var (
		states []string
		pids   []int64
	)
	cmd := &cobra.Command{
		Use:   "list [--state Ongoing,...] [--producer-id N ...]",
		Short: "List the transactional ids the transaction coordinators know",
		Long: "List every transactional id the cluster's transaction coordinators know, with\n" +
			"its coordinator, producer id and state, sorted by id. --state keeps the ids in\n" +
			"those states (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit,\n" +
			"CompleteAbort, PrepareEpochFence); --producer-id those of the producer ids.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := parseTxnStates(states)
			if err != nil {
				return err
			}
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			listed, err := adm.ListTransactions(cmd.Context(), pids, filter)
			if err != nil {
				return failed("list transactions", err, "")
			}
			return writeTxnList(a.stdout, listed)
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only transactions in these states, comma-separated (e.g. Ongoing,PrepareAbort)")
	cmd.Flags().Int64SliceVar(&pids, "producer-id", nil, "only transactions of these producer ids, comma-separated or repeated")
	return cmd
}

// writeTxnList renders listed transactions, kafka-transactions.sh style.
func writeTxnList(w io.Writer, listed kadm.ListedTransactions) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TRANSACTIONAL-ID\tCOORDINATOR\tPRODUCER-ID\tSTATE")
	for _, t := range listed.Sorted() {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", t.TxnID, t.Coordinator, t.ProducerID, t.State)
	}
	return tw.Flush()
}

func (a *app) txnDescribeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "describe TRANSACTIONAL-ID...",
		Short: "Describe transactions: producer, state, timeout, start and partitions",
		Long: "Describe each TRANSACTIONAL-ID as its transaction coordinator knows it: the\n" +
			"producer id and epoch, the state, the transaction timeout, when the current\n" +
			"transaction started and how long ago, and its partitions as topic[p,p,...].\n" +
			"'-' marks what is not known: an id with no transaction open has no start.",
		Args: minArgs(1, "at least one TRANSACTIONAL-ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			ids := dedupe(args)
			described, err := adm.DescribeTransactions(cmd.Context(), ids...)
			var shardErrs *kadm.ShardErrors
			if err != nil && !errors.As(err, &shardErrs) {
				return failed("describe transactions", err, "")
			}
			var ok []kadm.DescribedTransaction
			failures := 0
			for _, id := range ids {
				d, found := described[id]
				switch {
				case !found && shardErrs != nil:
					d.Err = shardErrs
				case !found:
					d.Err = errors.New("missing from the broker's response")
				}
				if d.Err != nil {
					a.report(failed(fmt.Sprintf("describe transaction %q", id), d.Err, ""))
					failures++
					continue
				}
				ok = append(ok, d)
			}
			if len(ok) > 0 {
				if err := writeTxnDescribe(a.stdout, ok, time.Now()); err != nil {
					return err
				}
			}
			if failures > 0 {
				return errReported
			}
			return nil
		},
	}
}

// writeTxnDescribe renders described transactions, one line each.
func writeTxnDescribe(w io.Writer, ds []kadm.DescribedTransaction, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TRANSACTIONAL-ID\tCOORDINATOR\tPRODUCER-ID\tPRODUCER-EPOCH\tSTATE\tTIMEOUT-MS\tSTART-TIME\tDURATION\tPARTITIONS")
	for _, d := range ds {
		start, duration := "-", "-"
		if d.StartTimestamp >= 0 {
			st := time.UnixMilli(d.StartTimestamp)
			start = st.UTC().Format("2006-01-02T15:04:05.000Z07:00")
			if isOpenTxnState(d.State) {
				duration = formatAge(now.Sub(st))
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%s\t%s\t%s\n", d.TxnID, d.Coordinator, d.ProducerID, d.ProducerEpoch,
			d.State, d.TimeoutMillis, start, duration, topicsSetString(d.Topics))
	}
	return tw.Flush()
}

func isOpenTxnState(s string) bool {
	for _, o := range openTxnStates {
		if s == o {
			return true
		}
	}
	return false
}

// topicsSetString is a set of partitions as a[1],b[0,2] ("-" when empty).
func topicsSetString(s kadm.TopicsSet) string {
	var parts []string
	for _, t := range s.Sorted() {
		if len(t.Partitions) == 0 {
			continue
		}
		ps := append([]int32(nil), t.Partitions...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		parts = append(parts, t.Topic+"["+joinInt32s(ps)+"]")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// formatAge is a duration to the second ("-" when negative: the clocks
// disagree).
func formatAge(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return d.Truncate(time.Second).String()
}

func (a *app) txnFindHangingCommand() *cobra.Command {
	var (
		topic     string
		partition int32
		maxAge    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "find-hanging [--topic T [--partition P]] [--max-age 15m]",
		Short: "Find transactions left open on partitions with no marker coming",
		Long: "Find hanging transactions: a producer with an open transaction on a partition\n" +
			"(data written, no COMMIT or ABORT marker yet) that either wrote last more than\n" +
			"--max-age ago (default 15m, Kafka's transaction.max.timeout.ms: no coordinator\n" +
			"keeps a transaction open longer), or that no transaction coordinator lists as\n" +
			"open with that partition and epoch. A hanging transaction holds the partition's\n" +
			"last stable offset, so read_committed consumers stop there.\n\n" +
			"Every partition of --topic (or only --partition), or of every topic, internal\n" +
			"ones included, is looked at. Each finding is checked again before it is\n" +
			"printed, so a transaction that completes meanwhile is not reported. Abort one\n" +
			"with `ringtail txn abort --topic T --partition P --start-offset O`.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			if fl.Changed("partition") && topic == "" {
				return errors.New("find-hanging: --partition needs --topic")
			}
			if fl.Changed("partition") && partition < 0 {
				return fmt.Errorf("--partition %d: want a partition number >= 0", partition)
			}
			if maxAge <= 0 {
				return fmt.Errorf("--max-age %s: want a positive duration, e.g. 5m", maxAge)
			}
			if !fl.Changed("partition") {
				partition = -1
			}
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			return a.findHanging(cmd.Context(), adm, topic, partition, maxAge)
		},
	}
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "", "only this topic (default: every topic)")
	f.Int32Var(&partition, "partition", -1, "only this partition of --topic")
	f.DurationVar(&maxAge, "max-age", defaultMaxAge, "report open transactions whose producer wrote last longer ago than this")
	return cmd
}

// hangingTxn is an open transaction on a partition that looks hung, and
// why.
type hangingTxn struct {
	p       kadm.DescribedProducer
	age     time.Duration // since its last write; -1: not known
	reasons []string
}

// openTxn is what the coordinators say about a producer's open
// transaction.
type openTxn struct {
	txnID      string
	epoch      int16
	partitions kadm.TopicsSet
}

// judgeHanging picks, among producers with an open transaction on a
// partition, those that wrote last more than maxAge before now, or whose
// producer id has no open transaction at the coordinators (byPID) with the
// same epoch and that partition. The result is sorted by topic,
// partition and producer id.
func judgeHanging(producers []kadm.DescribedProducer, byPID map[int64]openTxn, now time.Time, maxAge time.Duration) []hangingTxn {
	var out []hangingTxn
	for _, p := range producers {
		if p.CurrentTxnStartOffset < 0 {
			continue
		}
		h := hangingTxn{p: p, age: -1}
		if p.LastTimestamp >= 0 {
			h.age = now.Sub(time.UnixMilli(p.LastTimestamp))
			if h.age > maxAge {
				h.reasons = append(h.reasons, "older-than-max-age")
			}
		}
		switch o, ok := byPID[p.ProducerID]; {
		case !ok:
			h.reasons = append(h.reasons, "no-open-transaction-at-coordinator")
		case o.epoch != p.ProducerEpoch:
			h.reasons = append(h.reasons, fmt.Sprintf("coordinator-at-epoch-%d", o.epoch))
		case !o.partitions.Lookup(p.Topic, p.Partition):
			h.reasons = append(h.reasons, "partition-not-in-coordinator-transaction")
		}
		if len(h.reasons) > 0 {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].p.Less(&out[j].p) })
	return out
}

// findHanging describes the producers of the partitions, asks the
// coordinators about those with an open transaction, and prints the ones
// that look hung and still are open at the same offset when described
// again.
func (a *app) findHanging(ctx context.Context, adm *kadm.Client, topic string, partition int32, maxAge time.Duration) error {
	const what = "find hanging transactions"
	set, err := partitionsToScan(ctx, adm, topic, partition)
	if err != nil {
		return failed(what, err, "")
	}
	failures := 0
	candidates, err := a.openTxnProducers(ctx, adm, set, &failures)
	if err != nil {
		return failed(what+": describe producers", err, "")
	}
	var hanging []hangingTxn
	if len(candidates) > 0 {
		byPID, err := coordinatorOpenTxns(ctx, adm, candidates)
		if err != nil {
			return failed(what, err, "")
		}
		hanging = judgeHanging(candidates, byPID, time.Now(), maxAge)
	}
	if len(hanging) > 0 {
		// Describe the partitions again: a transaction that completed
		// between the first look and the coordinators' answer is not hung.
		again := make(kadm.TopicsSet)
		for _, h := range hanging {
			again.Add(h.p.Topic, h.p.Partition)
		}
		still, err := a.openTxnProducers(ctx, adm, again, &failures)
		if err != nil {
			return failed(what+": describe producers", err, "")
		}
		hanging = stillOpen(hanging, still)
	}
	if err := writeHanging(a.stdout, hanging); err != nil {
		return err
	}
	if failures > 0 {
		return errReported
	}
	if len(hanging) == 0 {
		fmt.Fprintln(a.stderr, "ringtail: no hanging transactions found")
	}
	return nil
}

// partitionsToScan is the partitions find-hanging looks at: those of
// topic (partition only, when >= 0), or of every topic.
func partitionsToScan(ctx context.Context, adm *kadm.Client, topic string, partition int32) (kadm.TopicsSet, error) {
	var (
		tds kadm.TopicDetails
		err error
	)
	if topic == "" {
		tds, err = adm.ListTopicsWithInternal(ctx)
	} else {
		tds, err = adm.ListTopicsWithInternal(ctx, topic)
	}
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	set := make(kadm.TopicsSet)
	if topic != "" {
		td, ok := tds[topic]
		if !ok {
			td.Err = kerr.UnknownTopicOrPartition
		}
		if td.Err != nil {
			return nil, fmt.Errorf("topic %q: %w", topic, td.Err)
		}
		if partition >= 0 {
			if _, ok := td.Partitions[partition]; !ok {
				return nil, fmt.Errorf("topic %q has no partition %d (it has %d): %w", topic, partition, len(td.Partitions), kerr.UnknownTopicOrPartition)
			}
			set.Add(topic, partition)
			return set, nil
		}
	}
	for name, td := range tds {
		if td.Err == nil {
			set.Add(name, td.Partitions.Numbers()...)
		}
	}
	return set, nil
}

// openTxnProducers is the producers with an open transaction on the
// partitions of set; a partition that cannot be described is reported
// and counted in failures.
func (a *app) openTxnProducers(ctx context.Context, adm *kadm.Client, set kadm.TopicsSet, failures *int) ([]kadm.DescribedProducer, error) {
	if len(set) == 0 {
		return nil, nil
	}
	dps, err := adm.DescribeProducers(ctx, set)
	var shardErrs *kadm.ShardErrors
	if err != nil && !errors.As(err, &shardErrs) {
		return nil, err
	}
	if shardErrs != nil {
		a.report(failed("describe producers", shardErrs, ""))
		*failures++
	}
	var out []kadm.DescribedProducer
	for _, p := range dps.SortedPartitions() {
		if p.Err != nil {
			a.report(failed(fmt.Sprintf("describe producers of %s partition %d", p.Topic, p.Partition), p.Err, p.ErrMessage))
			*failures++
			continue
		}
		for _, dp := range p.ActiveProducers.Sorted() {
			if dp.CurrentTxnStartOffset >= 0 {
				out = append(out, dp)
			}
		}
	}
	return out, nil
}

// coordinatorOpenTxns asks the coordinators for the open transactions of
// the candidates' producer ids, by producer id.
func coordinatorOpenTxns(ctx context.Context, adm *kadm.Client, candidates []kadm.DescribedProducer) (map[int64]openTxn, error) {
	seen := map[int64]bool{}
	var pids []int64
	for _, c := range candidates {
		if !seen[c.ProducerID] {
			seen[c.ProducerID] = true
			pids = append(pids, c.ProducerID)
		}
	}
	listed, err := adm.ListTransactions(ctx, pids, openTxnStates)
	if err != nil {
		return nil, fmt.Errorf("list transactions: %w", err)
	}
	byPID := map[int64]openTxn{}
	ids := listed.TransactionalIDs()
	if len(ids) == 0 {
		return byPID, nil
	}
	described, err := adm.DescribeTransactions(ctx, ids...)
	if err != nil {
		return nil, fmt.Errorf("describe transactions: %w", err)
	}
	for _, d := range described.Sorted() {
		if errors.Is(d.Err, kerr.TransactionalIDNotFound) {
			continue // expired since it was listed
		}
		if d.Err != nil {
			return nil, fmt.Errorf("describe transaction %q: %w", d.TxnID, d.Err)
		}
		if isOpenTxnState(d.State) {
			byPID[d.ProducerID] = openTxn{txnID: d.TxnID, epoch: d.ProducerEpoch, partitions: d.Topics}
		}
	}
	return byPID, nil
}

// stillOpen keeps the findings whose producer still has its transaction
// open at the same start offset in now.
func stillOpen(found []hangingTxn, now []kadm.DescribedProducer) []hangingTxn {
	type key struct {
		topic     string
		partition int32
		pid       int64
	}
	start := map[key]int64{}
	for _, p := range now {
		start[key{p.Topic, p.Partition, p.ProducerID}] = p.CurrentTxnStartOffset
	}
	var out []hangingTxn
	for _, h := range found {
		if o, ok := start[key{h.p.Topic, h.p.Partition, h.p.ProducerID}]; ok && o == h.p.CurrentTxnStartOffset {
			out = append(out, h)
		}
	}
	return out
}

// writeHanging renders the findings, kafka-transactions.sh style.
func writeHanging(w io.Writer, hanging []hangingTxn) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tPRODUCER-ID\tPRODUCER-EPOCH\tCOORDINATOR-EPOCH\tSTART-OFFSET\tAGE\tREASON")
	for _, h := range hanging {
		age := "-"
		if h.age >= 0 {
			age = formatAge(h.age)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", h.p.Topic, h.p.Partition, h.p.ProducerID, h.p.ProducerEpoch,
			h.p.CoordinatorEpoch, h.p.CurrentTxnStartOffset, age, strings.Join(h.reasons, ","))
	}
	return tw.Flush()
}

// abortSpec is what `txn abort` aborts: one partition's open transaction,
// named by its producer (id, epoch, coordinator epoch) or by its start
// offset (startOffset >= 0), which is looked up.
type abortSpec struct {
	topic            string
	partition        int32
	startOffset      int64
	producerID       int64
	producerEpoch    int16
	coordinatorEpoch int32
}

// abortFlags are the command line of `txn abort`, with which were given.
type abortFlags struct {
	topic                                    string
	partition                                int32
	startOffset                              int64
	producerID                               int64
	producerEpoch                            int16
	coordinatorEpoch                         int32
	hasPartition, hasStart, hasPID, hasEpoch bool
	hasCoordEpoch                            bool
}

// parseAbort checks that the flags name one partition and either a start
// offset or the whole producer.
func parseAbort(f abortFlags) (abortSpec, error) {
	if f.topic == "" || !f.hasPartition {
		return abortSpec{}, errors.New("abort: give --topic and --partition of the partition whose transaction to abort")
	}
	if f.partition < 0 {
		return abortSpec{}, fmt.Errorf("--partition %d: want a partition number >= 0", f.partition)
	}
	s := abortSpec{topic: f.topic, partition: f.partition, startOffset: -1}
	producer := f.hasPID || f.hasEpoch || f.hasCoordEpoch
	switch {
	case f.hasStart && producer:
		return abortSpec{}, errors.New("abort: give --start-offset, or --producer-id, --producer-epoch and --coordinator-epoch, not both")
	case f.hasStart:
		if f.startOffset < 0 {
			return abortSpec{}, fmt.Errorf("--start-offset %d: want an offset >= 0", f.startOffset)
		}
		s.startOffset = f.startOffset
	case f.hasPID && f.hasEpoch && f.hasCoordEpoch:
		if f.producerID < 0 || f.producerEpoch < 0 || f.coordinatorEpoch < 0 {
			return abortSpec{}, errors.New("abort: --producer-id, --producer-epoch and --coordinator-epoch must be >= 0")
		}
		s.producerID, s.producerEpoch, s.coordinatorEpoch = f.producerID, f.producerEpoch, f.coordinatorEpoch
	default:
		return abortSpec{}, errors.New("abort: give --start-offset (as find-hanging prints it), or all of --producer-id, --producer-epoch and --coordinator-epoch")
	}
	return s, nil
}

func (a *app) txnAbortCommand() *cobra.Command {
	var f abortFlags
	cmd := &cobra.Command{
		Use:   "abort --topic T --partition P (--start-offset O | --producer-id N --producer-epoch E --coordinator-epoch C)",
		Short: "Abort a hanging transaction on one partition by writing its ABORT marker",
		Long: "Write an ABORT marker for a producer's open transaction to the leader of one\n" +
			"partition (WriteTxnMarkers, KIP-664), as kafka-transactions.sh abort does. The\n" +
			"transaction's records on that partition become aborted and the partition's\n" +
			"last stable offset moves past them. Name the transaction by its start offset\n" +
			"(as `ringtail txn find-hanging` prints it; the producer is looked up with\n" +
			"DescribeProducers), or give its producer id, producer epoch and coordinator\n" +
			"epoch.\n\n" +
			"This is meant for hanging transactions that no coordinator will finish: the\n" +
			"coordinator is not told, so aborting a transaction it still tracks leaves it\n" +
			"Ongoing there until the producer ends it or it times out.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			f.hasPartition, f.hasStart = fl.Changed("partition"), fl.Changed("start-offset")
			f.hasPID, f.hasEpoch, f.hasCoordEpoch = fl.Changed("producer-id"), fl.Changed("producer-epoch"), fl.Changed("coordinator-epoch")
			spec, err := parseAbort(f)
			if err != nil {
				return err
			}
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			return a.abortTxn(cmd.Context(), adm, spec)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.topic, "topic", "", "the topic of the partition")
	fs.Int32Var(&f.partition, "partition", -1, "the partition")
	fs.Int64Var(&f.startOffset, "start-offset", -1, "the first offset of the transaction to abort (looks its producer up)")
	fs.Int64Var(&f.producerID, "producer-id", -1, "the producer id of the transaction")
	fs.Int16Var(&f.producerEpoch, "producer-epoch", -1, "the producer epoch of the transaction")
	fs.Int32Var(&f.coordinatorEpoch, "coordinator-epoch", -1, "the coordinator epoch for the marker (DescribeProducers shows the last one)")
	return cmd
}

// producerAt finds the producer whose open transaction starts at offset
// among a partition's producers, and the coordinator epoch to write its
// marker with: the producer's last one, or 0 when it has none yet (as
// kafka-transactions.sh).
func producerAt(producers []kadm.DescribedProducer, offset int64) (kadm.DescribedProducer, int32, bool) {
	for _, p := range producers {
		if p.CurrentTxnStartOffset == offset {
			return p, max(p.CoordinatorEpoch, 0), true
		}
	}
	return kadm.DescribedProducer{}, 0, false
}

func (a *app) abortTxn(ctx context.Context, adm *kadm.Client, s abortSpec) error {
	what := fmt.Sprintf("abort transaction on %s partition %d", s.topic, s.partition)
	if s.startOffset >= 0 {
		dps, err := adm.DescribeProducers(ctx, kadm.TopicsSet{s.topic: {s.partition: {}}})
		if err != nil {
			return failed(what+": describe producers", err, "")
		}
		p, ok := dps[s.topic].Partitions[s.partition]
		if !ok {
			return failed(what+": describe producers", errors.New("the partition is missing from the broker's response"), "")
		}
		if p.Err != nil {
			return failed(what+": describe producers", p.Err, p.ErrMessage)
		}
		producers := p.ActiveProducers.Sorted()
		found, coordEpoch, ok := producerAt(producers, s.startOffset)
		if !ok {
			var open []string
			for _, dp := range producers {
				if dp.CurrentTxnStartOffset >= 0 {
					open = append(open, strconv.FormatInt(dp.CurrentTxnStartOffset, 10))
				}
			}
			why := "the partition has no open transaction"
			if len(open) > 0 {
				why = "open transactions start at " + strings.Join(open, ", ")
			}
			return fmt.Errorf("%s: no open transaction starts at offset %d (%s)", what, s.startOffset, why)
		}
		s.producerID, s.producerEpoch, s.coordinatorEpoch = found.ProducerID, found.ProducerEpoch, coordEpoch
	}
	// kgo sends WriteTxnMarkers to each partition's leader (from metadata).
	resps, err := adm.WriteTxnMarkers(ctx, kadm.TxnMarkers{
		ProducerID: s.producerID, ProducerEpoch: s.producerEpoch, Commit: false, CoordinatorEpoch: s.coordinatorEpoch,
		Topics: kadm.TopicsSet{s.topic: {s.partition: {}}},
	})
	if err != nil {
		return failed(what, err, "")
	}
	r, ok := resps[s.producerID].Topics[s.topic].Partitions[s.partition]
	if !ok {
		return failed(what, errors.New("the partition is missing from the broker's response"), "")
	}
	if r.Err != nil {
		why := ""
		if errors.Is(r.Err, kerr.InvalidProducerEpoch) {
			why = "the producer has a newer epoch on this partition"
		} else if errors.Is(r.Err, kerr.TransactionCoordinatorFenced) {
			why = "the partition has a marker from a newer coordinator epoch"
		}
		return failed(what, r.Err, why)
	}
	fmt.Fprintf(a.stdout, "aborted the transaction of producer %d (epoch %d, coordinator epoch %d) on %s partition %d\n",
		s.producerID, s.producerEpoch, s.coordinatorEpoch, s.topic, s.partition)
	return nil
}
