package cli

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func (a *app) quotaCommand() *cobra.Command {
	return groupCommand("quota", "Set, list and remove client quotas (by user, client id, both, or their defaults)",
		a.quotaSetCommand(), a.quotaListCommand(), a.quotaRemoveCommand())
}

// entityFlags are the flags that name a quota entity, as kafka-configs'
// --entity-type/--entity-name/--entity-default.
type entityFlags struct {
	user, client, ip                      string
	userDefault, clientDefault, ipDefault bool
}

func (e *entityFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&e.user, "user", "", "the user (principal name without User:; ANONYMOUS for unauthenticated clients)")
	f.BoolVar(&e.userDefault, "user-default", false, "the default user (<default>)")
	f.StringVar(&e.client, "client-id", "", "the client id")
	f.BoolVar(&e.clientDefault, "client-default", false, "the default client id (<default>)")
	f.StringVar(&e.ip, "ip", "", "an IP address (connection_creation_rate only)")
	f.BoolVar(&e.ipDefault, "ip-default", false, "the default IP (<default>)")
}

// entity builds the entity the flags name; none is an error unless
// optional (list).
func (e *entityFlags) entity(cmd *cobra.Command, optional bool) (kadm.ClientQuotaEntity, error) {
	var out kadm.ClientQuotaEntity
	part := func(typ, nameFlag, defFlag string, name string, def bool) error {
		named := cmd.Flags().Changed(nameFlag)
		switch {
		case named && def:
			return usageError(cmd, "--"+nameFlag+" and --"+defFlag+" name two entities; give one")
		case named:
			out = append(out, kadm.ClientQuotaEntityComponent{Type: typ, Name: kadm.StringPtr(name)})
		case def:
			out = append(out, kadm.ClientQuotaEntityComponent{Type: typ})
		}
		return nil
	}
	if err := part("user", "user", "user-default", e.user, e.userDefault); err != nil {
		return nil, err
	}
	if err := part("client-id", "client-id", "client-default", e.client, e.clientDefault); err != nil {
		return nil, err
	}
	if err := part("ip", "ip", "ip-default", e.ip, e.ipDefault); err != nil {
		return nil, err
	}
	if len(out) == 0 && !optional {
		return nil, usageError(cmd, "wants an entity: --user/--user-default and/or --client-id/--client-default, or --ip/--ip-default")
	}
	return out, nil
}

// quotaKeyFlags are set's value flags, by quota key.
var quotaKeyFlags = []struct{ flag, key, doc string }{
	{"producer-byte-rate", "producer_byte_rate", "bytes/s the entity may produce"},
	{"consumer-byte-rate", "consumer_byte_rate", "bytes/s the entity may fetch"},
	{"request-percentage", "request_percentage", "percentage of one request handler thread's time"},
	{"controller-mutation-rate", "controller_mutation_rate", "partitions/s the entity may create or delete"},
	{"connection-creation-rate", "connection_creation_rate", "connections/s from an IP (--ip entities)"},
}

func (a *app) quotaSetCommand() *cobra.Command {
	var ent entityFlags
	values := make([]float64, len(quotaKeyFlags))
	cmd := &cobra.Command{
		Use:   "set ENTITY [--producer-byte-rate N] [--consumer-byte-rate N] [--request-percentage P] [--controller-mutation-rate R]",
		Short: "Set quotas of a user, client id, both, or their defaults",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			entity, err := ent.entity(cmd, false)
			if err != nil {
				return err
			}
			var ops []kadm.AlterClientQuotaOp
			for i, q := range quotaKeyFlags {
				if cmd.Flags().Changed(q.flag) {
					ops = append(ops, kadm.AlterClientQuotaOp{Key: q.key, Value: values[i]})
				}
			}
			if len(ops) == 0 {
				return usageError(cmd, "wants at least one quota (--producer-byte-rate, --consumer-byte-rate, --request-percentage, --controller-mutation-rate)")
			}
			return a.alterQuotas(cmd, "set quotas of "+entityString(entity), entity, ops)
		},
	}
	ent.add(cmd)
	for i, q := range quotaKeyFlags {
		cmd.Flags().Float64Var(&values[i], q.flag, 0, q.doc+" ("+q.key+")")
	}
	return cmd
}

