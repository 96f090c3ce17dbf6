package console

// Signing in (Config.Auth, ringtail.services_auth = http_basic): every
// request but the static files is authenticated (the browser's own Basic
// prompt is the sign-in form; services/httpauth checks the credentials
// against the broker's SASL users and answers 401 with the challenge), and
// the page is then served by a view of the Server whose Kafka clients log
// in as that user, so the broker's ACLs decide what the page shows and may
// change. Handlers need not know: a view is a Server like any other, with
// its own clients, its own config (the user's SASL login, which the pages
// that make a client of their own use too) and its own routes.
//
// With client certificates (mtls) the console cannot act as the caller:
// it checks the caller's rights itself (Auth.Authorize, authmtls.go).

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/services/httpauth"
)

const (
	// viewIdle is how long a signed-in user's view (and its Kafka
	// client) is kept unused.
	viewIdle = 5 * time.Minute
	// maxViews bounds the views kept; the least recently used goes first.
	maxViews = 64
)

// Authenticator signs the console's users in; *httpauth.Authenticator in
// mode http_basic is one.
type Authenticator interface {
	// Middleware authenticates each request (401 with a Basic challenge
	// when it cannot) and puts the caller in its context
	// (httpauth.Principal).
	Middleware(next http.Handler) http.Handler
	// Close releases it; the console's Close calls it.
	Close()
}

// Auth turns signing in on: with Brokers and ClientOpts (http_basic) the
// pages act as the signed-in user; with Authorize (mtls) the console acts
// with its own client after checking the caller's rights.
type Auth struct {
	Authenticator Authenticator
	// Brokers and ClientOpts are the seed brokers and the options of a
	// Kafka client logged in as user with password: the broker's SASL
	// listener. Config.ClientOpts (the console's own login) are not used
	// for a signed-in user.
	Brokers    []string
	ClientOpts func(user, password string) []kgo.Opt

	// Authorize decides for the caller in a request's context
	// (mtls: (*httpauth.Authenticator).Authorize against the broker's
	// ACLs); every page is checked with it (authmtls.go).
	Authorize AuthorizeFunc
	// Filter is Authorize for hiding what a list would show (nil:
	// Authorize): (*httpauth.Authenticator).AuthorizeQuiet, which does
	// not count a hidden topic as a denied request.
	Filter AuthorizeFunc
	// TLS is the server's configuration, client certificates required
	// (httpauth's TLSConfig): Start serves HTTPS with it.
	TLS *tls.Config
	// ServiceTLS is what the console presents to the registry and
	// Connect, which serve HTTPS to certified clients too.
	ServiceTLS *tls.Config
	// RegistryTopic is the registry's topic, whose DESCRIBE the schemas
	// pages need (as the registry asks of its callers); "" is _schemas.
	RegistryTopic string
}

// check says what a usable Auth lacks.
func (a *Auth) check() error {
	switch {
	case a.Authenticator == nil:
		return errors.New("console: signing in needs an authenticator")
	case a.Authorize != nil:
		return nil
	case len(a.Brokers) == 0 || a.ClientOpts == nil:
		return errors.New("console: signing in needs the brokers and options of a client acting as a user, or Authorize")
	}
	return nil
}

// mode names the sign-in for the log.
func (a *Auth) mode() string {
	switch {
	case a == nil:
		return "none"
	case a.Authorize != nil:
		return "mtls"
	}
	return "http_basic"
}

func (a *Auth) serverTLS() *tls.Config {
	if a == nil {
		return nil
	}
	return a.TLS
}

func (a *Auth) serviceTLS() *tls.Config {
	if a == nil {
		return nil
	}
	return a.ServiceTLS
}

// serviceClient is the client to the registry and Connect, presenting tc
// (nil: plain HTTP or the system's roots).
func serviceClient(tc *tls.Config) *http.Client {
	hc := &http.Client{Timeout: serviceTimeout}
	if tc != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc.Clone()
		hc.Transport = tr
	}
	return hc
}

// authRoutes serves the static files to anyone (they are the same for
// everyone and hold nothing of the cluster; with mtls the TLS handshake
// still requires a client certificate for them) and every page through
// the authenticator: as the signed-in user (http_basic), or after the
// caller's rights are checked (mtls, authmtls.go).
func (s *Server) authRoutes() http.Handler {
	static := http.NewServeMux()
	static.Handle("GET /static/", staticFiles())
	mux := http.NewServeMux()
	mux.Handle("GET /static/", s.metrics.wrap(static))
	if s.authorize != nil {
		mux.Handle("/", s.cfg.Auth.Authenticator.Middleware(s.pages()))
		return mux
	}
	mux.Handle("/", s.cfg.Auth.Authenticator.Middleware(http.HandlerFunc(s.asUser)))
	return mux
}

// asUser serves r with the view of its caller.
func (s *Server) asUser(w http.ResponseWriter, r *http.Request) {
	user, password, ok := r.BasicAuth()
	principal := httpauth.Principal(r.Context())
	if !ok || user == "" || principal == httpauth.Anonymous {
		// The authenticator let through a caller the console cannot act
		// as: never fall back to the console's own client.
		s.showProblem(w, r, http.StatusUnauthorized, problem{What: "open " + r.URL.Path,
			Detail: "The console acts on the cluster as the signed-in user, and this request signed in as nobody it can act as."})
		return
	}
	v, release, err := s.views.acquire(s.views.key(principal, password), func() (*Server, error) {
		return s.userView(principal, user, password)
	})
	if err != nil {
		s.showProblem(w, r, http.StatusInternalServerError, problem{What: "sign in as " + user, Detail: err.Error()})
		return
	}
	defer release()
	v.handler.ServeHTTP(w, r)
}

