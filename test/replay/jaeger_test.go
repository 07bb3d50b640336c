package replay

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spansink/spansink/test/jaegerproc"
)

func startJaeger(t *testing.T) *jaegerproc.Jaeger {
	t.Helper()
	j, err := jaegerproc.Start(testContext(t, 3*time.Minute), jaegerproc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Jaeger log %s:\n%s", j.LogPath, tailOf(j.LogPath, 4000))
		}
		j.Close()
	})
	return j
}

// TestReplayIntoJaeger replays the fixture, both formats, its DB-GPT
// records joined, over OTLP/gRPC from the files and over OTLP/HTTP from
// the object store, and reads every trace back from Jaeger's query API:
// every span is there once, with its parent, name, service, kind, times,
// status and attributes.
func TestReplayIntoJaeger(t *testing.T) {
	f := sharedFixture(t)
	t.Run("grpc from files", func(t *testing.T) {
		j := startJaeger(t)
		args := append([]string{"spans", "replay", "--otlp-endpoint", j.OTLPGRPCAddr(), "--insecure"}, f.allFiles()...)
		res := spansink(t, nil, args...).mustSucceed(t, "replay")
		checkReplayed(t, f, res)
		checkJaegerHolds(t, j, f)
	})
	t.Run("http from the object store", func(t *testing.T) {
		s := startStore(t)
		s.upload(t, f)
		j := startJaeger(t)
		res := s.read(t, "spans", "replay", "--otlp-endpoint", j.OTLPHTTPAddr(), "--otlp-http", "--insecure", "--batch", "100", url3(prefix)).mustSucceed(t, "replay")
		checkReplayed(t, f, res)
		checkJaegerHolds(t, j, f)
	})
}

// checkReplayed checks the replay's summary: every span sent.
func checkReplayed(t *testing.T, f *fixture, res result) {
	t.Helper()
	want := fmt.Sprintf("%d span(s) sent in ", f.spanCount())
	if !strings.HasPrefix(res.stdout, want) {
		t.Fatalf("summary %q, want it to start %q\nstderr:\n%s", res.stdout, want, res.stderr)
	}
	if strings.Contains(res.stderr, "warning") {
		t.Fatalf("warnings:\n%s", res.stderr)
	}
	t.Logf("replay: %s", strings.TrimSpace(res.stdout))
}

// checkJaegerHolds reads every trace of the fixture from Jaeger.
func checkJaegerHolds(t *testing.T, j *jaegerproc.Jaeger, f *fixture) {
	t.Helper()
	ctx := testContext(t, 2*time.Minute)
	for traceID, want := range f.traces {
		got, err := j.WaitForSpans(ctx, traceID, len(want))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("trace %s: Jaeger holds %d spans, want %d", traceID, len(got), len(want))
		}
		byID := map[string]jaegerproc.Span{}
		for _, s := range got {
			byID[s.SpanID] = s
		}
		for _, w := range want {
			g, ok := byID[w.spanID]
			if !ok {
				t.Fatalf("trace %s: span %s (%s) is not in Jaeger", traceID, w.spanID, w.name)
			}
			compareJaegerSpan(t, g, w)
		}
	}
}

func compareJaegerSpan(t *testing.T, got jaegerproc.Span, want wantSpan) {
	t.Helper()
	checks := []struct {
		what      string
		got, want any
	}{
		{"trace id", got.TraceID, want.traceID},
		{"parent", got.ParentSpanID, want.parentID},
		{"name", got.Name, want.name},
		{"service", got.Service, want.service},
		{"kind", got.Kind, want.kind},
		{"start", got.Start.UTC(), want.start.UTC()},
		{"duration", got.Duration, want.end.Sub(want.start)},
		{"status", got.StatusCode, want.statusCode},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("span %s %s: %s is %v, want %v", want.traceID, want.spanID, c.what, c.got, c.want)
		}
	}
	for key, value := range want.attrs {
		if !reflect.DeepEqual(got.Attributes[key], value) {
			t.Errorf("span %s %s: attribute %s is %#v, want %#v (all: %v)", want.traceID, want.spanID, key, got.Attributes[key], value, got.Attributes)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}
