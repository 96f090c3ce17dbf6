package cli

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

// `ringtail group ...` works on consumer groups the way kafka-consumer-groups
// does: list, describe (members, assignments, committed offsets and lag),
// delete, and reset-offsets. It is an ordinary admin client on kadm, so it
// works against any Kafka broker.

func (a *app) consumerGroupCommand() *cobra.Command {
	return groupCommand("group", "List, describe, delete consumer groups and reset their offsets",
		a.groupListCommand(), a.groupDescribeCommand(), a.groupDeleteCommand(), a.groupResetOffsetsCommand(),
		a.groupDeleteOffsetsCommand(), // groupshare.go
		a.groupAlterConfigCommand())   // groupconfig.go
}

func (a *app) groupListCommand() *cobra.Command {
	var states, types []string
	cmd := &cobra.Command{
		Use:   "list [--state Stable,Empty,...] [--type classic|consumer|share]",
		Short: "List consumer groups, one per line",
		Long: "List consumer group names, one per line. With --state, only groups in those\n" +
			"states (PreparingRebalance, CompletingRebalance, Stable, Empty, Dead; consumer\n" +
			"groups: Assigning, Reconciling), each followed by its state. With --type, only\n" +
			"classic groups, consumer (KIP-848) groups or share (KIP-932) groups.",
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := parseStates(states)
			if err != nil {
				return err
			}
			typeFilter, err := parseGroupTypes(types)
			if err != nil {
				return err
			}
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			groups, err := adm.ListGroupsByType(cmd.Context(), typeFilter, filter...)
			if err != nil {
				return failed("list groups", err, "")
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 8, 2, ' ', 0)
			if len(filter) > 0 {
				fmt.Fprintln(tw, "GROUP\tSTATE")
			}
			for _, g := range groups.Sorted() {
				if len(filter) > 0 {
					fmt.Fprintf(tw, "%s\t%s\n", g.Group, g.State)
				} else {
					fmt.Fprintln(tw, g.Group)
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only groups in these states, comma-separated (e.g. Stable,Empty)")
	cmd.Flags().StringSliceVar(&types, "type", nil, "only groups of these types: classic, consumer (KIP-848), share (KIP-932)")
	return cmd
}

// parseGroupTypes reads --type classic,consumer case-insensitively.
func parseGroupTypes(list []string) ([]string, error) {
	var out []string
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			switch t := strings.ToLower(strings.TrimSpace(s)); t {
			case "":
			case "classic", "consumer", "share":
				out = append(out, t)
			default:
				return nil, fmt.Errorf("--type %q: want classic, consumer or share (comma-separated)", s)
			}
		}
	}
	return out, nil
}

func (a *app) groupDescribeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Describe consumer groups: members, assignments, committed offsets and lag",
		Long: "Describe each GROUP: one line with its state, protocol and coordinator; one line\n" +
			"per member with its client id, host and assigned partitions; then, per\n" +
			"partition, the committed offset (CURRENT-OFFSET), the log end offset, the lag\n" +
			"between them, and the member consuming it. '-' marks what is not known: a\n" +
			"partition with no committed offset has no lag, one with no member no consumer.\n" +
			"A share group (KIP-932) shows its epochs, each member's epoch, subscription and\n" +
			"assignment, then each share partition's start offset, lag and members.",
		Args: minArgs(1, "at least one GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			return a.describeGroups(cmd.Context(), adm, dedupe(args))
		},
	}
}

func (a *app) describeGroups(ctx context.Context, adm *kadm.Client, groups []string) error {
	var b strings.Builder
	if groups = a.describeShareGroups(ctx, adm, &b, groups); len(groups) == 0 { // groupshare.go
		_, err := fmt.Fprint(a.stdout, b.String())
		return err
	}
	lags, err := adm.Lag(ctx, groups...)
	if err != nil {
		return failed("describe groups", err, "")
	}
	// Consumer (KIP-848) groups: epochs and assignments come from
	// ConsumerGroupDescribe (a classic group answers GROUP_ID_NOT_FOUND
	// there; a broker without the API fails it as a whole).
	consumer, _ := adm.DescribeConsumerGroups(ctx, groups...)
	failures := 0
	for _, name := range groups {
		l, ok := lags[name]
		if !ok {
			a.report(failed(fmt.Sprintf("describe group %q", name), errors.New("missing from the broker's response"), ""))
			failures++
			continue
		}
		if err := l.Error(); err != nil {
			a.report(failed(fmt.Sprintf("describe group %q", name), err, ""))
			failures++
			continue
		}
		if l.State == "Dead" && len(l.Members) == 0 && len(l.Lag.Sorted()) == 0 {
			a.report(failed(fmt.Sprintf("describe group %q", name), kerr.GroupIDNotFound, "the group does not exist"))
			failures++
			continue
		}
		if cg, ok := consumer[name]; ok && cg.Err == nil {
			writeConsumerGroupLag(&b, l, cg)
			continue
		}
		writeGroupLag(&b, l)
	}
	if _, err := fmt.Fprint(a.stdout, b.String()); err != nil {
		return err
	}
	if failures > 0 {
		return errReported
	}
	return nil
}

