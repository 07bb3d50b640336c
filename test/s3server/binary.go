package s3server

import "github.com/spansink/spansink/test/testservers"

// Binary returns the path of the `weed` binary (see testservers.Binary).
func Binary() (string, error) {
	return testservers.Binary("weed", "seaweedfs")
}
