// Command operator is `make bench-operator`: the real manager binary
// against envtest's real kube-apiserver and etcd, with thousands of
// SpanSinks. There is no kube-controller-manager, so claims stay Pending and
// no pod ever runs: what is measured is the operator's own work and the load
// it puts on the API server.
//
// Phases, each measured from the manager's own client metrics
// (rest_client_requests_total, by method) and its /proc entry:
//
//   - create: every SpanSink is created; done when each has every child and
//     a status for its generation;
//   - resync: the manager is restarted and reconciles every SpanSink once
//     more; nothing changed, so it should write nothing and read only
//     through its informers;
//   - patch: batch.size changes on every SpanSink; done when each status
//     and ConfigMap carries it;
//   - idle: a minute with nothing changing.
//
// It exits 1 when a SpanSink does not converge or the resync writes.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers"
	"github.com/spansink/spansink/test/memcgroup"
)

func main() {
	opts := options{}
	flag.IntVar(&opts.sinks, "sinks", 1000, "SpanSinks to create")
	flag.IntVar(&opts.namespaces, "namespaces", 100, "namespaces to spread them over")
	flag.IntVar(&opts.workers, "max-concurrent-reconciles", 0, "the manager's --max-concurrent-reconciles; 0 leaves the manager's default")
	flag.StringVar(&opts.managerArgs, "manager-args", "", "more flags for `spansink manager`, space separated")
	flag.DurationVar(&opts.timeout, "converge-timeout", 15*time.Minute, "how long a phase may take before the run fails")
	flag.DurationVar(&opts.idle, "idle", time.Minute, "how long the idle phase watches")
	flag.StringVar(&opts.binary, "binary", "", "a spansink binary to measure instead of building this checkout's (to compare two builds)")
	flag.Var(&opts.memoryLimit, "memory-limit", "run the manager in a memory cgroup with this limit (a quantity such as 480Mi), as a pod with that limit runs it; it needs a writable cgroup v1 memory hierarchy")
	flag.StringVar(&opts.profileDir, "profile-dir", "", "write the manager's heap profile at the end of each phase into this directory (heap-<n>.pb.gz, for go tool pprof)")
	flag.Parse()
	if err := run(opts); err != nil {
		fmt.Fprintln(os.Stderr, "bench-operator:", err)
		os.Exit(1)
	}
}

type options struct {
	sinks, namespaces, workers int
	managerArgs, binary        string
	profileDir                 string
	timeout, idle              time.Duration
	memoryLimit                quantityFlag
}

// quantityFlag is a flag holding a Kubernetes quantity; zero when unset.
type quantityFlag struct{ resource.Quantity }

func (q *quantityFlag) Set(value string) error {
	parsed, err := resource.ParseQuantity(value)
	if err != nil {
		return err
	}
	if parsed.Sign() <= 0 {
		return fmt.Errorf("%s is not a memory limit: it must be above 0", value)
	}
	q.Quantity = parsed
	return nil
}

// phase is what one phase cost.
type phase struct {
	name     string
	took     time.Duration
	requests map[string]float64 // by HTTP method
	cpu      time.Duration
	peakRSS  int64 // bytes, of the manager process that ran it
	note     string
}

func (p phase) writes() float64 {
	return p.requests["POST"] + p.requests["PUT"] + p.requests["PATCH"] + p.requests["DELETE"]
}

