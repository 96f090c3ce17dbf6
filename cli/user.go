package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func (a *app) userCommand() *cobra.Command {
	return groupCommand("user", "Create, delete and list SCRAM users (AlterUserScramCredentials)",
		a.userCreateCommand(), a.userDeleteCommand(), a.userListCommand())
}

// parseScramMechanism maps --mechanism to kadm's.
func parseScramMechanism(s string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	}
	return 0, fmt.Errorf("--mechanism %q: valid are SCRAM-SHA-256, SCRAM-SHA-512", s)
}

func (a *app) userCreateCommand() *cobra.Command {
	var (
		password, mechanism string
		iterations          int32
	)
	cmd := &cobra.Command{
		Use:   "create NAME --password PASSWORD [--mechanism SCRAM-SHA-256|SCRAM-SHA-512] [--iterations N]",
		Short: "Create a SCRAM user, or set its password",
		Args:  exactArgs(1, "one user NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			mech, err := parseScramMechanism(mechanism)
			if err != nil {
				return usageError(cmd, err.Error())
			}
			if password == "" {
				return usageError(cmd, "--password is required")
			}
			if iterations < 4096 || iterations > 16384 {
				return usageError(cmd, fmt.Sprintf("--iterations %d: valid are 4096 to 16384", iterations))
			}
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			what := fmt.Sprintf("create user %q", name)
			res, err := adm.AlterUserSCRAMs(cmd.Context(), nil, []kadm.UpsertSCRAM{{User: name, Mechanism: mech, Iterations: iterations, Password: password}})
			if err != nil {
				return failed(what, err, "")
			}
			if r := res[name]; r.Err != nil {
				return failed(what, r.Err, r.ErrMessage)
			}
			fmt.Fprintf(a.stdout, "created user %s (%s, %d iterations)\n", name, mech, iterations)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&password, "password", "", "the user's password (only its salted hash is stored)")
	f.StringVar(&mechanism, "mechanism", "SCRAM-SHA-512", "SCRAM-SHA-256 or SCRAM-SHA-512")
	f.Int32Var(&iterations, "iterations", 4096, "PBKDF2 iterations, 4096 to 16384")
	return cmd
}

func (a *app) userDeleteCommand() *cobra.Command {
	var mechanism string
	cmd := &cobra.Command{
		Use:   "delete NAME [--mechanism SCRAM-SHA-256|SCRAM-SHA-512]",
		Short: "Delete a SCRAM user's credentials (all its mechanisms by default)",
		Args:  exactArgs(1, "one user NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			what := fmt.Sprintf("delete user %q", name)
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			var dels []kadm.DeleteSCRAM
			if mechanism != "" {
				mech, err := parseScramMechanism(mechanism)
				if err != nil {
					return usageError(cmd, err.Error())
				}
				dels = append(dels, kadm.DeleteSCRAM{User: name, Mechanism: mech})
			} else {
				desc, err := adm.DescribeUserSCRAMs(cmd.Context(), name)
				if err != nil {
					return failed(what, err, "")
				}
				d := desc[name]
				if d.Err != nil {
					return failed(what, d.Err, d.ErrMessage)
				}
				for _, ci := range d.CredInfos {
					dels = append(dels, kadm.DeleteSCRAM{User: name, Mechanism: ci.Mechanism})
				}
			}
			res, err := adm.AlterUserSCRAMs(cmd.Context(), dels, nil)
			if err != nil {
				return failed(what, err, "")
			}
			if r := res[name]; r.Err != nil {
				return failed(what, r.Err, r.ErrMessage)
			}
			fmt.Fprintf(a.stdout, "deleted user %s\n", name)
			return nil
		},
	}
	cmd.Flags().StringVar(&mechanism, "mechanism", "", "delete only this mechanism's credential")
	return cmd
}

func (a *app) userListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the SCRAM users with their mechanisms and iterations",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, done, err := a.admin()
			if err != nil {
				return err
			}
			defer done()
			desc, err := adm.DescribeUserSCRAMs(cmd.Context())
			if err != nil {
				return failed("list users", err, "")
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tMECHANISM\tITERATIONS")
			var errs []error
			for _, d := range desc.Sorted() {
				if d.Err != nil {
					errs = append(errs, failed("describe user "+d.User, d.Err, d.ErrMessage))
					continue
				}
				for _, ci := range d.CredInfos {
					fmt.Fprintf(tw, "%s\t%s\t%d\n", d.User, ci.Mechanism, ci.Iterations)
				}
			}
			tw.Flush()
			return errors.Join(errs...)
		},
	}
}
