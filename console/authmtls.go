package console

// Client certificates (Config.Auth with Authorize, ringtail.services_auth
// = mtls): the console serves HTTPS and requires a certificate, whose
// principal (ssl.principal.mapping.rules) the Authenticator puts in the
// request's context. The console holds no secret of that principal's, so
// it cannot log in as it: it acts with its own Kafka client and decides
// itself, with Auth.Authorize (the broker's ACLs, super.users and
// allow.everyone.if.no.acl.found), as the Schema Registry does under mtls.
//
// So that a page cannot forget a check, the checks are not in the
// handlers but in one table, mtlsRules, keyed by the route patterns of
// pages(): every route is registered through checked, which puts its
// rule in front of the handler, and a route without a rule stops the
// console from starting with Authorize. A refusal is Kafka's *_AUTHORIZATION_FAILED on the
// problem page, and nothing is sent to the broker. What a rule cannot
// decide from the request alone, the lists, is filtered where the data
// is read: the topics in clusterMetadata (metacache.go), the groups, and
// the topics a group page shows the lag of or a reset moves
// (mayDescribe, allTopics).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/services/httpauth"
)

// AuthorizeFunc reports whether the caller in ctx (httpauth.Principal)
// may do op on the resource: nil, an *httpauth.DeniedError, or an error
// when it could not tell. (*httpauth.Authenticator).Authorize is one.
type AuthorizeFunc func(ctx context.Context, rt acl.ResourceType, name string, op acl.Operation) error

// defaultRegistryTopic is the registry's topic, whose ACLs it checks its
// callers against (Auth.RegistryTopic).
const defaultRegistryTopic = "_schemas"

// access is one check: op on a resource.
type access struct {
	rt   acl.ResourceType
	name string
	op   acl.Operation
}

// mtlsRule is what a route needs of its caller.
type mtlsRule struct {
	what string // the action, for the problem page: "delete topic %q" with the path's name
	// need is the checks for r: every one must pass (or, with anyOf, one
	// of them). None: signing in is enough.
	need  func(r *http.Request) []access
	anyOf bool
	// registry: the page reads the Schema Registry, which asks DESCRIBE
	// on its topic (Auth.RegistryTopic) of its callers.
	registry bool
	// orElse, when set, is where a denied caller is sent instead of the
	// problem page (the overview: a principal without DESCRIBE on the
	// cluster starts at the topics it may see).
	orElse string
}

func onCluster(op acl.Operation) func(*http.Request) []access {
	return func(*http.Request) []access { return []access{{acl.ResourceCluster, acl.ClusterName, op}} }
}

func onTopic(op acl.Operation) func(*http.Request) []access {
	return func(r *http.Request) []access { return []access{{acl.ResourceTopic, r.PathValue("topic"), op}} }
}

func onGroup(op acl.Operation) func(*http.Request) []access {
	return func(r *http.Request) []access { return []access{{acl.ResourceGroup, r.PathValue("group"), op}} }
}