func run(opts options) error {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set: run it through `make bench-operator`")
	}
	work, err := os.MkdirTemp("", "spansink-bench-operator-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if opts.profileDir != "" {
		// Now rather than at the first profile, minutes into the run.
		if err := os.MkdirAll(opts.profileDir, 0o755); err != nil {
			return fmt.Errorf("-profile-dir: %w", err)
		}
	}
	binary := opts.binary
	if binary == "" {
		binary = filepath.Join(work, "spansink")
		progress("building the manager binary")
		if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %w: %s", err, out)
		}
	}

	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	// envtest's default range holds 253 Services; each SpanSink has two.
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/12")
	progress("starting etcd and kube-apiserver")
	admin, err := env.Start()
	if err != nil {
		return fmt.Errorf("start the API server: %w", err)
	}
	defer func() { _ = env.Stop() }()
	admin.QPS, admin.Burst = 2000, 4000
	k8s, err := client.NewWithWatch(admin, client.Options{Scheme: controllers.NewScheme()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kubeconfig, err := managerKubeconfig(ctx, env, k8s, work)
	if err != nil {
		return err
	}
	sample, err := sampleSpec()
	if err != nil {
		return err
	}

	m := &managerProcess{binary: binary, kubeconfig: kubeconfig, workers: opts.workers, extra: strings.Fields(opts.managerArgs), logDir: work, profileDir: opts.profileDir,
		memoryLimit: opts.memoryLimit.Value()}
	if err := m.start(); err != nil {
		return err
	}
	defer m.stop()
	// An interrupted run must not leave the manager, etcd and
	// kube-apiserver running.
	interrupted := make(chan os.Signal, 1)
	signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-interrupted
		progress("interrupted: stopping the manager and the API server")
		m.stop()
		_ = env.Stop()
		os.RemoveAll(work)
		os.Exit(130)
	}()

	statuses, err := followConvergence(ctx, k8s)
	if err != nil {
		return err
	}

	var phases []phase
	report := func(p phase, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		phases = append(phases, p)
		progress(fmt.Sprintf("%s: %s, %.0f writes, %.0f GETs", p.name, p.took.Round(100*time.Millisecond), p.writes(), p.requests["GET"]))
		return nil
	}

	if err := report(m.measure("create", func() (string, error) {
		if err := createSinks(ctx, k8s, opts, sample); err != nil {
			return "", err
		}
		return "", waitConverged(ctx, k8s, statuses, opts, 1, 0)
	})); err != nil {
		return err
	}
	events, err := countEvents(ctx, k8s)
	if err != nil {
		return err
	}
	phases[len(phases)-1].note = fmt.Sprintf("%d Events", events)

	progress("restarting the manager")
	m.stop()
	if err := m.start(); err != nil {
		return err
	}
	if err := report(m.measure("resync (restart)", func() (string, error) {
		return "", m.waitReconciled(ctx, opts.sinks, opts.timeout)
	})); err != nil {
		return err
	}

	if err := report(m.measure("batch.size patched on all", func() (string, error) {
		if err := patchBatchSize(ctx, k8s, opts, 777); err != nil {
			return "", err
		}
		return "", waitConverged(ctx, k8s, statuses, opts, 2, 777)
	})); err != nil {
		return err
	}

	if err := report(m.measure("idle", func() (string, error) {
		before, err := m.scrape()
		if err != nil {
			return "", err
		}
		time.Sleep(opts.idle)
		after, err := m.scrape()
		if err != nil {
			return "", err
		}
		reconciles := after.reconciles - before.reconciles
		return fmt.Sprintf("%.1f reconciles/s", reconciles/opts.idle.Seconds()), nil
	})); err != nil {
		return err
	}

	printTable(opts, phases)
	if resync := phases[1]; resync.writes() > 0 {
		return fmt.Errorf("the resync wrote %.0f times; an unchanged SpanSink must cost no write", resync.writes())
	}
	return nil
}

func progress(msg string) {
	fmt.Fprintf(os.Stderr, "[bench-operator] %s %s\n", time.Now().Format("15:04:05"), msg)
}

// managerKubeconfig makes a user bound to the operator's generated
// ClusterRole, so the manager runs with the rights it has in a cluster.
func managerKubeconfig(ctx context.Context, env *envtest.Environment, k8s client.Client, dir string) (string, error) {
	data, err := os.ReadFile(filepath.Join("config", "rbac", "role.yaml"))
	if err != nil {
		return "", err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(data, role); err != nil {
		return "", fmt.Errorf("config/rbac/role.yaml: %w", err)
	}
	if err := k8s.Create(ctx, role); err != nil {
		return "", err
	}
	const user = "spansink-manager"
	if err := k8s.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}); err != nil {
		return "", err
	}
	authenticated, err := env.AddUser(envtest.User{Name: user}, nil)
	if err != nil {
		return "", err
	}
	config, err := authenticated.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "manager.kubeconfig")
	return path, os.WriteFile(path, config, 0o600)
}

