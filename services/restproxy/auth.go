package restproxy

// The proxy's side of the broker's authentication and ACLs
// (services/httpauth authenticates the requests): Kafka clients acting as
// the caller, authorization of a caller they cannot act as, consumer
// instances kept to the principal that made them, the broker's
// authorization errors in Confluent's form (403, 40301), and the caller's
// credentials passed on to the Schema Registry.

import (
	"context"
	"errors"
	"net/http"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/services/httpauth"
	"github.com/ringtail/ringtail/services/internal/httpsvc"
)

// Impersonator makes Kafka clients that act as a request's caller;
// *httpauth.Authenticator is one.
type Impersonator interface {
	// Client is a shared client acting as the caller; not to be closed.
	Client(ctx context.Context) (*kgo.Client, error)
	// NewClient is a new client acting as the caller, with opts added;
	// the proxy closes it.
	NewClient(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error)
}

// callerClients is Clients acting as each request's caller: the
// broker's own ACLs then apply to everything the proxy does for it
// (Confluent's principal propagation). The proxy's own client is kept
// only to be closed.
type callerClients struct {
	own *defaultClients
	as  Impersonator
}

func (c *callerClients) Shared(req *http.Request) (*kgo.Client, error) {
	return c.as.Client(req.Context())
}

func (c *callerClients) NewConsumer(req *http.Request, opts ...kgo.Opt) (*kgo.Client, error) {
	return c.as.NewClient(req.Context(), opts...)
}

func (c *callerClients) Close() { c.own.Close() }

// authorize asks Config.Authorize whether the caller may do op on the
// resource: nil without one (the broker decides, or nobody
// authenticates), 403 40301 when denied.
func (p *Proxy) authorize(req *http.Request, rt acl.ResourceType, name string, op acl.Operation) error {
	if p.cfg.Authorize == nil {
		return nil
	}
	return httpsvc.AuthzError(p.cfg.Authorize(req.Context(), rt, name, op))
}

// authorizeTopics is authorize for each topic.
func (p *Proxy) authorizeTopics(req *http.Request, topics []string, op acl.Operation) error {
	for _, t := range topics {
		if err := p.authorize(req, acl.ResourceTopic, t, op); err != nil {
			return err
		}
	}
	return nil
}

// visible keeps the topics the caller may describe, as Kafka's Metadata
// leaves out the others.
func (p *Proxy) visible(req *http.Request, topics []string) ([]string, error) {
	if p.cfg.Authorize == nil {
		return topics, nil
	}
	out := topics[:0:0]
	for _, t := range topics {
		err := p.authorize(req, acl.ResourceTopic, t, acl.OpDescribe)
		if err == nil {
			out = append(out, t)
			continue
		}
		if ae, ok := err.(*apiError); !ok || ae.Code != 40301 {
			return nil, err
		}
	}
	return out, nil
}

// owner is the principal a consumer instance made in req belongs to.
func owner(req *http.Request) string { return httpauth.Principal(req.Context()) }

// errDenied is the broker's refusal of a Kafka operation in Confluent's
// form (KafkaExceptionMapper: 403, 40301, the Kafka exception's message),
// or nil when err is no authorization error. topic names the topic the
// operation was on, "" when unknown.
func errDenied(err error, topic, group string) *apiError {
	switch {
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		if topic != "" {
			return errf(40301, "Not authorized to access topics: [%s]", topic)
		}
		return errf(40301, "Not authorized to access topics: %v", err)
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		if group != "" {
			return errf(40301, "Not authorized to access group: %s", group)
		}
		return errf(40301, "Not authorized to access group: %v", err)
	case errors.Is(err, kerr.ClusterAuthorizationFailed):
		return errf(40301, "Cluster authorization failed.")
	case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return errf(40301, "Transactional Id authorization failed.")
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return errf(40101, "Authentication failed: %v", err)
	}
	return nil
}

// authHeader carries the caller's Authorization header in a context.
type authHeader struct{}

// withAuthorization is req's context carrying its Authorization header,
// for forwardAuthorization.
func withAuthorization(ctx context.Context, req *http.Request) context.Context {
	if h := req.Header.Get("Authorization"); h != "" {
		return context.WithValue(ctx, authHeader{}, h)
	}
	return ctx
}

// forwardAuthorization sends the caller's Authorization header (carried
// in the request's context) with the proxy's Schema Registry requests, so
// the registry, sharing the broker's users, authorizes the caller.
type forwardAuthorization struct{ base http.RoundTripper }

func (f forwardAuthorization) RoundTrip(r *http.Request) (*http.Response, error) {
	h, ok := r.Context().Value(authHeader{}).(string)
	if !ok || r.Header.Get("Authorization") != "" {
		return f.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", h)
	return f.base.RoundTrip(r)
}

// authorizeRead checks that the caller may still read what the instance
// consumes: its group when subscribed, and each topic it names or holds
// partitions or buffered records of (a pattern's topics once assigned).
func (p *Proxy) authorizeRead(req *http.Request, in *instance) error {
	if p.cfg.Authorize == nil {
		return nil
	}
	if in.mode == modeSubscribed {
		if err := p.authorize(req, acl.ResourceGroup, in.key.group, acl.OpRead); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	topics := append([]string{}, in.topics...)
	for _, tp := range in.assignedList() {
		topics = append(topics, tp.Topic)
	}
	for _, r := range in.buf {
		topics = append(topics, r.Topic)
	}
	for _, t := range topics {
		if seen[t] {
			continue
		}
		seen[t] = true
		if err := p.authorize(req, acl.ResourceTopic, t, acl.OpRead); err != nil {
			return err
		}
	}
	return nil
}
