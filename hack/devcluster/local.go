package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/manifests"
	"github.com/spansink/spansink/internal/devcluster"
	"github.com/spansink/spansink/internal/devcluster/controlplane"
	"github.com/spansink/spansink/internal/devcluster/localnode"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"
)

// localImage is the collector image the operator is told to use here. The
// local node runs it as the spansink binary built from this checkout, so
// what runs is the code in front of you, not a released image.
const localImage = "spansink.dev/spansink:devcluster"

// sampleDir holds the sample SpanSink, a kustomization.
var sampleDir = filepath.Join("config", "samples")

// sampleNamespace is where the sample goes, as `kubectl apply -k
// config/samples` would put it with the default kubeconfig context.
const sampleNamespace = "default"

// readyTimeout bounds the wait for the sample's collector: the node starts
// it in a second or two, the rest is the controllers' reaction time.
const readyTimeout = 3 * time.Minute

// controlPlaneBinEnv names a directory that already holds every
// control-plane binary, which skips hack/control-plane.sh (as in the e2e
// suite).
const controlPlaneBinEnv = "SPANSINK_CONTROL_PLANE_BIN"

// runLocal brings up the local cluster, runs the operator in this process,
// applies the sample SpanSink, prints how to use it once it is Ready, and
// tears everything down when ctx ends. The work directory, with the span
// files and every component's log, is kept.
func runLocal(ctx context.Context, managerArgs []string) (err error) {
	root, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	cache, err := cacheDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(cache, "devcluster"), 0o755); err != nil {
		return fmt.Errorf("create devcluster directory: %w", err)
	}
	work, err := os.MkdirTemp(filepath.Join(cache, "devcluster"), "local-")
	if err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	// The collector runs as an unprivileged user and must reach its volume
	// below this directory.
	if err := os.Chmod(work, 0o755); err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	say("work directory (logs, pod roots, volumes): %s", work)
	started := false
	defer func() {
		// A run that failed before the cluster started leaves nothing worth
		// keeping.
		if !started {
			os.RemoveAll(work)
		}
	}()

	binDir := os.Getenv(controlPlaneBinEnv)
	if binDir == "" {
		say("building or locating etcd, kube-apiserver, kube-controller-manager and kube-scheduler with hack/control-plane.sh (the first build takes about 12 minutes on two cores)")
		if binDir, err = controlplane.Binaries(ctx, root, os.Stderr); err != nil {
			return err
		}
	}
	binary := filepath.Join(work, "bin", "spansink")
	say("building the spansink binary the local node runs as %s", localImage)
	if err := devcluster.BuildSpansink(ctx, root, binary); err != nil {
		return err
	}

	logFile, err := os.Create(filepath.Join(work, "localnode.log"))
	if err != nil {
		return fmt.Errorf("create node log: %w", err)
	}
	defer logFile.Close()
	local, err := devcluster.Start(ctx, devcluster.Options{
		Options: controlplane.Options{
			BinaryDir:         binDir,
			WorkDir:           work,
			CRDDirectoryPaths: []string{filepath.Join(root, crdDir)},
			Logf:              say,
		},
		Images: map[string]localnode.Image{localImage: devcluster.SpansinkImage(binary)},
		Log:    zap.New(zap.WriteTo(logFile)),
	})
	started = true
	if err != nil {
		return fmt.Errorf("start the local cluster (logs in %s): %w", work, err)
	}
	defer func() {
		say("stopping the collector pods, the local node and the control plane")
		if stopErr := local.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop the local cluster: %w", stopErr))
		}
		say("stopped; span files and logs stay in %s", work)
	}()

	adminKubeconfig, err := os.ReadFile(local.Kubeconfig)
	if err != nil {
		return fmt.Errorf("read kubeconfig: %w", err)
	}
	kubeconfig, err := saveKubeconfig(adminKubeconfig)
	if err != nil {
		return err
	}
	if err := os.Setenv("KUBECONFIG", kubeconfig); err != nil {
		return fmt.Errorf("set KUBECONFIG: %w", err)
	}

	// The operator's own endpoints take free ports: its defaults (:8080,
	// :8081) are often taken on a developer's machine. Flags given after
	// ARGS= come later and win.
	args := append([]string{
		"--collector-image=" + localImage,
		"--metrics-bind-address=0",
		"--health-probe-bind-address=127.0.0.1:0",
	}, managerArgs...)
	managerCtx, stopManager := context.WithCancel(ctx)
	defer stopManager()
	managerDone := make(chan error, 1)
	say("starting the operator")
	go func() { managerDone <- runManager(managerCtx, args) }()
	defer func() {
		stopManager()
		if managerErr := <-managerDone; managerErr != nil {
			err = errors.Join(err, managerErr)
		}
	}()

	k8s, err := client.New(local.Config, client.Options{Scheme: scheme()})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	sink, err := applySample(ctx, k8s)
	if err != nil {
		return err
	}
	say("applied SpanSink %s/%s from %s; waiting for its collector to be Ready", sink.Namespace, sink.Name, sampleDir)
	if sink, err = waitReady(ctx, k8s, sink, managerDone); err != nil {
		return err
	}
	info, err := describeLocal(ctx, local, sink, kubeconfig, filepath.Join(root, "bin", "telemetrygen"))
	if err != nil {
		return err
	}
	fmt.Print(info.String())

	select {
	case <-ctx.Done():
		say("interrupted")
		return nil
	case managerErr := <-managerDone:
		managerDone <- managerErr
		return errors.New("the operator stopped")
	}
}

