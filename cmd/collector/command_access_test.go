package collector

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spansink/spansink/sink/config"
)

func TestAccessFlagsMakeTheConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		args  []string
		check func(config.Config) bool
	}{
		{"off by default", nil, func(c config.Config) bool {
			return !c.Auth.Enabled() && !c.TLS.Enabled() && !c.Debug.Enabled &&
				c.Debug.RecentSpansBytes == config.DefaultRecentSpansBytes && c.Listen.Admin == "127.0.0.1:8888"
		}},
		{"bearer tokens", []string{"--bearer-token-file", "/etc/spansink/token"}, func(c config.Config) bool {
			return c.Auth.BearerTokenFile == "/etc/spansink/token"
		}},
		{"mutual TLS", []string{"--tls-cert-file", "tls.crt", "--tls-key-file", "tls.key", "--tls-client-ca-file", "ca.crt"}, func(c config.Config) bool {
			return c.TLS == config.TLS{CertFile: "tls.crt", KeyFile: "tls.key", ClientCAFile: "ca.crt"}
		}},
		{"debug endpoints", []string{"--debug-endpoints", "--recent-spans-bytes", "4MiB"}, func(c config.Config) bool {
			return c.Debug.Enabled && c.Debug.RecentSpansBytes == 4<<20
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd, f := newCommand()
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := f.config(cmd.Flags())
			if err != nil {
				t.Fatalf("config: %v", err)
			}
			if !tc.check(cfg) {
				t.Fatalf("config from %v is %+v", tc.args, cfg)
			}
		})
	}
}

func TestBadAccessFlags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert-file", "tls.crt"}, "tls.certFile is set without tls.keyFile"},
		{[]string{"--tls-client-ca-file", "ca.crt"}, "tls.clientCAFile requires tls.certFile"},
		{[]string{"--recent-spans-bytes", "0"}, "debug.recentSpansBytes must be positive"},
		{[]string{"--recent-spans-bytes", "big"}, "--recent-spans-bytes: want a byte count"},
	}
	for _, tc := range cases {
		cmd, f := newCommand()
		if err := cmd.ParseFlags(tc.args); err != nil {
			t.Fatal(err)
		}
		if _, err := f.config(cmd.Flags()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one saying %q", tc.args, err, tc.want)
		}
	}
}

func TestHelpDescribesAccess(t *testing.T) {
	t.Parallel()
	cmd, _ := newCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"--bearer-token-file", `"Authorization: Bearer <token>"`,
		"--tls-cert-file", "TLS 1.2 or later", "--tls-key-file", "--tls-client-ca-file", "mutual TLS",
		"--debug-endpoints", "--recent-spans-bytes",
		`--admin-address string`, "loopback by default", `(default "127.0.0.1:8888")`,
		"re-read when it changes",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help does not say %q", want)
		}
	}
}
