package console

// Rendering: one layout, one template per page, and the error page every
// failure ends in, so that a broker's refusal is shown in words (Kafka's
// error name, its description and the broker's message), never as a blank
// 500.

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ringtail/ringtail/services/httpauth"
)

var pages = parsePages()

var funcs = template.FuncMap{
	"bytes":  humanBytes,
	"join":   joinInt32s,
	"pathq":  url.PathEscape,
	"query":  url.QueryEscape,
	"add":    func(a, b int) int { return a + b },
	"offset": offsetString,
	"deref": func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	},
}

// parsePages parses the layout with each page file, keyed by the file's
// name without ".html".
func parsePages() map[string]*template.Template {
	// The layout and the partials (problem, pager) go with every page.
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets,
		"templates/layout.html", "templates/problem.html", "templates/pager.html"))
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := make(map[string]*template.Template, len(names))
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" || name == "problem" || name == "pager" {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(assets, n))
	}
	return out
}

// view is what every page's template gets: the page's own data in Data.
type view struct {
	Title    string
	Nav      string // which menu entry is current
	ReadOnly bool
	User     string // the signed-in user (Config.Auth), "" without sign-in
	Flash    string // one line of news ("Topic x created.")
	Data     any
	// Schemas and Connectors put those pages in the menu (when
	// Config.RegistryURL and Config.ConnectURL are set).
	Schemas, Connectors bool
	// Charts: the overview has metrics to chart (sampler.go).
	Charts bool
}

// render writes page with data; status 0 is 200.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	v.ReadOnly, v.User = s.cfg.ReadOnly, s.user
	if s.authorize != nil { // mtls: the certificate's principal
		v.User = strings.TrimPrefix(httpauth.Principal(r.Context()), "User:")
	}
	v.Schemas, v.Connectors = s.cfg.RegistryURL != "", s.cfg.ConnectURL != ""
	v.Charts = s.samples != nil
	if v.Flash == "" {
		v.Flash = flash(r.URL.Query())
	}
	var buf bytes.Buffer
	if err := pages[page].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		// A template bug: still say what happened, as text.
		s.log.Error("console template", "page", page, "err", err)
		http.Error(w, "console: rendering "+page+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if status != 0 {
		w.WriteHeader(status)
	}
	w.Write(buf.Bytes())
}

// flash is the news a redirect after a change carries: fixed sentences
// around a name, so a crafted link cannot put words in the console's mouth.
func flash(q url.Values) string {
	switch {
	case q.Get("created") != "":
		return "Topic " + q.Get("created") + " created."
	case q.Get("deleted") != "":
		return "Topic " + q.Get("deleted") + " deleted."
	case q.Get("deleted_group") != "":
		return "Group " + q.Get("deleted_group") + " deleted."
	case q.Get("paused") != "": // connectors.go
		return "Connector " + q.Get("paused") + " asked to pause."
	case q.Get("resumed") != "":
		return "Connector " + q.Get("resumed") + " asked to resume."
	case q.Get("restarted") != "":
		return "Connector " + q.Get("restarted") + " and its tasks asked to restart."
	}
	return ""
}

// problem is what the error page shows.
type problem struct {
	What   string // what failed: "create topic \"x\""
	Name   string // Kafka's error name (INVALID_TOPIC_EXCEPTION) or ""
	Detail string // Kafka's description and the broker's message, or the error
	Hint   string // what can be done
	Back   string // a link to go on from
	// Target is the id of the element an htmx request swaps, so that the
	// error lands where the refreshed part was (and the polling stops).
	Target string
}