// sampleSpec is the spec of config/samples' SpanSink.
func sampleSpec() (v1alpha1.SpanSinkSpec, error) {
	data, err := os.ReadFile(filepath.Join("config", "samples", "tracing_v1alpha1_spansink.yaml"))
	if err != nil {
		return v1alpha1.SpanSinkSpec{}, err
	}
	sink := &v1alpha1.SpanSink{}
	if err := yaml.Unmarshal(data, sink); err != nil {
		return v1alpha1.SpanSinkSpec{}, fmt.Errorf("sample SpanSink: %w", err)
	}
	return sink.Spec, nil
}

func sinkKey(opts options, i int) types.NamespacedName {
	return types.NamespacedName{Namespace: fmt.Sprintf("bench-%04d", i%opts.namespaces), Name: fmt.Sprintf("sink-%05d", i)}
}

// parallel runs fn for 0..n-1 on 32 goroutines and returns the first error.
func parallel(n int, fn func(i int) error) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					firstErr = errors.Join(firstErr, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return firstErr
}

func createSinks(ctx context.Context, k8s client.Client, opts options, spec v1alpha1.SpanSinkSpec) error {
	if err := parallel(opts.namespaces, func(i int) error {
		return k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%04d", i)}})
	}); err != nil {
		return fmt.Errorf("create namespaces: %w", err)
	}
	return parallel(opts.sinks, func(i int) error {
		key := sinkKey(opts, i)
		sink := &v1alpha1.SpanSink{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}, Spec: *spec.DeepCopy()}
		return k8s.Create(ctx, sink)
	})
}

func patchBatchSize(ctx context.Context, k8s client.Client, opts options, size int32) error {
	patch := []byte(fmt.Sprintf(`{"spec":{"batch":{"size":%d}}}`, size))
	return parallel(opts.sinks, func(i int) error {
		key := sinkKey(opts, i)
		sink := &v1alpha1.SpanSink{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
		return k8s.Patch(ctx, sink, client.RawPatch(types.MergePatchType, patch))
	})
}

// waitConverged waits until every SpanSink of at least generation has a
// status for its generation and every child exists, and, when batchSize
// is not 0, every ConfigMap carries it.
func waitConverged(ctx context.Context, k8s client.Client, statuses *convergence, opts options, generation int64, batchSize int32) error {
	deadline := time.Now().Add(opts.timeout)
	for {
		done := statuses.converged(generation)
		if done >= opts.sinks {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d SpanSinks have no status for generation %d after %s", opts.sinks-done, generation, opts.timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Children are counted once the statuses are there: a status is written
	// after the children, so this rarely waits.
	for {
		missing, err := missingChildren(ctx, k8s, opts, batchSize)
		if err != nil {
			return err
		}
		if missing == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("children missing after %s: %s", opts.timeout, missing)
		}
		time.Sleep(time.Second)
	}
}

// convergence follows every SpanSink's generation and status through one
// watch: waiting for ten thousand of them by listing them all every second
// would load the API server the manager is measured against more than the
// manager does.
type convergence struct {
	mu     sync.Mutex
	sinks  map[types.NamespacedName]sinkProgress
	client client.WithWatch
}

type sinkProgress struct {
	generation, observed int64
	hasStatus            bool
}

func followConvergence(ctx context.Context, k8s client.WithWatch) (*convergence, error) {
	c := &convergence{sinks: map[types.NamespacedName]sinkProgress{}, client: k8s}
	rv, err := c.relist(ctx)
	if err != nil {
		return nil, err
	}
	go c.follow(ctx, rv)
	return c, nil
}

func (c *convergence) relist(ctx context.Context) (string, error) {
	list := &v1alpha1.SpanSinkList{}
	if err := c.client.List(ctx, list); err != nil {
		return "", fmt.Errorf("list SpanSinks: %w", err)
	}
	for i := range list.Items {
		c.note(&list.Items[i])
	}
	return list.ResourceVersion, nil
}

func (c *convergence) note(sink *v1alpha1.SpanSink) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sinks[client.ObjectKeyFromObject(sink)] = sinkProgress{
		generation: sink.Generation, observed: sink.Status.ObservedGeneration, hasStatus: len(sink.Status.Conditions) > 0,
	}
}

// follow applies watch events until ctx ends; a watch that ends or fails
// (its resource version expired) starts again from a fresh list.
func (c *convergence) follow(ctx context.Context, rv string) {
	for ctx.Err() == nil {
		w, err := c.client.Watch(ctx, &v1alpha1.SpanSinkList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv}})
		if err == nil {
			for event := range w.ResultChan() {
				sink, ok := event.Object.(*v1alpha1.SpanSink)
				if !ok || event.Type == watch.Error {
					break
				}
				c.note(sink)
				rv = sink.ResourceVersion
			}
			w.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		time.Sleep(time.Second)
		if fresh, err := c.relist(ctx); err == nil {
			rv = fresh
		}
	}
}

