package console

// Consumer groups: the list, one group's members and lag, and resetting
// its offsets to the earliest or latest after a preview.

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ringtail/ringtail/acl"
)

type groupRow struct {
	Name         string
	State        string
	ProtocolType string
	Protocol     string
	Members      int // -1 when not described
	Coordinator  int32
}

type groupsData struct {
	Query string
	Rows  []groupRow
	Pager pager
}

func (s *Server) groups(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := pageCtx(r)
	defer cancel()
	q := r.URL.Query()
	listed, err := s.adm.ListGroups(ctx)
	if err != nil {
		s.fail(w, r, "list consumer groups", err, "", "/")
		return
	}
	listed = s.describableGroups(ctx, listed) // authmtls.go
	needle := strings.ToLower(strings.TrimSpace(q.Get("q")))
	var names []string
	for name := range listed {
		if needle == "" || strings.Contains(strings.ToLower(name), needle) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	pg := paginate("/groups", q, len(names), perPage)
	shown := names[pg.lo:pg.hi]
	d := groupsData{Query: q.Get("q"), Pager: pg}
	var described kadm.DescribedGroups
	if len(shown) > 0 {
		described, _ = s.adm.DescribeGroups(ctx, shown...) // partial is fine: members show "?"
	}
	for _, name := range shown {
		l := listed[name]
		row := groupRow{Name: name, State: l.State, ProtocolType: l.ProtocolType, Members: -1, Coordinator: l.Coordinator}
		if dg, ok := described[name]; ok && dg.Err == nil {
			row.Members = len(dg.Members)
			row.Protocol = dg.Protocol
			if row.State == "" {
				row.State = dg.State
			}
		}
		d.Rows = append(d.Rows, row)
	}
	s.render(w, r, 0, "groups", view{Title: "Consumer groups", Nav: "groups", Data: d})
}

type memberRow struct {
	MemberID   string
	InstanceID string
	ClientID   string
	ClientHost string
	Assigned   []string // "topic: 0, 1, 2"
}

// lagRow is one partition's committed offset, end offset and lag; -1 is
// unknown (no commit, or the end could not be listed).
type lagRow struct {
	Topic     string
	Partition int32
	Member    string // the client ID it is assigned to, "" if none
	Committed int64
	End       int64
	Lag       int64
	Err       string
}

// computeLag is the lag of every partition the group has committed to or
// is assigned: end offset minus committed offset, never below 0 (a commit
// past the end, after a truncation, is no lag). Partitions without a
// commit have an unknown lag and are not in the total, because where the
// group would start depends on its consumers' auto.offset.reset.
func computeLag(committed kadm.OffsetResponses, assigned map[string]map[int32]string, ends kadm.ListedOffsets) ([]lagRow, int64) {
	seen := map[string]map[int32]bool{}
	var rows []lagRow
	add := func(t string, p int32) {
		if seen[t] == nil {
			seen[t] = map[int32]bool{}
		}
		if seen[t][p] {
			return
		}
		seen[t][p] = true
		row := lagRow{Topic: t, Partition: p, Member: assigned[t][p], Committed: -1, End: -1, Lag: -1}
		if c, ok := committed.Lookup(t, p); ok {
			if c.Err != nil {
				row.Err = c.Err.Error()
			} else {
				row.Committed = c.At
			}
		}
		if e, ok := ends.Lookup(t, p); ok {
			if e.Err != nil {
				row.Err = e.Err.Error()
			} else {
				row.End = e.Offset
			}
		}
		if row.Committed >= 0 && row.End >= 0 {
			row.Lag = max(0, row.End-row.Committed)
		}
		rows = append(rows, row)
	}
	committed.Each(func(o kadm.OffsetResponse) { add(o.Topic, o.Partition) })
	for t, ps := range assigned {
		for p := range ps {
			add(t, p)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Topic != rows[j].Topic {
			return rows[i].Topic < rows[j].Topic
		}
		return rows[i].Partition < rows[j].Partition
	})
	var total int64
	for _, r := range rows {
		if r.Lag > 0 {
			total += r.Lag
		}
	}
	return rows, total
}

type groupData struct {
	Name         string
	State        string
	ProtocolType string
	Protocol     string
	Coordinator  int32
	Members      []memberRow
	Lag          []lagRow
	TotalLag     int64
	Topics       []string // the topics in Lag, for the reset form
}

func (s *Server) group(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	ctx, cancel := pageCtx(r)
	defer cancel()
	what := fmt.Sprintf("describe group %q", name)
	dgs, err := s.adm.DescribeGroups(ctx, name)
	if err != nil {
		s.fail(w, r, what, err, "", "/groups")
		return
	}
	dg := dgs[name]
	if dg.Err != nil {
		s.fail(w, r, what, dg.Err, dg.ErrMessage, "/groups")
		return
	}
	d := groupData{Name: name, State: dg.State, ProtocolType: dg.ProtocolType, Protocol: dg.Protocol, Coordinator: dg.Coordinator.NodeID}
	assigned := map[string]map[int32]string{}
	for _, m := range dg.Members {
		mr := memberRow{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost}
		if m.InstanceID != nil {
			mr.InstanceID = *m.InstanceID
		}
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				ps := append([]int32(nil), t.Partitions...)
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				mr.Assigned = append(mr.Assigned, t.Topic+": "+joinInt32s(ps))
				if assigned[t.Topic] == nil {
					assigned[t.Topic] = map[int32]string{}
				}
				for _, p := range ps {
					assigned[t.Topic][p] = m.ClientID
				}
			}
		}
		d.Members = append(d.Members, mr)
	}
	committed, err := s.adm.FetchOffsets(ctx, name)
	if err != nil {
		s.fail(w, r, fmt.Sprintf("fetch the committed offsets of group %q", name), err, "", "/groups")
		return
	}
	// The lag of the topics the caller may describe only (authmtls.go).
	committed = s.describableOffsets(ctx, committed)
	for t := range assigned {
		if !s.mayDescribe(ctx, acl.ResourceTopic, t) {
			delete(assigned, t)
		}
	}
	topics := map[string]bool{}
	committed.Each(func(o kadm.OffsetResponse) { topics[o.Topic] = true })
	for t := range assigned {
		topics[t] = true
	}
	for t := range topics {
		d.Topics = append(d.Topics, t)
	}
	sort.Strings(d.Topics)
	var ends kadm.ListedOffsets
	if len(d.Topics) > 0 {
		ends, err = s.adm.ListEndOffsets(ctx, d.Topics...)
		if err != nil {
			s.fail(w, r, fmt.Sprintf("list the end offsets of group %q's topics", name), err, "", "/groups")
			return
		}
	}
	d.Lag, d.TotalLag = computeLag(committed, assigned, ends)
	s.render(w, r, 0, "group", view{Title: "Group " + name, Nav: "groups", Data: d})
}

