package collectorproc

import (
	"os"
	"testing"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    Status
		wantErr bool
	}{
		{
			name: "kernel format",
			raw:  "Name:\tspansink\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t7\n",
			want: Status{RSSBytes: 10 << 20, HWMBytes: 20 << 20, Threads: 7},
		},
		{name: "kernel thread without memory", raw: "Name:\tkthreadd\nThreads:\t1\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatus([]byte(tc.raw))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// The test process's own status must parse: the format is the kernel's.
func TestReadStatusSelf(t *testing.T) {
	s, err := ReadStatus(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSBytes <= 0 || s.HWMBytes < s.RSSBytes || s.Threads < 1 {
		t.Fatalf("implausible status %+v", s)
	}
}

func TestSampleLine(t *testing.T) {
	body := "# HELP x\nspansink_refused_total{reason=\"busy\",transport=\"http\"} 3\nspansink_refused_total{reason=\"size\",transport=\"http\"} 2\ngo_goroutines 12\n"
	if v, ok := sample(body, "go_goroutines"); !ok || v != 12 {
		t.Fatalf("go_goroutines = %v %v", v, ok)
	}
	if v, ok := sample(body, "spansink_refused_total", `reason="size"`); !ok || v != 2 {
		t.Fatalf("refused size = %v %v", v, ok)
	}
	if _, ok := sample(body, "spansink_refused", `reason="size"`); ok {
		t.Fatal("a name prefix matched")
	}
}
