package controllers

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// testImage is the operator's default collector image in the suite.
const testImage = "ghcr.io/spansink/spansink:test"

var (
	testEnv   *envtest.Environment
	restCfg   *rest.Config
	k8sClient client.WithWatch
	scheme    *runtime.Scheme
	cancelMgr context.CancelFunc
	// recorder holds what the manager's requests needed.
	recorder *requestRecorder
	// managerEvents is the suite manager's Event recorder, the one the
	// reconciler records with.
	managerEvents events.EventRecorder
	// recordedEvents counts what the reconciler asks managerEvents to
	// record. The API server sees less: the recorder folds repeats of an
	// Event into its series, counted in memory.
	recordedEvents = &eventCounter{counts: map[eventKey]int{}}
	// suiteFailed is set by a failed spec; the RBAC usage check then
	// cannot tell an unused rule from an untested one.
	suiteFailed atomic.Bool
)

var _ = ReportAfterEach(func(report SpecReport) {
	if report.Failed() {
		suiteFailed.Store(true)
	}
})

// managerConfig is a rest.Config for a user bound to the ClusterRole of
// config/rbac/role.yaml only.
func managerConfig() *rest.Config {
	role, err := managerRole()
	Expect(err).NotTo(HaveOccurred())
	ctx := context.Background()
	Expect(k8sClient.Create(ctx, role)).To(Succeed())
	const user = "spansink-manager"
	Expect(k8sClient.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	})).To(Succeed())
	authenticated, err := testEnv.AddUser(envtest.User{Name: user}, nil)
	Expect(err).NotTo(HaveOccurred())
	return rest.CopyConfig(authenticated.Config())
}

func TestControllers(t *testing.T) {
	// Informers then fill the cache with a list and a watch, as they do on
	// API servers without streaming lists, rather than with one streaming
	// watch; the RBAC usage check (rbac_test.go) so covers both, the
	// streaming one needing only watch.
	t.Setenv("KUBE_FEATURE_WatchListClient", "false")
	RegisterFailHandler(Fail)
	RunSpecs(t, "SpanSink controller suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)

	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is not set: run `make test`, or export KUBEBUILDER_ASSETS=\"$(hack/control-plane.sh | tail -n1)\"")

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		// A service mesh's injector, for the specs in webhook_test.go.
		WebhookInstallOptions: meshWebhookOptions(),
	}
	// What OpenShift and other hardened clusters enforce: setting
	// blockOwnerDeletion needs update on the owner's finalizers.
	testEnv.ControlPlane.GetAPIServer().Configure().Append("enable-admission-plugins", "OwnerReferencesPermissionEnforcement")
	var err error
	restCfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())

	scheme = NewScheme()
	k8sClient, err = client.NewWithWatch(restCfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	// The manager runs with the permissions of config/rbac/role.yaml and
	// nothing else, and every request it sends is recorded (rbac_test.go).
	mgrCfg := managerConfig()
	admin, err := rest.HTTPClientFor(restCfg)
	Expect(err).NotTo(HaveOccurred())
	recorder = newRequestRecorder(admin)
	mgrCfg.Wrap(recorder.wrap)

	// The cache settings production uses: a child name held by an object
	// without the operator's labels is then invisible to the cached client,
	// which the conflict tests exercise.
	mgr, err := ctrl.NewManager(mgrCfg, ctrl.Options{
		Scheme:     scheme,
		Cache:      CacheOptions(),
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	reconciler := &SpanSinkReconciler{
		Client:         mgr.GetClient(),
		Recorder:       recordedEvents.wrap(mgr.GetEventRecorder("spansink-operator")),
		CollectorImage: testImage,
		BlockedRetry:   500 * time.Millisecond,
		// The collectors' GET /config is served by the specs' fake
		// collectors (configstatus_test.go), which the operator polls.
		CollectorStatus: suiteCollectorStatus,
		ConfigRecheck:   200 * time.Millisecond,
	}
	Expect(reconciler.SetupWithManager(mgr, 2)).To(Succeed())
	managerEvents = reconciler.Recorder

	var ctx context.Context
	ctx, cancelMgr = context.WithCancel(context.Background())
	startMeshWebhook(ctx, testEnv.WebhookInstallOptions)
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

// onlyWhenACreateRacesTheCache are grants the manager needs only when a
// create finds the child already there although the cache has not seen it
// (AlreadyExists, then an uncached get): the monitoring kinds are cached
// whole, so no spec makes that happen on purpose, as a foreign object the
// cache's label selector hides does for the other kinds. A full run that
// happens to hit the race uses them; one that does not must not fail.
var onlyWhenACreateRacesTheCache = []string{
	"get podmonitors.monitoring.coreos.com",
	"get prometheusrules.monitoring.coreos.com",
}

var _ = AfterSuite(func() {
	if recorder != nil {
		role, err := managerRole()
		Expect(err).NotTo(HaveOccurred())
		unused, uncovered := checkRBACUsage(role, recorder.snapshot())
		Expect(uncovered).To(BeEmpty(), "the manager made requests config/rbac/role.yaml does not allow")
		// Only a run of every spec exercises every code path.
		if cfg, _ := GinkgoConfiguration(); len(cfg.FocusStrings) == 0 && len(cfg.FocusFiles) == 0 && cfg.LabelFilter == "" && !suiteFailed.Load() {
			unused = slices.DeleteFunc(unused, func(use string) bool { return slices.Contains(onlyWhenACreateRacesTheCache, use) })
			Expect(unused).To(BeEmpty(), "config/rbac/role.yaml grants what the controller never used: drop the RBAC marker, or test the code path that needs it")
		}
	}
	if cancelMgr != nil {
		cancelMgr()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// newNamespace gives each test its own namespace, so tests never see each
// other's objects (envtest has no namespace controller to clean them up).
func newNamespace(ctx context.Context) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "spansink-test-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// eventKey is the SpanSink an Event is about and its reason.
type eventKey struct {
	namespace, name, reason string
}

// eventCounter counts the Events recorded through the recorders it wraps.
type eventCounter struct {
	mu     sync.Mutex
	counts map[eventKey]int
}

// wrap is next counting each Event recorded through it.
func (c *eventCounter) wrap(next events.EventRecorder) events.EventRecorder {
	return countingEventRecorder{counter: c, next: next}
}

// count is how many Events with reason have been recorded about the
// SpanSink namespace/name.
func (c *eventCounter) count(namespace, name, reason string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[eventKey{namespace: namespace, name: name, reason: reason}]
}

type countingEventRecorder struct {
	counter *eventCounter
	next    events.EventRecorder
}

func (r countingEventRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	if obj, ok := regarding.(client.Object); ok {
		r.counter.mu.Lock()
		r.counter.counts[eventKey{namespace: obj.GetNamespace(), name: obj.GetName(), reason: reason}]++
		r.counter.mu.Unlock()
	}
	r.next.Eventf(regarding, related, eventtype, reason, action, note, args...)
}