// resetRow is one partition's committed offset before and after a reset.
type resetRow struct {
	Topic     string
	Partition int32
	Old       int64 // -1: none committed
	New       int64
	Err       string // the commit's error, after a reset
}

// resetPlan is the new offset of every partition of the topics (those the
// group has committed to, or the one asked for): the listed target
// (earliest or latest) of each partition.
func resetPlan(committed kadm.OffsetResponses, targets kadm.ListedOffsets) ([]resetRow, error) {
	var rows []resetRow
	var err error
	targets.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			err = fmt.Errorf("partition %s/%d: %w", o.Topic, o.Partition, o.Err)
			return
		}
		row := resetRow{Topic: o.Topic, Partition: o.Partition, Old: -1, New: o.Offset}
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.Err == nil {
			row.Old = c.At
		}
		rows = append(rows, row)
	})
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Topic != rows[j].Topic {
			return rows[i].Topic < rows[j].Topic
		}
		return rows[i].Partition < rows[j].Partition
	})
	return rows, err
}

type resetData struct {
	Group   string
	State   string
	Members int
	To      string // earliest or latest
	Topic   string // "" for all the group's topics
	Rows    []resetRow
	Done    bool // the commit was sent: Rows are its outcome
	Failed  int  // rows whose commit failed
}