// mtlsRules maps every route of pages() to Kafka's own operation for it.
// Routes with no need are those whose data is filtered as it is read
// (the lists), and Connect's pages: Connect itself only authenticates
// callers under mtls.
var mtlsRules = map[string]mtlsRule{
	// Brokers' disks, the controller quorum and the charts are the
	// cluster's: DescribeLogDirs and DescribeQuorum need DESCRIBE on it.
	"GET /{$}":            {what: "show the overview", need: onCluster(acl.OpDescribe), orElse: "/topics"},
	"GET /charts/series":  {what: "show the charts", need: onCluster(acl.OpDescribe)},
	"GET /topics":         {},
	"POST /topics":        {what: "create topic %q", need: createTopicNeed, anyOf: true},
	"GET /topics/{topic}": {what: "describe topic %q", need: onTopic(acl.OpDescribe)},
	// The confirmation pages need what their action does: they are only
	// the first step of it.
	"GET /topics/{topic}/delete":          {what: "delete topic %q", need: onTopic(acl.OpDelete)},
	"POST /topics/{topic}/delete":         {what: "delete topic %q", need: onTopic(acl.OpDelete)},
	"GET /topics/{topic}/messages":        {what: "read the messages of topic %q", need: onTopic(acl.OpRead)},
	"POST /topics/{topic}/configs":        {what: "change a config of topic %q", need: onTopic(acl.OpAlterConfigs)},
	"POST /topics/{topic}/partitions":     {what: "add partitions to topic %q", need: onTopic(acl.OpAlter)},
	"GET /topics/{topic}/delete-records":  {what: "delete records from topic %q", need: onTopic(acl.OpDelete)},
	"POST /topics/{topic}/delete-records": {what: "delete records from topic %q", need: onTopic(acl.OpDelete)},
	"GET /topics/{topic}/produce":         {what: "produce to topic %q", need: onTopic(acl.OpWrite)},
	"POST /topics/{topic}/produce":        {what: "produce to topic %q", need: onTopic(acl.OpWrite)},
	"GET /groups":                         {},
	"GET /groups/{group}":                 {what: "describe group %q", need: onGroup(acl.OpDescribe)},
	// Resetting also needs READ on each topic it moves (planReset), as
	// OffsetCommit does.
	"GET /groups/{group}/reset":   {what: "reset the offsets of group %q", need: onGroup(acl.OpRead)},
	"POST /groups/{group}/reset":  {what: "reset the offsets of group %q", need: onGroup(acl.OpRead)},
	"GET /groups/{group}/delete":  {what: "delete group %q", need: onGroup(acl.OpDelete)},
	"POST /groups/{group}/delete": {what: "delete group %q", need: onGroup(acl.OpDelete)},
	// DescribeAcls and DescribeUserScramCredentials need DESCRIBE on the
	// cluster.
	"GET /security": {what: "list ACLs and users", need: onCluster(acl.OpDescribe)},
	// The registry checks its callers against its topic's ACLs: reads
	// need DESCRIBE. The console reaches it with its own certificate,
	// so it checks for the caller what the registry would.
	"GET /schemas":                     {what: "list schemas", registry: true},
	"GET /schemas/{subject}":           {what: "show schema subject %q", registry: true},
	"GET /connectors":                  {},
	"POST /connectors/{name}/{action}": {},
	"/":                                {}, // not found
}

// createTopicNeed: CreateTopics is allowed by CREATE on the cluster or on
// the topic.
func createTopicNeed(r *http.Request) []access {
	return []access{
		{acl.ResourceCluster, acl.ClusterName, acl.OpCreate},
		{acl.ResourceTopic, strings.TrimSpace(r.FormValue("name")), acl.OpCreate},
	}
}

// checked is h behind pattern's rule when the console decides for its
// callers (Authorize); pages() registers every route through it. A route
// without a rule is a mistake that every start with Authorize would hit:
// it panics, as a ServeMux does on a conflicting pattern, rather than
// serve the page with the console's own rights.
func (s *Server) checked(pattern string, h http.HandlerFunc) http.Handler {
	if s.authorize == nil {
		return h
	}
	rule, ok := mtlsRules[pattern]
	if !ok {
		panic("console: no mtls rule for route " + pattern)
	}
	need := rule.need
	if rule.registry {
		need = func(*http.Request) []access { return []access{{acl.ResourceTopic, s.registryTopic(), acl.OpDescribe}} }
	}
	if need == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.allowedAll(r.Context(), need(r), rule.anyOf); err != nil {
			if rule.orElse != "" && errors.Is(err, httpauth.ErrDenied) {
				http.Redirect(w, r, rule.orElse, http.StatusSeeOther)
				return
			}
			s.refuse(w, r, whatOf(rule.what, r), err)
			return
		}
		h(w, r)
	})
}

func whatOf(format string, r *http.Request) string {
	if !strings.Contains(format, "%q") {
		return format
	}
	name := r.PathValue("topic")
	if name == "" {
		name = r.PathValue("group")
	}
	if name == "" {
		name = r.PathValue("subject")
	}
	if name == "" {
		name = strings.TrimSpace(r.FormValue("name"))
	}
	return fmt.Sprintf(format, name)
}

func (s *Server) registryTopic() string {
	if s.cfg.Auth != nil && s.cfg.Auth.RegistryTopic != "" {
		return s.cfg.Auth.RegistryTopic
	}
	return defaultRegistryTopic
}

// allowedAll is nil when the caller may do every one of need (one of
// them, with anyOf); else the first denial (the last, with anyOf), or why
// it could not be told.
func (s *Server) allowedAll(ctx context.Context, need []access, anyOf bool) error {
	var last error
	for _, a := range need {
		err := s.authorize(ctx, a.rt, a.name, a.op)
		switch {
		case err == nil && anyOf:
			return nil
		case err != nil && !anyOf:
			return err
		case err != nil:
			last = err
		}
	}
	return last
}