// kafkaProblem describes err; brokerMsg is a response's error message, if
// any.
func kafkaProblem(what string, err error, brokerMsg string) problem {
	p := problem{What: what}
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		p.Name = ke.Message
		p.Detail = ke.Description
		if brokerMsg != "" && brokerMsg != ke.Description {
			p.Detail += " Broker: " + brokerMsg
		}
	case errors.Is(err, context.DeadlineExceeded):
		p.Name = "TIMEOUT"
		p.Detail = "the cluster did not answer in " + requestTimeout.String() + " (" + err.Error() + ")"
		p.Hint = "Check that the brokers are up and reachable from the console."
	default:
		p.Detail = err.Error()
		if brokerMsg != "" && !strings.Contains(p.Detail, brokerMsg) {
			p.Detail += " Broker: " + brokerMsg
		}
	}
	return p
}

// statusFor maps a Kafka error to an HTTP status: the caller's mistakes are
// 4xx, the cluster's trouble 502/504.
func statusFor(err error) int {
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.GroupIDNotFound):
		return http.StatusNotFound
	case errors.Is(err, kerr.TopicAlreadyExists), errors.Is(err, kerr.NonEmptyGroup),
		errors.Is(err, kerr.UnknownMemberID), errors.Is(err, kerr.RebalanceInProgress):
		return http.StatusConflict
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.GroupAuthorizationFailed),
		errors.Is(err, kerr.ClusterAuthorizationFailed):
		return http.StatusForbidden
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	var ke *kerr.Error
	if errors.As(err, &ke) && !ke.Retriable {
		return http.StatusBadRequest
	}
	return http.StatusBadGateway
}

// fail renders the error page for a Kafka failure.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, what string, err error, brokerMsg, back string) {
	p := kafkaProblem(what, err, brokerMsg)
	p.Back = back
	s.showProblem(w, r, statusFor(err), p)
}

func (s *Server) showProblem(w http.ResponseWriter, r *http.Request, status int, p problem) {
	if r.Header.Get("HX-Request") == "true" {
		p.Target = r.Header.Get("HX-Target")
	}
	s.render(w, r, status, "error", view{Title: "Error", Data: p})
}

func (s *Server) badRequest(w http.ResponseWriter, r *http.Request, what, detail, back string) {
	s.showProblem(w, r, http.StatusBadRequest, problem{What: what, Detail: detail, Back: back})
}

// readOnly refuses an action on a read-only console.
func (s *Server) readOnly(w http.ResponseWriter, r *http.Request, what string) bool {
	if !s.cfg.ReadOnly {
		return false
	}
	s.showProblem(w, r, http.StatusForbidden, problem{What: what,
		Detail: "This console is read-only: it shows the cluster but does not change it.",
		Hint:   "Run it without read-only mode (ringtail.console_read_only = false, or ringtail console without --read-only) to change the cluster.",
		Back:   "/"})
	return true
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.showProblem(w, r, http.StatusNotFound, problem{What: "open " + r.URL.Path,
		Detail: "There is no such page in the console.", Back: "/"})
}

// pageCtx bounds the Kafka requests behind one page.
func pageCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), requestTimeout)
}

// humanBytes is n in B, KiB, MiB, GiB, TiB or PiB, one decimal above B;
// negative is unknown.
func humanBytes(n int64) string {
	if n < 0 {
		return "?"
	}
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	f := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= 1024
		if f < 1023.95 {
			return strconv.FormatFloat(f, 'f', 1, 64) + " " + unit
		}
	}
	return strconv.FormatFloat(f/1024, 'f', 1, 64) + " PiB"
}

func joinInt32s(ns []int32) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(int(n))
	}
	return strings.Join(parts, ", ")
}

// offsetString is an offset, or "–" for none (-1).
func offsetString(o int64) string {
	if o < 0 {
		return "–"
	}
	return strconv.FormatInt(o, 10)
}

// pageURL is path with query q, page set to n.
func pageURL(path string, q url.Values, n int) string {
	v := url.Values{}
	for k, vs := range q {
		v[k] = append([]string(nil), vs...)
	}
	v.Del("created") // news of the last change stays on its page
	v.Del("deleted")
	v.Del("deleted_group")
	if n <= 1 {
		v.Del("page")
	} else {
		v.Set("page", strconv.Itoa(n))
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

func hostPort(host string, port int32) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}
