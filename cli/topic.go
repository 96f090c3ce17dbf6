package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (a *app) topicCommand() *cobra.Command {
	return groupCommand("topic", "Create, list, describe, delete and configure topics",
		a.topicCreateCommand(), a.topicListCommand(), a.topicDescribeCommand(),
		a.topicDeleteCommand(), a.topicAlterConfigCommand())
}

// admin opens a kadm client; close it with the returned func.
func (a *app) admin() (*kadm.Client, func(), error) {
	cl, err := a.client()
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

func (a *app) topicCreateCommand() *cobra.Command {
	var (
		partitions        int32
		replicationFactor int16
		configs           []string
		ifNotExists       bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME [--partitions N] [--replication-factor N] [--config key=value ...] [--if-not-exists]",
		Short: "Create a topic",
		Args:  exactArgs(1, "one topic NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			what := fmt.Sprintf("create topic %q", name)
			cfg, err := parseKVs("config", configs)
			if err != nil {
				return err
			}
			ptrs := make(map[string]*string, len(cfg))
			for k, v := range cfg {
				ptrs[k] = kadm.StringPtr(v)
			}
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			resp, err := adm.CreateTopic(cmd.Context(), partitions, replicationFactor, ptrs, name)
			if err != nil {
				if ifNotExists && errors.Is(err, kerr.TopicAlreadyExists) {
					return nil
				}
				return failed(what, err, resp.ErrMessage)
			}
			fmt.Fprintf(a.stdout, "created topic %s\n", name)
			return nil
		},
	}
	f := cmd.Flags()
	f.Int32VarP(&partitions, "partitions", "p", -1, "number of partitions (default: the broker's num.partitions)")
	f.Int16VarP(&replicationFactor, "replication-factor", "r", -1, "replicas per partition (default: the broker's default.replication.factor)")
	f.StringArrayVar(&configs, "config", nil, "topic config override key=value, repeatable (e.g. --config retention.ms=3600000)")
	f.BoolVar(&ifNotExists, "if-not-exists", false, "succeed quietly if the topic already exists")
	return cmd
}

func (a *app) topicListCommand() *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topic names, one per line",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			topics, err := adm.ListTopicsWithInternal(cmd.Context())
			if err != nil {
				return failed("list topics", err, "")
			}
			if !internal {
				topics.FilterInternal()
			}
			for _, name := range topics.Names() {
				fmt.Fprintln(a.stdout, name)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics such as __consumer_offsets")
	return cmd
}

func (a *app) topicDescribeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "describe [NAME...]",
		Short: "Describe topics: partitions, leaders, replicas, ISR, offsets, sizes and config overrides",
		Long: "Describe the named topics, or all topics. For each, one line with the topic and its\n" +
			"config overrides, then one line per partition with its leader, replicas, in-sync\n" +
			"replicas, log start and end offsets, and size: the bytes of the leader's log\n" +
			"segments on disk (DescribeLogDirs; each replica holds about as much), or of the\n" +
			"largest replica that answered while there is no leader; ? if none answered.",
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			return a.describeTopics(cmd.Context(), adm, args)
		},
	}
}

