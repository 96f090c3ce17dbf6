package cli

// Share groups (KIP-932) in `ringtail group`: describe shows a share
// group's epochs, its members with their epochs, subscriptions and
// assignments (ShareGroupDescribe), then each share partition's start
// offset and lag (DescribeShareGroupOffsets, served by the share-partition
// side; '-' where the broker has none or does not serve it);
// reset-offsets moves a share group's start offsets
// (AlterShareGroupOffsets) and delete-offsets drops its share-partition
// state per topic (DeleteShareGroupOffsets). list --type share and delete
// need nothing of their own (ListGroups, DeleteGroups).

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// describeShareGroups writes the share groups among groups and returns
// the others (a broker without ShareGroupDescribe has none).
func (a *app) describeShareGroups(ctx context.Context, adm *kadm.Client, b *strings.Builder, groups []string) (rest []string) {
	described, _ := adm.DescribeShareGroups(ctx, groups...)
	var share []string
	for _, g := range groups {
		if d, ok := described[g]; ok && d.Err == nil {
			share = append(share, g)
			continue
		}
		rest = append(rest, g)
	}
	if len(share) == 0 {
		return rest
	}
	offsets, _ := adm.DescribeShareGroupOffsets(ctx, share...)
	for _, g := range share {
		writeShareGroup(b, described[g], offsets[g])
	}
	return rest
}

// writeShareGroup renders one share group: a header line, one line per
// member, then per assigned (or started) share partition its start offset,
// lag and members.
func writeShareGroup(b *strings.Builder, d kadm.DescribedShareGroup, o kadm.DescribedShareGroupOffsets) {
	fmt.Fprintf(b, "Group: %s\tType: share\tState: %s\tEpoch: %d\tAssignmentEpoch: %d\tAssignor: %s\tCoordinator: %d\tMembers: %d\n",
		d.GroupID, d.GroupState, d.GroupEpoch, d.AssignmentEpoch, orDash(d.Assignor), d.Coordinator.NodeID, len(d.Members))
	type tp struct {
		t string
		p int32
	}
	holders := map[tp][]string{}
	for _, m := range d.Members {
		fmt.Fprintf(b, "\tMember: %s\tEpoch: %d", m.MemberID, m.MemberEpoch)
		if m.RackID != nil {
			fmt.Fprintf(b, "\tRack: %s", *m.RackID)
		}
		subs := append([]string(nil), m.SubscribedTopicNames...)
		sort.Strings(subs)
		fmt.Fprintf(b, "\tClientId: %s\tHost: %s\tSubscribed: %s\tAssigned: %s\n", m.ClientID, m.ClientHost, orDash(strings.Join(subs, ",")), topicsSetString(m.Assignment))
		m.Assignment.Each(func(t string, p int32) { holders[tp{t, p}] = append(holders[tp{t, p}], m.MemberID) })
	}
	o.Offsets.Each(func(so kadm.ShareOffset) {
		if _, ok := holders[tp{so.Topic, so.Partition}]; !ok {
			holders[tp{so.Topic, so.Partition}] = nil
		}
	})
	keys := make([]tp, 0, len(holders))
	for k := range holders {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].t < keys[j].t || keys[i].t == keys[j].t && keys[i].p < keys[j].p })
	b.WriteByte('\n')
	tw := tabwriter.NewWriter(b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTOPIC\tPARTITION\tSTART-OFFSET\tLAG\tMEMBERS")
	for _, k := range keys {
		start, lag := "-", "-"
		so, ok := o.Offsets.Lookup(k.t, k.p)
		if ok && so.Err == nil && so.StartOffset >= 0 {
			start = strconv.FormatInt(so.StartOffset, 10)
			if so.Lag >= 0 {
				lag = strconv.FormatInt(so.Lag, 10)
			}
		}
		ms := append([]string(nil), holders[k]...)
		sort.Strings(ms)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s", d.GroupID, k.t, k.p, start, lag, orDash(strings.Join(ms, ",")))
		if ok && so.Err != nil {
			fmt.Fprintf(tw, "\t%s", oneLine(describeError(so.Err, "")))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	b.WriteByte('\n')
}

// shareGroupOf describes group as a share group; ok is false when it is
// not one (or the broker has no share groups).
func shareGroupOf(ctx context.Context, adm *kadm.Client, group string) (kadm.DescribedShareGroup, bool) {
	described, err := adm.DescribeShareGroups(ctx, group)
	if err != nil {
		return kadm.DescribedShareGroup{}, false
	}
	d, ok := described[group]
	return d, ok && d.Err == nil
}

// topicSpecSet is the partitions --topic names, checked against the
// cluster's topics.
func topicSpecSet(ctx context.Context, adm *kadm.Client, what string, specs []topicSpec) (kadm.TopicsSet, error) {
	set := make(kadm.TopicsSet)
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.topic
	}
	tds, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, failed(what+": list topics", err, "")
	}
	for _, s := range specs {
		td, ok := tds[s.topic]
		if !ok {
			td.Err = kerr.UnknownTopicOrPartition
		}
		if td.Err != nil {
			return nil, failed(fmt.Sprintf("%s: topic %q", what, s.topic), td.Err, "")
		}
		if s.partitions == nil {
			set.Add(s.topic, td.Partitions.Numbers()...)
			continue
		}
		for _, p := range s.partitions {
			if _, ok := td.Partitions[p]; !ok {
				return nil, failed(fmt.Sprintf("%s: topic %q", what, s.topic), kerr.UnknownTopicOrPartition,
					fmt.Sprintf("partition %d does not exist; the topic has %d", p, len(td.Partitions)))
			}
		}
		set.Add(s.topic, s.partitions...)
	}
	return set, nil
}

