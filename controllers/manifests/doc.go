// Package manifests builds the objects a SpanSink is made of. Each child kind
// has one pure function here: it takes the SpanSink and returns the desired
// object, with no client and no context, so that the whole desired state can
// be unit-tested against golden YAML without a cluster.
package manifests
