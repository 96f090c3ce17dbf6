package cli

// `ringtail group alter-config`: a group's own configs (Kafka's GROUP
// config resource, type 32): share.auto.offset.reset and the other share.*
// keys of share groups, consumer.* of KIP-848 consumer groups.

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (a *app) groupAlterConfigCommand() *cobra.Command {
	var sets, deletes []string
	cmd := &cobra.Command{
		Use:   "alter-config GROUP [--set key=value ...] [--delete key ...]",
		Short: "Set or remove a group's configs, e.g. share.auto.offset.reset=earliest (IncrementalAlterConfigs)",
		Long: "Set or remove GROUP's own configs (Kafka's GROUP config resource). Share groups:\n" +
			"share.auto.offset.reset (latest, earliest, by_duration:<ISO-8601>), share.record.lock.duration.ms,\n" +
			"share.delivery.count.limit, share.isolation.level, share.session.timeout.ms,\n" +
			"share.heartbeat.interval.ms. Consumer (KIP-848) groups: consumer.session.timeout.ms,\n" +
			"consumer.heartbeat.interval.ms. The group need not exist yet.",
		Args: exactArgs(1, "one GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			alters, err := buildAlters(sets, deletes)
			if err != nil {
				return err
			}
			cl, err := a.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			what := fmt.Sprintf("alter configs of group %q", name)
			req := kmsg.NewPtrIncrementalAlterConfigsRequest()
			res := kmsg.NewIncrementalAlterConfigsRequestResource()
			res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, name
			for _, al := range alters {
				c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
				c.Name, c.Value = al.Name, al.Value
				c.Op = kmsg.IncrementalAlterConfigOpSet
				if al.Op == kadm.DeleteConfig {
					c.Op = kmsg.IncrementalAlterConfigOpDelete
				}
				res.Configs = append(res.Configs, c)
			}
			req.Resources = append(req.Resources, res)
			resp, err := req.RequestWith(cmd.Context(), cl)
			if err != nil {
				return failed(what, err, "")
			}
			if len(resp.Resources) != 1 {
				return failed(what, fmt.Errorf("the broker answered %d resources for one", len(resp.Resources)), "")
			}
			r := resp.Resources[0]
			if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
				msg := ""
				if r.ErrorMessage != nil {
					msg = *r.ErrorMessage
				}
				return failed(what, err, msg)
			}
			fmt.Fprintf(a.stdout, "altered configs of group %s\n", name)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "set a group config key=value, repeatable")
	cmd.Flags().StringArrayVar(&deletes, "delete", nil, "remove a group config (back to the broker's default), repeatable")
	return cmd
}
