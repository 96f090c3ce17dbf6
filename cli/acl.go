package cli

// ringtail acl add|list|remove: Kafka ACLs through CreateAcls,
// DescribeAcls and DeleteAcls, with kafka-acls.sh's flags.

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
)

func (a *app) aclCommand() *cobra.Command {
	return groupCommand("acl", "Add, list and remove ACLs (as kafka-acls.sh)",
		a.aclAddCommand(), a.aclListCommand(), a.aclRemoveCommand())
}

// aclFlags are kafka-acls.sh's selectors.
type aclFlags struct {
	allowPrincipals, denyPrincipals []string
	allowHosts, denyHosts           []string
	operations                      []string
	topics, groups, txnIDs          []string
	cluster                         bool
	patternType                     string
	producer, consumer              bool
	principal                       string // list only
}

func (f *aclFlags) register(cmd *cobra.Command, forAdd bool) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.topics, "topic", nil, "topic name (or prefix with --resource-pattern-type prefixed; '*' for all topics), repeatable")
	fl.StringArrayVar(&f.groups, "group", nil, "consumer group id, repeatable")
	fl.StringArrayVar(&f.txnIDs, "transactional-id", nil, "transactional id, repeatable")
	fl.BoolVar(&f.cluster, "cluster", false, "the cluster resource")
	if forAdd {
		fl.StringVar(&f.patternType, "resource-pattern-type", "literal", "literal or prefixed")
	} else {
		fl.StringVar(&f.patternType, "resource-pattern-type", "", "literal, prefixed, match (every ACL that applies to the named resource) or any; default: literal with a resource name, else any")
	}
	if forAdd || cmd.Name() == "remove" {
		fl.StringArrayVar(&f.allowPrincipals, "allow-principal", nil, "principal to allow, Type:name (User:alice), repeatable")
		fl.StringArrayVar(&f.denyPrincipals, "deny-principal", nil, "principal to deny, Type:name, repeatable")
		fl.StringArrayVar(&f.allowHosts, "allow-host", nil, "host the allow principals may connect from (default *), repeatable")
		fl.StringArrayVar(&f.denyHosts, "deny-host", nil, "host the deny principals are denied from (default *), repeatable")
		fl.StringArrayVar(&f.operations, "operation", nil, "Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, All; repeatable")
	}
	if forAdd {
		fl.BoolVar(&f.producer, "producer", false, "the ACLs a producer needs: WRITE, DESCRIBE, CREATE on the topics, WRITE and DESCRIBE on the transactional ids")
		fl.BoolVar(&f.consumer, "consumer", false, "the ACLs a consumer needs: READ, DESCRIBE on the topics, READ on the groups")
	} else if cmd.Name() == "list" {
		fl.StringVar(&f.principal, "principal", "", "only ACLs of this principal")
	}
}

type aclResource struct {
	typ  acl.ResourceType
	name string
}

func (f *aclFlags) resources() []aclResource {
	var out []aclResource
	for _, t := range f.topics {
		out = append(out, aclResource{acl.ResourceTopic, t})
	}
	for _, g := range f.groups {
		out = append(out, aclResource{acl.ResourceGroup, g})
	}
	for _, x := range f.txnIDs {
		out = append(out, aclResource{acl.ResourceTransactionalID, x})
	}
	if f.cluster {
		out = append(out, aclResource{acl.ResourceCluster, acl.ClusterName})
	}
	return out
}

func (f *aclFlags) ops() ([]acl.Operation, error) {
	var out []acl.Operation
	for _, s := range f.operations {
		op, err := acl.ParseOperation(camelToSnake(s))
		if err != nil || op == acl.OpAny {
			return nil, fmt.Errorf("--operation %q: valid are Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, CreateTokens, DescribeTokens, All", s)
		}
		out = append(out, op)
	}
	return out, nil
}

