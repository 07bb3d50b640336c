package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// LiveFields are the leaf fields, by their JSON paths, that a running
// collector applies from a changed config without a restart. Together with
// RestartFields they name every leaf of Config exactly once; a test walks
// Config and fails when a field is in neither list or in both, so a new
// field cannot be forgotten.
var LiveFields = []string{
	// The batcher's tuning changes under its lock; a smaller
	// maxQueuedSpans pushes back (429) until the queue drains below it.
	"batch.size",
	"batch.flushInterval",
	"batch.maxQueuedSpans",
	// A switch to Durable flushes what is pending first.
	"delivery.mode",
	// The rolling file reads these under its lock at every write and
	// retention pass. A change of utc moves the day boundary, which the
	// next write honours.
	"storage.rotation.daily",
	"storage.rotation.maxSizeBytes",
	"storage.rotation.maxFiles",
	"storage.rotation.maxAge",
	"storage.rotation.maxTotalBytes",
	"storage.rotation.compress",
	"storage.rotation.utc",
	// Read per request from an atomically swapped value.
	"limits.maxInflightBytes",
	"limits.maxConcurrentRequests",
	"limits.maxAttributesPerSpan",
	"limits.maxAttributeValueBytes",
	// Read when the admin port answers a /debug/ request; the /debug/spans
	// ring keeps lines only while it is true.
	"debug.enabled",
	// Read when the shutdown begins.
	"shutdownTimeout",
}

// RestartFields are the leaf fields that take effect only when the
// collector starts again: the operator rolls the pod when one changes, and
// a running collector refuses a config that changes one.
var RestartFields = []string{
	// Bound sockets.
	"listen.otlpGrpc",
	"listen.otlpHttp",
	"listen.admin",
	// The open file, its directory and the encoder of every line.
	"storage.dir",
	"storage.path",
	"storage.format",
	"storage.dbgpt.records",
	// Baked into the gRPC server at construction (MaxRecvMsgSize), which
	// must never be smaller than the HTTP body limit.
	"limits.maxRequestBytes",
	// gRPC's MaxConcurrentStreams is sent to every client in the HTTP/2
	// SETTINGS at connection start.
	"limits.maxConcurrentStreams",
	// The http.Server's Read/WriteTimeout and gRPC's ConnectionTimeout are
	// fixed when the servers are built, and changing the http.Server's
	// fields while it serves is a data race.
	"limits.requestTimeout",
	// The http.Server's IdleTimeout and gRPC's keepalive parameters, fixed
	// at construction.
	"limits.idleTimeout",
	// The http.Server's MaxHeaderBytes and gRPC's MaxHeaderListSize,
	// fixed at construction.
	"limits.maxHeaderBytes",
	// The file paths are mounts; the files behind them reload already.
	"auth.bearerTokenFile",
	"tls.certFile",
	"tls.keyFile",
	"tls.clientCAFile",
	// The /debug/spans ring is allocated once at its size.
	"debug.recentSpansBytes",
	// The uploader's client, location and manifest are made at start.
	"objectStore.endpoint",
	"objectStore.region",
	"objectStore.bucket",
	"objectStore.prefix",
	"objectStore.pathStyle",
	"objectStore.accessKeyIdFile",
	"objectStore.secretAccessKeyFile",
	"objectStore.sessionTokenFile",
	"objectStore.caFile",
	"objectStore.namespace",
	"objectStore.sink",
	"objectStore.shard",
	"objectStore.maxDelay",
	"objectStore.deleteAfterUpload",
}

// RestartPart returns c with every live field set to its zero value: what
// must be the same for a running collector to apply the rest. The operator
// hashes it (rendered) onto the pod template, so that only a change of a
// restart field rolls the pod. The result is for comparing and hashing
// only; it does not validate.
func (c Config) RestartPart() Config {
	v := reflect.ValueOf(&c).Elem()
	for _, path := range LiveFields {
		f, err := fieldByPath(v, path)
		if err != nil {
			// LiveFields is checked against Config by a test.
			panic(err)
		}
		f.Set(reflect.Zero(f.Type()))
	}
	return c
}

// RestartChanges lists the restart fields, by JSON path, whose values
// differ between c and next: why next cannot be applied without a restart.
// It is empty when next differs from c in live fields only.
func (c Config) RestartChanges(next Config) []string {
	return c.changes(next, RestartFields)
}

// LiveChanges lists the live fields, by JSON path, whose values differ
// between c and next: what applying next changes.
func (c Config) LiveChanges(next Config) []string {
	return c.changes(next, LiveFields)
}

func (c Config) changes(next Config, fields []string) []string {
	from, to := reflect.ValueOf(c), reflect.ValueOf(next)
	var changed []string
	for _, path := range fields {
		a, errA := fieldByPath(from, path)
		b, errB := fieldByPath(to, path)
		if errA != nil || errB != nil {
			panic(errors.Join(errA, errB))
		}
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			changed = append(changed, path)
		}
	}
	return changed
}

// fieldByPath finds the field at a JSON path such as "batch.size" in v, a
// Config value.
func fieldByPath(v reflect.Value, path string) (reflect.Value, error) {
	for _, name := range strings.Split(path, ".") {
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, fmt.Errorf("config path %s: %s is not an object", path, name)
		}
		found := false
		for i := 0; i < v.NumField(); i++ {
			if jsonName(v.Type().Field(i)) == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}, fmt.Errorf("config path %s: no field %s", path, name)
		}
	}
	return v, nil
}

// jsonName is the field's name in the rendered config.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}
