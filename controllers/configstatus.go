package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/spansink/spansink/api/v1alpha1"
	"github.com/spansink/spansink/controllers/manifests"
	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/configstatus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// DefaultConfigRecheck is how often a SpanSink whose collector still
// applies an older config is looked at again. Nothing the operator watches
// changes when the kubelet projects the new ConfigMap into the pod (about
// a minute after the change) and the collector applies it (about 0.1 s
// later), so the status catches up by polling.
const DefaultConfigRecheck = 5 * time.Second

// CollectorStatusReader asks a running collector pod which config it
// applies (configstatus.Status).
type CollectorStatusReader interface {
	ReadConfigStatus(ctx context.Context, pod *corev1.Pod) (configstatus.Status, error)
}

// HTTPCollectorStatus reads GET /config on a collector pod's metrics port,
// as the collector serves it: plain HTTP, open like /metrics, hashes only.
// The operator so needs no credentials for the collector, nor the
// collector any for the API server.
type HTTPCollectorStatus struct {
	// Port is the metrics port; zero means manifests.MetricsPort.
	Port int
	// Timeout bounds one request; zero means 2 seconds, so an unreachable
	// pod holds a reconcile up only briefly.
	Timeout time.Duration
	// Client sends the requests; nil means a client without keep-alives
	// (one request per pass and pod does not need them).
	Client *http.Client
}

// maxConfigStatusBytes bounds the answer read: it is a few hashes.
const maxConfigStatusBytes = 64 << 10