func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// applySample creates the SpanSinks of the sample kustomization in
// sampleNamespace and returns the first one. Reading the kustomization's
// resources directly keeps kubectl optional on a fresh machine.
func applySample(ctx context.Context, k8s client.Client) (*v1alpha1.SpanSink, error) {
	sinks, err := readSample(sampleDir)
	if err != nil {
		return nil, err
	}
	for _, sink := range sinks {
		sink.Namespace = sampleNamespace
		if err := k8s.Create(ctx, sink); err != nil {
			return nil, fmt.Errorf("create sample SpanSink %s: %w", sink.Name, err)
		}
	}
	return sinks[0], nil
}

// readSample reads the SpanSinks a kustomization directory lists as its
// resources.
func readSample(dir string) ([]*v1alpha1.SpanSink, error) {
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, fmt.Errorf("read the sample kustomization: %w", err)
	}
	var kustomization struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &kustomization); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, "kustomization.yaml"), err)
	}
	var sinks []*v1alpha1.SpanSink
	for _, resource := range kustomization.Resources {
		path := filepath.Join(dir, resource)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read sample: %w", err)
		}
		sink := &v1alpha1.SpanSink{}
		if err := yaml.UnmarshalStrict(data, sink); err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		if sink.Kind != "SpanSink" {
			return nil, fmt.Errorf("%s holds a %s, not a SpanSink", path, sink.Kind)
		}
		sinks = append(sinks, sink)
	}
	if len(sinks) == 0 {
		return nil, fmt.Errorf("%s lists no SpanSink", filepath.Join(dir, "kustomization.yaml"))
	}
	return sinks, nil
}