// refuse shows why the caller may not do what: Kafka's
// *_AUTHORIZATION_FAILED for the resource, and the denied operation, as
// a broker's refusal is shown under http_basic.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, what string, err error) {
	var de *httpauth.DeniedError
	if !errors.As(err, &de) {
		s.showProblem(w, r, http.StatusServiceUnavailable, problem{What: what, Back: "/",
			Detail: "The console could not read the cluster's ACLs to check the signed-in principal's rights: " + err.Error(),
			Hint:   "Nothing was sent to the cluster. Try again once the brokers answer."})
		return
	}
	ke := kerr.ClusterAuthorizationFailed
	switch de.Resource {
	case acl.ResourceTopic:
		ke = kerr.TopicAuthorizationFailed
	case acl.ResourceGroup:
		ke = kerr.GroupAuthorizationFailed
	}
	p := kafkaProblem(what, ke, "")
	p.Detail = fmt.Sprintf("%s %s (%s, as the cluster's ACLs decide; nothing was sent to the cluster.)", p.Detail, de.Error(), de.Principal)
	p.Hint = fmt.Sprintf("An ACL allowing %s %s on %s %q would permit it.", de.Principal, de.Op, strings.ToLower(de.Resource.String()), de.Name)
	p.Back = "/"
	s.showProblem(w, r, statusFor(ke), p)
}

// mayDescribe reports whether the caller may see the resource; always
// true without Authorize. A failure to tell hides it.
func (s *Server) mayDescribe(ctx context.Context, rt acl.ResourceType, name string) bool {
	return s.authorize == nil || s.filter(ctx, rt, name, acl.OpDescribe) == nil
}

// describableTopics is m with only the topics the caller may describe, as
// a broker's Metadata answer to the caller would list them. m's maps are
// shared (metacache.go): a filtered copy is made, m is not changed.
func (s *Server) describableTopics(ctx context.Context, m kadm.Metadata) kadm.Metadata {
	if s.authorize == nil {
		return m
	}
	m.Topics = keepKeys(m.Topics, func(name string) bool { return s.mayDescribe(ctx, acl.ResourceTopic, name) })
	return m
}

// keepKeys is a copy of m with the keys that keep keeps.
func keepKeys[M ~map[string]V, V any](m M, keep func(string) bool) M {
	out := make(M, len(m))
	for k, v := range m {
		if keep(k) {
			out[k] = v
		}
	}
	return out
}

// describableGroups is listed without the groups the caller may not
// describe, as ListGroups answers the caller.
func (s *Server) describableGroups(ctx context.Context, listed kadm.ListedGroups) kadm.ListedGroups {
	if s.authorize == nil {
		return listed
	}
	return keepKeys(listed, func(name string) bool { return s.mayDescribe(ctx, acl.ResourceGroup, name) })
}

// describableOffsets is committed without the topics the caller may not
// describe, as OffsetFetch answers the caller.
func (s *Server) describableOffsets(ctx context.Context, committed kadm.OffsetResponses) kadm.OffsetResponses {
	if s.authorize == nil {
		return committed
	}
	return keepKeys(committed, func(t string) bool { return s.mayDescribe(ctx, acl.ResourceTopic, t) })
}

// allTopics is nil when the caller may do op on every one of topics, else
// the first denial.
func (s *Server) allTopics(ctx context.Context, topics []string, op acl.Operation) error {
	if s.authorize == nil {
		return nil
	}
	for _, t := range topics {
		if err := s.authorize(ctx, acl.ResourceTopic, t, op); err != nil {
			return err
		}
	}
	return nil
}

// mayDescribeConfigs is the topics of names whose configs the caller may
// read (DescribeConfigs needs DESCRIBE_CONFIGS): all without Authorize.
func (s *Server) mayDescribeConfigs(ctx context.Context, names []string) []string {
	if s.authorize == nil {
		return names
	}
	out := make([]string, 0, len(names))
	for _, t := range names {
		if s.filter(ctx, acl.ResourceTopic, t, acl.OpDescribeConfigs) == nil {
			out = append(out, t)
		}
	}
	return out
}
