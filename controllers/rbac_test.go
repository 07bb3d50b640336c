package controllers

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// The manager in the suite runs as a user bound to nothing but the
// ClusterRole of config/rbac/role.yaml, on an API server that also enforces
// OwnerReferencesPermissionEnforcement, so every request it makes must be
// allowed by that role or the specs fail. requestRecorder sees every
// request the manager sends; at the end of the suite each rule verb on each
// resource must have been used at least once, so the role grants nothing
// the controller does not use (see checkRBACUsage).

// rbacUse is one permission a request needs, as RBAC names it.
type rbacUse struct {
	group, resource, subresource, verb string
}

func (u rbacUse) String() string {
	resource := u.resource
	if u.subresource != "" {
		resource += "/" + u.subresource
	}
	group := u.group
	if group == "" {
		group = "core"
	}
	return fmt.Sprintf("%s %s.%s", u.verb, resource, group)
}

// requestRecorder records the permissions the manager's requests need,
// and its writes by namespace, so that a spec can prove a pass wrote
// nothing to its objects while other specs' SpanSinks are still reconciled.
type requestRecorder struct {
	mu   sync.Mutex
	used map[rbacUse]int
	// writes counts the create, update, patch and delete requests on each
	// namespace's resources (subresources included).
	writes map[writeTarget]int
	// resolver reads requests as the API server's authorizer does.
	resolver *request.RequestInfoFactory
	// admin reads stored objects with the suite's credentials.
	admin *http.Client
}

func newRequestRecorder(admin *http.Client) *requestRecorder {
	return &requestRecorder{
		used:     map[rbacUse]int{},
		writes:   map[writeTarget]int{},
		admin:    admin,
		resolver: &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")},
	}
}

// wrap is a rest.Config WrapTransport that records each request.
func (r *requestRecorder) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		if err := r.record(req); err != nil {
			return nil, fmt.Errorf("record request %s %s: %w", req.Method, req.URL, err)
		}
		return next.RoundTrip(req)
	})
}

func (r *requestRecorder) record(req *http.Request) error {
	info, err := r.resolver.NewRequestInfo(req)
	if err != nil {
		return err
	}
	if !info.IsResourceRequest {
		// Discovery (/api, /apis): granted to every authenticated user by
		// the API server's own system:discovery role, not by ours.
		return nil
	}
	uses := []rbacUse{{group: info.APIGroup, resource: info.Resource, subresource: info.Subresource, verb: info.Verb}}
	owners, err := r.ownerChecks(req, info)
	if err != nil {
		return err
	}
	uses = append(uses, owners...)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range uses {
		r.used[u]++
	}
	switch info.Verb {
	case "create", "update", "patch", "delete":
		r.writes[writeTarget{namespace: info.Namespace, group: info.APIGroup, resource: info.Resource}]++
	}
	return nil
}

// writeTarget is where a write went.
type writeTarget struct {
	namespace, group, resource string
}

// writesTo is how many writes the manager has sent to the resource of
// group in namespace so far.
func (r *requestRecorder) writesTo(namespace, group, resource string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes[writeTarget{namespace: namespace, group: group, resource: resource}]
}

// ownerChecks are the permissions OwnerReferencesPermissionEnforcement
// checks on the requester's behalf for a write that sets owner references.
// No request names them, but the write needs them, so they are recorded
// with it, as the plugin decides them:
//   - an update that changes owner references needs delete on the object;
//   - a new owner reference with blockOwnerDeletion needs update on the
//     owner's finalizers subresource.
//
// For an update, the object as stored is read with the suite's own
// credentials (not recorded) to tell what changes.
func (r *requestRecorder) ownerChecks(req *http.Request, info *request.RequestInfo) ([]rbacUse, error) {
	if (info.Verb != "create" && info.Verb != "update") || info.Subresource != "" || req.GetBody == nil {
		return nil, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	defer body.Close()
	refs, err := ownerRefsOf(body)
	if err != nil {
		return nil, err
	}
	var old []metav1.OwnerReference
	if info.Verb == "update" {
		if old, err = r.storedOwnerRefs(req); err != nil {
			return nil, err
		}
	}
	var uses []rbacUse
	if info.Verb == "update" && !equality.Semantic.DeepEqual(refs, old) {
		uses = append(uses, rbacUse{group: info.APIGroup, resource: info.Resource, verb: "delete"})
	}
	for _, ref := range refs {
		if !ptr.Deref(ref.BlockOwnerDeletion, false) || blockedBefore(old, ref.UID) {
			continue
		}
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			return nil, err
		}
		plural, _ := meta.UnsafeGuessKindToResource(gv.WithKind(ref.Kind))
		uses = append(uses, rbacUse{group: gv.Group, resource: plural.Resource, subresource: "finalizers", verb: "update"})
	}
	return uses, nil
}

func blockedBefore(old []metav1.OwnerReference, uid types.UID) bool {
	for _, ref := range old {
		if ref.UID == uid && ptr.Deref(ref.BlockOwnerDeletion, false) {
			return true
		}
	}
	return false
}

// storedOwnerRefs reads the owner references of the object req updates.
func (r *requestRecorder) storedOwnerRefs(req *http.Request) ([]metav1.OwnerReference, error) {
	get, err := http.NewRequestWithContext(req.Context(), http.MethodGet, req.URL.String(), nil)
	if err != nil {
		return nil, err
	}
	get.Header.Set("Accept", "application/json")
	resp, err := r.admin.Do(get)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil
	}
	return ownerRefsOf(resp.Body)
}

// ownerRefsOf reads the owner references of an object in any encoding the
// client sends (protobuf for built-in kinds, JSON for SpanSinks).
func ownerRefsOf(body io.Reader) ([]metav1.OwnerReference, error) {
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	obj, _, err := serializer.NewCodecFactory(scheme).UniversalDeserializer().Decode(data, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("read owner references: %w", err)
	}
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("read owner references: %w", err)
	}
	return accessor.GetOwnerReferences(), nil
}

// snapshot is what has been recorded so far.
func (r *requestRecorder) snapshot() map[rbacUse]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[rbacUse]int, len(r.used))
	for u, n := range r.used {
		out[u] = n
	}
	return out
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// managerRole is the generated ClusterRole the manager runs with.
func managerRole() (*rbacv1.ClusterRole, error) {
	data, err := os.ReadFile(filepath.Join("..", "config", "rbac", "role.yaml"))
	if err != nil {
		return nil, err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(data, role); err != nil {
		return nil, fmt.Errorf("parse role.yaml: %w", err)
	}
	return role, nil
}

// checkRBACUsage compares the role with what was used: unused lists each
// rule verb on a resource no request needed, uncovered each permission a
// request needed that no rule grants. The role has no wildcards (the
// project allows none), so rules are matched literally.
func checkRBACUsage(role *rbacv1.ClusterRole, used map[rbacUse]int) (unused, uncovered []string) {
	granted := map[rbacUse]bool{}
	for _, rule := range role.Rules {
		for _, group := range rule.APIGroups {
			for _, resource := range rule.Resources {
				name, sub, _ := strings.Cut(resource, "/")
				for _, verb := range rule.Verbs {
					u := rbacUse{group: group, resource: name, subresource: sub, verb: verb}
					granted[u] = true
					if used[u] == 0 {
						unused = append(unused, u.String())
					}
				}
			}
		}
	}
	for u := range used {
		if !granted[u] {
			uncovered = append(uncovered, u.String())
		}
	}
	sort.Strings(unused)
	sort.Strings(uncovered)
	return slices.Compact(unused), uncovered
}