// resetShareOffsets is reset-offsets for a share group: the share-partition
// start offsets move (AlterShareGroupOffsets), as kafka-share-groups
// --reset-offsets does; the group must be Empty.
func (a *app) resetShareOffsets(ctx context.Context, adm *kadm.Client, d kadm.DescribedShareGroup, specs []topicSpec, target resetTarget, execute bool) error {
	group := d.GroupID
	what := fmt.Sprintf("reset offsets of share group %q", group)
	if d.GroupState != "Empty" {
		return fmt.Errorf("%s: the group is %s with %d active member(s); its start offsets can only be reset when it is Empty, as in Kafka: stop its consumers first",
			what, d.GroupState, len(d.Members))
	}
	described, err := adm.DescribeShareGroupOffsets(ctx, group)
	if err != nil {
		return failed(what+": describe share group offsets", err, "")
	}
	current := described[group]
	if current.Err != nil {
		return failed(what+": describe share group offsets", current.Err, "")
	}
	set := make(kadm.TopicsSet)
	if len(specs) == 0 { // --all-topics
		current.Offsets.Each(func(o kadm.ShareOffset) {
			if o.Err == nil && o.StartOffset >= 0 {
				set.Add(o.Topic, o.Partition)
			}
		})
		if len(set) == 0 {
			return fmt.Errorf("%s: the group has no share-partition start offsets; name topics with --topic", what)
		}
	} else if set, err = topicSpecSet(ctx, adm, what, specs); err != nil {
		return err
	}
	topicNames := set.Topics()
	starts, err := adm.ListStartOffsets(ctx, topicNames...)
	if err != nil {
		return failed(what+": list log start offsets", err, "")
	}
	ends, err := adm.ListEndOffsets(ctx, topicNames...)
	if err != nil {
		return failed(what+": list log end offsets", err, "")
	}
	var byTime kadm.ListedOffsets
	if target.mode == resetToDatetime {
		if byTime, err = adm.ListOffsetsAfterMilli(ctx, target.at.UnixMilli(), topicNames...); err != nil {
			return failed(what+": list offsets by time", err, "")
		}
	}
	var parts []partitionOffsets
	for _, tp := range set.Sorted() {
		for _, p := range tp.Partitions {
			po := partitionOffsets{topic: tp.Topic, partition: p, committed: -1, atTime: -1}
			if o, ok := current.Offsets.Lookup(tp.Topic, p); ok && o.Err == nil && o.StartOffset >= 0 {
				po.committed = o.StartOffset
			}
			if po.start, err = listed(starts, tp.Topic, p, "log start"); err != nil {
				return failed(what, err, "")
			}
			if po.end, err = listed(ends, tp.Topic, p, "log end"); err != nil {
				return failed(what, err, "")
			}
			if o, ok := byTime.Lookup(tp.Topic, p); ok && o.Err == nil {
				po.atTime = o.Offset
			}
			parts = append(parts, po)
		}
	}
	rows, err := planReset(target, parts)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if proceed, err := a.showResetPlan(group, rows, "OLD-START-OFFSET", "NEW-START-OFFSET", execute); !proceed || err != nil {
		return err
	}
	offsets := make(kadm.Offsets)
	for _, r := range rows {
		offsets.Add(kadm.Offset{Topic: r.topic, Partition: r.partition, At: r.new, LeaderEpoch: -1})
	}
	resps, err := adm.AlterShareGroupOffsets(ctx, group, offsets)
	if err != nil {
		return failed(what, err, "")
	}
	failures := 0
	for _, r := range rows {
		if err, ok := resps.Lookup(r.topic, r.partition); ok && err != nil {
			a.report(failed(fmt.Sprintf("%s: %s partition %d", what, r.topic, r.partition), err, ""))
			failures++
		}
	}
	if failures > 0 {
		return errReported
	}
	fmt.Fprintf(a.stderr, "ringtail: reset %d partition(s) of share group %s\n", len(rows), group)
	return nil
}

