package console

// Topic operations from the topic page: set or delete a config
// (IncrementalAlterConfigs), add partitions (CreatePartitions), and delete
// records before an offset (DeleteRecords) behind a confirmation page that
// shows each partition's start offset moving. A refusal shows the broker's
// error in words beside the form and changes nothing.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configRow is one of a topic's configs as the topic page lists it.
type configRow struct {
	Key       string
	Value     string
	Sensitive bool
	Source    string // in words: "dynamic (topic)", "default", ...
	OnTopic   bool   // set on the topic itself: it can be deleted
}

// topicOps is what the topic page's forms hold: the values typed and the
// broker's refusal of them.
type topicOps struct {
	ConfigKey         string
	ConfigValue       string
	ConfigProblem     *problem
	Partitions        string
	PartitionsProblem *problem
}

// sourceWords names where a config's value comes from.
func sourceWords(src kmsg.ConfigSource) string {
	switch src {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "dynamic (topic)"
	case kmsg.ConfigSourceDynamicBrokerConfig:
		return "dynamic (broker)"
	case kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return "dynamic (cluster default)"
	case kmsg.ConfigSourceStaticBrokerConfig:
		return "static (broker)"
	case kmsg.ConfigSourceDefaultConfig:
		return "default"
	}
	return strings.ToLower(src.String())
}

// configRows lists cs with the configs set on the topic first, each group
// by key.
func configRows(cs []kadm.Config) []configRow {
	rows := make([]configRow, 0, len(cs))
	for _, c := range cs {
		rows = append(rows, configRow{Key: c.Key, Value: c.MaybeValue(), Sensitive: c.Sensitive,
			Source: sourceWords(c.Source), OnTopic: c.Source == kmsg.ConfigSourceDynamicTopicConfig})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].OnTopic != rows[j].OnTopic {
			return rows[i].OnTopic
		}
		return rows[i].Key < rows[j].Key
	})
	return rows
}

// topicFlash is the news after a topic operation: fixed sentences around
// a config key or a number, as flash does.
func topicFlash(q url.Values) string {
	switch {
	case q.Get("configured") != "":
		return "Config " + q.Get("configured") + " set."
	case q.Get("unset") != "":
		return "Config " + q.Get("unset") + " deleted: the topic uses the default again."
	case q.Get("partitions") != "":
		if n, err := strconv.Atoi(q.Get("partitions")); err == nil {
			return fmt.Sprintf("The topic has %d partitions now.", n)
		}
	case q.Get("trimmed") != "":
		if n, err := strconv.Atoi(q.Get("trimmed")); err == nil {
			return fmt.Sprintf("Records deleted: the start offset moved on %d partition(s).", n)
		}
	}
	return ""
}

func (s *Server) alterConfig(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	key, value, op := strings.TrimSpace(r.FormValue("key")), r.FormValue("value"), r.FormValue("op")
	what := fmt.Sprintf("set %s on topic %q", key, name)
	if op == "delete" {
		what = fmt.Sprintf("delete %s from topic %q", key, name)
	}
	if s.readOnly(w, r, what) {
		return
	}
	ops := topicOps{ConfigKey: key, ConfigValue: value}
	refuse := func(status int, p problem) {
		ops.ConfigProblem = &p
		s.renderTopic(w, r, status, ops)
	}
	ac := kadm.AlterConfig{Name: key}
	switch op {
	case "set":
		ac.Op, ac.Value = kadm.SetConfig, &value
	case "delete":
		ac.Op = kadm.DeleteConfig
	default:
		refuse(http.StatusBadRequest, problem{What: "change a config", Detail: fmt.Sprintf("op %q: want set or delete", op)})
		return
	}
	if key == "" {
		refuse(http.StatusBadRequest, problem{What: "change a config", Detail: "No config key given: name one, such as retention.ms."})
		return
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	resps, err := s.adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{ac}, name)
	msg := ""
	if err == nil {
		for _, rr := range resps {
			if rr.Err != nil {
				err, msg = rr.Err, rr.ErrMessage
			}
		}
	}
	if err != nil {
		refuse(statusFor(err), kafkaProblem(what, err, msg))
		return
	}
	s.log.Info("console changed a topic config", "topic", name, "op", op, "key", key)
	news := "configured=" + url.QueryEscape(key)
	if op == "delete" {
		news = "unset=" + url.QueryEscape(key)
	}
	http.Redirect(w, r, "/topics/"+url.PathEscape(name)+"?"+news+"#configs", http.StatusSeeOther)
}