func (a *app) quotaRemoveCommand() *cobra.Command {
	var ent entityFlags
	var keys []string
	cmd := &cobra.Command{
		Use:   "remove ENTITY [--key producer_byte_rate ...]",
		Short: "Remove quotas of an entity (the keys given, or all of them)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			entity, err := ent.entity(cmd, false)
			if err != nil {
				return err
			}
			what := "remove quotas of " + entityString(entity)
			if len(keys) == 0 {
				// All of the entity's quotas: whatever it has now.
				adm, done, err := a.admin()
				if err != nil {
					return err
				}
				described, err := adm.DescribeClientQuotas(cmd.Context(), true, exactFilter(entity))
				done()
				if err != nil {
					return failed(what, err, "")
				}
				for _, d := range described {
					for _, v := range d.Values {
						keys = append(keys, v.Key)
					}
				}
				if len(keys) == 0 {
					return fmt.Errorf("%s: it has none", what)
				}
			}
			var ops []kadm.AlterClientQuotaOp
			for _, k := range keys {
				ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Remove: true})
			}
			return a.alterQuotas(cmd, what, entity, ops)
		},
	}
	ent.add(cmd)
	cmd.Flags().StringArrayVar(&keys, "key", nil, "quota key to remove, repeatable (default: all the entity's quotas)")
	return cmd
}

func (a *app) alterQuotas(cmd *cobra.Command, what string, entity kadm.ClientQuotaEntity, ops []kadm.AlterClientQuotaOp) error {
	adm, done, err := a.admin()
	if err != nil {
		return err
	}
	defer done()
	res, err := adm.AlterClientQuotas(cmd.Context(), []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: ops}})
	if err != nil {
		return failed(what, err, "")
	}
	for _, r := range res {
		if r.Err != nil {
			return failed(what, r.Err, r.ErrMessage)
		}
	}
	fmt.Fprintf(a.stdout, "%s: done\n", what)
	return nil
}

// exactFilter matches exactly entity (with strict, nothing more).
func exactFilter(entity kadm.ClientQuotaEntity) []kadm.DescribeClientQuotaComponent {
	var out []kadm.DescribeClientQuotaComponent
	for _, c := range entity {
		if c.Name == nil {
			out = append(out, kadm.DescribeClientQuotaComponent{Type: c.Type, MatchType: 1})
		} else {
			out = append(out, kadm.DescribeClientQuotaComponent{Type: c.Type, MatchName: c.Name, MatchType: 0})
		}
	}
	return out
}

func (a *app) quotaListCommand() *cobra.Command {
	var ent entityFlags
	var strict bool
	cmd := &cobra.Command{
		Use:   "list [ENTITY] [--strict]",
		Short: "List client quotas: all, or those of entities matching the flags",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			entity, err := ent.entity(cmd, true)
			if err != nil {
				return err
			}
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			described, err := adm.DescribeClientQuotas(cmd.Context(), strict, exactFilter(entity))
			if err != nil {
				msg := ""
				var em *kadm.ErrAndMessage
				if errors.As(err, &em) {
					err, msg = em.Err, em.ErrMessage
				}
				return failed("list quotas", err, msg)
			}
			for _, line := range formatQuotas(described) {
				fmt.Fprintln(a.stdout, line)
			}
			return nil
		},
	}
	ent.add(cmd)
	cmd.Flags().BoolVar(&strict, "strict", false, "only entities with exactly the given parts (e.g. --user alice alone, not alice with a client id)")
	return cmd
}

// entityString is an entity as kafka-configs shows it:
// user=alice,client-id=<default>.
func entityString(e kadm.ClientQuotaEntity) string {
	parts := make([]string, 0, len(e))
	sorted := append(kadm.ClientQuotaEntity(nil), e...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Type > sorted[j].Type }) // user before client-id
	for _, c := range sorted {
		name := "<default>"
		if c.Name != nil {
			name = *c.Name
		}
		parts = append(parts, c.Type+"="+name)
	}
	return strings.Join(parts, ",")
}

// formatQuotas renders one line per entity, sorted: the entity, then its
// quotas as key=value.
func formatQuotas(ds kadm.DescribedClientQuotas) []string {
	lines := make([]string, 0, len(ds))
	for _, d := range ds {
		vals := make([]string, 0, len(d.Values))
		for _, v := range d.Values {
			vals = append(vals, v.Key+"="+strconv.FormatFloat(v.Value, 'f', -1, 64))
		}
		sort.Strings(vals)
		lines = append(lines, entityString(d.Entity)+" "+strings.Join(vals, " "))
	}
	sort.Strings(lines)
	return lines
}