func (a *app) groupDeleteOffsetsCommand() *cobra.Command {
	var topics []string
	cmd := &cobra.Command{
		Use:   "delete-offsets GROUP --topic T[:P,...] ...",
		Short: "Delete a group's committed offsets (a share group's share-partition state) for topics",
		Long: "Delete GROUP's committed offsets of the named topics (OffsetDelete; TOPIC:0,1\n" +
			"names partitions), as kafka-consumer-groups --delete-offsets does; a topic the\n" +
			"group's members subscribe to is refused. For a share group (KIP-932), the\n" +
			"share-partition state of each whole topic is deleted (DeleteShareGroupOffsets);\n" +
			"the group must be Empty.",
		Args: exactArgs(1, "one GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			specs, err := parseTopicSpecs(topics)
			if err != nil {
				return err
			}
			if len(specs) == 0 {
				return errors.New("delete-offsets: name at least one --topic")
			}
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			return a.deleteOffsets(cmd.Context(), adm, args[0], specs)
		},
	}
	cmd.Flags().StringArrayVar(&topics, "topic", nil, "topic whose offsets to delete, all partitions or TOPIC:0,1,2; repeatable")
	return cmd
}

func (a *app) deleteOffsets(ctx context.Context, adm *kadm.Client, group string, specs []topicSpec) error {
	what := fmt.Sprintf("delete offsets of group %q", group)
	failures := 0
	if _, ok := shareGroupOf(ctx, adm, group); ok {
		names := make([]string, 0, len(specs))
		for _, s := range specs {
			if s.partitions != nil {
				return fmt.Errorf("%s: a share group's offsets are deleted per topic; name topics without partitions", what)
			}
			names = append(names, s.topic)
		}
		resps, err := adm.DeleteShareGroupOffsets(ctx, group, names...)
		if err != nil {
			return failed(what, err, "")
		}
		for _, t := range names {
			if err, ok := resps.Lookup(t); ok && err != nil {
				a.report(failed(fmt.Sprintf("%s: topic %s", what, t), err, ""))
				failures++
			}
		}
	} else {
		set, err := topicSpecSet(ctx, adm, what, specs)
		if err != nil {
			return err
		}
		resps, err := adm.DeleteOffsets(ctx, group, set)
		if err != nil {
			return failed(what, err, "")
		}
		for _, tp := range set.Sorted() {
			for _, p := range tp.Partitions {
				if err, ok := resps.Lookup(tp.Topic, p); ok && err != nil {
					a.report(failed(fmt.Sprintf("%s: %s partition %d", what, tp.Topic, p), err, ""))
					failures++
				}
			}
		}
	}
	if failures > 0 {
		return errReported
	}
	fmt.Fprintf(a.stderr, "ringtail: deleted the offsets of group %s for %d topic(s)\n", group, len(specs))
	return nil
}
