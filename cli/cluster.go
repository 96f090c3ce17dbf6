package cli

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (a *app) clusterCommand() *cobra.Command {
	return groupCommand("cluster", "Inspect the cluster", a.clusterInfoCommand(), a.clusterNewIDCommand())
}

func (a *app) clusterInfoCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Show the brokers (fenced or not), the active controller and the controller quorum's voters",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := a.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx := cmd.Context()
			dc := kmsg.NewPtrDescribeClusterRequest()
			dc.IncludeFencedBrokers = true
			dcr, err := dc.RequestWith(ctx, cl)
			if err == nil {
				err = kerr.ErrorForCode(dcr.ErrorCode)
			}
			if err != nil {
				msg := ""
				if dcr != nil && dcr.ErrorMessage != nil {
					msg = *dcr.ErrorMessage
				}
				return failed("describe cluster", err, msg)
			}
			voters := "unknown"
			controller := "none (election in progress)"
			dq := kmsg.NewPtrDescribeQuorumRequest()
			qt := kmsg.NewDescribeQuorumRequestTopic()
			qt.Topic = "__cluster_metadata"
			qt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
			dq.Topics = append(dq.Topics, qt)
			if dqr, err := dq.RequestWith(ctx, cl); err == nil && len(dqr.Topics) == 1 && len(dqr.Topics[0].Partitions) == 1 &&
				dqr.Topics[0].Partitions[0].ErrorCode == 0 {
				var ids []string
				for _, v := range dqr.Topics[0].Partitions[0].CurrentVoters {
					ids = append(ids, strconv.Itoa(int(v.ReplicaID)))
				}
				voters = strings.Join(ids, ",")
				var obs []string
				for _, o := range dqr.Topics[0].Partitions[0].Observers {
					obs = append(obs, strconv.Itoa(int(o.ReplicaID)))
				}
				if len(obs) > 0 {
					voters += " (observers: " + strings.Join(obs, ",") + ")"
				}
				// DescribeCluster's controller id is a broker that forwards
				// to the controller, as in Kafka; the quorum leader is the
				// active controller.
				if lead := dqr.Topics[0].Partitions[0].LeaderID; lead >= 0 {
					controller = strconv.Itoa(int(lead))
				}
			}
			var b strings.Builder
			fmt.Fprintf(&b, "ClusterId: %s\nController: %s\nVoters: %s\nBrokers: %d\n", dcr.ClusterID, controller, voters, len(dcr.Brokers))
			for _, br := range dcr.Brokers {
				state := "unfenced"
				if br.IsFenced {
					state = "fenced"
				}
				fmt.Fprintf(&b, "\tId: %d\tEndpoint: %s\tState: %s", br.NodeID, fmt.Sprintf("%s:%d", br.Host, br.Port), state)
				if br.Rack != nil {
					fmt.Fprintf(&b, "\tRack: %s", *br.Rack)
				}
				b.WriteByte('\n')
			}
			_, err = fmt.Fprint(a.stdout, b.String())
			return err
		},
	}
}

func (a *app) clusterNewIDCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "new-id",
		Short: "Print a new random cluster id for cluster.id",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var u [16]byte
			if _, err := rand.Read(u[:]); err != nil {
				return err
			}
			u[6] = (u[6] & 0x0f) | 0x40
			u[8] = (u[8] & 0x3f) | 0x80
			_, err := fmt.Fprintln(a.stdout, base64.RawURLEncoding.EncodeToString(u[:]))
			return err
		},
	}
}