// converged counts the SpanSinks at generation or later whose status is
// for their generation.
func (c *convergence) converged(generation int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, p := range c.sinks {
		if p.generation >= generation && p.observed == p.generation && p.hasStatus {
			n++
		}
	}
	return n
}

func missingChildren(ctx context.Context, k8s client.Client, opts options, batchSize int32) (string, error) {
	count := func(list client.ObjectList) (int, error) {
		if err := k8s.List(ctx, list, client.MatchingLabels{"app.kubernetes.io/managed-by": "spansink-operator"}); err != nil {
			return 0, err
		}
		items, err := metaItems(list)
		return items, err
	}
	want := map[string]int{"ServiceAccount": opts.sinks, "ConfigMap": opts.sinks, "PersistentVolumeClaim": opts.sinks, "Deployment": opts.sinks, "Service": 2 * opts.sinks}
	lists := map[string]client.ObjectList{
		"ServiceAccount": &corev1.ServiceAccountList{}, "ConfigMap": &corev1.ConfigMapList{},
		"PersistentVolumeClaim": &corev1.PersistentVolumeClaimList{}, "Deployment": &appsv1.DeploymentList{}, "Service": &corev1.ServiceList{},
	}
	var missing []string
	for kind, list := range lists {
		n, err := count(list)
		if err != nil {
			return "", err
		}
		if n < want[kind] {
			missing = append(missing, fmt.Sprintf("%d of %d %ss", want[kind]-n, want[kind], kind))
		}
		if cms, ok := list.(*corev1.ConfigMapList); ok && batchSize != 0 {
			stale := 0
			for _, cm := range cms.Items {
				for _, data := range cm.Data {
					if !strings.Contains(data, "size: "+strconv.Itoa(int(batchSize))) {
						stale++
					}
				}
			}
			if stale > 0 {
				missing = append(missing, fmt.Sprintf("%d ConfigMaps without batch size %d", stale, batchSize))
			}
		}
	}
	return strings.Join(missing, ", "), nil
}

func metaItems(list client.ObjectList) (int, error) {
	switch l := list.(type) {
	case *corev1.ServiceAccountList:
		return len(l.Items), nil
	case *corev1.ConfigMapList:
		return len(l.Items), nil
	case *corev1.PersistentVolumeClaimList:
		return len(l.Items), nil
	case *appsv1.DeploymentList:
		return len(l.Items), nil
	case *corev1.ServiceList:
		return len(l.Items), nil
	}
	return 0, fmt.Errorf("unexpected list %T", list)
}

func countEvents(ctx context.Context, k8s client.Client) (int, error) {
	events := &eventsv1.EventList{}
	if err := k8s.List(ctx, events); err != nil {
		return 0, err
	}
	return len(events.Items), nil
}

// managerHTTP reads the manager's metrics and profiles. A manager that
// thrashes at its memory limit may accept a connection and never answer.
var managerHTTP = &http.Client{Timeout: 30 * time.Second}

// stopGrace is how long the manager has to end after SIGTERM.
const stopGrace = 30 * time.Second

// managerProcess is the `spansink manager` under test.
type managerProcess struct {
	binary, kubeconfig, logDir string
	workers                    int
	extra                      []string
	// profileDir, when set, receives a heap profile after each phase.
	profileDir string
	// memoryLimit, when above 0, is the limit of the memory cgroup the
	// manager runs in.
	memoryLimit int64
	group       *memcgroup.Group

	cmd *exec.Cmd
	// exited receives what cmd.Wait returned, once the manager has ended.
	exited                 chan error
	metricsAddr, pprofAddr string
	runs, profiles         int
}

