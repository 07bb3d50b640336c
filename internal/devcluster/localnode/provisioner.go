package localnode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// Names under which the provisioner works, as an external CSI-less
// provisioner would (the PV controller in kube-controller-manager waits for
// it, then binds what it creates).
const (
	// ProvisionerName is the StorageClass provisioner and the PVs'
	// pv.kubernetes.io/provisioned-by annotation.
	ProvisionerName = "localnode.spansink.dev/hostpath"
	// StorageClassName is the default StorageClass the provisioner serves.
	StorageClassName = "localnode-hostpath"

	annProvisionedBy       = "pv.kubernetes.io/provisioned-by"
	annStorageProvisioner  = "volume.kubernetes.io/storage-provisioner"
	annIsDefaultClass      = "storageclass.kubernetes.io/is-default-class"
	provisionerResyncEvery = 30 * time.Second
)

// Provisioner creates a hostPath PersistentVolume under its directory for
// every pending claim of its StorageClass, and removes the directory and
// the volume once a claim with reclaimPolicy Delete is gone, like the
// local-path provisioners of small clusters. It is for development and
// tests only: the volumes are plain directories on this machine.
type Provisioner struct {
	client   kubernetes.Interface
	dir      string
	nodeName string
	log      logr.Logger
	kick     chan struct{}
}

// NewProvisioner serves claims with volumes under dir, pinned to nodeName.
func NewProvisioner(cfg *rest.Config, dir, nodeName string, log logr.Logger) (*Provisioner, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("provisioner client: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("provisioner directory: %w", err)
	}
	// Containers run as unprivileged users and must reach their volumes.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("provisioner directory: %w", err)
	}
	return &Provisioner{client: client, dir: dir, nodeName: nodeName, log: log.WithName("provisioner"), kick: make(chan struct{}, 1)}, nil
}

// VolumePath is the directory of the volume provisioned for a claim with
// this UID; it is also the PV's hostPath.
func (p *Provisioner) VolumePath(claimUID string) string {
	return filepath.Join(p.dir, "pvc-"+claimUID)
}

// Run installs the StorageClass (reclaimPolicy Delete, the default class)
// and serves claims until ctx is done.
func (p *Provisioner) Run(ctx context.Context) error {
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: StorageClassName, Annotations: map[string]string{annIsDefaultClass: "true"}},
		Provisioner:       ProvisionerName,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate),
	}
	if _, err := p.client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create storage class %s: %w", StorageClassName, err)
	}
	factory := informers.NewSharedInformerFactory(p.client, provisionerResyncEvery)
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.trigger() },
		UpdateFunc: func(any, any) { p.trigger() },
		DeleteFunc: func(any) { p.trigger() },
	}
	claims := factory.Core().V1().PersistentVolumeClaims()
	volumes := factory.Core().V1().PersistentVolumes()
	classes := factory.Storage().V1().StorageClasses()
	for _, inf := range []cache.SharedIndexInformer{claims.Informer(), volumes.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return fmt.Errorf("provisioner watch: %w", err)
		}
	}
	classes.Informer()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	defer factory.Shutdown()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.kick:
		}
		pvcs, err := claims.Lister().List(labelsEverything)
		if err != nil {
			return fmt.Errorf("list claims: %w", err)
		}
		for _, pvc := range pvcs {
			if err := p.provision(ctx, pvc, classes.Lister()); err != nil {
				p.log.Error(err, "provision", "claim", pvc.Namespace+"/"+pvc.Name)
			}
		}
		pvs, err := volumes.Lister().List(labelsEverything)
		if err != nil {
			return fmt.Errorf("list volumes: %w", err)
		}
		for _, pv := range pvs {
			if err := p.reclaim(ctx, pv); err != nil {
				p.log.Error(err, "delete released volume", "volume", pv.Name)
			}
		}
	}
}

func (p *Provisioner) trigger() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// provision creates the directory and the PV for a pending claim that the
// PV controller handed to this provisioner.
func (p *Provisioner) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim, classes storageListerV1) error {
	if pvc.Spec.VolumeName != "" || pvc.Status.Phase != corev1.ClaimPending || pvc.DeletionTimestamp != nil {
		return nil
	}
	if pvc.Annotations[annStorageProvisioner] != ProvisionerName {
		return nil
	}
	name := "pvc-" + string(pvc.UID)
	if _, err := p.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{}); err == nil {
		return nil
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if pvc.Spec.StorageClassName != nil {
		if sc, err := classes.Get(*pvc.Spec.StorageClassName); err == nil && sc.ReclaimPolicy != nil {
			reclaim = *sc.ReclaimPolicy
		}
	}
	path := p.VolumePath(string(pvc.UID))
	if err := os.MkdirAll(path, 0o777); err != nil {
		return fmt.Errorf("volume directory: %w", err)
	}
	// World-writable, as hostPath provisioners make them: the kubelet applies
	// no fsGroup to hostPath volumes, so this is how a non-root pod writes.
	if err := os.Chmod(path, 0o777); err != nil {
		return fmt.Errorf("volume directory: %w", err)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{annProvisionedBy: ProvisionerName}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              ptr.Deref(pvc.Spec.StorageClassName, ""),
			VolumeMode:                    pvc.Spec.VolumeMode,
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: path, Type: ptr.To(corev1.HostPathDirectory)},
			},
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, ResourceVersion: pvc.ResourceVersion,
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{p.nodeName}}},
			}}}},
		},
	}
	if _, err := p.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create volume %s: %w", name, err)
	}
	p.log.Info("provisioned volume", "claim", pvc.Namespace+"/"+pvc.Name, "volume", name, "path", path)
	return nil
}

// reclaim deletes the directory and the PV of a released volume whose
// policy is Delete; Retain leaves both for a person to deal with.
func (p *Provisioner) reclaim(ctx context.Context, pv *corev1.PersistentVolume) error {
	if pv.Annotations[annProvisionedBy] != ProvisionerName || pv.Status.Phase != corev1.VolumeReleased ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.DeletionTimestamp != nil {
		return nil
	}
	if pv.Spec.HostPath == nil || filepath.Dir(pv.Spec.HostPath.Path) != p.dir {
		return fmt.Errorf("volume %s is not under %s; not deleting it", pv.Name, p.dir)
	}
	if err := os.RemoveAll(pv.Spec.HostPath.Path); err != nil {
		return fmt.Errorf("remove volume directory: %w", err)
	}
	if err := p.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete volume %s: %w", pv.Name, err)
	}
	p.log.Info("deleted released volume", "volume", pv.Name)
	return nil
}

// storageListerV1 is the part of the StorageClass lister the provisioner uses.
type storageListerV1 interface {
	Get(name string) (*storagev1.StorageClass, error)
}

var labelsEverything = labels.Everything()
