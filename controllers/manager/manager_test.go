package manager

import (
	"strings"
	"testing"
)

func TestCollectorImageDefault(t *testing.T) {
	cases := []struct {
		name, env, want string
	}{
		{"built-in default", "", DefaultImage},
		{"from SPANSINK_IMAGE", "registry.example.com/spansink:v9", "registry.example.com/spansink:v9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(ImageEnv, tc.env)
			flag := NewCommand().Flags().Lookup("collector-image")
			if flag == nil {
				t.Fatal("no --collector-image flag")
			}
			if flag.DefValue != tc.want {
				t.Errorf("default --collector-image = %q, want %q", flag.DefValue, tc.want)
			}
		})
	}
}

// Bad flags are refused before the manager reaches for a cluster.
func TestRejectsBadFlags(t *testing.T) {
	cases := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--collector-image="}, "--collector-image must not be empty"},
		{[]string{"--max-concurrent-reconciles=0"}, "--max-concurrent-reconciles must be at least 1, got 0"},
		{[]string{"--leader-elect", "extra"}, `unknown command "extra"`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := NewCommand()
			cmd.SetArgs(tc.args)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