func (m *managerProcess) start() error {
	metrics, err := freeAddr()
	if err != nil {
		return err
	}
	probes, err := freeAddr()
	if err != nil {
		return err
	}
	m.runs++
	logFile, err := os.Create(filepath.Join(m.logDir, fmt.Sprintf("manager-%d.log", m.runs)))
	if err != nil {
		return err
	}
	args := append([]string{"manager", "--kubeconfig", m.kubeconfig,
		"--metrics-bind-address", metrics, "--metrics-secure=false", "--health-probe-bind-address", probes,
		"--collector-image", "ghcr.io/spansink/spansink:bench"}, m.extra...)
	if m.workers > 0 {
		args = append(args, "--max-concurrent-reconciles", strconv.Itoa(m.workers))
	}
	if m.profileDir != "" {
		if m.pprofAddr, err = freeAddr(); err != nil {
			return err
		}
		args = append(args, "--pprof-bind-address", m.pprofAddr)
	}
	m.cmd = exec.Command(m.binary, args...)
	if m.memoryLimit > 0 {
		if m.group, err = memcgroup.New(fmt.Sprintf("spansink-bench-manager-%d-%d", os.Getpid(), m.runs), m.memoryLimit); err != nil {
			return fmt.Errorf("-memory-limit: %w", err)
		}
		m.cmd = m.group.Command(m.binary, args...)
	}
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	if err := m.cmd.Start(); err != nil {
		return fmt.Errorf("start the manager: %w", err)
	}
	m.exited = make(chan error, 1)
	go func(cmd *exec.Cmd, exited chan<- error) { exited <- cmd.Wait() }(m.cmd, m.exited)
	m.metricsAddr = metrics
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := m.scrape(); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the manager's metrics did not come up; see %s", logFile.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (m *managerProcess) stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(stopGrace):
		// A manager thrashing at its memory limit may never get to its
		// SIGTERM handler.
		progress(fmt.Sprintf("the manager did not stop within %s of SIGTERM: killing it", stopGrace))
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	m.cmd = nil
	if m.group != nil {
		if err := m.group.Remove(); err != nil {
			progress(fmt.Sprintf("cannot remove the manager's memory cgroup: %v", err))
		}
		m.group = nil
	}
}

// sample is one scrape of the manager's metrics.
type sample struct {
	requests   map[string]float64
	reconciles float64
	queueDepth float64
}