// writeGroupLag renders one described group, kafka-consumer-groups style.
func writeGroupLag(b *strings.Builder, l kadm.DescribedGroupLag) {
	writeGroupLagWith(b, l, nil)
}

// writeConsumerGroupLag renders a consumer (KIP-848) group: its epochs and
// assignor, each member's epoch, current and target assignment, then the
// offsets table with each partition's current owner.
func writeConsumerGroupLag(b *strings.Builder, l kadm.DescribedGroupLag, cg kadm.DescribedConsumerGroup) {
	fmt.Fprintf(b, "Group: %s\tType: consumer\tState: %s\tEpoch: %d\tAssignmentEpoch: %d\tAssignor: %s\tCoordinator: %d\tMembers: %d\n",
		cg.Group, cg.State, cg.Epoch, cg.AssignmentEpoch, orDash(cg.AssignorName), l.Coordinator.NodeID, len(cg.Members))
	owners := map[string]map[int32]kadm.ConsumerGroupMember{}
	for _, m := range cg.Members {
		fmt.Fprintf(b, "\tMember: %s\tEpoch: %d", m.MemberID, m.MemberEpoch)
		if m.InstanceID != nil {
			fmt.Fprintf(b, "\tInstance: %s", *m.InstanceID)
		}
		if m.RackID != nil {
			fmt.Fprintf(b, "\tRack: %s", *m.RackID)
		}
		fmt.Fprintf(b, "\tClientId: %s\tHost: %s\tAssigned: %s\tTarget: %s\n", m.ClientID, m.ClientHost, topicsSetString(m.Assignment), topicsSetString(m.TargetAssignment))
		m.Assignment.Each(func(t string, p int32) {
			if owners[t] == nil {
				owners[t] = map[int32]kadm.ConsumerGroupMember{}
			}
			owners[t][p] = m
		})
	}
	writeGroupLagWith(b, l, func(t string, p int32) (member, host, client string, ok bool) {
		m, ok := owners[t][p]
		return m.MemberID, m.ClientHost, m.ClientID, ok
	})
}

