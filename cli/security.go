package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// saslPasswordEnv holds the SASL password when --sasl-password is not
// given, so that it need not appear in the process list.
const saslPasswordEnv = "RINGTAIL_SASL_PASSWORD"

// clientSecurity is how the operator commands connect: TLS and SASL, as
// the broker's listener wants them.
type clientSecurity struct {
	tls                    bool
	tlsCA, tlsCert, tlsKey string
	saslMechanism          string
	saslUser, saslPassword string
}

func (s *clientSecurity) addFlags(f *pflag.FlagSet) {
	f.BoolVar(&s.tls, "tls", false, "connect with TLS (SSL and SASL_SSL listeners); implied by --tls-ca")
	f.StringVar(&s.tlsCA, "tls-ca", "", "PEM file of the CA certificates that the broker's certificate must chain to (default: the system's)")
	f.StringVar(&s.tlsCert, "tls-cert", "", "PEM file of a client certificate, for listeners with ssl.client.auth")
	f.StringVar(&s.tlsKey, "tls-key", "", "PEM file of the client certificate's private key")
	f.StringVar(&s.saslMechanism, "sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_PLAINTEXT and SASL_SSL listeners)")
	f.StringVar(&s.saslUser, "sasl-user", "", "SASL user name")
	f.StringVar(&s.saslPassword, "sasl-password", "", "SASL password (default from $"+saslPasswordEnv+")")
}

// opts are the kgo options for the flags given.
func (s *clientSecurity) opts() ([]kgo.Opt, error) {
	var out []kgo.Opt
	if s.tls || s.tlsCA != "" || s.tlsCert != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if s.tlsCA != "" {
			pem, err := os.ReadFile(s.tlsCA)
			if err != nil {
				return nil, fmt.Errorf("--tls-ca: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", s.tlsCA)
			}
		}
		if (s.tlsCert == "") != (s.tlsKey == "") {
			return nil, errors.New("--tls-cert and --tls-key go together")
		}
		if s.tlsCert != "" {
			cert, err := tls.LoadX509KeyPair(s.tlsCert, s.tlsKey)
			if err != nil {
				return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		out = append(out, kgo.DialTLSConfig(tc))
	}
	mech := strings.ToUpper(strings.TrimSpace(s.saslMechanism))
	if mech == "" {
		if s.saslUser != "" {
			return nil, errors.New("--sasl-user needs --sasl-mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
		return out, nil
	}
	pw := s.saslPassword
	if pw == "" {
		pw = os.Getenv(saslPasswordEnv)
	}
	if s.saslUser == "" || pw == "" {
		return nil, fmt.Errorf("--sasl-mechanism %s needs --sasl-user and --sasl-password (or $%s)", mech, saslPasswordEnv)
	}
	switch mech {
	case "PLAIN":
		out = append(out, kgo.SASL(plain.Auth{User: s.saslUser, Pass: pw}.AsMechanism()))
	case "SCRAM-SHA-256":
		out = append(out, kgo.SASL(scram.Auth{User: s.saslUser, Pass: pw}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		out = append(out, kgo.SASL(scram.Auth{User: s.saslUser, Pass: pw}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("--sasl-mechanism %q: valid are PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", s.saslMechanism)
	}
	return out, nil
}
