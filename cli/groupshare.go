package cli

// Share groups (KIP-932) in `ringtail group`: describe shows a share
// group's epochs, its members with their epochs, subscriptions and
// assignments (ShareGroupDescribe), then each share partition's start
// offset and lag (DescribeShareGroupOffsets, served by the share-partition
// side; '-' where the broker has none or does not serve it). list --type
// share and delete need nothing of their own (ListGroups, DeleteGroups).

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
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
