// Package apply keeps the operator's children as the builders in
// controllers/manifests describe them, writing only when a live child lacks
// something the operator sets.
//
// Each kind of child has its own file with two typed functions: a synced
// check (does the live object already hold every field the operator sets?)
// and a mutate (copy those fields onto the live object, leaving the rest).
// Ensure is the one flow over them: read from the cache, create when
// missing, leave a foreign object alone and say so, merge metadata, and
// update the spec only when the check fails. A pass over unchanged children
// therefore makes no request beyond the cache.
//
// Why not server-side apply. It would replace the two annotations that
// remember what the operator set (SpecHashAnnotation,
// PodTemplateKeysAnnotation) with managed fields, but it costs more than it
// saves here: an apply request is a write, so the zero-write resync would
// still need a check like the one in this package; existing installations
// own their children's fields through Update (field manager "manager"), and
// taking them over without dropping or duplicating anything needs a
// migration of managed fields (client-go's csaupgrade) that every child
// would go through once; and an apply that sends the whole desired object
// claims every field in it, so the rule that the operator never touches a
// field it does not set, and keeps the pod template keys others set
// (`kubectl rollout restart`), would move into how managed fields happen
// to merge. Typed mutate functions keep the current behaviour, are read
// and unit-tested without a cluster, and make the change of one kind the
// change of one file.
//
// What "holds every field the operator sets" means is in compare.go: maps
// may carry others' keys, and in a Deployment's pod template the named
// lists (containers, env, volumes, mounts) may carry others' entries, which
// is what a mutating webhook (a service mesh's sidecar, a policy engine's
// env var) adds on every write; a comparison by position would see it as a
// difference and write, and the webhook would add it again, on every pass.
package apply
