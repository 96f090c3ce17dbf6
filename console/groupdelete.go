package console

// Deleting a consumer group: a confirmation page that says what goes (the
// committed offsets of every partition, so its consumers next start from
// auto.offset.reset) and that Kafka deletes only an empty group, then
// DeleteGroups. A group with members is refused by the broker with
// NON_EMPTY_GROUP, shown in words with what to do.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
)

type groupDeleteData struct {
	Name       string
	State      string
	Members    int
	Topics     []string // the topics it has committed offsets on
	Partitions int      // partitions with a committed offset
}

func (s *Server) confirmDeleteGroup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	what := fmt.Sprintf("delete group %q", name)
	if s.readOnly(w, r, what) {
		return
	}
	back := "/groups/" + url.PathEscape(name)
	ctx, cancel := pageCtx(r)
	defer cancel()
	dgs, err := s.adm.DescribeGroups(ctx, name)
	if err == nil {
		err = dgs[name].Err
	}
	if err == nil && dgs[name].State == "Dead" {
		err = kerr.GroupIDNotFound
	}
	if err != nil {
		s.fail(w, r, what, err, dgs[name].ErrMessage, back)
		return
	}
	d := groupDeleteData{Name: name, State: dgs[name].State, Members: len(dgs[name].Members)}
	committed, err := s.adm.FetchOffsets(ctx, name)
	if err != nil {
		s.fail(w, r, what, err, "", back)
		return
	}
	for t, ps := range s.describableOffsets(ctx, committed) { // authmtls.go
		d.Topics = append(d.Topics, t)
		d.Partitions += len(ps)
	}
	sort.Strings(d.Topics)
	s.render(w, r, 0, "groupdelete", view{Title: "Delete " + name, Nav: "groups", Data: d})
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	what := fmt.Sprintf("delete group %q", name)
	if s.readOnly(w, r, what) {
		return
	}
	back := "/groups/" + url.PathEscape(name)
	if r.FormValue("confirm") != name {
		s.badRequest(w, r, what, "The confirmation does not name this group; nothing was deleted.", back+"/delete")
		return
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	resp, err := s.adm.DeleteGroup(ctx, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		p := kafkaProblem(what, err, "")
		p.Back = back
		if errors.Is(err, kerr.NonEmptyGroup) {
			p.Hint = "Kafka deletes only a group without members: stop its consumers (or wait for their sessions to expire) and try again."
		}
		s.showProblem(w, r, statusFor(err), p)
		return
	}
	s.log.Info("console deleted group", "group", name)
	http.Redirect(w, r, "/groups?deleted_group="+url.QueryEscape(name), http.StatusSeeOther)
}
