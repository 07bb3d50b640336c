package jaegerproc

import "github.com/spansink/spansink/test/testservers"

// Binary returns the path of the `jaeger` binary (see testservers.Binary).
func Binary() (string, error) {
	return testservers.Binary("jaeger", "jaeger")
}
