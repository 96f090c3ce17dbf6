package console

// The security page: the cluster's ACLs (DescribeAcls with every filter
// field ANY) and its SCRAM users (DescribeUserScramCredentials for all),
// read-only. A cluster without an authorizer answers SECURITY_DISABLED,
// and one without SCRAM users an empty list: both are shown in words, the
// rest of the page still loads.

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclRow is one ACL binding.
type aclRow struct {
	Principal, Host, Operation, Permission string
	ResourceType, ResourceName, Pattern    string
}

// userRow is one SCRAM user and the mechanisms it has credentials for.
type userRow struct {
	Name       string
	Mechanisms []string // "SCRAM-SHA-256 (4096 iterations)"
}

type securityData struct {
	Query string
	// AuthorizerOff is set when the brokers answer SECURITY_DISABLED:
	// every client may do everything.
	AuthorizerOff bool
	ACLs          []aclRow
	ACLProblem    *problem
	Pager         pager
	Users         []userRow
	UserProblem   *problem
}

func (s *Server) security(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := pageCtx(r)
	defer cancel()
	q := r.URL.Query()
	d := securityData{Query: strings.TrimSpace(q.Get("q"))}
	acls, err := s.describeACLs(ctx)
	switch {
	case errors.Is(err, kerr.SecurityDisabled):
		d.AuthorizerOff = true
	case err != nil:
		p := kafkaProblem("list ACLs", err, "")
		d.ACLProblem = &p
	default:
		acls = filterACLs(acls, d.Query)
		d.Pager = paginate("/security", q, len(acls), perPage)
		d.ACLs = acls[d.Pager.lo:d.Pager.hi]
	}
	if d.ACLProblem == nil && d.Pager.Pages == 0 {
		d.Pager = paginate("/security", q, 0, perPage)
	}
	users, err := s.describeUsers(ctx)
	if err != nil {
		p := kafkaProblem("list SCRAM users", err, "")
		d.UserProblem = &p
	}
	d.Users = users
	s.render(w, r, 0, "security", view{Title: "Security", Nav: "security", Data: d})
}

// describeACLs lists every ACL binding, sorted by resource, then principal.
func (s *Server) describeACLs(ctx context.Context) ([]aclRow, error) {
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType = kmsg.ACLResourceTypeAny
	req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	req.Operation = kmsg.ACLOperationAny
	req.PermissionType = kmsg.ACLPermissionTypeAny
	resp, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		if resp.ErrorMessage != nil && !errors.Is(err, kerr.SecurityDisabled) {
			return nil, &brokerError{err: err, msg: *resp.ErrorMessage}
		}
		return nil, err
	}
	return aclRows(resp), nil
}

// aclRows flattens a DescribeAcls response into sorted rows.
func aclRows(resp *kmsg.DescribeACLsResponse) []aclRow {
	var out []aclRow
	for _, res := range resp.Resources {
		for _, a := range res.ACLs {
			out = append(out, aclRow{
				Principal: a.Principal, Host: a.Host,
				Operation: a.Operation.String(), Permission: a.PermissionType.String(),
				ResourceType: res.ResourceType.String(), ResourceName: res.ResourceName,
				Pattern: res.ResourcePatternType.String(),
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ResourceType != b.ResourceType {
			return a.ResourceType < b.ResourceType
		}
		if a.ResourceName != b.ResourceName {
			return a.ResourceName < b.ResourceName
		}
		if a.Principal != b.Principal {
			return a.Principal < b.Principal
		}
		return a.Operation+a.Permission+a.Host < b.Operation+b.Permission+b.Host
	})
	return out
}

// filterACLs keeps the rows whose principal or resource name contains q
// (case-insensitive).
func filterACLs(rows []aclRow, q string) []aclRow {
	if q == "" {
		return rows
	}
	q = strings.ToLower(q)
	var out []aclRow
	for _, r := range rows {
		if strings.Contains(strings.ToLower(r.Principal), q) || strings.Contains(strings.ToLower(r.ResourceName), q) {
			out = append(out, r)
		}
	}
	return out
}

// describeUsers lists every SCRAM user, sorted by name.
func (s *Server) describeUsers(ctx context.Context) ([]userRow, error) {
	described, err := s.adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		return nil, err
	}
	var out []userRow
	for name, u := range described {
		if u.Err != nil {
			if errors.Is(u.Err, kerr.ResourceNotFound) {
				continue
			}
			return nil, u.Err
		}
		row := userRow{Name: name}
		for _, c := range u.CredInfos {
			row.Mechanisms = append(row.Mechanisms, c.Mechanism.String()+" ("+strconv.Itoa(int(c.Iterations))+" iterations)")
		}
		sort.Strings(row.Mechanisms)
		out = append(out, row)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// brokerError keeps a response's error message beside its code.
type brokerError struct {
	err error
	msg string
}

func (e *brokerError) Error() string { return e.err.Error() + ": " + e.msg }
func (e *brokerError) Unwrap() error { return e.err }