// waitReady polls the SpanSink until its Ready condition is true, printing
// what it waits for whenever that changes.
func waitReady(ctx context.Context, k8s client.Client, sink *v1alpha1.SpanSink, managerDone chan error) (*v1alpha1.SpanSink, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var last string
	for {
		got := &v1alpha1.SpanSink{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(sink), got); err == nil {
			if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady); c != nil && c.Status == metav1.ConditionTrue {
				return got, nil
			}
			if now := conditionSummary(got); now != last && now != "" {
				say("SpanSink %s: %s", sink.Name, now)
				last = now
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("SpanSink %s/%s not Ready after %s (last: %s): %w; `kubectl describe spansink %s` says more",
				sink.Namespace, sink.Name, readyTimeout, last, ctx.Err(), sink.Name)
		case managerErr := <-managerDone:
			managerDone <- managerErr
			return nil, fmt.Errorf("the operator stopped before SpanSink %s was Ready: %v", sink.Name, managerErr)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// conditionSummary lists the true conditions with their reasons.
func conditionSummary(sink *v1alpha1.SpanSink) string {
	var parts []string
	for _, c := range sink.Status.Conditions {
		if c.Status == metav1.ConditionTrue {
			parts = append(parts, c.Type+" ("+c.Reason+": "+c.Message+")")
		}
	}
	return strings.Join(parts, ", ")
}

// localInfo is what a user needs to talk to the local collector.
type localInfo struct {
	kubeconfig   string
	sink         *v1alpha1.SpanSink
	otlpGRPC     string // host:port
	otlpHTTP     string // host:port
	spanDir      string
	spanFile     string
	telemetrygen string
}

// describeLocal finds the collector's addresses on the service proxy and
// the directory of the sink's span file on the host.
func describeLocal(ctx context.Context, local *devcluster.Cluster, sink *v1alpha1.SpanSink, kubeconfig, telemetrygen string) (*localInfo, error) {
	service := manifests.CollectorName(sink)
	info := &localInfo{kubeconfig: kubeconfig, sink: sink, telemetrygen: telemetrygen}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info.otlpGRPC = local.Proxy.Address(sink.Namespace, service, manifests.OTLPGRPCPortName)
		info.otlpHTTP = local.Proxy.Address(sink.Namespace, service, manifests.OTLPHTTPPortName)
		if info.otlpGRPC != "" && info.otlpHTTP != "" {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the service proxy has no address for Service %s/%s", sink.Namespace, service)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	volume, err := local.ClaimDir(ctx, sink.Namespace, sink.Status.VolumeClaimName)
	if err != nil {
		return nil, err
	}
	path := sink.Spec.Storage.Path
	if filepath.Ext(path) == "" {
		// The collector's rule, as in DB-GPT: no extension means .log.
		path += ".log"
	}
	info.spanFile = filepath.Join(volume, path)
	info.spanDir = filepath.Dir(info.spanFile)
	return info, nil
}

// String is the block printed once the sample is Ready: what to export,
// where to send spans, where they land, one line per client to try.
func (i *localInfo) String() string {
	_, grpcPort, _ := net.SplitHostPort(i.otlpGRPC)
	var b strings.Builder
	fmt.Fprintf(&b, "\nspansink is running: a local cluster, the operator and SpanSink %s/%s (Ready).\n\n", i.sink.Namespace, i.sink.Name)
	fmt.Fprintf(&b, "kubectl:\n\n    export KUBECONFIG=%s\n    kubectl get spansinks,pods,svc,pvc\n\n", i.kubeconfig)
	fmt.Fprintf(&b, "The collector on localhost (a service proxy stands in for kube-proxy):\n\n")
	fmt.Fprintf(&b, "    OTLP/gRPC  %s\n", i.otlpGRPC)
	fmt.Fprintf(&b, "    OTLP/HTTP  http://%s/v1/traces  (DB-GPT span JSON: http://%s/v1/spans)\n\n", i.otlpHTTP, i.otlpHTTP)
	fmt.Fprintf(&b, "Span files (format %s, flushed every %d spans or %s) appear in:\n\n    %s\n\n",
		i.sink.Spec.Storage.Format, i.sink.Spec.Batch.Size, flushInterval(i.sink), i.spanDir)
	fmt.Fprintf(&b, "Send spans, then look at %s:\n\n", i.spanFile)
	fmt.Fprintf(&b, "    %s\n", i.telemetrygenLine(grpcPort))
	fmt.Fprintf(&b, "    %s\n\n", i.curlLine())
	if _, err := os.Stat(i.telemetrygen); err != nil {
		fmt.Fprintf(&b, "(%s is built by `make telemetrygen`.)\n\n", i.telemetrygen)
	}
	fmt.Fprintf(&b, "Ctrl-C stops everything; the span files stay.\n")
	return b.String()
}

// telemetrygenLine sends ten traces of two spans each over OTLP/gRPC.
func (i *localInfo) telemetrygenLine(grpcPort string) string {
	return fmt.Sprintf("%s traces --otlp-insecure --otlp-endpoint 127.0.0.1:%s --traces 10 --child-spans 1 --service hello-spansink", i.telemetrygen, grpcPort)
}

// curlLine posts one finished DB-GPT span, as DB-GPT's tracer writes it.
func (i *localInfo) curlLine() string {
	span := `{"span_type":"chat","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7",` +
		`"parent_span_id":null,"operation_name":"hello-from-curl","start_time":"2025-01-01 12:00:00.000","end_time":"2025-01-01 12:00:01.500",` +
		`"metadata":{"source":"curl"}}`
	return fmt.Sprintf("curl -sS -H 'Content-Type: application/json' --data '%s' http://%s/v1/spans", span, i.otlpHTTP)
}

func flushInterval(sink *v1alpha1.SpanSink) string {
	if sink.Spec.Batch.FlushInterval == nil {
		return "the default interval"
	}
	return sink.Spec.Batch.FlushInterval.Duration.String()
}
