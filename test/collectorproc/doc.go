// Package collectorproc runs the real spansink collector binary for tests
// that must see what a user's process does: it builds the binary once per
// test process, starts `spansink collector` on loopback port-0 addresses,
// reads the addresses it chose from its "collector serving" log line, and
// reads its memory and thread counts from /proc and its metrics from the
// admin server. The durability and abuse suites share it, so a change to how
// the collector starts or logs is made in one place.
package collectorproc