func (s *Server) addPartitions(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	count := strings.TrimSpace(r.FormValue("count"))
	what := fmt.Sprintf("add partitions to topic %q", name)
	if s.readOnly(w, r, what) {
		return
	}
	ops := topicOps{Partitions: count}
	refuse := func(status int, p problem) {
		ops.PartitionsProblem = &p
		s.renderTopic(w, r, status, ops)
	}
	n, err := strconv.ParseInt(count, 10, 32)
	if err != nil || n < 1 {
		refuse(http.StatusBadRequest, problem{What: what, Detail: fmt.Sprintf("partitions %q: want the new total, a whole number above the current count", count)})
		return
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	resps, err := s.adm.UpdatePartitions(ctx, int(n), name)
	s.forgetMetadata()
	msg := ""
	if err == nil {
		rr, ok := resps[name]
		switch {
		case !ok:
			err = kerr.UnknownTopicOrPartition
		case rr.Err != nil:
			err, msg = rr.Err, rr.ErrMessage
		}
	}
	if err != nil {
		refuse(statusFor(err), kafkaProblem(what, err, msg))
		return
	}
	s.log.Info("console added partitions", "topic", name, "partitions", n)
	http.Redirect(w, r, fmt.Sprintf("/topics/%s?partitions=%d", url.PathEscape(name), n), http.StatusSeeOther)
}

// listBounds is each partition's [start, end) of topic.
func (s *Server) listBounds(ctx context.Context, topic string) (map[int32]bounds, error) {
	starts, err := s.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	ends, err := s.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	parts := make(map[int32]bounds)
	var lerr error
	ends.Each(func(e kadm.ListedOffset) {
		st, ok := starts.Lookup(e.Topic, e.Partition)
		switch {
		case e.Err != nil:
			lerr = e.Err
		case !ok:
			lerr = kerr.UnknownTopicOrPartition
		case st.Err != nil:
			lerr = st.Err
		default:
			parts[e.Partition] = bounds{st.Offset, e.Offset}
		}
	})
	return parts, lerr
}

// trimRow is one partition in a delete-records preview or result.
type trimRow struct {
	Partition int32
	Start     int64 // the start offset now
	End       int64
	NewStart  int64 // the start offset after the delete
	Deleted   int64 // NewStart - Start
	Result    int64 // after the delete: the broker's new start offset, -1 not done
	Err       string
}

// parseTrim reads the delete-records form: partition ("all" or a number,
// -1 for all) and before (an offset, or "" / "end" for every record: -1).
func parseTrim(q url.Values) (partition int32, before int64, err error) {
	partition, before = -1, -1
	if v := strings.TrimSpace(q.Get("partition")); v != "" && v != "all" {
		p, err := strconv.ParseInt(v, 10, 32)
		if err != nil || p < 0 {
			return 0, 0, fmt.Errorf("partition %q: want all or a partition number", v)
		}
		partition = int32(p)
	}
	if v := strings.TrimSpace(q.Get("before")); v != "" && v != "end" {
		o, err := strconv.ParseInt(v, 10, 64)
		if err != nil || o < 0 {
			return 0, 0, fmt.Errorf("before %q: want an offset from 0 up, or empty to delete every record", v)
		}
		before = o
	}
	return partition, before, nil
}

// planTrim is what deleting the records before offset before (-1: all of
// them) does to partition (-1: each partition): the start offset moves to
// before, never back and never past the end. For one partition an offset
// past its end is an error, as the broker would answer; for all
// partitions it is read as "up to the end" of the shorter ones.
func planTrim(parts map[int32]bounds, partition int32, before int64) ([]trimRow, error) {
	if partition >= 0 {
		if _, ok := parts[partition]; !ok {
			return nil, fmt.Errorf("%w: the topic has no partition %d", kerr.UnknownTopicOrPartition, partition)
		}
	}
	var rows []trimRow
	for p, bd := range parts {
		if partition >= 0 && p != partition {
			continue
		}
		target := before
		if target > bd.End && partition >= 0 {
			return nil, &offsetRangeError{Partition: p, Offset: before, Bounds: bd}
		}
		if target < 0 || target > bd.End {
			target = bd.End
		}
		nw := max(bd.Start, target)
		rows = append(rows, trimRow{Partition: p, Start: bd.Start, End: bd.End, NewStart: nw, Deleted: nw - bd.Start, Result: -1})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Partition < rows[j].Partition })
	return rows, nil
}

type trimData struct {
	Name       string
	Partitions []int32
	Partition  int32  // -1 all
	Before     string // as typed
	Rows       []trimRow
	Total      int64 // records deleted, counting gaps
	Touched    int   // partitions whose start offset moves
	Done       bool  // the rows are a result
	Problem    *problem
}

func (d *trimData) sum() {
	d.Total, d.Touched = 0, 0
	for _, r := range d.Rows {
		if r.Deleted > 0 {
			d.Total += r.Deleted
			d.Touched++
		}
	}
}

