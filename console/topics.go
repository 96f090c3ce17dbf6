package console

// Topics: the paginated list with search, create, a topic's partitions,
// and delete behind a confirmation page.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ringtail/ringtail/acl"
)

type topicRow struct {
	Name       string
	Internal   bool
	Partitions int
	RF         int
	Cleanup    string // cleanup.policy, "?" when not described
	Size       int64  // leader replicas' bytes, -1 unknown
	Err        string
}

type createForm struct {
	Name       string
	Partitions string
	RF         string
	Problem    *problem // the broker's refusal, shown above the form
}

type topicsData struct {
	Query  string
	Rows   []topicRow
	Pager  pager
	Create createForm
}

// filterTopics is the names in ts containing q (case-insensitive), sorted.
func filterTopics(ts kadm.TopicDetails, q string) []string {
	q = strings.ToLower(strings.TrimSpace(q))
	names := make([]string, 0, len(ts))
	for name, t := range ts {
		if t.Err != nil {
			continue
		}
		if q == "" || strings.Contains(strings.ToLower(name), q) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

func (s *Server) topics(w http.ResponseWriter, r *http.Request) {
	s.renderTopics(w, r, 0, createForm{Partitions: "1", RF: "-1"})
}

// renderTopics lists one page of the topics matching ?q=, with the create
// form as given.
func (s *Server) renderTopics(w http.ResponseWriter, r *http.Request, status int, form createForm) {
	ctx, cancel := pageCtx(r)
	defer cancel()
	q := r.URL.Query()
	m, err := s.clusterMetadata(ctx) // metacache.go
	if err != nil {
		s.fail(w, r, "list topics", err, "", "/")
		return
	}
	ts := m.Topics
	names := filterTopics(ts, q.Get("q"))
	pg := paginate("/topics", q, len(names), perPage)
	shown := names[pg.lo:pg.hi]
	d := topicsData{Query: q.Get("q"), Pager: pg, Create: form}
	sizes := s.sizes(ctx, ts, shown)
	cleanup := map[string]string{}
	if withConfigs := s.mayDescribeConfigs(ctx, shown); len(withConfigs) > 0 {
		// Configs of the shown topics only; a failure leaves "?".
		if rcs, err := s.adm.DescribeTopicConfigs(ctx, withConfigs...); err == nil {
			for _, rc := range rcs {
				for _, c := range rc.Configs {
					if c.Key == "cleanup.policy" && c.Value != nil {
						cleanup[rc.Name] = *c.Value
					}
				}
			}
		}
	}
	for _, name := range shown {
		t := ts[name]
		row := topicRow{Name: name, Internal: t.IsInternal, Partitions: len(t.Partitions), RF: t.Partitions.NumReplicas(), Cleanup: cleanup[name], Size: -1}
		if row.Cleanup == "" {
			row.Cleanup = "?"
		}
		if sz, ok := topicSize(sizes, t); ok {
			row.Size = sz
		}
		d.Rows = append(d.Rows, row)
	}
	s.render(w, r, status, "topics", view{Title: "Topics", Nav: "topics", Data: d})
}

// sizes asks every broker for the sizes of the shown topics' replicas; what
// does not answer is left out.
func (s *Server) sizes(ctx context.Context, ts kadm.TopicDetails, names []string) kadm.DescribedAllLogDirs {
	if len(names) == 0 {
		return nil
	}
	set := make(kadm.TopicsSet)
	for _, name := range names {
		for p := range ts[name].Partitions {
			set.Add(name, p)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, logDirsTimeout)
	defer cancel()
	all, _ := s.adm.DescribeAllLogDirs(ctx, set) // partial on *ShardErrors
	return all
}

// partitionSize is the size of p's leader replica or, without a leader
// that answered, of the largest replica that did.
func partitionSize(sizes kadm.DescribedAllLogDirs, p kadm.PartitionDetail) (int64, bool) {
	lookup := func(broker int32) (int64, bool) {
		d, ok := sizes[broker].LookupPartition(p.Topic, p.Partition)
		return d.Size, ok
	}
	if p.Leader >= 0 {
		if sz, ok := lookup(p.Leader); ok {
			return sz, true
		}
	}
	best, found := int64(-1), false
	for _, b := range p.Replicas {
		if sz, ok := lookup(b); ok && sz > best {
			best, found = sz, true
		}
	}
	return best, found
}

// topicSize sums partitionSize over t; false if no partition answered.
func topicSize(sizes kadm.DescribedAllLogDirs, t kadm.TopicDetail) (int64, bool) {
	var total int64
	any := false
	for _, p := range t.Partitions {
		if sz, ok := partitionSize(sizes, p); ok {
			total += sz
			any = true
		}
	}
	return total, any
}

func (s *Server) createTopic(w http.ResponseWriter, r *http.Request) {
	if s.readOnly(w, r, "create a topic") {
		return
	}
	form := createForm{Name: strings.TrimSpace(r.FormValue("name")), Partitions: r.FormValue("partitions"), RF: r.FormValue("replication_factor")}
	what := fmt.Sprintf("create topic %q", form.Name)
	refuse := func(status int, p problem) {
		form.Problem = &p
		s.renderTopics(w, r, status, form)
	}
	parts, err := strconv.ParseInt(strings.TrimSpace(form.Partitions), 10, 32)
	if err != nil || (parts < 1 && parts != -1) {
		refuse(http.StatusBadRequest, problem{What: what, Detail: fmt.Sprintf("partitions %q: want a whole number from 1 up, or -1 for the broker's num.partitions", form.Partitions)})
		return
	}
	rf, err := strconv.ParseInt(strings.TrimSpace(form.RF), 10, 16)
	if err != nil || (rf < 1 && rf != -1) {
		refuse(http.StatusBadRequest, problem{What: what, Detail: fmt.Sprintf("replication factor %q: want a whole number from 1 up, or -1 for the broker's default.replication.factor", form.RF)})
		return
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	resp, err := s.adm.CreateTopic(ctx, int32(parts), int16(rf), nil, form.Name)
	s.forgetMetadata()
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		refuse(statusFor(err), kafkaProblem(what, err, resp.ErrMessage))
		return
	}
	s.log.Info("console created topic", "topic", form.Name, "partitions", parts, "replication_factor", rf)
	http.Redirect(w, r, "/topics/"+url.PathEscape(form.Name)+"?created="+url.QueryEscape(form.Name), http.StatusSeeOther)
}

type partitionRow struct {
	kadm.PartitionDetail
	Start, End int64 // -1 when not listed
	Size       int64 // -1 unknown
	Err        string
}

type topicData struct {
	Name       string
	Internal   bool
	Partitions []partitionRow
	Records    int64 // end - start summed: records held, counting gaps
	Size       int64
	Configs    []configRow // every config, those set on the topic first
	ConfigsErr string      // why the configs are not listed
	Ops        topicOps    // the operation forms
}

// describeTopic is one topic's metadata; a topic the broker does not know
// comes back as UNKNOWN_TOPIC_OR_PARTITION.
func (s *Server) describeTopic(ctx context.Context, name string) (kadm.TopicDetail, error) {
	ts, err := s.adm.ListTopicsWithInternal(ctx, name)
	if err != nil {
		return kadm.TopicDetail{}, err
	}
	t, ok := ts[name]
	if !ok {
		return kadm.TopicDetail{}, fmt.Errorf("topic %q is not in the metadata", name)
	}
	return t, t.Err
}

// topicOrFail is describeTopic for a page about the topic: on failure it
// has rendered the error page (404 for a topic the broker does not know).
func (s *Server) topicOrFail(ctx context.Context, w http.ResponseWriter, r *http.Request, name string) (kadm.TopicDetail, bool) {
	t, err := s.describeTopic(ctx, name)
	if err != nil {
		s.fail(w, r, fmt.Sprintf("describe topic %q", name), err, "", "/topics")
		return t, false
	}
	return t, true
}

func (s *Server) topic(w http.ResponseWriter, r *http.Request) {
	s.renderTopic(w, r, 0, topicOps{})
}

// renderTopic shows a topic with its operation forms as given (what was
// typed and the broker's refusal of it).
func (s *Server) renderTopic(w http.ResponseWriter, r *http.Request, status int, ops topicOps) {
	name := r.PathValue("topic")
	ctx, cancel := pageCtx(r)
	defer cancel()
	t, ok := s.topicOrFail(ctx, w, r, name)
	if !ok {
		return
	}
	starts, err := s.adm.ListStartOffsets(ctx, name)
	if err != nil {
		s.fail(w, r, fmt.Sprintf("list the start offsets of %q", name), err, "", "/topics")
		return
	}
	ends, err := s.adm.ListEndOffsets(ctx, name)
	if err != nil {
		s.fail(w, r, fmt.Sprintf("list the end offsets of %q", name), err, "", "/topics")
		return
	}
	sizes := s.sizes(ctx, kadm.TopicDetails{name: t}, []string{name})
	d := topicData{Name: name, Internal: t.IsInternal, Size: -1, Ops: ops}
	if sz, ok := topicSize(sizes, t); ok {
		d.Size = sz
	}
	for _, p := range t.Partitions.Sorted() {
		row := partitionRow{PartitionDetail: p, Start: -1, End: -1, Size: -1}
		if o, ok := starts.Lookup(name, p.Partition); ok && o.Err == nil {
			row.Start = o.Offset
		} else if ok {
			row.Err = o.Err.Error()
		}
		if o, ok := ends.Lookup(name, p.Partition); ok && o.Err == nil {
			row.End = o.Offset
		} else if ok {
			row.Err = o.Err.Error()
		}
		if row.Start >= 0 && row.End >= row.Start {
			d.Records += row.End - row.Start
		}
		if sz, ok := partitionSize(sizes, p); ok {
			row.Size = sz
		}
		if p.Err != nil {
			row.Err = p.Err.Error()
		}
		d.Partitions = append(d.Partitions, row)
	}
	if err := s.allTopics(ctx, []string{name}, acl.OpDescribeConfigs); err != nil { // authmtls.go
		d.ConfigsErr = err.Error()
	} else if rcs, err := s.adm.DescribeTopicConfigs(ctx, name); err != nil {
		d.ConfigsErr = err.Error()
	} else {
		for _, rc := range rcs {
			if rc.Err != nil {
				d.ConfigsErr = rc.Err.Error()
			}
			d.Configs = append(d.Configs, configRows(rc.Configs)...)
		}
	}
	if d.Ops.Partitions == "" {
		d.Ops.Partitions = strconv.Itoa(len(t.Partitions) + 1)
	}
	s.render(w, r, status, "topic", view{Title: "Topic " + name, Nav: "topics", Data: d, Flash: topicFlash(r.URL.Query())})
}

type deleteData struct {
	Name       string
	Partitions int
	Records    int64
}

func (s *Server) confirmDeleteTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	if s.readOnly(w, r, fmt.Sprintf("delete topic %q", name)) {
		return
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	t, ok := s.topicOrFail(ctx, w, r, name)
	if !ok {
		return
	}
	d := deleteData{Name: name, Partitions: len(t.Partitions), Records: -1}
	starts, err1 := s.adm.ListStartOffsets(ctx, name)
	ends, err2 := s.adm.ListEndOffsets(ctx, name)
	if err1 == nil && err2 == nil {
		d.Records = 0
		ends.Each(func(e kadm.ListedOffset) {
			if st, ok := starts.Lookup(e.Topic, e.Partition); ok && e.Err == nil && st.Err == nil && e.Offset > st.Offset {
				d.Records += e.Offset - st.Offset
			}
		})
	}
	s.render(w, r, 0, "delete", view{Title: "Delete " + name, Nav: "topics", Data: d})
}

func (s *Server) deleteTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	what := fmt.Sprintf("delete topic %q", name)
	if s.readOnly(w, r, what) {
		return
	}
	if r.FormValue("confirm") != name {
		s.badRequest(w, r, what, "The confirmation does not name this topic; nothing was deleted.", "/topics/"+url.PathEscape(name)+"/delete")
		return
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	resp, err := s.adm.DeleteTopic(ctx, name)
	s.forgetMetadata()
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		s.fail(w, r, what, err, resp.ErrMessage, "/topics/"+url.PathEscape(name))
		return
	}
	s.log.Info("console deleted topic", "topic", name)
	http.Redirect(w, r, "/topics?deleted="+url.QueryEscape(name), http.StatusSeeOther)
}