func (m *managerProcess) scrape() (sample, error) {
	resp, err := managerHTTP.Get("http://" + m.metricsAddr + "/metrics")
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return sample{}, fmt.Errorf("metrics: %s: %s", resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return sample{}, fmt.Errorf("parse metrics: %w", err)
	}
	s := sample{requests: map[string]float64{}}
	label := func(metric *dto.Metric, name string) string {
		for _, l := range metric.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	if f := families["rest_client_requests_total"]; f != nil {
		for _, metric := range f.GetMetric() {
			s.requests[label(metric, "method")] += metric.GetCounter().GetValue()
		}
	}
	if f := families["controller_runtime_reconcile_total"]; f != nil {
		for _, metric := range f.GetMetric() {
			if label(metric, "controller") == "spansink" {
				s.reconciles += metric.GetCounter().GetValue()
			}
		}
	}
	if f := families["workqueue_depth"]; f != nil {
		for _, metric := range f.GetMetric() {
			if label(metric, "name") == "spansink" {
				s.queueDepth += metric.GetGauge().GetValue()
			}
		}
	}
	return s, nil
}

// measure runs fn and returns what it cost the manager.
func (m *managerProcess) measure(name string, fn func() (string, error)) (phase, error) {
	p := phase{name: name, requests: map[string]float64{}}
	before, err := m.scrape()
	if err != nil {
		return p, err
	}
	cpuBefore, err := processCPU(m.cmd.Process.Pid)
	if err != nil {
		return p, err
	}
	start := time.Now()
	var note string
	done := make(chan error, 1)
	go func() {
		var err error
		note, err = fn()
		done <- err
	}()
	select {
	case err = <-done:
	case err = <-m.exited:
		// A phase would wait out its whole timeout for a manager that is
		// gone; say at once how it ended.
		m.exited <- err // for stop
		return p, m.exitError(err)
	}
	p.took = time.Since(start)
	if err != nil {
		return p, err
	}
	after, err := m.scrape()
	if err != nil {
		return p, err
	}
	cpuAfter, err := processCPU(m.cmd.Process.Pid)
	if err != nil {
		return p, err
	}
	for method, n := range after.requests {
		p.requests[method] = n - before.requests[method]
	}
	p.cpu = cpuAfter - cpuBefore
	p.note = note
	if p.peakRSS, err = peakRSS(m.cmd.Process.Pid); err != nil {
		return p, err
	}
	return p, m.writeHeapProfile(name)
}

// exitError says that the manager ended, how, and whether the kernel
// killed it for its memory cgroup's limit.
func (m *managerProcess) exitError(waitErr error) error {
	how := "with status 0"
	if waitErr != nil {
		how = waitErr.Error()
	}
	if m.group != nil {
		if kills, err := m.group.OOMKills(); err == nil && kills > 0 {
			return fmt.Errorf("the manager ended (%s): the kernel killed it for exceeding its memory limit of %d bytes (-memory-limit)", how, m.memoryLimit)
		}
	}
	// The log goes with the run's directory; its end says why.
	log, _ := os.ReadFile(filepath.Join(m.logDir, fmt.Sprintf("manager-%d.log", m.runs)))
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	return fmt.Errorf("the manager ended (%s); the end of its log:\n%s", how, strings.Join(lines[max(0, len(lines)-5):], "\n"))
}

// writeHeapProfile saves the manager's heap profile into profileDir, if
// one is set; what the file holds is said on the progress output.
func (m *managerProcess) writeHeapProfile(phase string) error {
	if m.profileDir == "" {
		return nil
	}
	resp, err := managerHTTP.Get("http://" + m.pprofAddr + "/debug/pprof/heap")
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heap profile: %s", resp.Status)
	}
	m.profiles++
	path := filepath.Join(m.profileDir, fmt.Sprintf("heap-%d.pb.gz", m.profiles))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	progress(fmt.Sprintf("%s: heap profile after %q", path, phase))
	return f.Close()
}

// waitReconciled waits until a restarted manager has reconciled n
// SpanSinks and its queue is empty.
func (m *managerProcess) waitReconciled(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		s, err := m.scrape()
		if err != nil {
			return err
		}
		if s.reconciles >= float64(n) && s.queueDepth == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %.0f of %d SpanSinks reconciled after %s", s.reconciles, n, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// processCPU is the user and system time a process has used.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after it do not.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	utime, err := strconv.ParseInt(fields[11], 10, 64)
	if err != nil {
		return 0, err
	}
	stime, err := strconv.ParseInt(fields[12], 10, 64)
	if err != nil {
		return 0, err
	}
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond, nil
}

// peakRSS is a process's VmHWM.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if rest, ok := strings.CutPrefix(scanner.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/status")
}

func printTable(opts options, phases []phase) {
	workers := "the manager's default"
	if opts.workers > 0 {
		workers = strconv.Itoa(opts.workers)
	}
	limit := ""
	if !opts.memoryLimit.IsZero() {
		limit = ", memory limit " + opts.memoryLimit.String()
	}
	fmt.Printf("\n%d SpanSinks in %d namespaces, --max-concurrent-reconciles %s %s%s\n\n", opts.sinks, opts.namespaces, workers, opts.managerArgs, limit)
	fmt.Println("| phase | time | writes per SpanSink | reads (GET) per SpanSink | manager CPU | manager peak RSS | note |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, p := range phases {
		fmt.Printf("| %s | %s | %.2f | %.2f | %.1f s | %d MiB | %s |\n", p.name, p.took.Round(100*time.Millisecond),
			p.writes()/float64(opts.sinks), p.requests["GET"]/float64(opts.sinks), p.cpu.Seconds(), p.peakRSS>>20, p.note)
	}
}