// defaultStatusClient never uses a proxy from the environment: pod IPs are
// reached directly.
var defaultStatusClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// ReadConfigStatus implements CollectorStatusReader.
func (h HTTPCollectorStatus) ReadConfigStatus(ctx context.Context, pod *corev1.Pod) (configstatus.Status, error) {
	port, timeout, httpClient := h.Port, h.Timeout, h.Client
	if port == 0 {
		port = manifests.MetricsPort
	}
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	if httpClient == nil {
		httpClient = defaultStatusClient
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	url := "http://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(port)) + configstatus.Path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return configstatus.Status{}, fmt.Errorf("ask pod %s: %w", pod.Name, err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return configstatus.Status{}, fmt.Errorf("ask pod %s: %w", pod.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxConfigStatusBytes))
	if err != nil {
		return configstatus.Status{}, fmt.Errorf("read %s of pod %s: %w", url, pod.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return configstatus.Status{}, fmt.Errorf("%s of pod %s answered %s", url, pod.Name, resp.Status)
	}
	var status configstatus.Status
	if err := json.Unmarshal(body, &status); err != nil {
		return configstatus.Status{}, fmt.Errorf("decode %s of pod %s: %w", url, pod.Name, err)
	}
	if status.AppliedHash == "" {
		return configstatus.Status{}, fmt.Errorf("%s of pod %s names no applied config", url, pod.Name)
	}
	return status, nil
}

// configReport is what the collector pods said about their config.
type configReport struct {
	// want is the hash of collector.yaml in the ConfigMap.
	want string
	// statuses are the answers of the ready pods of the current template,
	// of every shard.
	statuses []configstatus.Status
	// unreachable is a ready pod of the current template that did not answer.
	unreachable string
	// replacing is true while pods of an earlier template still run, or
	// the Deployment is rolling out: a restart setting is on its way.
	replacing bool
	// uploads are the object store reports of the pods that answered.
	uploads []podUpload
}

// podUpload is one pod's report on its uploads.
type podUpload struct {
	pod    string
	status configstatus.Upload
}

// observeConfigApplied asks each ready collector pod that runs the current
// pod template which config it applies. Pods are read from the cache (see
// CacheOptions), so an unchanged SpanSink costs no API request; the
// answers come straight from the pods.
func (r *SpanSinkReconciler) observeConfigApplied(ctx context.Context, sink *v1alpha1.SpanSink, obs *observation) error {
	if obs.configMap == nil {
		return nil
	}
	// Every shard runs the same config, so the shards' templates carry the
	// same config hash once they are rolled out; until then, a pod with
	// another one is being replaced.
	var template string
	report := &configReport{want: configMapHash(obs.configMap)}
	for _, shard := range obs.shards {
		if shard.deployment == nil {
			continue
		}
		if template == "" {
			template = shard.deployment.Spec.Template.Annotations[manifests.ConfigHashAnnotation]
		}
		if shard.held || !rolledOut(shard.deployment) || shard.deployment.Spec.Template.Annotations[manifests.ConfigHashAnnotation] != template {
			report.replacing = true
		}
	}
	if template == "" {
		return nil
	}
	for i := range obs.pods {
		pod := &obs.pods[i]
		if !askable(pod) {
			continue
		}
		if pod.Annotations[manifests.ConfigHashAnnotation] != template {
			report.replacing = true
			continue
		}
		status, err := r.collectorStatus().ReadConfigStatus(ctx, pod)
		if err != nil {
			logf.FromContext(ctx).Info("cannot read the collector's config status", "pod", pod.Name, "error", err.Error())
			report.unreachable = pod.Name
			continue
		}
		report.statuses = append(report.statuses, status)
		if status.Upload != nil {
			report.uploads = append(report.uploads, podUpload{pod: pod.Name, status: *status.Upload})
		}
	}
	obs.config = report
	return nil
}

// askable reports whether pod is a ready collector with an address.
func askable(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// configMapHash is the hash the collector computes of the file the kubelet
// projects from cm: status.configHash.
func configMapHash(cm *corev1.ConfigMap) string {
	data, ok := cm.Data[config.FileName]
	if !ok {
		return ""
	}
	return configstatus.Hash([]byte(data))
}

// configVerdict is the ConfigApplied condition for a report, and when to
// look again without a watch event (zero: an event will come). Messages
// carry nothing that changes from pass to pass.
func configVerdict(report *configReport) (state metav1.ConditionStatus, reason, message string, recheck bool) {
	if report == nil {
		return metav1.ConditionUnknown, v1alpha1.ReasonNoReadyCollector,
			"No collector Deployment runs the current spec yet", false
	}
	for _, s := range report.statuses {
		if s.RefusedHash == report.want {
			return metav1.ConditionFalse, v1alpha1.ReasonRefused,
				"The collector refused the config in the ConfigMap and keeps its previous one in force: " + s.RefusedError, false
		}
	}
	if report.unreachable != "" {
		return metav1.ConditionUnknown, v1alpha1.ReasonCollectorUnreachable,
			fmt.Sprintf("The collector pod %s does not answer GET %s on port %d; a NetworkPolicy must admit the operator's namespace to that port",
				report.unreachable, configstatus.Path, manifests.MetricsPort), true
	}
	applied := len(report.statuses) > 0
	for _, s := range report.statuses {
		applied = applied && s.AppliedHash == report.want
	}
	switch {
	case applied && !report.replacing:
		return metav1.ConditionTrue, v1alpha1.ReasonApplied,
			"The collector applies the config in the ConfigMap", false
	case len(report.statuses) > 0 && !report.replacing:
		return metav1.ConditionFalse, v1alpha1.ReasonPending,
			"The collector applies an earlier config; the kubelet projects the changed ConfigMap into the pod (about a minute), and the collector applies it at once", true
	case report.replacing:
		return metav1.ConditionFalse, v1alpha1.ReasonPending,
			"The collector pod is being replaced, for a setting that needs a restart", false
	}
	return metav1.ConditionUnknown, v1alpha1.ReasonNoReadyCollector,
		"No ready collector pod runs the current pod template", false
}

// appliedConfig is the hash the pods agree they apply and when the last
// of them applied it, or nothing when they do not agree or none answered.
// The time is cut to seconds, as the API server stores it, so that an
// unchanged answer makes an unchanged status.
func appliedConfig(report *configReport) (string, *metav1.Time) {
	if report == nil || len(report.statuses) == 0 {
		return "", nil
	}
	hash := report.statuses[0].AppliedHash
	var latest time.Time
	for _, s := range report.statuses {
		if s.AppliedHash != hash {
			return "", nil
		}
		if s.AppliedAt.After(latest) {
			latest = s.AppliedAt
		}
	}
	if latest.IsZero() {
		return hash, nil
	}
	at := metav1.NewTime(latest).Rfc3339Copy()
	return hash, &at
}

// setConfigStatus fills the config part of status from the report, and
// the Uploaded condition when the SpanSink has an object store.
func setConfigStatus(sink *v1alpha1.SpanSink, status *v1alpha1.SpanSinkStatus, obs *observation, set func(condType string, state metav1.ConditionStatus, reason, message string)) {
	state, reason, message, _ := configVerdict(obs.config)
	set(v1alpha1.ConditionConfigApplied, state, reason, message)
	status.AppliedConfigHash, status.ConfigAppliedTime = appliedConfig(obs.config)
	store := sink.Spec.Storage.ObjectStore
	if store == nil {
		meta.RemoveStatusCondition(&status.Conditions, v1alpha1.ConditionUploaded)
		return
	}
	state, reason, message = uploadVerdict(store.Bucket, obs.config)
	set(v1alpha1.ConditionUploaded, state, reason, message)
}

// uploadVerdict is the Uploaded condition: False while a pod reports an
// upload error, naming the pod, the bucket and the store's answer; True
// once every pod that answered uploads without one. The message holds
// nothing that changes while the state holds, such as counts, so that it
// does not rewrite the status on every pass.
func uploadVerdict(bucket string, report *configReport) (metav1.ConditionStatus, string, string) {
	if report == nil || len(report.uploads) == 0 {
		return metav1.ConditionUnknown, v1alpha1.ReasonNoReadyCollector, "No ready collector pod reports on its uploads yet"
	}
	for _, u := range report.uploads {
		if u.status.LastError != "" {
			return metav1.ConditionFalse, v1alpha1.ReasonUploadFailing, fmt.Sprintf(
				"Uploads from pod %s to bucket %s fail: %s. The sealed files wait on the volume and are tried again; see spansink_upload_pending_files and spansink_upload_oldest_pending_timestamp_seconds for the lag",
				u.pod, bucket, u.status.LastError)
		}
	}
	return metav1.ConditionTrue, v1alpha1.ReasonUploading, "Sealed files are uploaded to bucket " + bucket + " as they are sealed"
}

// configRecheckAfter is when to look at the collector's config again
// without an event, zero when an event will come.
func (r *SpanSinkReconciler) configRecheckAfter(obs *observation) time.Duration {
	_, reason, _, recheck := configVerdict(obs.config)
	switch {
	case !recheck:
		return 0
	case reason == v1alpha1.ReasonCollectorUnreachable:
		return r.blockedRetry()
	case r.ConfigRecheck > 0:
		return r.ConfigRecheck
	}
	return DefaultConfigRecheck
}

// collectorPodSink maps a collector pod to its SpanSink by the labels the
// pod template carries.
func collectorPodSink(_ context.Context, obj client.Object) []reconcile.Request {
	labels := obj.GetLabels()
	name := labels[manifests.LabelInstance]
	if name == "" || labels[manifests.LabelManagedBy] != manifests.ManagedByValue {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: obj.GetNamespace(), Name: name}}}
}

func (r *SpanSinkReconciler) collectorStatus() CollectorStatusReader {
	if r.CollectorStatus != nil {
		return r.CollectorStatus
	}
	return HTTPCollectorStatus{}
}