// planReset reads the request's reset (to=earliest|latest, topic=) and
// works out its rows; on failure it has rendered the error page.
func (s *Server) planReset(w http.ResponseWriter, r *http.Request) (resetData, bool) {
	name := r.PathValue("group")
	d := resetData{Group: name, To: r.FormValue("to"), Topic: r.FormValue("topic")}
	what := fmt.Sprintf("reset the offsets of group %q", name)
	back := "/groups/" + url.PathEscape(name)
	if d.To != "earliest" && d.To != "latest" {
		s.badRequest(w, r, what, fmt.Sprintf("to %q: want earliest or latest", d.To), back)
		return d, false
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	dgs, err := s.adm.DescribeGroups(ctx, name)
	if err == nil {
		err = dgs[name].Err
	}
	if err != nil {
		s.fail(w, r, what, err, dgs[name].ErrMessage, back)
		return d, false
	}
	d.State, d.Members = dgs[name].State, len(dgs[name].Members)
	committed, err := s.adm.FetchOffsets(ctx, name)
	if err != nil {
		s.fail(w, r, what, err, "", back)
		return d, false
	}
	topics := []string{d.Topic}
	if d.Topic == "" {
		topics = nil
		for t := range committed {
			topics = append(topics, t)
		}
		sort.Strings(topics)
	}
	if len(topics) == 0 {
		s.badRequest(w, r, what, "The group has no committed offsets, so there are no topics to reset.", back)
		return d, false
	}
	// Committing needs READ on each topic too (authmtls.go).
	if err := s.allTopics(ctx, topics, acl.OpRead); err != nil {
		s.refuse(w, r, what, err)
		return d, false
	}
	list := s.adm.ListStartOffsets
	if d.To == "latest" {
		list = s.adm.ListEndOffsets
	}
	targets, err := list(ctx, topics...)
	if err == nil {
		err = targets.Error()
	}
	if err != nil {
		s.fail(w, r, what, err, "", back)
		return d, false
	}
	d.Rows, err = resetPlan(committed, targets)
	if err != nil {
		s.fail(w, r, what, err, "", back)
		return d, false
	}
	return d, true
}

func (s *Server) previewReset(w http.ResponseWriter, r *http.Request) {
	if s.readOnly(w, r, "reset a group's offsets") {
		return
	}
	d, ok := s.planReset(w, r)
	if !ok {
		return
	}
	s.render(w, r, 0, "reset", view{Title: "Reset " + d.Group, Nav: "groups", Data: d})
}

// reset commits the offsets planned again now (as kafka-consumer-groups
// --execute does), as an admin commit outside any generation, which Kafka
// accepts only while the group is empty; every partition's outcome is
// shown, so a partial reset says which partitions moved.
func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	if s.readOnly(w, r, "reset a group's offsets") {
		return
	}
	d, ok := s.planReset(w, r)
	if !ok {
		return
	}
	what := fmt.Sprintf("reset the offsets of group %q", d.Group)
	back := "/groups/" + url.PathEscape(d.Group)
	var os kadm.Offsets = make(kadm.Offsets)
	for _, row := range d.Rows {
		os.Add(kadm.Offset{Topic: row.Topic, Partition: row.Partition, At: row.New, LeaderEpoch: -1})
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	resps, err := s.adm.CommitOffsets(ctx, d.Group, os)
	if err != nil {
		s.fail(w, r, what, err, "", back)
		return
	}
	var first error
	for i := range d.Rows {
		row := &d.Rows[i]
		if o, ok := resps.Lookup(row.Topic, row.Partition); ok && o.Err != nil {
			row.Err = o.Err.Error()
			d.Failed++
			if first == nil {
				first = o.Err
			}
		}
	}
	if d.Failed == len(d.Rows) && first != nil {
		// Nothing moved: the error page says why in Kafka's words.
		p := kafkaProblem(what, first, "")
		p.Back = back
		if d.State != "Empty" && d.State != "Dead" {
			p.Hint = fmt.Sprintf("The group is %s with %d member(s); Kafka resets offsets only for an empty group. Stop its consumers and try again.", d.State, d.Members)
		}
		s.showProblem(w, r, statusFor(first), p)
		return
	}
	s.log.Info("console reset group offsets", "group", d.Group, "to", d.To, "partitions", len(d.Rows)-d.Failed, "failed", d.Failed)
	d.Done = true
	status := 0
	if d.Failed > 0 {
		status = http.StatusMultiStatus
	}
	s.render(w, r, status, "reset", view{Title: "Reset " + d.Group, Nav: "groups", Data: d})
}