// writeGroupLagWith is writeGroupLag; owner, when not nil, names each
// partition's consumer instead of the classic describe (consumer groups),
// and the group's header is already written.
func writeGroupLagWith(b *strings.Builder, l kadm.DescribedGroupLag, owner func(t string, p int32) (member, host, client string, ok bool)) {
	if owner == nil {
		writeClassicHeader(b, l)
	}
	b.WriteByte('\n')
	tw := tabwriter.NewWriter(b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID\tHOST\tCLIENT-ID")
	for _, p := range l.Lag.Sorted() {
		current, lag, end := "-", "-", "-"
		if p.Commit.At >= 0 && p.Err == nil {
			current = strconv.FormatInt(p.Commit.At, 10)
			lag = strconv.FormatInt(p.Lag, 10)
		} else if p.Commit.At >= 0 {
			current = strconv.FormatInt(p.Commit.At, 10)
		}
		if p.End.Err == nil && p.End.Offset >= 0 {
			end = strconv.FormatInt(p.End.Offset, 10)
		}
		member, host, client := "-", "-", "-"
		if owner != nil {
			if m, h, c, ok := owner(p.Topic, p.Partition); ok {
				member, host, client = orDash(m), orDash(h), orDash(c)
			}
		} else if p.Member != nil {
			member, host, client = orDash(p.Member.MemberID), orDash(p.Member.ClientHost), orDash(p.Member.ClientID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s", l.Group, p.Topic, p.Partition, current, end, lag, member, host, client)
		if p.Err != nil {
			fmt.Fprintf(tw, "\t%s", oneLine(describeError(p.Err, "")))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	b.WriteByte('\n')
}

// writeClassicHeader is a classic group's header and member lines.
func writeClassicHeader(b *strings.Builder, l kadm.DescribedGroupLag) {
	protocol := l.ProtocolType
	if l.Protocol != "" {
		protocol += "/" + l.Protocol
	}
	if protocol == "" {
		protocol = "-"
	}
	fmt.Fprintf(b, "Group: %s\tState: %s\tProtocol: %s\tCoordinator: %d\tMembers: %d\n",
		l.Group, l.State, protocol, l.Coordinator.NodeID, len(l.Members))
	for _, m := range l.Members {
		fmt.Fprintf(b, "\tMember: %s", m.MemberID)
		if m.InstanceID != nil {
			fmt.Fprintf(b, "\tInstance: %s", *m.InstanceID)
		}
		fmt.Fprintf(b, "\tClientId: %s\tHost: %s\tAssigned: %s\n", m.ClientID, m.ClientHost, assignedString(m))
	}
}

// assignedString is a member's assignment as topic[0,1,2] topic2[3].
func assignedString(m kadm.DescribedGroupMember) string {
	c, ok := m.Assigned.AsConsumer()
	if !ok || len(c.Topics) == 0 {
		return "-"
	}
	topics := make([]string, 0, len(c.Topics))
	for _, t := range c.Topics {
		ps := append([]int32(nil), t.Partitions...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		topics = append(topics, t.Topic+"["+joinInt32s(ps)+"]")
	}
	sort.Strings(topics)
	return strings.Join(topics, " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// dedupe drops repeated names, keeping the first order.
func dedupe(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func (a *app) groupDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete consumer groups and their committed offsets (only groups with no members)",
		Args:  minArgs(1, "at least one GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			groups := dedupe(args)
			resps, err := adm.DeleteGroups(cmd.Context(), groups...)
			if err != nil {
				return failed("delete groups", err, "")
			}
			failures := 0
			for _, g := range groups {
				r, ok := resps[g]
				if !ok {
					r.Err = errors.New("missing from the broker's response")
				}
				if r.Err != nil {
					why := r.ErrMessage
					if errors.Is(r.Err, kerr.NonEmptyGroup) && why == "" {
						why = "the group has active members; stop its consumers first"
					}
					a.report(failed(fmt.Sprintf("delete group %q", g), r.Err, why))
					failures++
					continue
				}
				fmt.Fprintf(a.stdout, "deleted group %s\n", g)
			}
			if failures > 0 {
				return errReported
			}
			return nil
		},
	}
}

func (a *app) groupResetOffsetsCommand() *cobra.Command {
	var (
		rf        resetFlags
		topics    []string
		allTopics bool
		execute   bool
	)
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP (--topic T[:P,...] ... | --all-topics) (--to-earliest | --to-latest | --to-offset N | --to-datetime TIME | --shift-by N) [--execute]",
		Short: "Move a group's committed offsets (a dry run unless --execute)",
		Long: "Compute new committed offsets for GROUP on the partitions named by --topic\n" +
			"(all of a topic's partitions, or TOPIC:0,1,2) or on every partition the group\n" +
			"has committed to (--all-topics), and print the plan: old and new offset per\n" +
			"partition. Nothing changes unless --execute is given.\n\n" +
			"Targets outside a partition's log are clamped to its log start or end;\n" +
			"--to-datetime takes the first offset at or after the time (RFC 3339), or the\n" +
			"log end if there is none; --shift-by moves from the committed offset.\n\n" +
			"As with Kafka, the group must have no active members: stop its consumers first.",
		Args: exactArgs(1, "one GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := parseResetTarget(rf)
			if err != nil {
				return err
			}
			if allTopics == (len(topics) > 0) {
				return errors.New("reset-offsets: give --topic TOPIC[:PARTITIONS] (repeatable) or --all-topics, one of the two")
			}
			specs, err := parseTopicSpecs(topics)
			if err != nil {
				return err
			}
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			return a.resetOffsets(cmd.Context(), adm, args[0], specs, target, execute)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&topics, "topic", nil, "topic to reset, all partitions or TOPIC:0,1,2; repeatable")
	f.BoolVar(&allTopics, "all-topics", false, "reset every partition the group has committed offsets for")
	f.BoolVar(&rf.toEarliest, "to-earliest", false, "reset to the log start offset")
	f.BoolVar(&rf.toLatest, "to-latest", false, "reset to the log end offset")
	f.StringVar(&rf.toOffset, "to-offset", "", "reset to this offset")
	f.StringVar(&rf.toDatetime, "to-datetime", "", "reset to the first offset at or after this RFC 3339 time, e.g. 2024-05-01T12:00:00Z")
	f.StringVar(&rf.shiftBy, "shift-by", "", "move the committed offset by N records (negative: back)")
	f.BoolVar(&execute, "execute", false, "apply the plan (default: only print it)")
	return cmd
}

func (a *app) resetOffsets(ctx context.Context, adm *kadm.Client, group string, specs []topicSpec, target resetTarget, execute bool) error {
	if sd, ok := shareGroupOf(ctx, adm, group); ok {
		return a.resetShareOffsets(ctx, adm, sd, specs, target, execute) // groupshare.go
	}
	what := fmt.Sprintf("reset offsets of group %q", group)
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return failed(what, err, "")
	}
	d, ok := described[group]
	if !ok {
		return failed(what, errors.New("the group is missing from the broker's describe response"), "")
	}
	if d.Err != nil {
		return failed(what, d.Err, d.ErrMessage)
	}
	if !inactive(d.State) {
		return fmt.Errorf("%s: the group is %s with %d active member(s); offsets can only be reset when it is inactive (Empty), as in Kafka: stop its consumers first",
			what, d.State, len(d.Members))
	}

	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return failed(what+": fetch committed offsets", err, "")
	}
	if err := committed.Error(); err != nil {
		return failed(what+": fetch committed offsets", err, "")
	}

	// The partitions to reset.
	set := make(kadm.TopicsSet)
	if len(specs) == 0 { // --all-topics
		set = committed.Partitions()
		if len(set) == 0 {
			return fmt.Errorf("%s: the group has no committed offsets; name topics with --topic", what)
		}
	} else {
		names := make([]string, len(specs))
		for i, s := range specs {
			names[i] = s.topic
		}
		tds, err := adm.ListTopics(ctx, names...)
		if err != nil {
			return failed(what+": list topics", err, "")
		}
		for _, s := range specs {
			td, ok := tds[s.topic]
			if !ok {
				td.Err = kerr.UnknownTopicOrPartition
			}
			if td.Err != nil {
				return failed(fmt.Sprintf("%s: topic %q", what, s.topic), td.Err, "")
			}
			if s.partitions == nil {
				set.Add(s.topic, td.Partitions.Numbers()...)
				continue
			}
			for _, p := range s.partitions {
				if _, ok := td.Partitions[p]; !ok {
					return failed(fmt.Sprintf("%s: topic %q", what, s.topic), kerr.UnknownTopicOrPartition,
						fmt.Sprintf("partition %d does not exist; the topic has %d", p, len(td.Partitions)))
				}
			}
			set.Add(s.topic, s.partitions...)
		}
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
			if c, ok := committed.Lookup(tp.Topic, p); ok && c.Err == nil && c.At >= 0 {
				po.committed = c.At
			}
			if po.start, err = listed(starts, tp.Topic, p, "log start"); err != nil {
				return failed(what, err, "")
			}
			if po.end, err = listed(ends, tp.Topic, p, "log end"); err != nil {
				return failed(what, err, "")
			}
			if byTime != nil {
				if o, ok := byTime.Lookup(tp.Topic, p); ok && o.Err == nil {
					po.atTime = o.Offset
				}
			}
			parts = append(parts, po)
		}
	}
	rows, err := planReset(target, parts)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}

	if proceed, err := a.showResetPlan(group, rows, "OLD-OFFSET", "NEW-OFFSET", execute); !proceed || err != nil {
		return err
	}

	offsets := make(kadm.Offsets)
	for _, r := range rows {
		offsets.Add(kadm.Offset{Topic: r.topic, Partition: r.partition, At: r.new, LeaderEpoch: -1})
	}
	resps, err := adm.CommitOffsets(ctx, group, offsets)
	if err != nil {
		return failed(what, err, "")
	}
	failures := 0
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			why := ""
			if errors.Is(r.Err, kerr.UnknownMemberID) || errors.Is(r.Err, kerr.RebalanceInProgress) {
				why = "a consumer joined the group meanwhile; stop it and retry"
			}
			a.report(failed(fmt.Sprintf("%s: %s partition %d", what, r.Topic, r.Partition), r.Err, why))
			failures++
		}
	}
	if failures > 0 {
		return errReported
	}
	fmt.Fprintf(a.stderr, "ringtail: reset %d partition(s) of group %s\n", len(rows), group)
	return nil
}

// listed is one partition's listed offset, or why it is not known.
func listed(l kadm.ListedOffsets, topic string, p int32, which string) (int64, error) {
	o, ok := l.Lookup(topic, p)
	if !ok {
		return 0, fmt.Errorf("%s offset of %s partition %d: missing from the broker's response", which, topic, p)
	}
	if o.Err != nil {
		return 0, fmt.Errorf("%s offset of %s partition %d: %s", which, topic, p, describeError(o.Err, ""))
	}
	return o.Offset, nil
}