func (a *app) describeTopics(ctx context.Context, adm *kadm.Client, names []string) error {
	topics, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return failed("describe topics", err, "")
	}
	var good []string
	failures := 0
	for _, name := range sortedUnique(names, topics) {
		td, ok := topics[name]
		if !ok {
			td.Err = kerr.UnknownTopicOrPartition
		}
		if td.Err != nil {
			a.report(failed(fmt.Sprintf("describe topic %q", name), td.Err, ""))
			failures++
			continue
		}
		good = append(good, name)
	}
	if len(good) == 0 {
		if failures > 0 {
			return errReported
		}
		return nil
	}

	starts, err := adm.ListStartOffsets(ctx, good...)
	if err != nil {
		return failed("list log start offsets", err, "")
	}
	ends, err := adm.ListEndOffsets(ctx, good...)
	if err != nil {
		return failed("list log end offsets", err, "")
	}
	overrides := map[string][]string{}
	rcs, err := adm.DescribeTopicConfigs(ctx, good...)
	if err != nil {
		return failed("describe topic configs", err, "")
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			a.report(failed(fmt.Sprintf("describe configs of topic %q", rc.Name), rc.Err, rc.ErrMessage))
			failures++
			continue
		}
		overrides[rc.Name] = topicOverrides(rc.Configs)
	}

	sizes := partitionSizes(ctx, adm, topics, good)

	var b strings.Builder
	for _, name := range good {
		td := topics[name]
		fmt.Fprintf(&b, "Topic: %s", name)
		if td.ID != (kadm.TopicID{}) {
			fmt.Fprintf(&b, "\tTopicId: %s", base64.RawURLEncoding.EncodeToString(td.ID[:]))
		}
		fmt.Fprintf(&b, "\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
			len(td.Partitions), td.Partitions.NumReplicas(), strings.Join(overrides[name], ","))
		for _, p := range td.Partitions.Sorted() {
			leader := "none"
			if p.Leader >= 0 {
				leader = strconv.Itoa(int(p.Leader))
			}
			fmt.Fprintf(&b, "\tTopic: %s\tPartition: %d\tLeader: %s\tReplicas: %s\tIsr: %s\tLogStartOffset: %s\tLogEndOffset: %s\tSize: %s",
				name, p.Partition, leader, joinInt32s(p.Replicas), joinInt32s(p.ISR),
				offsetString(starts, name, p.Partition), offsetString(ends, name, p.Partition),
				sizeString(sizes, p))
			if p.Err != nil {
				fmt.Fprintf(&b, "\tError: %s", describeError(p.Err, ""))
			}
			b.WriteByte('\n')
		}
	}
	if _, err := fmt.Fprint(a.stdout, b.String()); err != nil {
		return err
	}
	if failures > 0 {
		return errReported
	}
	return nil
}

// logDirsTimeout bounds the size lookup of topic describe: a broker that
// just died is still listed until it is fenced, and its sizes are not
// worth waiting out the retry timeout for.
const logDirsTimeout = 5 * time.Second

// partitionSizes asks every broker for the sizes of the replicas of topics
// it stores: broker -> topic -> partition -> bytes. What a broker does not
// answer (down, too old for DescribeLogDirs) is left out; sizes are an
// addition to describe, never a reason for it to fail.
func partitionSizes(ctx context.Context, adm *kadm.Client, details kadm.TopicDetails, topics []string) map[int32]kadm.DescribedLogDirs {
	set := make(kadm.TopicsSet)
	for _, name := range topics {
		for p := range details[name].Partitions {
			set.Add(name, p)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, logDirsTimeout)
	defer cancel()
	all, _ := adm.DescribeAllLogDirs(ctx, set) // partial on *ShardErrors
	return all
}

// sizeString is the size of p's leader replica in human units or, without
// a leader that answered, of the largest replica that did ("?" if none).
func sizeString(sizes map[int32]kadm.DescribedLogDirs, p kadm.PartitionDetail) string {
	size := int64(-1)
	lookup := func(broker int32) (int64, bool) {
		d, ok := sizes[broker].LookupPartition(p.Topic, p.Partition)
		return d.Size, ok
	}
	if s, ok := lookup(p.Leader); ok && p.Leader >= 0 {
		size = s
	} else {
		for _, r := range p.Replicas {
			if s, ok := lookup(r); ok && s > size {
				size = s
			}
		}
	}
	if size < 0 {
		return "?"
	}
	return humanBytes(size)
}

// humanBytes is n in B, KiB, MiB, GiB, TiB or PiB, one decimal above B.
func humanBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	f := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= 1024
		if f < 1023.95 { // not "1024.0 KiB"
			return strconv.FormatFloat(f, 'f', 1, 64) + " " + unit
		}
	}
	return strconv.FormatFloat(f/1024, 'f', 1, 64) + " PiB"
}

