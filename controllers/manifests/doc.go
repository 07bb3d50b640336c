// Package manifests builds the objects a SpanSink is made of. Each child kind
// has one pure function here: it takes the SpanSink and returns the desired
// object, with no client and no context, so that the whole desired state can
// be unit-tested against golden YAML without a cluster.
//
// Where things live: one file per child kind (deployment.go, service.go …);
// config.go turns the spec into the collector's config, ports.go holds the
// paths and ports both sides of the pod use, grace.go the grace-period
// policy, naming.go and labels.go the names and labels every child shares.
package manifests
