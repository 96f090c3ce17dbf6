package console

// Producing one record from the browser: partition (or the default
// partitioner), key, value and headers, through a short-lived producer of
// its own; the broker's refusal is shown in words above the form as typed.

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type produceForm struct {
	Topic      string
	Partitions []int32
	Partition  string // "" any
	Key        string
	Value      string
	NullValue  bool
	Headers    string // "name: value" lines
	Problem    *problem
}

// parseHeaders reads "name: value" lines; blank lines are skipped.
func parseHeaders(text string) ([]kgo.RecordHeader, error) {
	var hs []kgo.RecordHeader
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("header line %d %q: want name: value", i+1, line)
		}
		hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(strings.TrimPrefix(v, " "))})
	}
	return hs, nil
}

// producedFlash is the news after a produce: "produced=P:O".
func producedFlash(q url.Values) string {
	ps, os, ok := strings.Cut(q.Get("produced"), ":")
	p, err1 := strconv.ParseInt(ps, 10, 32)
	o, err2 := strconv.ParseInt(os, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return ""
	}
	return fmt.Sprintf("Record produced to partition %d at offset %d.", p, o)
}

func (s *Server) produceForm(w http.ResponseWriter, r *http.Request) {
	s.renderProduce(w, r, 0, produceForm{})
}

// renderProduce shows the form with f as typed; the topic's partitions are
// looked up for the partition list.
func (s *Server) renderProduce(w http.ResponseWriter, r *http.Request, status int, f produceForm) {
	name := r.PathValue("topic")
	if s.readOnly(w, r, fmt.Sprintf("produce to topic %q", name)) {
		return
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	t, ok := s.topicOrFail(ctx, w, r, name)
	if !ok {
		return
	}
	f.Topic = name
	for _, p := range t.Partitions.Sorted() {
		f.Partitions = append(f.Partitions, p.Partition)
	}
	s.render(w, r, status, "produce", view{Title: "Produce to " + name, Nav: "topics", Data: f})
}

func (s *Server) produce(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	what := fmt.Sprintf("produce to topic %q", name)
	if s.readOnly(w, r, what) {
		return
	}
	f := produceForm{Partition: strings.TrimSpace(r.FormValue("partition")), Key: r.FormValue("key"),
		Value: r.FormValue("value"), NullValue: r.FormValue("null_value") != "", Headers: r.FormValue("headers")}
	refuse := func(status int, p problem) {
		f.Problem = &p
		s.renderProduce(w, r, status, f)
	}
	rec := &kgo.Record{Topic: name, Partition: -1}
	if f.Key != "" {
		rec.Key = []byte(f.Key)
	}
	if !f.NullValue {
		rec.Value = []byte(f.Value)
	}
	hs, err := parseHeaders(f.Headers)
	if err != nil {
		refuse(http.StatusBadRequest, problem{What: what, Detail: err.Error()})
		return
	}
	rec.Headers = hs
	ctx, cancel := pageCtx(r)
	defer cancel()
	partitioner := kgo.StickyKeyPartitioner(nil) // Kafka's default: murmur2 of the key
	if f.Partition != "" && f.Partition != "any" {
		p, err := strconv.ParseInt(f.Partition, 10, 32)
		if err != nil || p < 0 {
			refuse(http.StatusBadRequest, problem{What: what, Detail: fmt.Sprintf("partition %q: want any or a partition number", f.Partition)})
			return
		}
		t, err := s.describeTopic(ctx, name)
		if err != nil {
			s.fail(w, r, fmt.Sprintf("describe topic %q", name), err, "", "/topics")
			return
		}
		if _, ok := t.Partitions[int32(p)]; !ok {
			refuse(http.StatusNotFound, problem{What: what, Name: kerr.UnknownTopicOrPartition.Message,
				Detail: fmt.Sprintf("topic %q has no partition %d (it has %d)", name, p, len(t.Partitions))})
			return
		}
		rec.Partition = int32(p)
		partitioner = kgo.ManualPartitioner()
	}
	// A producer per record: producing from the browser is rare, and the
	// console's own client stays a reader with no producer state.
	opts := append(baseOpts(s.cfg), s.cfg.ClientOpts...)
	opts = append(opts, kgo.RecordPartitioner(partitioner), kgo.RecordDeliveryTimeout(requestTimeout), kgo.ProducerLinger(0))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		refuse(http.StatusInternalServerError, problem{What: what, Detail: err.Error()})
		return
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		refuse(statusFor(err), kafkaProblem(what, err, ""))
		return
	}
	s.log.Info("console produced a record", "topic", name, "partition", rec.Partition, "offset", rec.Offset)
	http.Redirect(w, r, fmt.Sprintf("/topics/%s/messages?partition=%d&from=offset&offset=%d&count=1&produced=%d:%d",
		url.PathEscape(name), rec.Partition, rec.Offset, rec.Partition, rec.Offset), http.StatusSeeOther)
}