func (s *Server) previewDeleteRecords(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	what := fmt.Sprintf("delete records from topic %q", name)
	if s.readOnly(w, r, what) {
		return
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	t, ok := s.topicOrFail(ctx, w, r, name)
	if !ok {
		return
	}
	q := r.URL.Query()
	d := trimData{Name: name, Partition: -1, Before: q.Get("before")}
	for _, p := range t.Partitions.Sorted() {
		d.Partitions = append(d.Partitions, p.Partition)
	}
	v := view{Title: "Delete records from " + name, Nav: "topics"}
	show := func(status int, p problem) {
		d.Problem = &p
		v.Data = d
		s.render(w, r, status, "deleterecords", v)
	}
	partition, before, err := parseTrim(q)
	d.Partition = partition
	if !q.Has("before") && !q.Has("partition") {
		// First visit: the form only, so that nothing is one click from
		// deleting every record.
		v.Data = d
		s.render(w, r, 0, "deleterecords", v)
		return
	}
	if err != nil {
		show(http.StatusBadRequest, problem{What: what, Detail: err.Error()})
		return
	}
	parts, err := s.listBounds(ctx, name)
	if err != nil {
		show(statusFor(err), kafkaProblem("list the offsets of "+name, err, ""))
		return
	}
	d.Rows, err = planTrim(parts, partition, before)
	if err != nil {
		p := kafkaProblem(what, err, "")
		if oe, ok := err.(*offsetRangeError); ok {
			p.Detail = oe.Error()
			p.Hint = fmt.Sprintf("Choose an offset up to %d (the end), or leave it empty to delete every record.", oe.Bounds.End)
		}
		show(statusFor(err), p)
		return
	}
	d.sum()
	v.Data = d
	s.render(w, r, 0, "deleterecords", v)
}

// deleteRecords deletes what the confirmed preview showed: its form carries
// the new start offset of each partition (o<partition>=offset), so that
// records produced since are not deleted by a "to the end" preview.
func (s *Server) deleteRecords(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	what := fmt.Sprintf("delete records from topic %q", name)
	if s.readOnly(w, r, what) {
		return
	}
	back := "/topics/" + url.PathEscape(name) + "/delete-records"
	if r.FormValue("confirm") != name {
		s.badRequest(w, r, what, "The confirmation does not name this topic; nothing was deleted.", back)
		return
	}
	var offs kadm.Offsets
	var rows []trimRow
	for k, vs := range r.PostForm {
		ps, ok := strings.CutPrefix(k, "o")
		if !ok || len(vs) != 1 {
			continue
		}
		p, err1 := strconv.ParseInt(ps, 10, 32)
		o, err2 := strconv.ParseInt(vs[0], 10, 64)
		if err1 != nil || err2 != nil || p < 0 || o < 0 {
			s.badRequest(w, r, what, fmt.Sprintf("%s=%q: want o<partition>=<offset>; nothing was deleted.", k, vs[0]), back)
			return
		}
		offs.AddOffset(name, int32(p), o, -1)
		rows = append(rows, trimRow{Partition: int32(p), NewStart: o, Result: -1, Start: -1, End: -1})
	}
	if len(rows) == 0 {
		s.badRequest(w, r, what, "No partition to delete records from; nothing was deleted.", back)
		return
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Partition < rows[j].Partition })
	ctx, cancel := pageCtx(r)
	defer cancel()
	resps, err := s.adm.DeleteRecords(ctx, offs)
	if err != nil && len(resps) == 0 {
		s.fail(w, r, what, err, "", back)
		return
	}
	var first error
	failed := []string{}
	for i := range rows {
		rr, ok := resps.Lookup(name, rows[i].Partition)
		switch {
		case !ok:
			rows[i].Err = "no answer (" + errString(err) + ")"
		case rr.Err != nil:
			rows[i].Err = rr.Err.Error()
			if first == nil {
				first = rr.Err
			}
		default:
			rows[i].Result = rr.LowWatermark
			continue
		}
		failed = append(failed, strconv.Itoa(int(rows[i].Partition)))
	}
	if len(failed) == 0 {
		s.log.Info("console deleted records", "topic", name, "partitions", len(rows))
		http.Redirect(w, r, fmt.Sprintf("/topics/%s?trimmed=%d", url.PathEscape(name), len(rows)), http.StatusSeeOther)
		return
	}
	if first == nil {
		first = err
	}
	p := kafkaProblem(what, first, "")
	p.Detail = fmt.Sprintf("Records were not deleted from partition(s) %s; the others, listed with their new start offset, were. %s",
		strings.Join(failed, ", "), p.Detail)
	d := trimData{Name: name, Partition: -1, Rows: rows, Done: true, Problem: &p}
	s.render(w, r, statusFor(first), "deleterecords", view{Title: "Delete records from " + name, Nav: "topics", Data: d})
}

func errString(err error) string {
	if err == nil {
		return "the broker did not list it"
	}
	return err.Error()
}