// camelToSnake turns DescribeConfigs into DESCRIBE_CONFIGS (kafka-acls.sh
// spells operations in camel case).
func camelToSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' && s[i-1] >= 'a' && s[i-1] <= 'z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// creations expands the flags into bindings: each resource with each
// principal, host and operation (the --producer/--consumer sets where
// given).
func (f *aclFlags) creations() ([]acl.Binding, error) {
	pt, err := acl.ParsePatternType(f.patternType)
	if err != nil || (pt != acl.PatternLiteral && pt != acl.PatternPrefixed) {
		return nil, fmt.Errorf("--resource-pattern-type %q: must be literal or prefixed", f.patternType)
	}
	ops, err := f.ops()
	if err != nil {
		return nil, err
	}
	if len(f.allowPrincipals)+len(f.denyPrincipals) == 0 {
		return nil, fmt.Errorf("give --allow-principal or --deny-principal")
	}
	type entry struct {
		res aclResource
		ops []acl.Operation
	}
	var entries []entry
	for _, r := range f.resources() {
		entries = append(entries, entry{r, ops})
	}
	if f.producer {
		for _, t := range f.topics {
			entries = append(entries, entry{aclResource{acl.ResourceTopic, t}, []acl.Operation{acl.OpWrite, acl.OpDescribe, acl.OpCreate}})
		}
		for _, x := range f.txnIDs {
			entries = append(entries, entry{aclResource{acl.ResourceTransactionalID, x}, []acl.Operation{acl.OpWrite, acl.OpDescribe}})
		}
	}
	if f.consumer {
		for _, t := range f.topics {
			entries = append(entries, entry{aclResource{acl.ResourceTopic, t}, []acl.Operation{acl.OpRead, acl.OpDescribe}})
		}
		for _, g := range f.groups {
			entries = append(entries, entry{aclResource{acl.ResourceGroup, g}, []acl.Operation{acl.OpRead}})
		}
	}
	hostsOr := func(h []string) []string {
		if len(h) == 0 {
			return []string{acl.WildcardHost}
		}
		return h
	}
	var out []acl.Binding
	seen := map[acl.Binding]bool{}
	add := func(e entry, principals, hosts []string, perm acl.Permission) {
		for _, p := range principals {
			for _, h := range hostsOr(hosts) {
				for _, op := range e.ops {
					b := acl.Binding{ResourceType: e.res.typ, ResourceName: e.res.name, PatternType: pt, Principal: p, Host: h, Operation: op, Permission: perm}
					if e.res.typ == acl.ResourceCluster {
						b.PatternType = acl.PatternLiteral
					}
					if !seen[b] {
						seen[b] = true
						out = append(out, b)
					}
				}
			}
		}
	}
	for _, e := range entries {
		add(e, f.allowPrincipals, f.allowHosts, acl.PermAllow)
		add(e, f.denyPrincipals, f.denyHosts, acl.PermDeny)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("nothing to add: give a resource (--topic, --group, --transactional-id, --cluster) and --operation (or --producer/--consumer)")
	}
	for _, b := range out {
		if err := b.Validate(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// filters turns the flags into DescribeAcls/DeleteAcls filters; no
// resource flag means every resource.
func (f *aclFlags) filters(principals []string) ([]acl.Filter, error) {
	res := f.resources()
	pts := f.patternType
	if pts == "" {
		pts = "any"
		if len(res) > 0 {
			pts = "literal"
		}
	}
	pt, err := acl.ParsePatternType(pts)
	if err != nil {
		return nil, fmt.Errorf("--resource-pattern-type %q: must be literal, prefixed, match or any", pts)
	}
	ops, err := f.ops()
	if err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		ops = []acl.Operation{acl.OpAny}
	}
	type target struct {
		typ  acl.ResourceType
		name *string
	}
	var targets []target
	for _, r := range res {
		name := r.name
		targets = append(targets, target{r.typ, &name})
	}
	if len(targets) == 0 {
		targets = []target{{acl.ResourceAny, nil}}
	}
	var ps []*string
	for _, p := range principals {
		ps = append(ps, &p)
	}
	if len(ps) == 0 {
		ps = []*string{nil}
	}
	var out []acl.Filter
	for _, t := range targets {
		for _, p := range ps {
			for _, op := range ops {
				filterPT := pt
				if t.typ == acl.ResourceCluster && pt == acl.PatternPrefixed {
					filterPT = acl.PatternLiteral
				}
				out = append(out, acl.Filter{ResourceType: t.typ, ResourceName: t.name, PatternType: filterPT, Principal: p, Operation: op, Permission: acl.PermAny})
			}
		}
	}
	return out, nil
}

func (a *app) aclAddCommand() *cobra.Command {
	var f aclFlags
	cmd := &cobra.Command{
		Use:   "add --allow-principal|--deny-principal Type:name --operation OP --topic T|--group G|--transactional-id X|--cluster",
		Short: "Add ACLs",
		Example: "  ringtail acl add --allow-principal User:alice --operation Write --topic orders\n" +
			"  ringtail acl add --allow-principal User:bob --consumer --topic logs- --resource-pattern-type prefixed --group analytics",
		Args: exactArgs(0, "no arguments; use flags"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			bs, err := f.creations()
			if err != nil {
				return usageError(cmd, err.Error())
			}
			cl, err := a.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			req := kmsg.NewPtrCreateACLsRequest()
			for _, b := range bs {
				c := kmsg.NewCreateACLsRequestCreation()
				c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceType(b.ResourceType), b.ResourceName, kmsg.ACLResourcePatternType(b.PatternType)
				c.Principal, c.Host = b.Principal, b.Host
				c.Operation, c.PermissionType = kmsg.ACLOperation(b.Operation), kmsg.ACLPermissionType(b.Permission)
				req.Creations = append(req.Creations, c)
			}
			resp, err := req.RequestWith(cmd.Context(), cl)
			if err != nil {
				return failed("add acls", err, "")
			}
			failures := 0
			for i, r := range resp.Results {
				if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
					a.report(failed("add acl "+bs[i].String(), err, deref(r.ErrorMessage)))
					failures++
					continue
				}
				fmt.Fprintf(a.stdout, "added %s\n", bs[i])
			}
			if failures > 0 {
				return errReported
			}
			return nil
		},
	}
	f.register(cmd, true)
	return cmd
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (a *app) aclListCommand() *cobra.Command {
	var f aclFlags
	cmd := &cobra.Command{
		Use:   "list [--topic T|--group G|--transactional-id X|--cluster] [--principal Type:name] [--resource-pattern-type match]",
		Short: "List ACLs, grouped by resource",
		Args:  exactArgs(0, "no arguments; use flags"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var principals []string
			if f.principal != "" {
				principals = []string{f.principal}
			}
			filters, err := f.filters(principals)
			if err != nil {
				return usageError(cmd, err.Error())
			}
			cl, err := a.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			byRes := map[string][]string{}
			for _, flt := range filters {
				req := kmsg.NewPtrDescribeACLsRequest()
				req.ResourceType, req.ResourceName, req.ResourcePatternType = kmsg.ACLResourceType(flt.ResourceType), flt.ResourceName, kmsg.ACLResourcePatternType(flt.PatternType)
				req.Principal, req.Host = flt.Principal, flt.Host
				req.Operation, req.PermissionType = kmsg.ACLOperation(flt.Operation), kmsg.ACLPermissionType(flt.Permission)
				resp, err := req.RequestWith(cmd.Context(), cl)
				if err != nil {
					return failed("list acls", err, "")
				}
				if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
					return failed("list acls", err, deref(resp.ErrorMessage))
				}
				for _, r := range resp.Resources {
					key := fmt.Sprintf("ResourcePattern(resourceType=%s, name=%s, patternType=%s)", acl.ResourceType(r.ResourceType), r.ResourceName, acl.PatternType(r.ResourcePatternType))
					for _, e := range r.ACLs {
						byRes[key] = append(byRes[key], fmt.Sprintf("(principal=%s, host=%s, operation=%s, permissionType=%s)", e.Principal, e.Host, acl.Operation(e.Operation), acl.Permission(e.PermissionType)))
					}
				}
			}
			keys := make([]string, 0, len(byRes))
			for k := range byRes {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(a.stdout, "Current ACLs for resource `%s`:\n", k)
				entries := byRes[k]
				sort.Strings(entries)
				for i, e := range entries {
					if i > 0 && entries[i-1] == e {
						continue
					}
					fmt.Fprintf(a.stdout, " \t%s\n", e)
				}
				fmt.Fprintln(a.stdout)
			}
			return nil
		},
	}
	f.register(cmd, false)
	return cmd
}

func (a *app) aclRemoveCommand() *cobra.Command {
	var f aclFlags
	cmd := &cobra.Command{
		Use:   "remove [--allow-principal|--deny-principal Type:name] [--operation OP] --topic T|--group G|--transactional-id X|--cluster",
		Short: "Remove the ACLs the flags select (every principal and operation of a resource when those are left out)",
		Args:  exactArgs(0, "no arguments; use flags"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(f.resources()) == 0 {
				return usageError(cmd, "give a resource: --topic, --group, --transactional-id or --cluster")
			}
			filters, err := f.filters(append(append([]string{}, f.allowPrincipals...), f.denyPrincipals...))
			if err != nil {
				return usageError(cmd, err.Error())
			}
			cl, err := a.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			req := kmsg.NewPtrDeleteACLsRequest()
			for _, flt := range filters {
				d := kmsg.NewDeleteACLsRequestFilter()
				d.ResourceType, d.ResourceName, d.ResourcePatternType = kmsg.ACLResourceType(flt.ResourceType), flt.ResourceName, kmsg.ACLResourcePatternType(flt.PatternType)
				d.Principal, d.Host = flt.Principal, flt.Host
				d.Operation, d.PermissionType = kmsg.ACLOperation(flt.Operation), kmsg.ACLPermissionType(flt.Permission)
				req.Filters = append(req.Filters, d)
			}
			resp, err := req.RequestWith(cmd.Context(), cl)
			if err != nil {
				return failed("remove acls", err, "")
			}
			failures, removed := 0, 0
			for _, r := range resp.Results {
				if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
					a.report(failed("remove acls", err, deref(r.ErrorMessage)))
					failures++
					continue
				}
				for _, m := range r.MatchingACLs {
					b := acl.Binding{ResourceType: acl.ResourceType(m.ResourceType), ResourceName: m.ResourceName, PatternType: acl.PatternType(m.ResourcePatternType),
						Principal: m.Principal, Host: m.Host, Operation: acl.Operation(m.Operation), Permission: acl.Permission(m.PermissionType)}
					fmt.Fprintf(a.stdout, "removed %s\n", b)
					removed++
				}
			}
			if failures > 0 {
				return errReported
			}
			if removed == 0 {
				fmt.Fprintln(a.stdout, "no ACLs matched")
			}
			return nil
		},
	}
	f.register(cmd, false)
	return cmd
}