// userView is a Server acting as user: its clients log in as the user,
// and it shares the console's settings, metrics and schema decoder.
func (s *Server) userView(principal, user, password string) (*Server, error) {
	cfg := s.cfg
	cfg.Brokers = s.cfg.Auth.Brokers
	cfg.ClientOpts = s.cfg.Auth.ClientOpts(user, password)
	cl, err := kgo.NewClient(append(baseOpts(cfg), cfg.ClientOpts...)...)
	if err != nil {
		return nil, err
	}
	v := &Server{cfg: cfg, log: s.log.With("principal", principal), cl: cl, adm: kadm.NewClient(cl),
		metrics: s.metrics, dec: s.dec, user: strings.TrimPrefix(principal, "User:"),
		svc: withBasicAuth(s.svc, user, password), samples: s.samples, stopSamples: func() {}}
	v.handler = v.pages()
	return v, nil
}

// userViews keeps the signed-in users' views, by principal and password
// (so that a changed password gets a new login), at most max, each until
// it has been unused for idle. A view in use by a request is never closed
// under it: one pushed out or expired closes when its last request ends.
type userViews struct {
	max    int
	idle   time.Duration
	now    func() time.Time
	secret []byte // keys the password hashes, so the map holds nothing to test passwords against

	mu     sync.Mutex
	m      map[string]*viewEntry
	closed bool
}

type viewEntry struct {
	v    *Server
	refs int       // requests using it
	last time.Time // when the last request ended (or began)
	gone bool      // out of the map: close when refs reaches 0
}

func newUserViews(max int, idle time.Duration, now func() time.Time) *userViews {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // never fails (crypto/rand panics rather)
	return &userViews{max: max, idle: idle, now: now, secret: secret, m: map[string]*viewEntry{}}
}

// key names a principal and password.
func (u *userViews) key(principal, password string) string {
	m := hmac.New(sha256.New, u.secret)
	m.Write([]byte(password))
	return principal + "\x00" + string(m.Sum(nil))
}

var errConsoleClosed = errors.New("console: closed")

// acquire returns key's view, made by mk when there is none, and the
// release the request calls when done with it.
func (u *userViews) acquire(key string, mk func() (*Server, error)) (*Server, func(), error) {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil, nil, errConsoleClosed
	}
	now := u.now()
	// Views are closed after the lock is let go: closing a client waits
	// for its connections.
	shut := u.sweepLocked(now)
	defer func() { closeViews(shut) }()
	e := u.m[key]
	if e == nil {
		// kgo.NewClient does not dial, so making one under the lock is
		// cheap.
		v, err := mk()
		if err != nil {
			u.mu.Unlock()
			return nil, nil, err
		}
		if len(u.m) >= u.max {
			shut = append(shut, u.evictLocked()...)
		}
		e = &viewEntry{v: v}
		u.m[key] = e
	}
	e.refs++
	e.last = now
	u.mu.Unlock()
	var once sync.Once
	return e.v, func() { once.Do(func() { u.release(e) }) }, nil
}

func closeViews(vs []*Server) {
	for _, v := range vs {
		v.closeView()
	}
}

func (u *userViews) release(e *viewEntry) {
	u.mu.Lock()
	e.refs--
	e.last = u.now()
	done := e.gone && e.refs == 0
	u.mu.Unlock()
	if done {
		e.v.closeView()
	}
}

// sweepLocked takes the views unused for idle out of the map and returns
// them to be closed.
func (u *userViews) sweepLocked(now time.Time) []*Server {
	var out []*Server
	for k, e := range u.m {
		if e.refs == 0 && now.Sub(e.last) >= u.idle {
			delete(u.m, k)
			out = append(out, e.v)
		}
	}
	return out
}

// evictLocked takes the least recently used view out of the map and
// returns it to be closed if no request uses it (else its last request
// closes it).
func (u *userViews) evictLocked() []*Server {
	var oldK string
	var old *viewEntry
	for k, e := range u.m {
		if old == nil || e.last.Before(old.last) {
			oldK, old = k, e
		}
	}
	if old == nil {
		return nil
	}
	delete(u.m, oldK)
	old.gone = true
	if old.refs == 0 {
		return []*Server{old.v}
	}
	return nil
}

// len is the number of views kept.
func (u *userViews) len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.m)
}

// closeAll closes every view (those in use when their request ends) and
// refuses new ones.
func (u *userViews) closeAll() {
	u.mu.Lock()
	u.closed = true
	var shut []*Server
	for k, e := range u.m {
		delete(u.m, k)
		e.gone = true
		if e.refs == 0 {
			shut = append(shut, e.v)
		}
	}
	u.mu.Unlock()
	closeViews(shut)
}

// closeView closes a view's Kafka client (its metrics and decoder are the
// console's).
func (s *Server) closeView() { s.cl.Close() }

// closeAuth closes the views and the authenticator.
func (s *Server) closeAuth() {
	if s.views != nil {
		s.views.closeAll()
	}
	if s.cfg.Auth != nil && s.cfg.Auth.Authenticator != nil {
		s.cfg.Auth.Authenticator.Close()
	}
}

// withBasicAuth is hc sending the signed-in user's credentials: the
// registry and Connect of a node with ringtail.services_auth = http_basic
// sign the same users in, so the schemas and connectors pages act as the
// user there too.
func withBasicAuth(hc *http.Client, user, password string) *http.Client {
	out := *hc
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	out.Transport = basicAuthTransport{next: next, user: user, password: password}
	return &out
}

type basicAuthTransport struct {
	next           http.RoundTripper
	user, password string
}

func (t basicAuthTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.SetBasicAuth(t.user, t.password)
	return t.next.RoundTrip(req)
}
