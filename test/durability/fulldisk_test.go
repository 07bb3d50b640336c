package durability

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/spansink/spansink/test/collectorproc"
)

// headroom is the free space left on the small volume before the test:
// a few requests' worth of spans.
const headroom = 256 << 10

// mountSmallVolume mounts a 2 MiB tmpfs, a real file system that fills up
// (ENOSPC, with short writes), and fills all but headroom bytes of it with
// a file whose removal frees the space again. It skips the test where
// mounting is not allowed.
func mountSmallVolume(t *testing.T) (dir, filler string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the full-disk test mounts a 2 MiB tmpfs and needs root (CI runs as root)")
	}
	root := t.TempDir()
	if err := syscall.Mount("tmpfs", root, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); the full-disk test needs a real small file system", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(root, 0); err != nil {
			t.Errorf("unmount the test tmpfs %s: %v", root, err)
		}
	})
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	// The filler lives beside the span directory, so the span files are
	// all that directory holds.
	filler = filepath.Join(root, "filler")
	if err := os.WriteFile(filler, make([]byte, free-headroom), 0o644); err != nil {
		t.Fatalf("fill the test volume: %v", err)
	}
	dir = filepath.Join(root, "spans")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, filler
}

// topUp appends to the filler until the file system has no byte left.
func topUp(t *testing.T, filler string) {
	t.Helper()
	f, err := os.OpenFile(filler, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{4096, 1} {
		for {
			if _, err := f.Write(make([]byte, chunk)); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("top up the filler: %v", err)
				}
				break
			}
		}
	}
}

// TestFullDisk fills a real file system under the collector, in both
// modes, and checks the promises: new spans are refused with 503 and
// Retry-After (gRPC Unavailable), the collector is not ready and says why
// in /readyz and the metrics, nothing acknowledged is lost and no torn
// line is left, and it takes spans again by itself once space is freed.
func TestFullDisk(t *testing.T) {
	for _, mode := range []string{"Durable", "Batched"} {
		t.Run(mode, func(t *testing.T) {
			collectorproc.Binary(t)
			dir, filler := mountSmallVolume(t)
			path := filepath.Join(dir, "spans.jsonl")
			logFile := filepath.Join(t.TempDir(), "collector.log")
			args := []string{"--path", path, "--delivery", mode, "--batch-size", "200", "--flush-interval", "50ms",
				"--max-queued-spans", "20000", "--max-size", "0", "--shutdown-timeout", "30s"}
			p := collectorproc.Start(t, logFile, args...)
			url := "http://" + p.HTTPAddr
			client := newLoadClient()

			// Send until the disk is full and the collector refuses.
			deadline := time.Now().Add(time.Minute)
			for {
				code, _ := client.send(context.Background(), url, spansPerRequest)
				if code == http.StatusServiceUnavailable {
					break
				}
				if code != http.StatusOK {
					t.Fatalf("answer %d before the disk was full", code)
				}
				if time.Now().After(deadline) {
					t.Fatal("the collector never refused spans on a full disk")
				}
			}
			ackedBeforeFull := len(client.acked)
			// A refused write leaves the volume nearly full, not full: the
			// collector cuts its torn tail off, which frees up to a page, and
			// a small request may then fit, rightly. Fill that slack, so that
			// what follows asks a volume with no room at all.
			topUp(t, filler)

			code, body, err := p.Admin("/readyz")
			if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "no space left on device") {
				t.Fatalf("/readyz on a full disk = %d %q %v, want 503 naming the cause", code, body, err)
			}
			if v, ok := p.Metric("spansink_storage_healthy", `storage="file"`); !ok || v != 0 {
				t.Fatalf(`spansink_storage_healthy{storage="file"} = %v (present %v), want 0`, v, ok)
			}
			if v, _ := p.Metric("spansink_storage_errors_total", `storage="file"`, `cause="enospc"`); v < 1 {
				t.Fatalf(`spansink_storage_errors_total{cause="enospc"} = %v, want at least 1`, v)
			}
			checkRefusals(t, p, client)

			// Free the space: the collector recovers by itself.
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			waitReady(t, p)
			for range 10 {
				if code, _ := client.send(context.Background(), url, spansPerRequest); code != http.StatusOK {
					t.Fatalf("answer %d after space was freed, want 200", code)
				}
			}
			if code := p.Terminate(time.Minute); code != 0 {
				t.Fatalf("collector exited %d after SIGTERM, want 0", code)
			}
			files, err := readSpanFiles(path, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkFiles(t, "after the disk was full", files)
			acked := client.takeAcked()
			for _, a := range acked {
				if files.count[a.id] == 0 {
					t.Fatalf("acknowledged span %s is not in the file", spanIDHex(a.id))
				}
			}
			t.Logf("%d spans acknowledged before the disk was full, %d in all, answers %v; file holds %d lines",
				ackedBeforeFull, len(acked), client.takeAnswers(), files.lines)
		})
	}
}

// checkRefusals sends one request over each protocol to the refusing
// collector and checks the answers are the retryable ones.
func checkRefusals(t *testing.T, p *collectorproc.Proc, client *loadClient) {
	t.Helper()
	body, _ := client.request(1)
	resp, err := http.Post("http://"+p.HTTPAddr+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("OTLP/HTTP on a full disk = %d with Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	conn, err := grpc.NewClient(p.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, req)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("OTLP/gRPC on a full disk = %v, want Unavailable", err)
	}
}

// waitReady polls /readyz until the collector is ready again.
func waitReady(t *testing.T, p *collectorproc.Proc) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		code, body, err := p.Admin("/readyz")
		if err == nil && code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector not ready a minute after space was freed: %d %q %v", code, body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