// sortedUnique is the topics to describe: those named (deduplicated, in
// name order), or every topic listed.
func sortedUnique(names []string, topics kadm.TopicDetails) []string {
	if len(names) == 0 {
		return topics.Names()
	}
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// topicOverrides are the configs set on the topic itself, as key=value.
func topicOverrides(cs []kadm.Config) []string {
	var out []string
	for _, c := range cs {
		if c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			continue
		}
		v := c.MaybeValue()
		if c.Sensitive {
			v = "(sensitive)"
		}
		out = append(out, c.Key+"="+v)
	}
	sort.Strings(out)
	return out
}

func offsetString(l kadm.ListedOffsets, topic string, partition int32) string {
	o, ok := l.Lookup(topic, partition)
	if !ok || o.Err != nil || o.Offset < 0 {
		return "?"
	}
	return strconv.FormatInt(o.Offset, 10)
}

func joinInt32s(ns []int32) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(int(n))
	}
	return strings.Join(parts, ",")
}

func (a *app) topicDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete topics",
		Args:  minArgs(1, "at least one topic NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.DeleteTopics(cmd.Context(), args...)
			if err != nil {
				return failed("delete topics", err, "")
			}
			failures := 0
			for _, r := range resps.Sorted() {
				if r.Err != nil {
					a.report(failed(fmt.Sprintf("delete topic %q", r.Topic), r.Err, r.ErrMessage))
					failures++
					continue
				}
				fmt.Fprintf(a.stdout, "deleted topic %s\n", r.Topic)
			}
			if failures > 0 {
				return errReported
			}
			return nil
		},
	}
}

func (a *app) topicAlterConfigCommand() *cobra.Command {
	var sets, deletes []string
	cmd := &cobra.Command{
		Use:   "alter-config NAME [--set key=value ...] [--delete key ...]",
		Short: "Set or remove topic config overrides (IncrementalAlterConfigs)",
		Args:  exactArgs(1, "one topic NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			alters, err := buildAlters(sets, deletes)
			if err != nil {
				return err
			}
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			what := fmt.Sprintf("alter configs of topic %q", name)
			resps, err := adm.AlterTopicConfigs(cmd.Context(), alters, name)
			if err != nil {
				return failed(what, err, "")
			}
			r, err := resps.On(name, nil)
			if err == nil {
				err = r.Err
			}
			if err != nil {
				return failed(what, err, r.ErrMessage)
			}
			fmt.Fprintf(a.stdout, "altered configs of topic %s\n", name)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "set a config override key=value, repeatable")
	cmd.Flags().StringArrayVar(&deletes, "delete", nil, "remove a config override (back to the default), repeatable")
	return cmd
}

// buildAlters turns --set and --delete into incremental alterations; a key
// may appear once across both.
func buildAlters(sets, deletes []string) ([]kadm.AlterConfig, error) {
	if len(sets)+len(deletes) == 0 {
		return nil, errors.New("alter-config: nothing to do: give --set key=value or --delete key")
	}
	setMap, err := parseKVs("set", sets)
	if err != nil {
		return nil, err
	}
	var alters []kadm.AlterConfig
	keys := make([]string, 0, len(setMap))
	for k := range setMap {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(setMap[k])})
	}
	seen := map[string]bool{}
	for _, k := range deletes {
		k = strings.TrimSpace(k)
		if k == "" || strings.Contains(k, "=") {
			return nil, fmt.Errorf("--delete %q: want a config key, without a value", k)
		}
		if _, dup := setMap[k]; dup || seen[k] {
			return nil, fmt.Errorf("%s is given twice across --set and --delete", k)
		}
		seen[k] = true
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	return alters, nil
}
